"""``POST /internal/bootstrap``: the system tenant, application and admin clients, idempotently."""
import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.token import internal
from shared.crypto import matches

from .registry_fixtures import registry, token_schema, token_settings  # noqa: F401 - fixtures


@pytest.fixture
async def http(registry):
    app = web.Application()
    internal.add_routes(app, registry)
    async with TestClient(TestServer(app)) as client:
        yield client


def _auth(registry, token=None):
    return {"Authorization": f"Bearer {token or registry.settings.internal_token}"}


async def test_bootstrap_creates_the_system_tenant_application_and_an_admin_client(http, registry):
    resp = await http.post("/internal/bootstrap", headers=_auth(registry))
    assert resp.status == 201 and resp.headers["Cache-Control"] == "no-store"
    creds = await resp.json()
    assert creds["issuer"] == "https://id.example.com/system"
    assert creds["token_endpoint"] == "https://id.example.com/system/token"
    assert (await registry.tenant("system")).status == "active"
    app = await registry.application("system")
    assert app.scopes == ("tessera:admin",) and app.settings.access_token_format == "jwt"
    client = await registry.client("system", creds["client_id"])
    assert client.grant_types == ("client_credentials",) and client.scopes == ("tessera:admin",)
    assert client.token_endpoint_auth_method == "client_secret_basic"
    assert matches(registry.settings.secret_pepper, creds["client_secret"], client.secret_hashes[0].hash)


async def test_a_second_bootstrap_is_a_conflict_unless_it_asks_for_a_new_client(http, registry):
    first = await (await http.post("/internal/bootstrap", headers=_auth(registry))).json()
    again = await http.post("/internal/bootstrap", headers=_auth(registry))
    assert again.status == 409
    assert (await again.json())["error"] == "conflict"
    resp = await http.post("/internal/bootstrap", headers=_auth(registry), json={"new_client": True})
    assert resp.status == 201
    second = await resp.json()
    assert second["client_id"] != first["client_id"] and len(second["client_id"]) == 22
    assert sorted(await registry.admin_client_ids()) == sorted([first["client_id"], second["client_id"]])


async def test_bootstrap_makes_a_new_admin_client_when_none_is_left(http, registry):
    first = await (await http.post("/internal/bootstrap", headers=_auth(registry))).json()
    await registry.disable_client("system", first["client_id"])
    resp = await http.post("/internal/bootstrap", headers=_auth(registry))
    assert resp.status == 201 and (await resp.json())["client_id"] != first["client_id"]


async def test_concurrent_bootstraps_make_one_admin_client(http, registry):
    results = await asyncio.gather(*(http.post("/internal/bootstrap", headers=_auth(registry)) for _ in range(4)))
    assert sorted(r.status for r in results) == [201, 409, 409, 409]
    assert len(await registry.admin_client_ids()) == 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic x"}])
async def test_bootstrap_refuses_a_caller_without_the_internal_token(http, registry, headers):
    resp = await http.post("/internal/bootstrap", headers=headers)
    assert resp.status == 401 and (await resp.json())["error"] == "invalid_token"
    assert await registry.tenant("system") is None


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"new_client": "yes"}', b'{"other": 1}'])
async def test_bootstrap_refuses_a_malformed_body(http, registry, body):
    resp = await http.post("/internal/bootstrap", headers={**_auth(registry), "Content-Type": "application/json"},
                           data=body)
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_request"


async def test_the_admin_api_cannot_create_the_reserved_system_ids(registry):
    from services.token.domain import DomainError
    with pytest.raises(DomainError, match="reserved"):
        await registry.create_tenant("system", "Mine")
    await registry.create_tenant("acme", "Acme")
    with pytest.raises(DomainError, match="reserved"):
        await registry.create_application("acme", "system", "Mine")
