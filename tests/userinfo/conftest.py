"""The userinfo tests drive the real suite (``suite``, ``admin``, ``make_app``) through its gateway.

Until authn's admin API for users and the code flow exist, the inputs are made here the way
those services make them:

- user events are appended to a real :class:`EventStore` recorded as service ``authn`` (in a
  throw-away schema, never authn's own) and published on the suite's JetStream by a real
  :class:`FastPath`: the userinfo service's durable consumer reads them like authn's;
- user-bound access tokens are signed with the application's current private key, fetched from
  the keys service's internal endpoint as the token service does, with the claims the token
  service puts in an RFC 9068 token; opaque ones are stored in Redis exactly as
  ``services/token/tokens.py`` stores them.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import nats
import orjson
import pytest
import redis.asyncio as aioredis

from shared import crypto, jws, redis_keys
from shared.config import decode_key
from shared.db import create_pool
from shared.events import EventStore, NewEvent, event_type, registry
from shared.events.outbox import FastPath
from tests.support.schemas import migrated_schema

try:                                     # authn's own declarations when they are in the tree
    import services.authn.events  # noqa: F401
except Exception:  # noqa: BLE001 - authn is being built: declare the types it will write
    pass
for _name in ("user.created", "user.updated", "user.disabled", "user.enabled", "user.deleted"):
    if _name not in registry:
        event_type(_name, description=f"{_name} (declared by the userinfo tests)", example={})

WAIT_S = 20.0


def user_claims(**overrides: Any) -> dict[str, Any]:
    """A ``user.created`` payload as authn writes it (services/authn/events.py)."""
    claims = {
        "username": "ada", "status": "active", "email": "ada@example.com", "email_verified": True,
        "phone_number": "+442071838750", "phone_number_verified": False, "name": "Ada Lovelace",
        "given_name": "Ada", "family_name": "Lovelace", "middle_name": None, "nickname": "ada",
        "preferred_username": "ada", "profile": None, "picture": "https://example.com/ada.png",
        "website": None, "gender": "female", "birthdate": "1815-12-10", "zoneinfo": "Europe/London",
        "locale": "en-GB",
        "address": {"formatted": None, "street_address": "12 St James's Square", "locality": "London",
                    "region": None, "postal_code": "SW1Y 4JH", "country": "GB"},
        "updated_at": 1764100000,
        "sealed_password_hash": {"nonce": "0N1u2YcB3vQmZ8Jd", "ciphertext": "q0x4c2VhbGVk"},
        "source": "admin",
    }
    claims.update(overrides)
    return claims


@dataclass
class Authn:
    """Writes user events as authn does, and waits until userinfo has applied them."""
    store: EventStore
    userinfo_db: asyncpg.Pool
    versions: dict[tuple[str, str], int] = field(default_factory=dict)

    async def _append(self, tenant: str, user_id: str, event_type_: str, data: dict) -> None:
        stream = f"user:{tenant}:{user_id}"
        expected = self.versions.get((tenant, user_id), 0)
        await self.store.append(stream, expected, [NewEvent(event_type_, data, tenant=tenant)])
        self.versions[(tenant, user_id)] = expected + 1
        await self.applied(tenant, user_id, expected + 1)

    async def applied(self, tenant: str, user_id: str, version: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            got = await self.userinfo_db.fetchval(
                "SELECT version FROM users WHERE tenant_id = $1 AND user_id = $2", tenant, user_id)
            if got is not None and got >= version:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"userinfo did not apply event {version} of user {user_id}")

    async def create(self, tenant: str, **overrides: Any) -> str:
        user_id = crypto.new_id()
        await self._append(tenant, user_id, "user.created",
                           {"user_id": user_id, "tenant_id": tenant, **user_claims(**overrides)})
        return user_id

    async def update(self, tenant: str, user_id: str, **changes: Any) -> None:
        await self._append(tenant, user_id, "user.updated",
                           {"user_id": user_id, "tenant_id": tenant, "changes": changes})

    async def set_status(self, tenant: str, user_id: str, verb: str) -> None:
        await self._append(tenant, user_id, f"user.{verb}", {"user_id": user_id, "tenant_id": tenant})


@pytest.fixture
async def userinfo_db(suite):
    pool = await create_pool(suite.env["TESSERA_DATABASE_URL"], "userinfo", min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture
async def authn(suite, userinfo_db):
    async with migrated_schema(suite.env["TESSERA_DATABASE_URL"]) as (_name, pool):
        nc = await nats.connect(suite.env["TESSERA_NATS_URL"])
        fast_path = FastPath(pool, nc)
        task = asyncio.create_task(fast_path.run())
        try:
            yield Authn(EventStore(pool, "authn", fast_path=fast_path), userinfo_db)
        finally:
            await fast_path.close(5.0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await nc.close()


@dataclass
class Tokens:
    """Access tokens of an application, made as the token service makes them."""
    suite: Any
    redis: aioredis.Redis
    pepper: bytes
    _keys: dict[str, jws.SigningKey] = field(default_factory=dict)

    async def signing_key(self, application: str) -> jws.SigningKey:
        if application not in self._keys:
            async with httpx.AsyncClient(timeout=30) as http:
                resp = await http.get(
                    f"{self.suite.keys.url}/internal/applications/{application}/signing-keys",
                    headers={"Authorization": f"Bearer {self.suite.env['TESSERA_INTERNAL_TOKEN']}"})
            assert resp.status_code == 200, resp.text
            current = [k for k in resp.json()["keys"] if k["status"] == "current"]
            self._keys[application] = jws.SigningKey.from_jwk(current[0]["private_jwk"])
        return self._keys[application]

    @staticmethod
    def claims(app, sub: str, scope: str, *, ttl: int = 300, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": app.issuer, "sub": sub, "aud": app.issuer, "exp": now + ttl, "iat": now,
                "jti": crypto.new_id(), "client_id": app.client_id, "scope": scope, **extra}

    async def jwt(self, app, sub: str, scope: str = "openid", *, header: dict | None = None,
                  **options: Any) -> str:
        key = await self.signing_key(app.id)
        return key.sign(header or {"typ": "at+jwt"}, self.claims(app, sub, scope, **options))

    async def opaque(self, app, sub: str, scope: str = "openid", *, ttl: int = 300, **extra: Any) -> str:
        token = crypto.new_secret()
        claims = self.claims(app, sub, scope, ttl=ttl, **extra)
        key = redis_keys.opaque_access_token(crypto.secret_hash(self.pepper, token))
        await self.redis.set(key, orjson.dumps(claims), ex=max(ttl, 1) + 60)
        return token


@pytest.fixture
async def tokens(suite):
    client = aioredis.from_url(suite.env["TESSERA_REDIS_URL"])
    yield Tokens(suite, client, decode_key("TESSERA_SECRET_PEPPER", suite.env["TESSERA_SECRET_PEPPER"]))
    await client.aclose()


async def wait_for_application(userinfo_db: asyncpg.Pool, application: str, status: str = "active") -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if await userinfo_db.fetchval("SELECT status FROM applications WHERE application_id = $1",
                                      application) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"userinfo never saw application {application} {status}")


@pytest.fixture
async def ready_app(make_app, userinfo_db):
    """``make_app`` whose application the userinfo service already knows."""
    async def make(**kwargs: Any):
        app = await make_app(**kwargs)
        await wait_for_application(userinfo_db, app.id)
        return app
    return make


@pytest.fixture
async def http(suite):
    async with httpx.AsyncClient(base_url=suite.public_url, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"
