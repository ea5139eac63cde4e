"""The keys service over HTTP, as the token service and relying parties use it."""
import asyncio
import base64

import pytest

from services.keys.crypto import thumbprint

PUBLIC_MEMBERS = {"kty", "kid", "alg", "use", "n", "e", "crv", "x", "y"}


async def _ensure(http, keys_service, headers, app, tenant):
    async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys",
                         json={"tenant_id": tenant}, headers=headers) as response:
        return response.status, await response.json()


async def _jwks(http, keys_service, app):
    async with http.get(f"{keys_service.url}/{app}/jwks.json") as response:
        return response.status, response.headers, await response.json()


async def _statuses(keys_db, app):
    rows = await keys_db.fetch("SELECT kid, alg, status FROM signing_keys WHERE application_id = $1", app)
    return {r["kid"]: (r["alg"], r["status"]) for r in rows}


async def test_ensure_creates_one_current_key_per_alg_and_is_idempotent(
        http, keys_service, keys_db, internal_headers, new_application):
    app, tenant = new_application()
    status, first = await _ensure(http, keys_service, internal_headers, app, tenant)
    assert status == 200
    assert sorted(k["alg"] for k in first["keys"]) == ["ES256", "RS256"]
    assert all(k["status"] == "current" and "d" in k["private_jwk"] for k in first["keys"])
    assert all(k["private_jwk"]["kid"] == k["kid"] for k in first["keys"])
    status, again = await _ensure(http, keys_service, internal_headers, app, tenant)
    assert status == 200 and again == first
    async with http.get(f"{keys_service.url}/internal/applications/{app}/signing-keys",
                        headers=internal_headers) as response:
        assert response.status == 200 and await response.json() == first
    assert len(await _statuses(keys_db, app)) == 2


async def test_concurrent_ensures_create_exactly_one_current_key_per_alg(
        http, keys_service, keys_db, internal_headers, new_application):
    app, tenant = new_application()
    answers = await asyncio.gather(*(_ensure(http, keys_service, internal_headers, app, tenant)
                                     for _ in range(5)))
    assert {status for status, _ in answers} == {200}
    kid_sets = {frozenset(k["kid"] for k in body["keys"]) for _, body in answers}
    assert len(kid_sets) == 1
    statuses = await _statuses(keys_db, app)
    assert sorted(statuses.values()) == [("ES256", "current"), ("RS256", "current")]
    assert await keys_db.fetchval("SELECT count(*) FROM events WHERE application = $1", app) == 2


async def test_get_does_not_create_keys(http, keys_service, keys_db, internal_headers, new_application):
    app, _tenant = new_application()
    async with http.get(f"{keys_service.url}/internal/applications/{app}/signing-keys",
                        headers=internal_headers) as response:
        assert response.status == 404 and (await response.json())["error"] == "not_found"
    assert await _statuses(keys_db, app) == {}


async def test_jwks_publishes_public_keys_only_with_their_thumbprints(
        http, keys_service, internal_headers, new_application):
    app, tenant = new_application()
    _, private = await _ensure(http, keys_service, internal_headers, app, tenant)
    status, headers, jwks = await _jwks(http, keys_service, app)
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=300"
    assert headers["Content-Type"].startswith("application/json")
    kids = [k["kid"] for k in jwks["keys"]]
    assert len(kids) == len(set(kids)) == 2
    assert set(kids) == {k["kid"] for k in private["keys"]}
    for key in jwks["keys"]:
        assert set(key) <= PUBLIC_MEMBERS
        assert key["use"] == "sig" and key["kid"] == thumbprint(key)


async def test_unknown_application_has_no_jwks(http, keys_service, new_application):
    app, _tenant = new_application()
    for path in (f"/{app}/jwks.json", "/Not_A_Slug/jwks.json", "/admin/jwks.json"):
        async with http.get(keys_service.url + path) as response:
            assert response.status == 404, path
            assert response.content_type == "application/json"
            assert (await response.json())["error"] == "not_found"


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-of-some-length-0123456789abcdef",
                                           "Basic dXNlcjpwYXNz", "Bearer", ""])
async def test_internal_api_needs_the_internal_token(http, keys_service, keys_db, authorization,
                                                     new_application):
    app, tenant = new_application()
    headers = {} if authorization is None else {"Authorization": authorization}
    base = f"{keys_service.url}/internal/applications/{app}/signing-keys"
    for method, url in (("POST", base), ("GET", base), ("POST", base + "/rotate")):
        async with http.request(method, url, json={"tenant_id": tenant}, headers=headers) as response:
            assert response.status == 401, (method, url)
            assert (await response.json())["error"] == "invalid_token"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await _statuses(keys_db, app) == {}


@pytest.mark.parametrize("body, expected", [
    (b"not json", 400), (b"[]", 400), (b"{}", 400), (b'{"tenant_id": 7}', 400),
    (b'{"tenant_id": "Bad Tenant"}', 400), (b'{"tenant_id": "acme\\n"}', 400), (b"", 400),
])
async def test_bad_ensure_request_is_a_4xx_json_error(http, keys_service, internal_headers, body, expected,
                                                      new_application):
    app, _tenant = new_application()
    async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys", data=body,
                         headers={**internal_headers, "Content-Type": "application/json"}) as response:
        assert response.status == expected
        assert (await response.json())["error"] == "invalid_request"


