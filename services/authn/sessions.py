"""SSO sessions (one per tenant and browser) and the sign-in state of a pending request, in Redis.

* The session cookie (``tessera_sso_{tenant}``) holds 256 random bits; Redis holds the session
  under the cookie's HMAC-SHA-256 (pepper), so a Redis dump gives no usable cookie. A session
  lives ``IDLE_TTL`` after its last use and never beyond ``ABSOLUTE_TTL`` after sign-in. Its
  ``sid`` (another random id) is what ID tokens and events carry; the cookie value is never
  logged or sent anywhere else.
* ``tessera:authn:authenticated:{request}``: who signed in for a pending request, bound to the
  browser (the HMAC of its binding cookie), expiring with the request; the consent page reads it.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from shared.crypto import equal, new_id, new_secret

IDLE_TTL = 12 * 3600
ABSOLUTE_TTL = 7 * 24 * 3600
SESSION_COOKIE_PREFIX = "tessera_sso_"
BINDING_COOKIE = "tessera_bb"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    tenant_id: str
    user_id: str
    auth_time: int
    amr: list[str]
    started_at: int


def cookie_name(tenant_id: str) -> str:
    return SESSION_COOKIE_PREFIX + tenant_id


class Sessions:
    def __init__(self, redis: aioredis.Redis, pepper: bytes, *, idle_ttl: int = IDLE_TTL,
                 absolute_ttl: int = ABSOLUTE_TTL) -> None:
        self.redis = redis
        self.key = hmac.new(pepper, b"tessera-authn-session", hashlib.sha256).digest()
        self.idle_ttl = idle_ttl
        self.absolute_ttl = absolute_ttl

    def digest(self, value: str) -> str:
        return hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()

    def _key(self, cookie: str) -> str:
        return f"tessera:authn:sso:{self.digest(cookie)}"

    async def start(self, tenant_id: str, user_id: str, auth_time: int, amr: list[str],
                    sid: str | None = None) -> tuple[str, Session]:
        """A new session: (cookie value, session). The cookie value exists only in the response."""
        cookie = new_secret(32)
        session = Session(sid or new_id(), tenant_id, user_id, auth_time, amr, int(time.time()))
        await self.redis.set(self._key(cookie), orjson.dumps(asdict(session)), ex=self.idle_ttl)
        return cookie, session

    async def get(self, tenant_id: str, cookie: str | None) -> Session | None:
        """The live session of ``tenant_id`` the cookie names (its idle time restarts), or None."""
        if not cookie or len(cookie) > 100:
            return None
        key = self._key(cookie)
        raw = await self.redis.get(key)
        if raw is None:
            return None
        try:
            session = Session(**orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError):
            return None
        if session.tenant_id != tenant_id:
            return None
        left = session.started_at + self.absolute_ttl - int(time.time())
        if left <= 0:
            await self.redis.delete(key)
            return None
        await self.redis.expire(key, min(self.idle_ttl, left))
        return session

    async def end(self, cookie: str | None) -> None:
        if cookie:
            await self.redis.delete(self._key(cookie))

    # The sign-in of one pending request ---------------------------------------------------------
    @staticmethod
    def _authenticated_key(request_id: str) -> str:
        return f"tessera:authn:authenticated:{request_id}"

    async def remember(self, request_id: str, session: Session, binding: str, ttl_ms: int) -> None:
        value = {**asdict(session), "binding": self.digest(binding)}
        await self.redis.set(self._authenticated_key(request_id), orjson.dumps(value), px=max(ttl_ms, 1))

    async def recall(self, request_id: str, binding: str | None) -> Session | None:
        """Who signed in for ``request_id`` in this browser; None otherwise."""
        if not binding:
            return None
        raw = await self.redis.get(self._authenticated_key(request_id))
        if raw is None:
            return None
        data: dict[str, Any] = orjson.loads(raw)
        if not equal(data.pop("binding", ""), self.digest(binding)):
            return None
        return Session(**data)

    async def forget(self, request_id: str) -> None:
        await self.redis.delete(self._authenticated_key(request_id))
