"""Access tokens at rest: opaque tokens and revoked JWTs, in Redis with their TTL.

An opaque token is 256 random bits; Redis holds its claims under the HMAC of the token
(the token itself is never stored). A revoked JWT's ``jti`` is kept until the token would
have expired, so introspection can refuse it.
"""
from __future__ import annotations

import asyncio
import time

import orjson
import redis.asyncio as aioredis

from shared import crypto, redis_keys


class TokenStore:
    def __init__(self, redis: aioredis.Redis, pepper: bytes) -> None:
        self.redis = redis
        self.pepper = pepper
        self._queued: list[tuple[str, bytes, int, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    def opaque_hash(self, token: str) -> str:
        return crypto.secret_hash(self.pepper, token)

    async def put_opaque(self, token_hash: str, claims: dict, ttl: int) -> None:
        """Store a new opaque token; concurrent ones go to Redis together, in one pipeline."""
        done = asyncio.get_running_loop().create_future()
        self._queued.append((redis_keys.opaque_access_token(token_hash), orjson.dumps(claims), ttl, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, value, ttl, _done in batch:
                        pipe.set(key, value, ex=ttl)
                    await pipe.execute()
            except BaseException as exc:  # noqa: BLE001 - every waiter learns of the failure
                for *_rest, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for *_rest, done in batch:
                if not done.done():
                    done.set_result(None)

    async def get_opaque(self, token: str) -> dict | None:
        raw = await self.redis.get(redis_keys.opaque_access_token(self.opaque_hash(token)))
        return orjson.loads(raw) if raw is not None else None

    async def drop_opaque(self, token_hash: str) -> None:
        await self.redis.delete(redis_keys.opaque_access_token(token_hash))

    async def revoke_jwt(self, jti: str, exp: int) -> None:
        ttl = int(exp - time.time()) + 1
        if ttl > 0:
            await self.redis.set(redis_keys.revoked_jti(jti), b"1", ex=ttl)

    async def is_revoked(self, jti: str) -> bool:
        return bool(await self.redis.exists(redis_keys.revoked_jti(jti)))
