"""The admin API of the token service, end to end through the gateway of a running suite."""
from __future__ import annotations

import re
import uuid

import httpx
import pytest

from shared.config import decode_key
from shared.crypto import secret_hash

from tests.support.fixtures import client_credentials


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _get(url: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url, **kwargs)


@pytest.fixture
def api(suite, admin):
    """Call the admin API through the public URL (the gateway), as an operator would."""
    async def call(method: str, path: str, **kwargs) -> httpx.Response:
        return await admin.call(method, path, base=suite.public_url, **kwargs)
    return call


def _error(resp: httpx.Response, status: int, error: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error
    return body["error_description"]


# The guard -------------------------------------------------------------------------------------
async def test_a_request_without_a_token_is_refused(suite):
    resp = await _get(f"{suite.public_url}/admin/tenants")
    _error(resp, 401, "invalid_token")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_request_with_a_garbage_token_is_refused(suite):
    resp = await _get(f"{suite.public_url}/admin/tenants", headers={"Authorization": "Bearer not.a.token"})
    _error(resp, 401, "invalid_token")


async def test_a_token_of_another_issuer_is_refused_even_with_the_admin_scope(suite, make_app):
    app = await make_app(scopes=["tessera:admin"])
    token = (await client_credentials(suite.token.url, app.id, app.client_id, app.client_secret,
                                      scope="tessera:admin")).json()["access_token"]
    resp = await _get(f"{suite.public_url}/admin/tenants", headers={"Authorization": f"Bearer {token}"})
    _error(resp, 401, "invalid_token")


async def test_a_system_token_without_the_admin_scope_is_refused(suite, api):
    resp = await api("GET", "/admin/applications/system")
    offered = resp.json()["scopes"]
    if "status:read" not in offered:
        resp = await api("PATCH", "/admin/applications/system", json={"scopes": [*offered, "status:read"]})
        assert resp.status_code == 200, resp.text
    resp = await api("POST", "/admin/applications/system/clients", json={"name": "monitor", "scopes": ["status:read"]})
    assert resp.status_code == 201, resp.text
    monitor = resp.json()
    token = await client_credentials(suite.token.url, "system", monitor["client_id"], monitor["client_secret"],
                                     scope="status:read")
    assert token.status_code == 200, token.text
    resp = await _get(f"{suite.public_url}/admin/tenants",
                      headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    _error(resp, 403, "insufficient_scope")


async def test_the_openapi_document_is_public(suite):
    resp = await _get(f"{suite.public_url}/admin/openapi.yaml")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/yaml")
    assert resp.text.startswith("openapi: 3.1.0")


# CRUD ------------------------------------------------------------------------------------------
async def test_tenant_lifecycle(api):
    tid = _id("tenant")
    resp = await api("POST", "/admin/tenants", json={"id": tid, "name": "Acme"})
    assert resp.status_code == 201 and resp.headers["Location"] == f"/admin/tenants/{tid}"
    assert resp.json() == {"id": tid, "name": "Acme", "status": "active", "version": 1}
    assert (await api("GET", f"/admin/tenants/{tid}")).json()["name"] == "Acme"
    assert (await api("PATCH", f"/admin/tenants/{tid}", json={"name": "Acme Inc."})).json()["version"] == 2
    assert (await api("POST", f"/admin/tenants/{tid}/disable")).json()["status"] == "disabled"
    assert (await api("POST", f"/admin/tenants/{tid}/enable")).json()["status"] == "active"
    assert (await api("DELETE", f"/admin/tenants/{tid}")).status_code == 204
    _error(await api("GET", f"/admin/tenants/{tid}"), 404, "not_found")
    _error(await api("PATCH", f"/admin/tenants/{tid}", json={"name": "x"}), 410, "gone")
    _error(await api("POST", "/admin/tenants", json={"id": tid, "name": "again"}), 410, "gone")


async def test_tenants_are_listed_in_pages(api):
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    for i in range(3):
        assert (await api("POST", "/admin/tenants", json={"id": f"{prefix}-{i}", "name": str(i)})).status_code == 201
    seen, after = [], f"{prefix}-"
    while True:
        page = (await api("GET", "/admin/tenants", params={"limit": 2, "after": after})).json()
        seen += [t["id"] for t in page["items"] if t["id"].startswith(prefix)]
        if page["next"] is None or not page["next"].startswith(prefix):
            break
        after = page["next"]
    assert seen == [f"{prefix}-0", f"{prefix}-1", f"{prefix}-2"]


async def test_application_and_client_lifecycle(suite, api):
    tid, aid = _id("tenant"), _id("app")
    await api("POST", "/admin/tenants", json={"id": tid, "name": "Acme"})
    resp = await api("POST", f"/admin/tenants/{tid}/applications", json={
        "id": aid, "name": "Billing", "scopes": ["read", "write"],
        "settings": {"access_token_format": "opaque", "access_token_ttl": 600}})
    assert resp.status_code == 201, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    created = resp.json()
    assert created["issuer"] == f"{suite.public_url}/{aid}" and created["tenant_id"] == tid
    assert created["settings"]["access_token_ttl"] == 600 and created["scopes"] == ["read", "write"]
    default = created["default_client"]
    assert default["client_id"] == aid and default["grant_types"] == ["client_credentials"]
    token = await client_credentials(suite.token.url, aid, aid, default["client_secret"], scope="read")
    assert token.status_code == 200, token.text

    listed = (await api("GET", f"/admin/tenants/{tid}/applications")).json()
    assert [a["id"] for a in listed["items"]] == [aid] and listed["next"] is None
    resp = await api("PATCH", f"/admin/applications/{aid}", json={"name": "Billing EU",
                                                                   "settings": {"code_ttl": 30}})
    assert resp.json()["name"] == "Billing EU" and resp.json()["settings"]["access_token_format"] == "opaque"

    resp = await api("POST", f"/admin/applications/{aid}/clients", json={"name": "Exporter", "scopes": ["read"]})
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    client = resp.json()
    cid, first_secret = client["client_id"], client["client_secret"]
    assert len(cid) == 22 and resp.headers["Location"] == f"/admin/applications/{aid}/clients/{cid}"
    shown = (await api("GET", f"/admin/applications/{aid}/clients/{cid}")).json()
    assert "client_secret" not in shown and [s["expires_at"] for s in shown["secrets"]] == [None]
    clients = (await api("GET", f"/admin/applications/{aid}/clients")).json()["items"]
    assert sorted(c["client_id"] for c in clients) == sorted([aid, cid])

    resp = await api("POST", f"/admin/applications/{aid}/clients/{cid}/rotate-secret", json={"grace_seconds": 600})
    rotated = resp.json()
    assert resp.status_code == 200 and rotated["client_secret"] != first_secret
    assert [s["expires_at"] is None for s in rotated["secrets"]] == [True, False]
    for secret in (first_secret, rotated["client_secret"]):   # both work during the grace period
        assert (await client_credentials(suite.token.url, aid, cid, secret)).status_code == 200
    resp = await api("POST", f"/admin/applications/{aid}/clients/{cid}/rotate-secret")
    latest = resp.json()["client_secret"]
    assert (await client_credentials(suite.token.url, aid, cid, first_secret)).status_code == 401
    assert (await client_credentials(suite.token.url, aid, cid, latest)).status_code == 200

    resp = await api("PATCH", f"/admin/applications/{aid}/clients/{cid}", json={"name": "Exporter 2"})
    assert resp.json()["name"] == "Exporter 2"
    assert (await api("POST", f"/admin/applications/{aid}/clients/{cid}/disable")).json()["status"] == "disabled"
    assert (await api("POST", f"/admin/applications/{aid}/clients/{cid}/enable")).json()["status"] == "active"
    assert (await api("DELETE", f"/admin/applications/{aid}/clients/{cid}")).status_code == 204
    _error(await api("GET", f"/admin/applications/{aid}/clients/{cid}"), 404, "not_found")
    _error(await api("POST", f"/admin/applications/{aid}/clients/{cid}/enable"), 410, "gone")

    _error(await api("DELETE", f"/admin/tenants/{tid}"), 409, "conflict")
    assert (await api("POST", f"/admin/applications/{aid}/disable")).json()["status"] == "disabled"
    assert (await api("POST", f"/admin/applications/{aid}/enable")).json()["status"] == "active"
    assert (await api("DELETE", f"/admin/applications/{aid}")).status_code == 204
    _error(await api("GET", f"/admin/applications/{aid}/clients/{aid}"), 404, "not_found")
    assert (await client_credentials(suite.token.url, aid, aid, default["client_secret"])).status_code in (401, 404)
    assert (await api("DELETE", f"/admin/tenants/{tid}")).status_code == 204


async def test_a_public_client_gets_no_secret(api, make_app):
    app = await make_app()
    resp = await api("POST", f"/admin/applications/{app.id}/clients", json={
        "name": "SPA", "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
        "redirect_uris": ["https://spa.example.com/callback"], "scopes": ["read"]})
    assert resp.status_code == 201, resp.text
    assert "client_secret" not in resp.json() and resp.json()["secrets"] == []


async def test_responses_never_carry_a_secret_hash(suite, api, make_app):
    app = await make_app()
    pepper = decode_key("TESSERA_SECRET_PEPPER", suite.env["TESSERA_SECRET_PEPPER"])
    stored = secret_hash(pepper, app.client_secret)
    for path in (f"/admin/applications/{app.id}/clients", f"/admin/applications/{app.id}/clients/{app.client_id}"):
        text = (await api("GET", path)).text
        assert stored not in text and app.client_secret not in text
    rotated = await api("POST", f"/admin/applications/{app.id}/clients/{app.client_id}/rotate-secret",
                        json={"grace_seconds": 60})
    assert stored not in rotated.text
    assert secret_hash(pepper, rotated.json()["client_secret"]) not in rotated.text


# Isolation and errors --------------------------------------------------------------------------
async def test_a_request_scoped_to_another_tenant_finds_nothing(api, make_app):
    app = await make_app()
    other = await make_app()
    scoped = {"params": {"tenant": other.tenant}}
    for method, path, kwargs in [
        ("GET", f"/admin/applications/{app.id}", {}),
        ("PATCH", f"/admin/applications/{app.id}", {"json": {"name": "mine"}}),
        ("POST", f"/admin/applications/{app.id}/disable", {}),
        ("DELETE", f"/admin/applications/{app.id}", {}),
        ("GET", f"/admin/applications/{app.id}/clients", {}),
        ("POST", f"/admin/applications/{app.id}/clients", {"json": {"name": "sneaky"}}),
        ("GET", f"/admin/applications/{app.id}/clients/{app.client_id}", {}),
        ("POST", f"/admin/applications/{app.id}/clients/{app.client_id}/rotate-secret", {}),
        ("DELETE", f"/admin/applications/{app.id}/clients/{app.client_id}", {}),
    ]:
        _error(await api(method, path, **kwargs, **scoped), 404, "not_found")
    resp = await api("GET", f"/admin/applications/{app.id}", params={"tenant": app.tenant})
    assert resp.status_code == 200 and resp.json()["status"] == "active"


async def test_duplicates_are_conflicts(api, make_app):
    app = await make_app()
    _error(await api("POST", "/admin/tenants", json={"id": app.tenant, "name": "again"}), 409, "conflict")
    other = _id("tenant")
    await api("POST", "/admin/tenants", json={"id": other, "name": "Other"})
    _error(await api("POST", f"/admin/tenants/{other}/applications", json={"id": app.id, "name": "Mine"}),
           409, "conflict")
    assert (await api("GET", f"/admin/applications/{app.id}")).json()["tenant_id"] == app.tenant


@pytest.mark.parametrize("method,path,body,status,error", [
    ("POST", "/admin/tenants", b"{not json", 400, "invalid_request"),
    ("POST", "/admin/tenants", b"[1, 2]", 400, "invalid_request"),
    ("POST", "/admin/tenants", b"", 400, "invalid_request"),
    ("POST", "/admin/tenants", b'{"id": "ok-id", "name": "x", "admin": true}', 400, "invalid_request"),
    ("POST", "/admin/tenants", b'{"id": "Bad Id", "name": "x"}', 400, "invalid_request"),
    ("POST", "/admin/tenants", b'{"id": "system", "name": "x"}', 400, "invalid_request"),
    ("POST", "/admin/tenants", b'{"id": "nul\\u0000", "name": "x"}', 400, "invalid_request"),
    ("POST", "/admin/tenants", b'{"id": 12345, "name": null}', 400, "invalid_request"),
    ("POST", "/admin/tenants", b'\xff\xfe', 400, "invalid_request"),
    ("GET", "/admin/tenants?limit=0", None, 400, "invalid_request"),
    ("GET", "/admin/tenants?limit=x", None, 400, "invalid_request"),
    ("GET", "/admin/tenants?after=%00", None, 400, "invalid_request"),
    ("GET", "/admin/tenants/%00", None, 404, "not_found"),
    ("GET", "/admin/tenants/no-such-tenant", None, 404, "not_found"),
    ("GET", "/admin/applications/no-such-app", None, 404, "not_found"),
    ("GET", "/admin/applications/no-such-app/clients/x", None, 404, "not_found"),
    ("DELETE", "/admin/tenants/system", None, 409, "conflict"),
    ("POST", "/admin/applications/system/disable", None, 409, "conflict"),
    ("PATCH", "/admin/applications/system", b'{"settings": {"access_token_ttl": "long"}}', 400, "invalid_request"),
    ("PATCH", "/admin/applications/system", b'{"issuer": "http://evil.example.com"}', 400, "invalid_request"),
    ("PATCH", "/admin/applications/system", b'{"settings": null}', 400, "invalid_request"),
    ("PATCH", "/admin/applications/system", b'{}', 400, "invalid_request"),
    ("POST", "/admin/applications/system/clients", b'{"name": "x", "grant_types": "client_credentials"}', 400,
     "invalid_request"),
    ("POST", "/admin/applications/system/clients", b'{"name": "x", "token_endpoint_auth_method": ["none"]}', 400,
     "invalid_request"),
    ("POST", "/admin/applications/system/clients", b'{"name": "x", "redirect_uris": [{"a": 1}]}', 400,
     "invalid_request"),
    ("POST", "/admin/applications/system/clients", b'{"name": "x", "client_secret": "mine"}', 400,
     "invalid_request"),
    ("POST", "/admin/applications/system/clients/system/rotate-secret", b'{"grace_seconds": 1e99}', 400,
     "invalid_request"),
    ("POST", "/admin/applications/system/clients/system/rotate-secret", b'{"grace_seconds": -1}', 400,
     "invalid_request"),
])
async def test_bad_input_gets_the_stable_error_object_never_500(api, method, path, body, status, error):
    resp = await api(method, path, content=body)
    description = _error(resp, status, error)
    assert description and not re.search(r"Traceback|asyncpg|Exception", description)
