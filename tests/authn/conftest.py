"""The authn tests: the running suite (``suite``, ``admin``, ``make_app``), the users admin API
through the gateway, pending authorization requests written into Redis exactly as ADR 0005 says
the token service writes them, and a scripted browser (cookies, no JavaScript)."""
from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from shared import redis_keys
from tests.support.waiting import eventually

REQUEST_TTL = 600
CSRF = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')


@pytest.fixture
def api(suite, admin):
    """Call an admin API through the public URL (the gateway), as an operator would."""
    async def call(method: str, path: str, **kwargs) -> httpx.Response:
        return await admin.call(method, path, base=suite.public_url, **kwargs)
    return call


async def wait_for_tenant(api, tenant: str, timeout: float = 20) -> None:
    """authn learns tenants from the token service's events: wait until it knows ``tenant``."""
    async def known() -> bool:
        resp = await api("GET", f"/admin/users?tenant={tenant}&limit=1")
        assert resp.status_code in (200, 404), resp.text
        return resp.status_code == 200
    assert await eventually(known, timeout), f"authn never learned tenant {tenant}"


@pytest.fixture
async def app(make_app, api):
    """A fresh tenant and application, known to authn."""
    made = await make_app(scopes=["read", "write"])
    await wait_for_tenant(api, made.tenant)
    return made


@pytest.fixture
def new_user(api):
    async def make(tenant: str, **fields: Any) -> dict[str, Any]:
        body = {"tenant_id": tenant, "username": f"u{uuid.uuid4().hex[:10]}", "password": "correct horse 1",
                **fields}
        resp = await api("POST", "/admin/users", json=body)
        assert resp.status_code == 201, resp.text
        return {**resp.json(), "password": body.get("password")}
    return make


@pytest.fixture
async def redis(suite):
    client = aioredis.from_url(suite.env["TESSERA_REDIS_URL"])
    yield client
    await client.aclose()


@pytest.fixture
def pending(redis):
    """Write a pending authorization request the way the token service's /authorize does."""
    async def write(app, *, scopes: list[str] | None = None, prompt: list[str] | None = None,
                    max_age: int | None = None, skip_consent: bool = False, client_id: str | None = None,
                    ttl: int = REQUEST_TTL, login_hint: str | None = None) -> str:
        request_id = secrets.token_urlsafe(32)
        now = int(time.time())
        body = {"id": request_id, "tenant_id": app.tenant, "application_id": app.id,
                "application_name": f"App {app.id}", "issuer": app.issuer, "client_id": client_id or app.client_id,
                "client_name": "Test <Client>", "skip_consent": skip_consent,
                "redirect_uri": "https://rp.example.com/cb", "response_mode": "query",
                "scopes": scopes if scopes is not None else ["openid", "profile"], "state": "st-1",
                "nonce": "n-1", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256", "prompt": prompt or [], "max_age": max_age,
                "login_hint": login_hint, "ui_locales": None, "acr_values": None, "created_at": now,
                "expires_at": now + ttl}
        await redis.set(redis_keys.authorization_request(request_id), orjson.dumps(body), ex=ttl)
        return request_id
    return write


@pytest.fixture
def result(redis):
    async def read(request_id: str) -> dict[str, Any] | None:
        raw = await redis.get(redis_keys.authorization_result(request_id))
        return None if raw is None else orjson.loads(raw)
    return read


@dataclass
class Browser:
    """A browserless client of the hosted pages: keeps cookies, follows nothing by itself."""
    base: str
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base, timeout=60, follow_redirects=False)

    async def get(self, path: str, **kwargs) -> httpx.Response:
        return await self.http.get(path, **kwargs)

    async def post(self, path: str, data: dict[str, str], **kwargs) -> httpx.Response:
        return await self.http.post(path, data=data, **kwargs)

    async def login_page(self, app_id: str, request_id: str) -> tuple[httpx.Response, str | None]:
        page = await self.get(f"/{app_id}/login", params={"request": request_id})
        found = CSRF.search(page.text)
        return page, found.group(1) if found else None

    async def sign_in(self, app_id: str, request_id: str, username: str, password: str) -> httpx.Response:
        page, csrf = await self.login_page(app_id, request_id)
        assert page.status_code == 200 and csrf, page.text
        return await self.post(f"/{app_id}/login", {"request": request_id, "csrf": csrf, "username": username,
                                                    "password": password})

    async def decide(self, app_id: str, request_id: str, decision: str) -> httpx.Response:
        page = await self.get(f"/{app_id}/consent", params={"request": request_id})
        assert page.status_code == 200, page.text
        csrf = CSRF.search(page.text).group(1)
        return await self.post(f"/{app_id}/consent", {"request": request_id, "csrf": csrf, "decision": decision})

    async def close(self) -> None:
        await self.http.aclose()


@pytest.fixture
async def browser(suite):
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(suite.public_url))
        return made[-1]
    yield make
    for b in made:
        await b.close()


def resume_url(suite, app, request_id: str) -> str:
    return f"{suite.public_url}/{app.id}/authorize/resume?request={request_id}"


async def events_of(suite, tenant: str, user_id: str) -> list[dict[str, Any]]:
    """The recorded events of a user's stream (type and data), in order."""
    import asyncpg
    conn = await asyncpg.connect(suite.env["TESSERA_DATABASE_URL"])
    try:
        rows = await conn.fetch("SELECT type, data FROM authn.events WHERE stream = $1 ORDER BY sequence",
                                f"user:{tenant}:{user_id}")
    finally:
        await conn.close()
    return [{"type": r["type"], "data": orjson.loads(r["data"])} for r in rows]
