"""Access tokens at rest: opaque tokens and revoked JWTs, in Redis with their TTL.

An opaque token is 256 random bits; Redis holds its claims under the HMAC of the token
(the token itself is never stored). A revoked JWT's ``jti`` is kept until the token would
have expired, so introspection can refuse it.
"""
from __future__ import annotations

import time

import orjson
import redis.asyncio as aioredis

from shared import crypto, redis_keys
from shared.redis_batch import RedisBatch


class TokenStore:
    """Opaque tokens and revoked JWT ids; concurrent requests share Redis round trips."""

    def __init__(self, redis: aioredis.Redis, pepper: bytes) -> None:
        self.redis = RedisBatch(redis)
        self.pepper = pepper

    def opaque_hash(self, token: str) -> str:
        return crypto.secret_hash(self.pepper, token)

    async def put_opaque(self, token_hash: str, claims: dict, ttl: int) -> None:
        await self.redis.set(redis_keys.opaque_access_token(token_hash), orjson.dumps(claims), ex=ttl)

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
        return await self.redis.exists(redis_keys.revoked_jti(jti))
