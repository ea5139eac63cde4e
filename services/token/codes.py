"""Short-lived sign-in state in Redis: pending authorization requests and authorization codes.

Pending requests (ADR 0005): the request JSON authn reads, under
``shared.redis_keys.authorization_request``, and beside it what only the token service needs
(whether ``redirect_uri`` was sent), under a key of its own, so the shared JSON stays exactly
the ADR's. Both expire after 600 s. :meth:`SignInStore.take` takes authn's result with the
request once, atomically (a Lua script using ``GETDEL``; Redis 6.2).

Codes: stored under ``tessera:code:{application}:{hmac}`` (the HMAC-SHA-256 of the code under
the pepper; never the code), TTL = the application's ``code_ttl`` (≤ 60 s). Taking a code is
atomic and leaves a tombstone under the same hash for the code's lifetime plus a margin: it
holds the code's record and the ids of what its redemption issues, so a second redemption is
recognised and revokes them (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from shared import redis_keys
from shared.crypto import secret_hash
from shared.redis_batch import RedisBatch

from .oauth.authorize import REQUEST_TTL

TOMBSTONE_MARGIN = 300    # seconds a redeemed code's tombstone outlives the code

_TAKE_SIGN_IN = """
local result = redis.call('GETDEL', KEYS[1])
if not result then return {0, redis.call('EXISTS', KEYS[2])} end
return {1, result, redis.call('GETDEL', KEYS[2]), redis.call('GETDEL', KEYS[3])}
"""
_TAKE_CODE = """
local record = redis.call('GETDEL', KEYS[1])
if record then
  redis.call('SET', KEYS[2], '{"issued":' .. ARGV[1] .. ',"code":' .. record .. '}', 'EX', ARGV[2])
  return {1, record}
end
return {0, redis.call('GET', KEYS[2])}
"""


def _extra_key(request_id: str) -> str:
    return f"tessera:authz-token:{request_id}"


def _code_key(application_id: str, code_hash: str) -> str:
    return f"tessera:code:{application_id}:{code_hash}"


def _tombstone_key(application_id: str, code_hash: str) -> str:
    return f"tessera:code-used:{application_id}:{code_hash}"


@dataclass(frozen=True, slots=True)
class TakenSignIn:
    finished: bool              # authn had written a result (now taken)
    result: Any | None          # authn's JSON (None: unreadable)
    request: dict | None        # the pending request (None: unknown or expired)
    extra: dict | None


@dataclass(frozen=True, slots=True)
class TakenCode:
    record: dict | None         # the code's record, if this call took it
    tombstone: dict | None      # {"issued": ..., "code": record} when it had been taken before


class SignInStore:
    """``batch`` carries the commands of the code flow's hot steps (taking a sign-in's result,
    storing and taking a code: one per request), pipelined with the service's other Redis
    commands; the pending request's two keys are written in one MULTI through ``redis``."""

    def __init__(self, redis: aioredis.Redis, batch: RedisBatch, pepper: bytes) -> None:
        self.redis = redis
        self.batch = batch
        self.pepper = pepper
        self._take_sign_in = batch.script(_TAKE_SIGN_IN)
        self._take_code = batch.script(_TAKE_CODE)

    # Pending requests -----------------------------------------------------------------------
    async def save_request(self, request: dict, extra: dict) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(redis_keys.authorization_request(request["id"]), orjson.dumps(request), ex=REQUEST_TTL)
            pipe.set(_extra_key(request["id"]), orjson.dumps(extra), ex=REQUEST_TTL)
            await pipe.execute()

    async def take_sign_in(self, request_id: str) -> TakenSignIn:
        """authn's result with its request, once. Without a result, the request is left alone."""
        keys = [redis_keys.authorization_result(request_id), redis_keys.authorization_request(request_id),
                _extra_key(request_id)]
        reply = await self._take_sign_in(keys)
        if reply[0] == 0:
            return TakenSignIn(False, None, {} if reply[1] else None, None)
        return TakenSignIn(True, _json(reply[1]), _json(reply[2]), _json(reply[3]))

    # Codes -------------------------------------------------------------------------------------
    def code_hash(self, code: str) -> str:
        return secret_hash(self.pepper, code)

    async def put_code(self, application_id: str, code: str, record: dict, ttl: int) -> None:
        await self.batch.set(_code_key(application_id, self.code_hash(code)), orjson.dumps(record), ex=ttl)

    async def take_code(self, application_id: str, code: str, issued: dict, tombstone_ttl: int) -> TakenCode:
        """Take the code once; ``issued`` (ids of what the redemption will issue) goes into its tombstone."""
        code_hash = self.code_hash(code)
        reply = await self._take_code([_code_key(application_id, code_hash), _tombstone_key(application_id, code_hash)],
                                      [orjson.dumps(issued), tombstone_ttl])
        if reply[0] == 1:
            return TakenCode(_json(reply[1]), None)
        return TakenCode(None, _json(reply[1]))


def _json(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
