"""openid-client (panva, OpenID Certified relying party, v6) as a machine client of a Tessera issuer.

``client_credentials.mjs`` discovers the issuer, gets a token with the client credentials grant,
verifies a JWT access token per RFC 9068 with jose (the library openid-client is built on),
introspects it, revokes it and introspects it again; it prints what it saw as JSON and this test
asserts on it. The secret goes to the script in its environment, not on its command line.
"""
from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from .conftest import HERE, post_client

SCRIPT = HERE / "client_credentials.mjs"


async def run_script(node: str, issuer: str, client_id: str, secret: str, *args: str) -> tuple[int, dict]:
    env = {**os.environ, "TESSERA_ISSUER": issuer, "TESSERA_CLIENT_ID": client_id, "TESSERA_CLIENT_SECRET": secret}
    proc = await asyncio.create_subprocess_exec(
        node, str(SCRIPT), *args, cwd=HERE, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    try:
        return proc.returncode, json.loads(stdout)
    except ValueError:
        pytest.fail(f"node exited {proc.returncode} without JSON; stderr:\n{stderr.decode(errors='replace')}")


def assert_flow(result: dict, issuer: str, client_id: str) -> None:
    assert "error" not in result, json.dumps(result, indent=2)
    assert result["discovery"]["issuer"] == issuer
    assert result["discovery"]["token_endpoint"] == f"{issuer}/token"
    assert result["token"]["token_type"].lower() == "bearer" and result["token"]["expires_in"] > 0
    intro = result["introspection"]
    assert intro["active"] is True and intro["client_id"] == client_id and intro["iss"] == issuer
    assert intro["exp"] > time.time()
    assert result["introspection_after_revocation"] == {"active": False}


@pytest.mark.parametrize("algorithm", ["oidc", "oauth2"])
@pytest.mark.parametrize("auth", ["basic", "post"])
async def test_client_credentials_jwt_introspect_revoke(node, make_app, admin, algorithm, auth):
    app = await make_app()
    client_id, secret = (app.client_id, app.client_secret) if auth == "basic" else await post_client(admin, app)
    code, result = await run_script(node, app.issuer, client_id, secret,
                                    "--auth", auth, "--algorithm", algorithm, "--scope", "read")
    assert code == 0, json.dumps(result, indent=2)
    assert_flow(result, app.issuer, client_id)
    assert result["token"]["scope"] == "read"
    header, claims = result["jwt"]["header"], result["jwt"]["claims"]
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    assert claims["iss"] == claims["aud"] == app.issuer
    assert claims["client_id"] == claims["sub"] == client_id and claims["scope"] == "read"
    assert result["introspection"]["jti"] == claims["jti"]


async def test_opaque_token_introspect_revoke(node, make_app):
    app = await make_app(settings={"access_token_format": "opaque"})
    code, result = await run_script(node, app.issuer, app.client_id, app.client_secret, "--scope", "write")
    assert code == 0, json.dumps(result, indent=2)
    assert_flow(result, app.issuer, app.client_id)
    assert "." not in result["token"]["access_token"] and "jwt" not in result
    assert result["introspection"]["scope"] == "write"


async def test_errors_reach_openid_client(node, make_app):
    app = await make_app()
    # A wrong secret: 401 with a Basic challenge (RFC 6749 §5.2), which openid-client reports as
    # the challenge (its error parameter included) rather than as the response body's error.
    code, result = await run_script(node, app.issuer, app.client_id, "not-the-secret")
    assert code == 1 and result["steps"] == ["discovery"] and result["current"] == "client_credentials"
    error = result["error"]
    assert (error["name"], error["code"], error["status"]) == (
        "WWWAuthenticateChallengeError", "OAUTH_WWW_AUTHENTICATE_CHALLENGE", 401)
    assert error["cause"] == [{"scheme": "basic", "parameters": {"realm": app.issuer, "error": "invalid_client"}}]
    # An unknown scope: 400 with an RFC 6749 error body.
    code, result = await run_script(node, app.issuer, app.client_id, app.client_secret, "--scope", "admin")
    assert code == 1 and result["current"] == "client_credentials"
    error = result["error"]
    assert (error["name"], error["status"], error["error"]) == ("ResponseBodyError", 400, "invalid_scope")
