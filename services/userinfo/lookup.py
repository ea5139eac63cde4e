"""The read models as the endpoint asks them: applications (cached), users (one indexed query).

Applications change rarely and are read on every request, so each process keeps them for
``ttl`` seconds (5 s). Every replica hears the token service's tenant and application events on
NATS (plain subscriptions, besides the durable consumer that writes the tables) and drops its
copy at once, and once more a moment later, after the consumer has committed. A disabled
application therefore stops serving userinfo within a second or so, within ``ttl`` at worst.

Users' claims are kept the same way (the look-up was the one Postgres round trip of a request):
``user.*`` events drop a user's copy in every replica at once and again a moment later, so a
deleted or disabled user is refused within about a second; within ``ttl`` if NATS is down.
"""
from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import asyncpg
import orjson

from shared import crypto, redis_keys
from shared.redis_batch import RedisBatch

from .access import Application

TTL_S = 5.0
MISSING_TTL_S = 1.0
RECHECK_AFTER_S = 1.0
MAX_ENTRIES = 100_000
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")

_APPLICATION = """
SELECT a.tenant_id, a.issuer, a.status, coalesce(t.status, 'active') AS tenant_status
FROM applications a LEFT JOIN tenants t ON t.tenant_id = a.tenant_id
WHERE a.application_id = $1
"""
_USER = "SELECT status, claims FROM users WHERE tenant_id = $1 AND user_id = $2"


class Applications:
    def __init__(self, pool: asyncpg.Pool, *, ttl: float = TTL_S, clock=time.monotonic) -> None:
        self.pool = pool
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, Application | None]] = {}

    async def get(self, application_id: str) -> Application | None:
        """The application (None: unknown or deleted)."""
        now = self._clock()
        entry = self._entries.get(application_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        app = None
        if _ID.match(application_id):
            row = await self.pool.fetchrow(_APPLICATION, application_id)
            if row is not None and row["status"] != "deleted" and row["tenant_status"] != "deleted":
                app = Application(application_id, row["tenant_id"], row["issuer"],
                                  active=row["status"] == "active" and row["tenant_status"] == "active")
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[application_id] = (now + (self.ttl if app is not None else MISSING_TTL_S), app)
        return app

    def forget(self, application_id: str | None = None) -> None:
        if application_id is None:
            self._entries.clear()
        else:
            self._entries.pop(application_id, None)

    async def on_event(self, msg) -> None:
        """NATS callback for ``tessera.token.*.tenant.>`` and ``tessera.token.*.application.>``."""
        try:
            envelope = orjson.loads(msg.data)
            application = envelope.get("application") if envelope.get("type", "").startswith("application.") else None
        except (orjson.JSONDecodeError, AttributeError):
            application = None
        self.forget(application)
        # The durable consumer (maybe in another replica) commits the change a moment later.
        asyncio.get_running_loop().call_later(RECHECK_AFTER_S, self.forget, application)


class Users:
    def __init__(self, pool: asyncpg.Pool, *, ttl: float = TTL_S, clock=time.monotonic) -> None:
        self.pool = pool
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}

    async def claims(self, tenant_id: str, user_id: str) -> dict[str, Any] | None:
        """The stored claims of an active user of the tenant; None otherwise."""
        if len(user_id) > 255 or "\x00" in user_id:
            return None
        key = (tenant_id, user_id)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        row = await self.pool.fetchrow(_USER, tenant_id, user_id)
        claims = row["claims"] if row is not None and row["status"] == "active" else None
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (now + (self.ttl if claims is not None else MISSING_TTL_S), claims)
        return claims

    def forget(self, key: tuple[str, str] | None = None) -> None:
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    async def on_event(self, msg) -> None:
        """NATS callback for ``tessera.authn.*.user.>``: that user's claims changed."""
        try:
            data = orjson.loads(msg.data).get("data") or {}
            key = (data["tenant_id"], data["user_id"])
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            key = None
        self.forget(key)
        asyncio.get_running_loop().call_later(RECHECK_AFTER_S, self.forget, key)


class TokenStore:
    """What the token service keeps in Redis about access tokens (read only here)."""

    def __init__(self, redis: RedisBatch, pepper: bytes) -> None:
        self.redis = redis
        self.pepper = pepper

    async def is_revoked(self, jti: str) -> bool:
        return await self.redis.exists(redis_keys.revoked_jti(jti))

    async def opaque(self, token: str) -> dict[str, Any] | None:
        raw = await self.redis.get(redis_keys.opaque_access_token(crypto.secret_hash(self.pepper, token)))
        if raw is None:
            return None
        try:
            claims = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return claims if isinstance(claims, dict) else None
