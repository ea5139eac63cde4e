"""A machine client gets a token, checks it against its issuer's JWKS, introspects and revokes it."""
from __future__ import annotations

import asyncio
import base64

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from shared import jws

from tests.support.fixtures import client_credentials


async def _post(url: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, **kwargs)


async def _jwks(issuer: str) -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.get(f"{issuer}/jwks.json")
    assert resp.status_code == 200
    return resp.json()


async def test_jwt_access_token_verifies_against_its_issuers_jwks(suite, make_app):
    app = await make_app()
    resp = await client_credentials(suite.public_url, app.id, app.client_id, app.client_secret, scope="read")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read" and body["expires_in"] > 0
    keys = jws.VerificationKeys.from_jwks(await _jwks(app.issuer))
    header, claims = jws.verify(body["access_token"], keys, algorithms=["ES256", "RS256"], typ="at+jwt")
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    jws.validate_claims(claims, issuer=app.issuer)
    assert claims["iss"] == app.issuer == f"{suite.public_url}/{app.id}"
    assert claims["sub"] == claims["client_id"] == app.client_id
    assert claims["aud"] and claims["scope"] == "read" and claims["jti"]
    assert claims["exp"] > claims["iat"]


async def test_client_secret_post_is_accepted_for_a_client_registered_for_it(suite, make_app, admin):
    app = await make_app()
    resp = await admin.call("POST", f"/admin/applications/{app.id}/clients", json={
        "name": "post", "token_endpoint_auth_method": "client_secret_post", "grant_types": ["client_credentials"],
        "scopes": ["read"]})
    assert resp.status_code == 201, resp.text
    post = resp.json()
    form = {"grant_type": "client_credentials", "client_id": post["client_id"], "client_secret": post["client_secret"]}
    resp = await _post(f"{suite.token.url}/{app.id}/token", data=form)
    assert resp.status_code == 200, resp.text
    # A client registered for client_secret_basic may not switch to the form.
    resp = await _post(f"{suite.token.url}/{app.id}/token", data={
        "grant_type": "client_credentials", "client_id": app.client_id, "client_secret": app.client_secret})
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


async def test_opaque_token_is_random_stored_by_hash_and_introspectable(suite, make_app, servers):
    app = await make_app(settings={"access_token_format": "opaque"})
    resp = await client_credentials(suite.token.url, app.id, app.client_id, app.client_secret)
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    assert "." not in token and len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 32
    redis = aioredis.from_url(servers["TESSERA_REDIS_URL"])
    try:
        keys = [k async for k in redis.scan_iter("tessera:at:*")]
        assert keys and all(token.encode() not in k for k in keys)
        for key in keys:
            assert token.encode() not in (await redis.get(key) or b"")
        ttl = max([await redis.ttl(k) for k in keys])
        assert 0 < ttl <= 3600
    finally:
        await redis.aclose()
    intro = await _post(f"{suite.token.url}/{app.id}/introspect", auth=(app.client_id, app.client_secret),
                        data={"token": token})
    assert intro.status_code == 200 and intro.json()["active"] is True
    assert intro.json()["client_id"] == app.client_id


@pytest.mark.parametrize("case, form, status, error", [
    ("missing grant_type", {}, 400, "invalid_request"),
    ("unsupported grant", {"grant_type": "password"}, 400, "unsupported_grant_type"),
    ("unknown scope", {"grant_type": "client_credentials", "scope": "admin"}, 400, "invalid_scope"),
    ("bad scope characters", {"grant_type": "client_credentials", "scope": 'a"b'}, 400, "invalid_scope"),
])
async def test_token_endpoint_errors_are_rfc_6749(suite, make_app, case, form, status, error):
    app = await make_app()
    resp = await _post(f"{suite.token.url}/{app.id}/token", auth=(app.client_id, app.client_secret), data=form)
    assert (resp.status_code, resp.json()["error"]) == (status, error), case
    assert resp.headers["Cache-Control"] == "no-store"


