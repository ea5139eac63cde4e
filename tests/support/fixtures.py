"""A running suite (keys, two token processes, authn, userinfo, gateway) and admin access.

Shared by every end-to-end folder: the root ``tests/conftest.py`` imports the fixtures from here,
so the session-scoped ``suite`` is started once per test session, not once per folder.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from tests.support.suite import RunningSuite, start_suite


@pytest.fixture(scope="session")
def suite(service_env, tmp_path_factory) -> RunningSuite:
    running = start_suite(service_env, tmp_path_factory.mktemp("suite-logs"))
    yield running
    running.stop()


@dataclass
class Admin:
    """Credentials of a bootstrapped admin client and a way to call the admin API."""
    suite: RunningSuite
    client_id: str
    client_secret: str
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, *, base: str | None = None, **kwargs) -> httpx.Response:
        async with httpx.AsyncClient(base_url=base or self.suite.token.url, timeout=30) as http:
            return await http.request(method, path, headers=self.headers(), **kwargs)


async def client_credentials(base: str, application: str, client_id: str, secret: str,
                             **form: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{base}/{application}/token", auth=(client_id, secret),
                               data={"grant_type": "client_credentials", **form})


@pytest.fixture(scope="session")
async def admin(suite) -> Admin:
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.post(f"{suite.token.url}/internal/bootstrap", json={"new_client": True},
                               headers={"Authorization": f"Bearer {suite.env['TESSERA_INTERNAL_TOKEN']}"})
    assert resp.status_code in (200, 201), resp.text
    creds = resp.json()
    token = await client_credentials(suite.token.url, "system", creds["client_id"], creds["client_secret"],
                                     scope="tessera:admin")
    assert token.status_code == 200, token.text
    return Admin(suite, creds["client_id"], creds["client_secret"], token.json()["access_token"])


@dataclass
class App:
    tenant: str
    id: str
    client_id: str
    client_secret: str
    issuer: str


@pytest.fixture
async def make_app(admin):
    """Create a tenant and application (its own issuer) with a confidential default client."""
    async def make(*, settings: dict | None = None, scopes: list[str] | None = None,
                   tenant: str | None = None) -> App:
        tenant = tenant or f"t-{uuid.uuid4().hex[:10]}"
        resp = await admin.call("POST", "/admin/tenants", json={"id": tenant, "name": tenant})
        assert resp.status_code in (201, 409), resp.text
        app_id = f"a-{uuid.uuid4().hex[:10]}"
        body = {"id": app_id, "name": app_id, "scopes": scopes or ["read", "write"]}
        if settings:
            body["settings"] = settings
        resp = await admin.call("POST", f"/admin/tenants/{tenant}/applications", json=body)
        assert resp.status_code == 201, resp.text
        created = resp.json()
        return App(tenant, app_id, created["default_client"]["client_id"],
                   created["default_client"]["client_secret"], created["issuer"])
    return make
