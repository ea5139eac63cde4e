"""The authorization code flow driven by certified relying-party libraries.

openid-client (``code_flow.mjs``) and Authlib each play the relying party end to end against
the running suite, through the public URL: discovery, an authorization request with PKCE,
state and nonce; the user signs in on Tessera's hosted login and consent pages (played by
``tests.support.signin.Agent``, a user agent without a browser; ``test_browser_login.py``
does it in Chromium); the code redeemed and the ID token validated by the library; userinfo;
refresh-token rotation, and a replayed refresh token revoking its family.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.signin import OIDC_SCOPES, Agent, make_rp, make_user

from .conftest import HERE, get_json

SCRIPT = HERE / "code_flow.mjs"


async def run_code_flow(node: str, issuer: str, rp, user) -> tuple[int, dict, Agent]:
    """Run code_flow.mjs, signing ``user`` in where it asks; (exit status, its JSON, the agent)."""
    env = {**os.environ, "TESSERA_ISSUER": issuer, "TESSERA_CLIENT_ID": rp.client_id,
           "TESSERA_CLIENT_SECRET": rp.client_secret or "", "TESSERA_REDIRECT_URI": rp.redirect_uri}
    proc = await asyncio.create_subprocess_exec(
        node, str(SCRIPT), cwd=HERE, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
    async with Agent() as agent:
        callback = await agent.sign_in(first["authorization_url"], rp.redirect_uri, user)
    proc.stdin.write(callback.encode() + b"\n")
    await proc.stdin.drain()
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    try:
        return proc.returncode, json.loads(stdout), agent
    except ValueError:
        pytest.fail(f"node exited {proc.returncode} without JSON; stderr:\n{stderr.decode(errors='replace')}")


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
async def test_openid_client_code_flow_userinfo_refresh_rotation(node, make_app, admin, public):
    app = await make_app(scopes=OIDC_SCOPES)
    user = await make_user(admin, app.tenant)
    rp = await make_rp(admin, app, public=public)
    code, result, agent = await run_code_flow(node, app.issuer, rp, user)
    assert code == 0, json.dumps(result, indent=2)
    assert result["callback_has_iss"] is True                     # RFC 9207
    assert len(agent.pages) == 2                                  # login, then consent (prompt=consent)
    claims = result["id_token_claims"]
    assert claims["sub"] == user.id and claims["iss"] == app.issuer and claims["aud"] == rp.client_id
    assert claims["auth_time"] <= time.time() and claims["amr"] == ["pwd"] and claims["sid"]
    assert result["id_token_header"]["alg"] == "RS256"            # OIDC Core §15.1: RS256 by default
    assert result["token"]["has_refresh_token"] is True
    assert set(result["token"]["scope"].split()) == {"openid", "profile", "email", "offline_access"}
    assert result["userinfo"]["sub"] == user.id
    assert result["userinfo"]["email"] == user.email and result["userinfo"]["email_verified"] is True
    assert result["userinfo"]["name"] == "Ada Lovelace"
    assert result["refreshed"] == {"rotated": True, "has_id_token": True, "id_token_sub": user.id}
    # RFC 9700 §4.14.2: the replayed token fails, and so does the family's newest one.
    assert result["replay_old"] == {"name": "replay_old", "failed": True, "error": "invalid_grant", "status": 400}
    assert result["use_rotated_after_replay"]["failed"] is True
    assert result["use_rotated_after_replay"]["error"] == "invalid_grant"


async def test_authlib_code_flow_pkce_id_token_userinfo_refresh(make_app, admin):
    app = await make_app(scopes=OIDC_SCOPES)
    user = await make_user(admin, app.tenant)
    rp = await make_rp(admin, app, skip_consent=True)
    meta = await get_json(f"{app.issuer}/.well-known/openid-configuration")
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "S256" in meta["code_challenge_methods_supported"]
    keys = KeySet.import_key_set(await get_json(meta["jwks_uri"]))

    verifier, nonce = generate_token(48), secrets.token_urlsafe(16)
    async with AsyncOAuth2Client(rp.client_id, rp.client_secret, redirect_uri=rp.redirect_uri,
                                 scope="openid profile email offline_access",
                                 code_challenge_method="S256", timeout=30) as rp_client:
        url, state = rp_client.create_authorization_url(meta["authorization_endpoint"],
                                                        code_verifier=verifier, nonce=nonce)
        async with Agent() as agent:
            callback = await agent.sign_in(url, rp.redirect_uri, user)
        assert agent.pages and all("/login" in page for page in agent.pages)   # skip_consent: no consent page
        query = parse_qs(urlsplit(callback).query)
        assert query["state"] == [state] and query["iss"] == [app.issuer]

        token = await rp_client.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                            code_verifier=verifier)
        id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": app.issuer},
                              aud={"essential": True, "value": rp.client_id},
                              nonce={"essential": True, "value": nonce},
                              sub={"essential": True, "value": user.id}).validate(id_token.claims)
        assert "at_hash" in id_token.claims

        info = await rp_client.get(meta["userinfo_endpoint"])
        assert info.status_code == 200 and info.json()["sub"] == user.id
        assert info.json()["given_name"] == "Ada"

        first_refresh = token["refresh_token"]
        refreshed = await rp_client.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
        assert refreshed["refresh_token"] != first_refresh and refreshed["access_token"] != token["access_token"]
        with pytest.raises(OAuthError) as reused:
            await rp_client.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
        assert reused.value.error == "invalid_grant"

        # The code was used once: a second redemption is refused.
        with pytest.raises(OAuthError) as again:
            await rp_client.fetch_token(meta["token_endpoint"], authorization_response=callback,
                                        code_verifier=verifier)
        assert again.value.error == "invalid_grant"


async def test_sso_session_skips_the_login_page_and_prompt_login_forces_it(make_app, admin):
    app = await make_app(scopes=OIDC_SCOPES)
    user = await make_user(admin, app.tenant)
    rp = await make_rp(admin, app, skip_consent=True)
    meta = await get_json(f"{app.issuer}/.well-known/openid-configuration")
    rp_client = AsyncOAuth2Client(rp.client_id, rp.client_secret, redirect_uri=rp.redirect_uri,
                                  scope="openid", code_challenge_method="S256")
    async with Agent() as agent:
        url, _ = rp_client.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(48))
        await agent.sign_in(url, rp.redirect_uri, user)
        shown = len(agent.pages)
        url, _ = rp_client.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(48))
        silent = await agent.sign_in(url, rp.redirect_uri, None)                 # the SSO session answers
        assert len(agent.pages) == shown and "code" in parse_qs(urlsplit(silent).query)
        url, _ = rp_client.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(48),
                                                    prompt="login")
        await agent.sign_in(url, rp.redirect_uri, user)
        assert len(agent.pages) == shown + 1
    async with Agent() as stranger:                                               # no session: prompt=none fails
        url, state = rp_client.create_authorization_url(meta["authorization_endpoint"],
                                                        code_verifier=generate_token(48), prompt="none")
        answer = parse_qs(urlsplit(await stranger.sign_in(url, rp.redirect_uri, None)).query)
        assert answer["error"] == ["login_required"] and answer["state"] == [state]
        assert answer["iss"] == [app.issuer] and stranger.pages == []
