"""The return from sign-in and the code grant: codes single use, bound to client, redirect URI and
PKCE verifier; the ID token checked against the published JWKS with jwcrypto."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import time

import asyncpg
import orjson
from jwcrypto import jwk, jwt

from tests.token.code_flow import (REDIRECT, exchange, introspect, make_rp, pkce, redirect_params, same_app, token,
                                   verified_id_token)


def expected_at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


async def test_code_flow_issues_tokens_and_an_id_token_with_every_claim(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    verifier, challenge = pkce()
    request_id = await browser.start(rp, scope="openid profile offline_access", nonce="n-0S6_WzA2Mj",
                                     code_challenge=challenge, code_challenge_method="S256", state="s1")
    await browser.sign_in(request_id, user_id="user-42", sid="sid-abc")
    resume = await browser.resume(rp, request_id)
    assert resume.status_code == 303
    params = redirect_params(resume.headers["Location"])
    assert resume.headers["Location"].startswith(REDIRECT + "?")
    assert params["state"] == "s1" and params["iss"] == rp.issuer and len(params["code"]) >= 43
    resp = await exchange(rp, params["code"], verifier)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["scope"] == "openid profile offline_access" and body["refresh_token"]
    header, claims = await verified_id_token(rp, body["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    now = time.time()
    assert claims["iss"] == rp.issuer and claims["sub"] == "user-42"
    assert claims["aud"] == rp.client_id and claims["azp"] == rp.client_id
    assert claims["nonce"] == "n-0S6_WzA2Mj" and claims["sid"] == "sid-abc"
    assert claims["acr"] == "0" and claims["amr"] == ["pwd"]
    assert claims["auth_time"] <= claims["iat"] <= now + 5 and claims["exp"] - claims["iat"] == 3600
    assert claims["at_hash"] == expected_at_hash(body["access_token"])
    access = await introspect(rp, body["access_token"])
    assert access["active"] is True and access["sub"] == "user-42" and access["client_id"] == rp.client_id


async def test_without_openid_there_is_no_id_token(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    code, _ = await browser.code(rp, scope="read")
    body = (await exchange(rp, code)).json()
    assert "id_token" not in body and "refresh_token" not in body and body["scope"] == "read"


async def test_user_may_grant_fewer_scopes_than_asked(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    code, _ = await browser.code(rp, scope="openid read write", granted=["openid", "read", "admin"])
    body = (await exchange(rp, code)).json()
    assert body["scope"] == "openid read"


async def test_refresh_token_needs_offline_access_and_the_refresh_grant(admin, make_app, browser):
    rp = await make_rp(admin, make_app, grant_types=("authorization_code",))
    code, _ = await browser.code(rp, scope="openid offline_access")
    body = (await exchange(rp, code)).json()
    assert "refresh_token" not in body and "id_token" in body
    rp2 = await make_rp(admin, make_app)
    code, _ = await browser.code(rp2, scope="openid")
    assert "refresh_token" not in (await exchange(rp2, code)).json()


async def test_code_is_single_use_and_reuse_revokes_what_it_issued(admin, make_app, browser, servers):
    rp = await make_rp(admin, make_app)
    code, _ = await browser.code(rp)
    first = await exchange(rp, code)
    assert first.status_code == 200
    tokens = first.json()
    second = await exchange(rp, code)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert (await introspect(rp, tokens["access_token"]))["active"] is False
    assert (await introspect(rp, tokens["refresh_token"]))["active"] is False
    refreshed = await token(rp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    types = await _event_types(servers, "grant:%")
    assert {"authorization_code.issued", "authorization_code.reused", "access_token.revoked"} <= types


async def _event_types(servers, stream_like: str) -> set[str]:
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"], server_settings={"search_path": "token"})
    try:
        rows = await conn.fetch("SELECT DISTINCT type FROM events WHERE stream LIKE $1", stream_like)
    finally:
        await conn.close()
    return {r["type"] for r in rows}


async def test_code_events_carry_no_code(admin, make_app, browser, servers):
    rp = await make_rp(admin, make_app)
    code, _ = await browser.code(rp)
    tokens = (await exchange(rp, code)).json()
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"], server_settings={"search_path": "token"})
    try:
        rows = await conn.fetch("SELECT type, data::text AS data FROM events WHERE application = $1", rp.app_id)
    finally:
        await conn.close()
    types = {r["type"] for r in rows}
    assert {"authorization_code.issued", "access_token.issued", "refresh_token.issued"} <= types
    for row in rows:
        for secret in (code, tokens["access_token"], tokens["refresh_token"], tokens["id_token"]):
            assert secret not in row["data"]


async def test_pkce_verifier_wrong_or_missing_is_invalid_grant(admin, make_app, browser):
    rp = await make_rp(admin, make_app, public=True)
    verifier, challenge = pkce()
    for sent in (None, pkce()[0]):
        code, _ = await browser.code(rp, code_challenge=challenge, code_challenge_method="S256")
        resp = await exchange(rp, code, sent)
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    code, _ = await browser.code(rp, code_challenge=challenge, code_challenge_method="S256")
    ok = await exchange(rp, code, verifier)
    assert ok.status_code == 200, ok.text


async def test_verifier_without_a_challenge_is_invalid_grant(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    code, _ = await browser.code(rp)
    resp = await exchange(rp, code, pkce()[0])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


async def test_public_client_authenticates_with_its_client_id_only(admin, make_app, browser):
    rp = await make_rp(admin, make_app, public=True)
    verifier, challenge = pkce()
    code, _ = await browser.code(rp, code_challenge=challenge, code_challenge_method="S256")
    resp = await exchange(rp, code, verifier)
    assert resp.status_code == 200 and resp.json()["refresh_token"]


async def test_redirect_uri_must_match_the_authorization_request(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    code, _ = await browser.code(rp)
    wrong = await exchange(rp, code, redirect_uri="https://rp.example.com/other")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code, _ = await browser.code(rp)
    missing = await exchange(rp, code, redirect_uri=None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"


async def test_redirect_uri_may_be_omitted_when_the_authorization_request_omitted_it(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    code, _ = await browser.code(rp, redirect_uri=None)
    assert (await exchange(rp, code, redirect_uri=None)).status_code == 200


async def test_code_of_another_client_is_invalid_grant(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    other = await make_rp(admin, make_app, app=same_app(rp))
    code, _ = await browser.code(rp)
    resp = await exchange(other, code)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


async def test_code_of_another_application_is_useless_there_and_stays_valid_here(admin, make_app, browser):
    rp_a = await make_rp(admin, make_app)
    rp_b = await make_rp(admin, make_app)
    code, _ = await browser.code(rp_a)
    at_b = await exchange(rp_b, code)
    assert at_b.status_code == 400 and at_b.json()["error"] == "invalid_grant"
    assert (await exchange(rp_a, code)).status_code == 200


async def test_expired_code_is_invalid_grant(admin, make_app, browser):
    rp = await make_rp(admin, make_app, settings={"code_ttl": 10})
    code, _ = await browser.code(rp)
    await asyncio.sleep(11)
    resp = await exchange(rp, code)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


async def test_code_is_stored_by_hash_with_the_code_ttl(admin, make_app, browser):
    rp = await make_rp(admin, make_app, settings={"code_ttl": 30})
    code, _ = await browser.code(rp)
    keys = [k async for k in browser.redis.scan_iter(f"tessera:code:{rp.app_id}:*")]
    assert len(keys) == 1 and code.encode() not in keys[0]
    assert code.encode() not in await browser.redis.get(keys[0])
    assert 0 < await browser.redis.ttl(keys[0]) <= 30


async def test_resume_twice_shows_an_error_page_the_second_time(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    request_id = await browser.start(rp)
    await browser.sign_in(request_id)
    assert (await browser.resume(rp, request_id)).status_code == 303
    again = await browser.resume(rp, request_id)
    assert again.status_code == 400 and "Location" not in again.headers


async def test_resume_before_sign_in_shows_a_page_and_keeps_the_request(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    request_id = await browser.start(rp)
    early = await browser.resume(rp, request_id)
    assert early.status_code == 400 and "Location" not in early.headers
    await browser.sign_in(request_id)
    assert (await browser.resume(rp, request_id)).status_code == 303


async def test_unknown_or_expired_request_shows_a_page(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    resp = await browser.resume(rp, "no-such-request")
    assert resp.status_code == 400 and "Location" not in resp.headers
    request_id = await browser.start(rp)
    await browser.sign_in(request_id)
    await browser.redis.delete(f"tessera:authz:{request_id}")   # the request expired
    resp = await browser.resume(rp, request_id)
    assert resp.status_code == 400 and "Location" not in resp.headers


async def test_resume_at_another_application_shows_a_page(admin, make_app, browser):
    rp_a = await make_rp(admin, make_app)
    rp_b = await make_rp(admin, make_app)
    request_id = await browser.start(rp_a)
    await browser.sign_in(request_id)
    resp = await browser.resume(rp_b, request_id)
    assert resp.status_code == 400 and "Location" not in resp.headers


async def test_sign_in_error_goes_back_to_the_client_with_state_and_iss(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    for error in ("login_required", "consent_required", "interaction_required", "access_denied"):
        request_id = await browser.start(rp, state="st", prompt="none" if error != "access_denied" else None)
        await browser.refuse(request_id, error, "the user is not signed in")
        resp = await browser.resume(rp, request_id)
        assert resp.status_code == 303
        params = redirect_params(resp.headers["Location"])
        assert params == {"error": error, "error_description": "the user is not signed in", "state": "st",
                          "iss": rp.issuer}


async def test_fragment_mode_delivers_the_code_in_the_fragment(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    request_id = await browser.start(rp, response_mode="fragment", state="fs")
    await browser.sign_in(request_id)
    resp = await browser.resume(rp, request_id)
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "#code=")
    params = redirect_params(location)
    assert params["state"] == "fs" and params["iss"] == rp.issuer
    assert (await exchange(rp, params["code"])).status_code == 200


async def test_form_post_mode_delivers_the_code_by_an_auto_submitted_form(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    request_id = await browser.start(rp, response_mode="form_post", state="fp")
    await browser.sign_in(request_id)
    resp = await browser.resume(rp, request_id)
    assert resp.status_code == 200 and f'<form method="post" action="{REDIRECT}">' in resp.text
    assert 'name="state" value="fp"' in resp.text and f'name="iss" value="{rp.issuer}"' in resp.text
    code = resp.text.split('name="code" value="', 1)[1].split('"', 1)[0]
    assert (await exchange(rp, code)).status_code == 200


async def test_client_disabled_after_sign_in_cannot_redeem(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    code, _ = await browser.code(rp)
    assert (await admin.call("POST", f"/admin/applications/{rp.app_id}/clients/{rp.client_id}/disable")).status_code == 200
    resp = await exchange(rp, code)
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


async def test_skip_consent_is_settable_and_shown(admin, make_app):
    rp = await make_rp(admin, make_app)
    path = f"/admin/applications/{rp.app_id}/clients/{rp.client_id}"
    assert (await admin.call("GET", path)).json()["skip_consent"] is False
    resp = await admin.call("PATCH", path, json={"skip_consent": True})
    assert resp.status_code == 200 and resp.json()["skip_consent"] is True
    bad = await admin.call("PATCH", path, json={"skip_consent": "yes"})
    assert bad.status_code == 400


async def test_code_flow_at_a_custom_host_issuer(suite, admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    port = suite.public_url.rsplit(":", 1)[1]
    custom = f"http://localhost:{port}/login-{rp.app_id}"   # another host, and a path of its own
    resp = await admin.call("PATCH", f"/admin/applications/{rp.app_id}", json={"issuer": custom})
    assert resp.status_code == 200, resp.text
    rp.issuer = custom
    code, params = await browser.code(rp)   # /authorize and /authorize/resume found by the host
    assert params["iss"] == custom
    body = (await exchange(rp, code)).json()
    keys = jwk.JWKSet.from_json((await browser.http.get(f"{suite.public_url}/{rp.app_id}/jwks.json")).text)
    claims = orjson.loads(jwt.JWT(jwt=body["id_token"], key=keys, algs=["RS256"]).claims)
    assert claims["iss"] == custom and claims["aud"] == rp.client_id