async def test_bad_application_ids_and_methods_are_json_errors(http, keys_service, internal_headers):
    async with http.post(f"{keys_service.url}/internal/applications/UPPER/signing-keys",
                         json={"tenant_id": "acme"}, headers=internal_headers) as response:
        assert response.status == 400 and (await response.json())["error"] == "invalid_request"
    for app in ("internal", "acme%0A"):
        async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys",
                             json={"tenant_id": "acme"}, headers=internal_headers) as response:
            assert response.status == 400, app
    async with http.delete(f"{keys_service.url}/some-app/jwks.json") as response:
        assert response.status == 405 and (await response.json())["error"] == "method_not_allowed"
    async with http.get(f"{keys_service.url}/no/such/path") as response:
        assert response.status == 404 and (await response.json())["error"] == "not_found"


async def test_application_of_another_tenant_is_refused(http, keys_service, internal_headers, new_application):
    app, tenant = new_application()
    assert (await _ensure(http, keys_service, internal_headers, app, tenant))[0] == 200
    status, body = await _ensure(http, keys_service, internal_headers, app, "another-tenant")
    assert status == 409 and body["error"] == "conflict"


async def test_rotation_keeps_the_old_keys_in_the_jwks_as_retired(
        http, keys_service, keys_db, internal_headers, new_application):
    app, tenant = new_application()
    _, before = await _ensure(http, keys_service, internal_headers, app, tenant)
    old = {k["kid"] for k in before["keys"]}
    await _jwks(http, keys_service, app)                       # now cached by the service
    async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys/rotate",
                         headers=internal_headers) as response:
        assert response.status == 200
        listed = (await response.json())["keys"]
    assert all("private_jwk" not in k and "d" not in k for k in listed)
    _, after = await _ensure(http, keys_service, internal_headers, app, tenant)
    new = {k["kid"] for k in after["keys"]}
    assert len(new) == 2 and not new & old
    statuses = await _statuses(keys_db, app)
    assert {kid: s for kid, (_, s) in statuses.items()} == {**{k: "retired" for k in old},
                                                            **{k: "current" for k in new}}
    _, _, jwks = await _jwks(http, keys_service, app)          # the local change is served at once
    assert {k["kid"] for k in jwks["keys"]} == old | new
    types = [r["type"] for r in await keys_db.fetch(
        "SELECT type FROM events WHERE application = $1 ORDER BY position", app)]
    assert types.count("signing_key.created") == 4
    assert types.count("signing_key.retired") == types.count("signing_key.activated") == 2


async def test_rotating_an_unknown_application_is_not_found(http, keys_service, internal_headers,
                                                             new_application):
    app, _tenant = new_application()
    async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys/rotate",
                         headers=internal_headers) as response:
        assert response.status == 404 and (await response.json())["error"] == "not_found"


async def test_private_keys_are_stored_and_logged_only_encrypted(
        http, keys_service, keys_db, internal_headers, new_application):
    app, tenant = new_application()
    _, answer = await _ensure(http, keys_service, internal_headers, app, tenant)
    async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys/rotate",
                         headers=internal_headers):
        pass
    secrets = [k["private_jwk"]["d"] for k in answer["keys"]]
    columns = await keys_db.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'keys' AND data_type IN ('text', 'jsonb', 'json', 'bytea', 'character varying')")
    assert {("key_material", "ciphertext"), ("events", "data"), ("outbox", "payload")} <= \
        {(c["table_name"], c["column_name"]) for c in columns}
    for d in secrets:
        raw = base64.urlsafe_b64decode(d + "=" * (-len(d) % 4))
        for c in columns:
            column = f'"{c["table_name"]}"."{c["column_name"]}"'
            if c["data_type"] == "bytea":
                query = f'SELECT count(*) FROM "{c["table_name"]}" WHERE position($1::bytea IN {column}) > 0'
                for needle in (d.encode(), raw):
                    assert await keys_db.fetchval(query, needle) == 0, column
            else:
                query = f'SELECT count(*) FROM "{c["table_name"]}" WHERE strpos({column}::text, $1) > 0'
                assert await keys_db.fetchval(query, d) == 0, column
        assert d not in keys_service.output
    assert "signing-keys" in keys_service.output                # the log did see those requests


async def test_openapi_document_is_served(http, keys_service):
    async with http.get(f"{keys_service.url}/admin/keys/openapi.yaml") as response:
        assert response.status == 200 and response.content_type == "application/yaml"
        text = await response.text()
    assert text.startswith("openapi: 3.1")
    for path in ("/{application_id}/jwks.json", "/admin/keys/applications/{application_id}:",
                 "/admin/keys/applications/{application_id}/rotate:"):
        assert path in text