async def test_duplicated_parameter_is_invalid_request(suite, make_app):
    app = await make_app()
    resp = await _post(f"{suite.token.url}/{app.id}/token", auth=(app.client_id, app.client_secret),
                       content="grant_type=client_credentials&scope=read&scope=write",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


async def test_wrong_secret_is_invalid_client_with_basic_challenge(suite, make_app):
    app = await make_app()
    resp = await client_credentials(suite.token.url, app.id, app.client_id, "not-the-secret")
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    unknown = await client_credentials(suite.token.url, app.id, "no-such-client", app.client_secret)
    assert unknown.status_code == 401 and unknown.json() == resp.json()


async def test_client_without_the_grant_is_unauthorized_client(suite, make_app, admin):
    app = await make_app()
    resp = await admin.call("POST", f"/admin/applications/{app.id}/clients", json={
        "name": "web", "grant_types": ["authorization_code"], "redirect_uris": ["http://127.0.0.1:9/cb"]})
    assert resp.status_code == 201, resp.text
    web = resp.json()
    resp = await client_credentials(suite.token.url, app.id, web["client_id"], web["client_secret"])
    assert resp.status_code == 400 and resp.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize("headers, content", [
    ({"Content-Type": "application/json"}, b'{"grant_type": "client_credentials"}'),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"\xff\xfe%%%"),
    ({"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic !!!"}, b"grant_type=x"),
    ({"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic Zm9v"}, b"grant_type=x"),
])
async def test_bad_input_never_answers_500(suite, make_app, headers, content):
    app = await make_app()
    resp = await _post(f"{suite.token.url}/{app.id}/token", headers=headers, content=content)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["error"] in ("invalid_request", "invalid_client")


async def test_unknown_issuer_is_404(suite):
    resp = await _post(f"{suite.token.url}/no-such-app/token", data={"grant_type": "client_credentials"})
    assert resp.status_code == 404
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{suite.public_url}/no-such-app/.well-known/openid-configuration")).status_code == 404


async def test_discovery_advertises_what_works_at_its_issuer(suite, make_app):
    app = await make_app()
    async with httpx.AsyncClient() as http:
        for url in (f"{app.issuer}/.well-known/openid-configuration",
                    f"{app.issuer}/.well-known/oauth-authorization-server",
                    f"{suite.public_url}/.well-known/oauth-authorization-server/{app.id}"):
            doc = (await http.get(url)).json()
            assert doc["issuer"] == app.issuer
            assert doc["token_endpoint"] == f"{app.issuer}/token"
            assert doc["grant_types_supported"] == ["client_credentials", "authorization_code", "refresh_token"]
            assert doc["authorization_endpoint"] == f"{app.issuer}/authorize"
            assert (await http.get(doc["jwks_uri"])).status_code == 200


async def test_introspection_and_revocation(suite, make_app):
    app = await make_app()
    token = (await client_credentials(suite.token.url, app.id, app.client_id, app.client_secret)).json()["access_token"]
    auth = (app.client_id, app.client_secret)
    intro = await _post(f"{suite.token.url}/{app.id}/introspect", auth=auth, data={"token": token})
    assert intro.json()["active"] is True and intro.json()["iss"] == app.issuer
    rev = await _post(f"{suite.token.url}/{app.id}/revoke", auth=auth, data={"token": token})
    assert rev.status_code == 200
    intro = await _post(f"{suite.token.url}/{app.id}/introspect", auth=auth, data={"token": token})
    assert intro.json() == {"active": False}
    unknown = await _post(f"{suite.token.url}/{app.id}/revoke", auth=auth, data={"token": "nonsense"})
    assert unknown.status_code == 200
    unauthenticated = await _post(f"{suite.token.url}/{app.id}/introspect", data={"token": token})
    assert unauthenticated.status_code == 401


async def test_token_of_one_application_is_inactive_at_another(suite, make_app):
    a, b = await make_app(), await make_app()
    for settings in (None, {"access_token_format": "opaque"}):
        if settings:
            a = await make_app(settings=settings)
        token = (await client_credentials(suite.token.url, a.id, a.client_id, a.client_secret)).json()["access_token"]
        intro = await _post(f"{suite.token.url}/{b.id}/introspect", auth=(b.client_id, b.client_secret),
                            data={"token": token})
        assert intro.json() == {"active": False}


async def test_two_token_processes_agree(suite, make_app, admin):
    app = await make_app()
    auth = (app.client_id, app.client_secret)
    token = (await client_credentials(suite.token.url, app.id, *auth)).json()["access_token"]
    intro = await _post(f"{suite.token2.url}/{app.id}/introspect", auth=auth, data={"token": token})
    assert intro.json()["active"] is True
    await _post(f"{suite.token2.url}/{app.id}/revoke", auth=auth, data={"token": token})
    intro = await _post(f"{suite.token.url}/{app.id}/introspect", auth=auth, data={"token": token})
    assert intro.json() == {"active": False}
    # A client disabled through one process is refused by both at once.
    live = (await client_credentials(suite.token2.url, app.id, *auth)).json()["access_token"]
    resp = await admin.call("POST", f"/admin/applications/{app.id}/clients/{app.client_id}/disable",
                            base=suite.token2.url)
    assert resp.status_code == 200, resp.text
    for proc in (suite.token, suite.token2):
        refused = await client_credentials(proc.url, app.id, *auth)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    intro = await _post(f"{suite.token.url}/{app.id}/introspect", auth=auth, data={"token": live})
    assert intro.status_code == 401  # the disabled client cannot even introspect


