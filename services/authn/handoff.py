"""authn's side of the sign-in hand-off (ADR 0005): read the pending request, write the answer once.

The token service stores the pending authorization request under
``shared.redis_keys.authorization_request(id)`` (JSON, TTL); authn only reads it. authn writes
its answer under ``authorization_result(id)`` with ``SET NX``, expiring with the request (its
remaining PTTL), in one Lua script so the two can never disagree: an answer is written at most
once, and never for a request that has expired.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from shared import redis_keys

REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{16,128}$")

WRITTEN, ALREADY_ANSWERED, EXPIRED = 1, 0, -1
_ANSWER = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return -1 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ttl) then return 1 end
return 0
"""


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """What authn reads of a pending authorization request (ADR 0005 §2)."""
    id: str
    tenant_id: str
    application_id: str
    application_name: str
    client_id: str
    client_name: str
    skip_consent: bool
    scopes: tuple[str, ...]
    prompt: tuple[str, ...]
    max_age: int | None
    login_hint: str | None


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value


def parse(request_id: str, raw: bytes | None) -> PendingRequest | None:
    """The request stored under ``request_id``; None when absent or not the ADR's shape."""
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("id", request_id) != request_id:
            return None
        scopes, prompt, max_age = data.get("scopes") or [], data.get("prompt") or [], data.get("max_age")
        if not all(isinstance(s, str) for s in [*scopes, *prompt]) or not isinstance(scopes, list) \
                or not isinstance(prompt, list):
            return None
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0):
            return None
        login_hint = data.get("login_hint")
        return PendingRequest(
            id=request_id, tenant_id=_str(data, "tenant_id"), application_id=_str(data, "application_id"),
            application_name=data.get("application_name") or data["application_id"],
            client_id=_str(data, "client_id"), client_name=data.get("client_name") or data["client_id"],
            skip_consent=data.get("skip_consent") is True, scopes=tuple(scopes), prompt=tuple(prompt),
            max_age=max_age, login_hint=login_hint if isinstance(login_hint, str) else None)
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError):
        return None


class HandOff:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._answer = redis.register_script(_ANSWER)

    async def load(self, request_id: Any) -> PendingRequest | None:
        if not isinstance(request_id, str) or not REQUEST_ID.match(request_id):
            return None
        return parse(request_id, await self.redis.get(redis_keys.authorization_request(request_id)))

    async def answered(self, request_id: str) -> bool:
        return bool(await self.redis.exists(redis_keys.authorization_result(request_id)))

    async def remaining_ms(self, request_id: str) -> int:
        return int(await self.redis.pttl(redis_keys.authorization_request(request_id)))

    async def answer(self, request_id: str, result: dict[str, Any]) -> int:
        """Write the result once: WRITTEN, ALREADY_ANSWERED, or EXPIRED (the request is gone)."""
        return int(await self._answer(keys=[redis_keys.authorization_request(request_id),
                                            redis_keys.authorization_result(request_id)],
                                      args=[orjson.dumps(result)]))


def success(user_id: str, auth_time: int, sid: str, amr: list[str], granted_scopes: list[str]) -> dict[str, Any]:
    return {"user_id": user_id, "auth_time": auth_time, "amr": amr, "acr": "0", "sid": sid,
            "granted_scopes": granted_scopes}


def error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description}
