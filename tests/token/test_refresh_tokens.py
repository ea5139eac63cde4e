"""Refresh tokens: rotation, reuse detection revoking the family, narrowing, revocation (RFC 7009),
introspection (RFC 7662), tenant isolation, and their storage by hash."""
from __future__ import annotations

import asyncio

import asyncpg
import httpx

from tests.token.code_flow import (exchange, introspect, make_rp, pkce, refresh, same_app, signed_in,
                                   verified_id_token)


async def revoke(rp, value: str, **form: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{rp.issuer}/revoke", auth=rp.auth, data=rp.form(token=value, **form))


async def test_refresh_rotates_and_returns_new_tokens_and_id_token(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    _h, original = await verified_id_token(rp, first["id_token"])
    resp = await refresh(rp, first["refresh_token"])
    assert resp.status_code == 200, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert body["refresh_token"] != first["refresh_token"] and body["access_token"] != first["access_token"]
    assert body["scope"] == "openid offline_access read" and body["token_type"] == "Bearer"
    _h, claims = await verified_id_token(rp, body["id_token"])
    assert claims["iss"] == original["iss"] and claims["sub"] == original["sub"] == "user-7"
    assert claims["aud"] == original["aud"] and claims["auth_time"] == original["auth_time"]
    assert "nonce" not in claims and claims["sid"] == original["sid"]
    # the new one works, the old one is spent
    assert (await refresh(rp, body["refresh_token"])).status_code == 200


async def test_reused_refresh_token_revokes_the_whole_family_and_its_access_tokens(admin, make_app, browser, servers):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    second = (await refresh(rp, first["refresh_token"])).json()
    reuse = await refresh(rp, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # the legitimate successor is revoked too, and every access token of the family
    after = await refresh(rp, second["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    for access in (first["access_token"], second["access_token"]):
        assert (await introspect(rp, access))["active"] is False
    types = await _types(servers, rp.app_id)
    assert {"refresh_token.issued", "refresh_token.rotated", "refresh_token.reused", "refresh_token.revoked",
            "access_token.revoked"} <= types


async def _types(servers, app_id) -> set[str]:
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"], server_settings={"search_path": "token"})
    try:
        return {r["type"] for r in await conn.fetch("SELECT type FROM events WHERE application = $1", app_id)}
    finally:
        await conn.close()


async def test_concurrent_use_of_one_refresh_token_succeeds_once(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    results = await asyncio.gather(*(refresh(rp, first["refresh_token"]) for _ in range(5)))
    assert [r.status_code for r in results].count(200) == 1
    assert all(r.json()["error"] == "invalid_grant" for r in results if r.status_code != 200)


async def test_scope_may_be_narrowed_never_widened(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    narrowed = await refresh(rp, first["refresh_token"], scope="read offline_access")
    assert narrowed.status_code == 200, narrowed.text
    body = narrowed.json()
    assert body["scope"] == "read offline_access" and "id_token" not in body
    access = await introspect(rp, body["access_token"])
    assert access["scope"] == "read offline_access"
    # the grant keeps its scope: the next refresh may ask for all of it again
    full = await refresh(rp, body["refresh_token"])
    assert full.json()["scope"] == "openid offline_access read"
    wider = await refresh(rp, full.json()["refresh_token"], scope="read write")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    # a refused request consumes nothing
    assert (await refresh(rp, full.json()["refresh_token"])).status_code == 200


async def test_refresh_token_of_another_client_is_invalid_grant(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    other = await make_rp(admin, make_app, app=same_app(rp))
    resp = await refresh(other, first["refresh_token"])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert (await refresh(rp, first["refresh_token"])).status_code == 200   # not burnt by the attempt


async def test_refresh_token_of_another_application_is_useless_there(admin, make_app, browser):
    rp_a = await make_rp(admin, make_app)
    rp_b = await make_rp(admin, make_app)
    first = await signed_in(browser, rp_a)
    resp = await refresh(rp_b, first["refresh_token"])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert (await introspect(rp_b, first["refresh_token"]))["active"] is False
    assert (await revoke(rp_b, first["refresh_token"])).status_code == 200
    assert (await refresh(rp_a, first["refresh_token"])).status_code == 200


async def test_expired_refresh_token_is_invalid_grant(admin, make_app, browser, servers):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"], server_settings={"search_path": "token"})
    try:
        await conn.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second' "
                           "WHERE application_id = $1", rp.app_id)
    finally:
        await conn.close()
    resp = await refresh(rp, first["refresh_token"])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert (await introspect(rp, first["refresh_token"]))["active"] is False


async def test_refresh_token_lifetime_is_the_application_setting(admin, make_app, browser):
    rp = await make_rp(admin, make_app, settings={"refresh_token_ttl": 7200})
    first = await signed_in(browser, rp)
    info = await introspect(rp, first["refresh_token"], token_type_hint="refresh_token")
    assert info["active"] is True and info["exp"] - info["iat"] == 7200
    assert info["client_id"] == rp.client_id and info["sub"] == "user-7" and info["iss"] == rp.issuer
    assert info["scope"] == "openid offline_access read"


async def test_disabled_client_cannot_refresh(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    assert (await admin.call("POST", f"/admin/applications/{rp.app_id}/clients/{rp.client_id}/disable")).status_code == 200
    resp = await refresh(rp, first["refresh_token"])
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


async def test_disabled_application_cannot_refresh(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    assert (await admin.call("POST", f"/admin/applications/{rp.app_id}/disable")).status_code == 200
    resp = await refresh(rp, first["refresh_token"])
    assert resp.status_code == 404


async def test_revoking_a_refresh_token_revokes_its_family_and_access_tokens(admin, make_app, browser, servers):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    second = (await refresh(rp, first["refresh_token"])).json()
    for hint in ({}, {"token_type_hint": "access_token"}):   # a wrong hint is only a hint
        resp = await revoke(rp, second["refresh_token"], **hint)
        assert resp.status_code == 200
    assert (await refresh(rp, second["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await introspect(rp, second["access_token"]))["active"] is False
    assert (await introspect(rp, first["access_token"]))["active"] is False
    assert (await introspect(rp, second["refresh_token"]))["active"] is False
    assert "refresh_token.revoked" in await _types(servers, rp.app_id)


async def test_another_client_cannot_revoke_or_introspect_a_refresh_token(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    other = await make_rp(admin, make_app, app=same_app(rp))
    assert (await revoke(other, first["refresh_token"])).status_code == 200
    assert (await introspect(other, first["refresh_token"])) == {"active": False}
    assert (await introspect(rp, first["refresh_token"]))["active"] is True


async def test_refresh_tokens_are_stored_by_hash_only(admin, make_app, browser, servers):
    rp = await make_rp(admin, make_app)
    first = await signed_in(browser, rp)
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"], server_settings={"search_path": "token"})
    try:
        rows = await conn.fetch("SELECT r::text AS row FROM refresh_tokens r WHERE application_id = $1", rp.app_id)
    finally:
        await conn.close()
    assert len(rows) == 1 and first["refresh_token"] not in rows[0]["row"]


async def test_public_client_refresh_rotates(admin, make_app, browser):
    rp = await make_rp(admin, make_app, public=True)
    verifier, challenge = pkce()
    code, _ = await browser.code(rp, scope="openid offline_access", code_challenge=challenge,
                                 code_challenge_method="S256")
    first = (await exchange(rp, code, verifier)).json()
    second = await refresh(rp, first["refresh_token"])
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    assert (await refresh(rp, first["refresh_token"])).json()["error"] == "invalid_grant"


async def test_opaque_access_tokens_of_a_family_are_revoked_with_it(admin, make_app, browser):
    rp = await make_rp(admin, make_app, settings={"access_token_format": "opaque"})
    first = await signed_in(browser, rp)
    assert "." not in first["access_token"]
    assert (await introspect(rp, first["access_token"]))["active"] is True
    assert (await revoke(rp, first["refresh_token"], token_type_hint="refresh_token")).status_code == 200
    assert (await introspect(rp, first["access_token"]))["active"] is False


async def test_discovery_advertises_the_code_flow(suite, make_app):
    app = await make_app(scopes=["openid", "invoices:read"])
    async with httpx.AsyncClient(timeout=30) as http:
        doc = (await http.get(f"{app.issuer}/.well-known/openid-configuration")).json()
    assert doc["authorization_endpoint"] == f"{app.issuer}/authorize"
    assert doc["userinfo_endpoint"] == f"{app.issuer}/userinfo"
    assert doc["response_types_supported"] == ["code"]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert doc["grant_types_supported"] == ["client_credentials", "authorization_code", "refresh_token"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["request_parameter_supported"] is False and doc["request_uri_parameter_supported"] is False
    assert doc["scopes_supported"] == ["openid", "invoices:read"]   # the application's, no others
    assert {"sub", "auth_time", "nonce", "at_hash", "sid", "email"} <= set(doc["claims_supported"])
    assert "none" in doc["token_endpoint_auth_methods_supported"]
    assert "none" not in doc["introspection_endpoint_auth_methods_supported"]
