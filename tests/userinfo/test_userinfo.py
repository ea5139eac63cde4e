"""``{issuer}/userinfo`` end to end: the real suite behind its gateway, real Postgres, Redis, NATS."""
from __future__ import annotations


from shared import crypto, redis_keys
from tests.support.waiting import eventually
from tests.support.fixtures import client_credentials

from tests.userinfo.conftest import bearer, new_tenant, wait_for_application

ALL_SCOPES = "openid profile email address phone"
PROFILE = {"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace", "nickname": "ada",
           "preferred_username": "ada", "picture": "https://example.com/ada.png", "gender": "female",
           "birthdate": "1815-12-10", "zoneinfo": "Europe/London", "locale": "en-GB", "updated_at": 1764100000}
ADDRESS = {"street_address": "12 St James's Square", "locality": "London", "postal_code": "SW1Y 4JH",
           "country": "GB"}


def challenge(resp) -> str:
    return resp.headers.get("WWW-Authenticate", "")


async def test_get_with_bearer_header_returns_the_claims_of_every_granted_scope(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(await tokens.jwt(app, user, ALL_SCOPES)))
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.json() == {"sub": user, **PROFILE, "email": "ada@example.com", "email_verified": True,
                           "address": ADDRESS, "phone_number": "+442071838750", "phone_number_verified": False}


async def test_each_scope_releases_only_its_own_claims(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    expected = {
        "openid": {"sub": user},
        "openid profile": {"sub": user, **PROFILE},
        "openid email": {"sub": user, "email": "ada@example.com", "email_verified": True},
        "openid address": {"sub": user, "address": ADDRESS},
        "openid phone": {"sub": user, "phone_number": "+442071838750", "phone_number_verified": False},
    }
    for scope, body in expected.items():
        resp = await http.get(f"/{app.id}/userinfo", headers=bearer(await tokens.jwt(app, user, scope)))
        assert resp.status_code == 200, resp.text
        assert resp.json() == body, scope


async def test_claims_without_a_value_are_omitted_and_the_password_hash_never_stored(
        ready_app, authn, tokens, http, userinfo_db):
    app = await ready_app()
    user = await authn.create(app.tenant, email=None, email_verified=True, phone_number=None, address=None,
                              nickname="")
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(await tokens.jwt(app, user, ALL_SCOPES)))
    body = resp.json()
    for absent in ("email", "email_verified", "phone_number", "phone_number_verified", "address", "nickname",
                   "middle_name", "website", "profile"):
        assert absent not in body
    stored = await userinfo_db.fetchval("SELECT claims FROM users WHERE user_id = $1", user)
    assert "sealed_password_hash" not in stored and "username" not in stored and "source" not in stored


async def test_post_with_the_token_in_the_form_body(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    resp = await http.post(f"/{app.id}/userinfo", data={"access_token": await tokens.jwt(app, user, "openid email")})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"sub": user, "email": "ada@example.com", "email_verified": True}


async def test_post_with_the_token_in_the_header(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    resp = await http.post(f"/{app.id}/userinfo", headers=bearer(await tokens.jwt(app, user)))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"sub": user}