async def test_a_grant_event_exists_for_every_token_returned(suite, make_app, servers):
    app = await make_app(settings={"access_token_format": "opaque"})
    jwt_app = await make_app()
    tokens = await asyncio.gather(*(
        client_credentials(proc.url, target.id, target.client_id, target.client_secret)
        for proc in (suite.token, suite.token2) for target in (app, jwt_app) for _ in range(5)))
    assert all(t.status_code == 200 for t in tokens)
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"])
    try:
        rows = await conn.fetch(
            "SELECT data FROM token.events WHERE type = 'access_token.issued' AND application = ANY($1::text[])",
            [app.id, jwt_app.id])
    finally:
        await conn.close()
    import orjson
    payloads = [orjson.loads(r["data"]) if isinstance(r["data"], str) else r["data"] for r in rows]
    assert len(payloads) == 20
    jwt_jtis = set()
    for t in tokens:
        token = t.json()["access_token"]
        if "." in token:
            jwt_jtis.add(orjson.loads(jws.b64url_decode(token.split(".")[1]))["jti"])
    assert jwt_jtis <= {p["jti"] for p in payloads} and len(jwt_jtis) == 10
    for p in payloads:
        assert "access_token" not in p and all(isinstance(v, (str, type(None))) for k, v in p.items() if k != "expires_at")


async def test_rotated_secret_keeps_the_old_one_for_the_grace_period(suite, make_app, admin):
    app = await make_app()
    resp = await admin.call("POST", f"/admin/applications/{app.id}/clients/{app.client_id}/rotate-secret",
                            json={"grace_seconds": 300})
    assert resp.status_code == 200, resp.text
    new_secret = resp.json()["client_secret"]
    assert new_secret != app.client_secret
    for secret in (app.client_secret, new_secret):
        assert (await client_credentials(suite.token.url, app.id, app.client_id, secret)).status_code == 200
    resp = await admin.call("POST", f"/admin/applications/{app.id}/clients/{app.client_id}/rotate-secret",
                            json={"grace_seconds": 0})
    newest = resp.json()["client_secret"]
    assert (await client_credentials(suite.token.url, app.id, app.client_id, new_secret)).status_code == 401
    assert (await client_credentials(suite.token.url, app.id, app.client_id, newest)).status_code == 200


async def test_client_secret_is_never_stored_or_logged_in_the_clear(suite, make_app, servers):
    app = await make_app()
    await client_credentials(suite.token.url, app.id, app.client_id, app.client_secret)
    await client_credentials(suite.token.url, app.id, app.client_id, "wrong" + app.client_secret)
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"])
    try:
        columns = await conn.fetch(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema IN ('token', 'keys', 'authn', 'userinfo') "
            "AND data_type IN ('text', 'jsonb', 'json', 'bytea', 'character varying')")
        for col in columns:
            found = await conn.fetchval(
                f'SELECT count(*) FROM "{col["table_schema"]}"."{col["table_name"]}" '
                f'WHERE position($1 in "{col["column_name"]}"::text) > 0', app.client_secret)
            assert found == 0, col
    finally:
        await conn.close()
    assert app.client_secret not in suite.logs()


async def test_admin_api_refuses_tokens_without_the_scope_or_of_another_tenant(suite, make_app, admin):
    # A token of another tenant's application, even one offering a scope of the same name.
    other = await make_app(scopes=["tessera:admin"])
    foreign = (await client_credentials(suite.token.url, other.id, other.client_id, other.client_secret,
                                        scope="tessera:admin")).json()["access_token"]
    # A system-application client without the admin scope.
    resp = await admin.call("POST", "/admin/applications/system/clients", json={"name": "reader", "scopes": []})
    assert resp.status_code == 201, resp.text
    reader = resp.json()
    plain = (await client_credentials(suite.token.url, "system", reader["client_id"], reader["client_secret"]))
    assert plain.status_code == 200, plain.text
    async with httpx.AsyncClient(base_url=suite.token.url) as http:
        assert (await http.get("/admin/tenants")).status_code == 401
        resp = await http.get("/admin/tenants", headers={"Authorization": f"Bearer {foreign}"})
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_token"
        resp = await http.get("/admin/tenants", headers={"Authorization": f"Bearer {plain.json()['access_token']}"})
        assert resp.status_code == 403 and resp.json()["error"] == "insufficient_scope"
        assert (await http.get("/admin/tenants", headers=admin.headers())).status_code == 200


