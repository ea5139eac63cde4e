"""The admin API: guarded by an access token of the system application (ADR 0002)."""
import time
import uuid

import pytest

from shared.jws import SigningKey

from .conftest import PUBLIC_URL


async def _post(http, url, headers, body=None):
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def _get(http, url, headers):
    async with http.get(url, headers=headers) as response:
        return response.status, await response.json()


@pytest.fixture
async def admin_token(http, keys_service, internal_headers):
    """Mints access tokens as the token service would, with the system application's key."""
    status, body = await _post(http, f"{keys_service.url}/internal/applications/system/signing-keys",
                               internal_headers, {"tenant_id": "system"})
    assert status == 200
    keys = {k["alg"]: SigningKey.from_jwk(k["private_jwk"]) for k in body["keys"]}

    def mint(scope="tessera:admin", issuer=f"{PUBLIC_URL}/system", key=None):
        now = int(time.time())
        claims = {"iss": issuer, "sub": "admin-cli", "client_id": "admin-cli", "aud": "tessera",
                  "scope": scope, "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
        return (key or keys["ES256"]).sign({"typ": "at+jwt"}, claims)
    return mint


async def _application_with_keys(http, keys_service, internal_headers, new_application):
    app, tenant = new_application()
    status, _ = await _post(http, f"{keys_service.url}/internal/applications/{app}/signing-keys",
                            internal_headers, {"tenant_id": tenant})
    assert status == 200
    return app


async def test_admin_lists_keys_without_key_material(http, keys_service, internal_headers, admin_token,
                                                     new_application):
    app = await _application_with_keys(http, keys_service, internal_headers, new_application)
    status, body = await _get(http, f"{keys_service.url}/admin/keys/applications/{app}",
                              {"Authorization": f"Bearer {admin_token()}"})
    assert status == 200 and body["application_id"] == app
    assert sorted(k["alg"] for k in body["keys"]) == ["ES256", "RS256"]
    for key in body["keys"]:
        assert set(key) == {"kid", "alg", "status", "created_at", "activated_at", "retired_at", "revoked_at"}
        assert key["status"] == "current" and key["activated_at"]


async def test_admin_rotation_is_recorded_with_its_actor(http, keys_service, keys_db, internal_headers,
                                                         admin_token, new_application):
    app = await _application_with_keys(http, keys_service, internal_headers, new_application)
    status, body = await _post(http, f"{keys_service.url}/admin/keys/applications/{app}/rotate",
                               {"Authorization": f"Bearer {admin_token()}"})
    assert status == 200
    assert sorted(k["status"] for k in body["keys"]) == ["current", "current", "retired", "retired"]
    rows = await keys_db.fetch("SELECT actor FROM events WHERE application = $1 ORDER BY position", app)
    ensured, rotated = rows[:2], rows[2:]
    assert len(rotated) == 6                                   # per alg: created, retired, activated
    assert {r["actor"] for r in ensured} == {None}             # the internal API has no actor
    assert {r["actor"] for r in rotated} == {"client:admin-cli"}


async def test_admin_of_an_unknown_application_is_not_found(http, keys_service, admin_token, new_application):
    app, _tenant = new_application()
    headers = {"Authorization": f"Bearer {admin_token()}"}
    assert (await _get(http, f"{keys_service.url}/admin/keys/applications/{app}", headers))[0] == 404
    assert (await _post(http, f"{keys_service.url}/admin/keys/applications/{app}/rotate", headers))[0] == 404


async def test_admin_needs_the_admin_scope(http, keys_service, internal_headers, admin_token, new_application):
    app = await _application_with_keys(http, keys_service, internal_headers, new_application)
    status, body = await _get(http, f"{keys_service.url}/admin/keys/applications/{app}",
                              {"Authorization": f"Bearer {admin_token(scope='openid profile')}"})
    assert status == 403 and body["error"] == "insufficient_scope"


async def test_admin_refuses_missing_foreign_and_internal_tokens(http, keys_service, internal_headers,
                                                                 admin_token, new_application):
    app = await _application_with_keys(http, keys_service, internal_headers, new_application)
    _status, body = await _get(http, f"{keys_service.url}/internal/applications/{app}/signing-keys",
                              internal_headers)
    foreign_key = SigningKey.from_jwk(body["keys"][0]["private_jwk"])
    refused = [
        {},                                                                   # no token
        internal_headers,                                                     # the internal token
        {"Authorization": f"Bearer {admin_token(issuer=f'{PUBLIC_URL}/{app}')}"},  # another issuer
        {"Authorization": f"Bearer {admin_token(key=foreign_key)}"},           # another app's key
        {"Authorization": "Bearer not.a.jwt"},
    ]
    for headers in refused:
        for method, path in (("GET", f"/admin/keys/applications/{app}"),
                             ("POST", f"/admin/keys/applications/{app}/rotate")):
            async with http.request(method, keys_service.url + path, headers=headers) as response:
                assert response.status == 401, (method, path, headers)
                assert (await response.json())["error"] == "invalid_token"