async def test_header_and_form_at_once_is_invalid_request(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    token = await tokens.jwt(app, user)
    resp = await http.post(f"/{app.id}/userinfo", headers=bearer(token), data={"access_token": token})
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in challenge(resp)


async def test_a_token_in_the_query_string_is_refused(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    resp = await http.get(f"/{app.id}/userinfo", params={"access_token": await tokens.jwt(app, user)})
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"


async def test_missing_token_is_401_with_a_challenge_without_error_code(ready_app, http):
    app = await ready_app()
    for resp in (await http.get(f"/{app.id}/userinfo"), await http.post(f"/{app.id}/userinfo"),
                 await http.get(f"/{app.id}/userinfo", headers={"Authorization": "Basic YTpi"})):
        assert resp.status_code == 401
        assert challenge(resp) == f'Bearer realm="{app.issuer}"'
        assert "error" not in resp.json()


async def test_malformed_tokens_are_refused_never_500(ready_app, http):
    app = await ready_app()
    url = f"/{app.id}/userinfo"
    for header in ("Bearer", "Bearer a b", "Bearer a%b", "Bearer {x}", "Bearer " + "a" * 5000):
        resp = await http.get(url, headers={"Authorization": header})
        assert resp.status_code == 400, header
        assert resp.json()["error"] == "invalid_request"
    for token in ("abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 60 + ".." + "y"):
        resp = await http.get(url, headers=bearer(token))
        assert resp.status_code == 401, token
        assert 'error="invalid_token"' in challenge(resp)
    resp = await http.post(url, content=b"access_token=%ff%fe", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code in (400, 401)


async def test_an_expired_token_is_invalid(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    for token in (await tokens.jwt(app, user, ttl=-5), await tokens.opaque(app, user, ttl=-5)):
        resp = await http.get(f"/{app.id}/userinfo", headers=bearer(token))
        assert resp.status_code == 401
        assert 'error="invalid_token", error_description="The access token expired."' in challenge(resp)


async def test_a_revoked_jwt_is_invalid(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    token = await tokens.jwt(app, user)
    assert (await http.get(f"/{app.id}/userinfo", headers=bearer(token))).status_code == 200
    # Revoked through the token service's own RFC 7009 endpoint, by the client it was issued to.
    revoked = await http.post(f"/{app.id}/revoke", auth=(app.client_id, app.client_secret), data={"token": token})
    assert revoked.status_code == 200, revoked.text
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(token))
    assert resp.status_code == 401
    assert "was revoked" in challenge(resp)


async def test_an_opaque_token_works_until_it_is_gone(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    token = await tokens.opaque(app, user, "openid email")
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(token))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"sub": user, "email": "ada@example.com", "email_verified": True}
    await tokens.redis.delete(redis_keys.opaque_access_token(crypto.secret_hash(tokens.pepper, token)))
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(token))
    assert resp.status_code == 401 and 'error="invalid_token"' in challenge(resp)


async def test_a_token_of_another_application_is_invalid(ready_app, authn, tokens, http):
    app = await ready_app()
    other = await ready_app(tenant=app.tenant)          # same tenant, another issuer and keys
    user = await authn.create(app.tenant)
    for token in (await tokens.jwt(other, user), await tokens.opaque(other, user)):
        resp = await http.get(f"/{app.id}/userinfo", headers=bearer(token))
        assert resp.status_code == 401
        assert 'error="invalid_token"' in challenge(resp)
    # Signed with the other application's key but naming this issuer: the signature fails.
    forged = (await tokens.signing_key(other.id)).sign({"typ": "at+jwt"}, tokens.claims(app, user, "openid"))
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(forged))
    assert resp.status_code == 401 and "signature" in challenge(resp)


async def test_a_user_of_another_tenant_is_invalid(ready_app, authn, tokens, http):
    app = await ready_app()
    stranger = await authn.create(new_tenant())
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(await tokens.jwt(app, stranger)))
    assert resp.status_code == 401
    assert 'error="invalid_token"' in challenge(resp)


async def test_a_token_without_openid_is_insufficient_scope(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(await tokens.jwt(app, user, "profile email")))
    assert resp.status_code == 403
    assert resp.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in challenge(resp) and 'scope="openid"' in challenge(resp)


async def test_client_credentials_tokens_get_no_userinfo(ready_app, tokens, http, suite):
    app = await ready_app()
    issued = await client_credentials(suite.public_url, app.id, app.client_id, app.client_secret)
    assert issued.status_code == 200, issued.text
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(issued.json()["access_token"]))
    assert resp.status_code == 403            # the token service never grants openid to a client alone
    # Shaped like a client-credentials token but with openid: still not bound to a user.
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(await tokens.jwt(app, app.client_id)))
    assert resp.status_code == 401
    assert "not bound to a user" in challenge(resp)


async def test_an_unknown_application_is_404(http, tokens):
    for path in ("/no-such-app/userinfo", "/NOT_A_SLUG/userinfo"):
        resp = await http.get(path, headers=bearer("abc"))
        assert resp.status_code == 404
        assert resp.json()["error"] == "not_found"


async def test_an_id_token_is_not_an_access_token(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(await tokens.jwt(app, user, header={"typ": "JWT"})))
    assert resp.status_code == 401 and "not an access token" in challenge(resp)


async def test_updates_disable_enable_and_delete_of_a_user(ready_app, authn, tokens, http):
    app = await ready_app()
    user = await authn.create(app.tenant)
    token = await tokens.jwt(app, user, "openid profile email")
    await authn.update(app.tenant, user, family_name="King", name="Ada King", nickname=None, updated_at=1764100300)
    body = (await http.get(f"/{app.id}/userinfo", headers=bearer(token))).json()
    assert body["family_name"] == "King" and body["name"] == "Ada King" and body["updated_at"] == 1764100300
    assert "nickname" not in body
    await authn.set_status(app.tenant, user, "disabled")
    assert (await http.get(f"/{app.id}/userinfo", headers=bearer(token))).status_code == 401
    await authn.set_status(app.tenant, user, "enabled")
    assert (await http.get(f"/{app.id}/userinfo", headers=bearer(token))).status_code == 200
    await authn.set_status(app.tenant, user, "deleted")
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(token))
    assert resp.status_code == 401 and 'error="invalid_token"' in challenge(resp)


async def test_a_disabled_application_serves_no_userinfo(ready_app, authn, tokens, http, admin, userinfo_db):
    app = await ready_app()
    user = await authn.create(app.tenant)
    token = await tokens.jwt(app, user)
    resp = await admin.call("POST", f"/admin/applications/{app.id}/disable")
    assert resp.status_code == 200, resp.text
    await wait_for_application(userinfo_db, app.id, "disabled")
    async def refused() -> bool:
        return (await http.get(f"/{app.id}/userinfo", headers=bearer(token))).status_code != 200
    assert await eventually(refused, 10, every=0), "still served 10 s after the application was disabled"
    resp = await http.get(f"/{app.id}/userinfo", headers=bearer(token))
    assert resp.status_code == 401 and "disabled" in challenge(resp)


async def test_cors_preflight_and_headers(ready_app, authn, tokens, http):
    app = await ready_app()
    resp = await http.options(f"/{app.id}/userinfo", headers={
        "Origin": "https://spa.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    assert "GET" in resp.headers["Access-Control-Allow-Methods"]
    user = await authn.create(app.tenant)
    ok = await http.get(f"/{app.id}/userinfo", headers={**bearer(await tokens.jwt(app, user)),
                                                         "Origin": "https://spa.example"})
    refused = await http.get(f"/{app.id}/userinfo", headers={"Origin": "https://spa.example"})
    for resp in (ok, refused):
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "WWW-Authenticate" in resp.headers["Access-Control-Expose-Headers"]