async def test_stale_cache_never_issues_for_a_client_disabled_elsewhere(suite, make_app, servers):
    """Even if a replica missed every invalidation, the grant's guard sees the disabled client."""
    app = await make_app()
    auth = (app.client_id, app.client_secret)
    assert (await client_credentials(suite.token.url, app.id, *auth)).status_code == 200  # now cached
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"])
    try:  # what a lost broadcast would leave behind: the read model moved on, the cache did not
        await conn.execute("UPDATE token.clients SET status = 'disabled', version = version + 1 "
                           "WHERE application_id = $1 AND client_id = $2", app.id, app.client_id)
        before = await conn.fetchval("SELECT count(*) FROM token.events WHERE application = $1", app.id)
        resp = await client_credentials(suite.token.url, app.id, *auth)
        after = await conn.fetchval("SELECT count(*) FROM token.events WHERE application = $1", app.id)
    finally:
        await conn.close()
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    assert after == before


async def test_disabled_tenant_or_application_issues_no_tokens(suite, make_app, admin):
    app = await make_app()
    auth = (app.client_id, app.client_secret)
    assert (await client_credentials(suite.token2.url, app.id, *auth)).status_code == 200
    assert (await admin.call("POST", f"/admin/tenants/{app.tenant}/disable")).status_code == 200
    for proc in (suite.token, suite.token2):
        assert (await client_credentials(proc.url, app.id, *auth)).status_code == 404
    assert (await admin.call("POST", f"/admin/tenants/{app.tenant}/enable")).status_code == 200
    assert (await client_credentials(suite.token2.url, app.id, *auth)).status_code == 200
    assert (await admin.call("POST", f"/admin/applications/{app.id}/disable")).status_code == 200
    for proc in (suite.token, suite.token2):
        assert (await client_credentials(proc.url, app.id, *auth)).status_code == 404


async def test_an_application_with_a_custom_host_issuer_is_served_at_that_host(suite, make_app, admin):
    app = await make_app()
    port = suite.public_url.rsplit(":", 1)[1]
    custom = f"http://localhost:{port}"   # another host than the public URL's 127.0.0.1
    resp = await admin.call("PATCH", f"/admin/applications/{app.id}", json={"issuer": custom})
    assert resp.status_code == 200 and resp.json()["issuer"] == custom, resp.text
    async with httpx.AsyncClient(timeout=30) as http:
        doc = (await http.get(f"{custom}/.well-known/openid-configuration")).json()
        assert doc["issuer"] == custom and doc["token_endpoint"] == f"{custom}/token"
        keys = jws.VerificationKeys.from_jwks((await http.get(doc["jwks_uri"])).json())
        resp = await http.post(doc["token_endpoint"], auth=(app.client_id, app.client_secret),
                               data={"grant_type": "client_credentials"})
        assert resp.status_code == 200, resp.text
        token = resp.json()["access_token"]
        _header, claims = jws.verify(token, keys, algorithms=["ES256"], typ="at+jwt")
        assert claims["iss"] == custom
        intro = await http.post(doc["introspection_endpoint"], auth=(app.client_id, app.client_secret),
                                data={"token": token})
        assert intro.json()["active"] is True and intro.json()["iss"] == custom
        # The public URL's host knows nothing of that issuer at its root.
        assert (await http.get(f"{suite.public_url}/.well-known/openid-configuration")).status_code == 404


def _published(metrics: str, path: str) -> float:
    prefix = f'tessera_outbox_published_total{{path="{path}",service="token"}} '
    return sum(float(line[len(prefix):]) for line in metrics.splitlines() if line.startswith(prefix))


async def test_the_token_process_publishes_its_grant_events_itself_and_says_so_in_metrics(suite, make_app):
    """ADR 0004: the process that committed a grant publishes it (the fast path), seen on /metrics."""
    app = await make_app()
    urls = [suite.token.url, suite.token2.url]

    async def fast_total() -> float:
        async with httpx.AsyncClient(timeout=30) as http:
            pages = [(await http.get(f"{url}/metrics")).text for url in urls]
        return sum(_published(page, "fast") for page in pages)

    before = await fast_total()
    for _ in range(3):
        resp = await _post(f"{suite.token.url}/{app.id}/token", data={"grant_type": "client_credentials"},
                           auth=(app.client_id, app.client_secret))
        assert resp.status_code == 200, resp.text
    for _ in range(50):
        if await fast_total() >= before + 3:
            break
        await asyncio.sleep(0.1)
    assert await fast_total() >= before + 3
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(f"{suite.token.url}/metrics")).text
    assert 'tessera_outbox_left_to_sweep_total{service="token"} 0.0' in text
    assert 'tessera_outbox_fast_path_queued{service="token"}' in text
