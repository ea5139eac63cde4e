"""Authlib, the Python OAuth 2 / OpenID Connect client library, as a machine client of a Tessera issuer.

Everything goes through the public URL (the gateway): the metadata is fetched from the issuer's
well-known URLs and every endpoint used is the one it advertises. Authlib does the protocol —
client authentication, the token request, RFC 7662 introspection, RFC 7009 revocation — and its
RFC 9068 resource-server validator (``JWTBearerTokenValidator``, on joserfc) checks the JWT access
token against the JWKS from ``jwks_uri`` (``authlib.jose`` is deprecated in Authlib 1.9: joserfc,
which Authlib itself now uses, imports the key set).
"""
from __future__ import annotations

import time

import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata, get_well_known_url
from authlib.oidc.discovery import OpenIDProviderMetadata
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from joserfc.jwk import KeySet

from .conftest import get_json, post_client


async def discover(issuer: str) -> dict:
    """The issuer's metadata, as a client finds it: OIDC location, checked against RFC 8414's."""
    doc = await get_json(f"{issuer}/.well-known/openid-configuration")   # OIDC Discovery §4: appended
    rfc8414 = await get_json(get_well_known_url(issuer, external=True))   # RFC 8414 §3.1: inserted
    assert doc == rfc8414
    assert doc["issuer"] == issuer   # RFC 8414 §3.3, OIDC Discovery §4.3
    return doc


class Validator(JWTBearerTokenValidator):
    """Authlib's RFC 9068 §4 validator for a resource server whose audience is the issuer."""

    def __init__(self, metadata: dict, jwks: dict) -> None:
        super().__init__(issuer=metadata["issuer"], resource_server=metadata["issuer"])
        self.jwks = KeySet.import_key_set(jwks)

    def get_jwks(self):
        return self.jwks


def client_for(client_id: str, secret: str, method: str) -> AsyncOAuth2Client:
    # Authlib authenticates at the revocation endpoint with client_secret_basic unless told.
    return AsyncOAuth2Client(client_id, secret, token_endpoint_auth_method=method,
                             revocation_endpoint_auth_method=method, timeout=30)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_client_credentials_jwt_introspect_revoke(suite, make_app, admin, method):
    app = await make_app()
    client_id, secret = (app.client_id, app.client_secret) if method == "client_secret_basic" \
        else await post_client(admin, app)
    meta = await discover(app.issuer)
    assert method in meta["token_endpoint_auth_methods_supported"]
    assert meta["token_endpoint"].startswith(suite.public_url)

    async with client_for(client_id, secret, method) as client:
        token = await client.fetch_token(meta["token_endpoint"], grant_type="client_credentials",
                                         scope="read write")
        assert token["token_type"].lower() == "bearer" and token["expires_in"] > 0
        assert set(token["scope"].split()) == {"read", "write"}
        access_token = token["access_token"]

        validator = Validator(meta, await get_json(meta["jwks_uri"]))
        claims = validator.authenticate_token(access_token)
        validator.validate_token(claims, scopes=["read"], request=None)   # iss, exp, aud, sub, …
        assert claims.header["typ"] == "at+jwt" and claims.header["alg"] in ("ES256", "RS256")
        assert claims["iss"] == app.issuer and claims["exp"] > time.time() >= claims["iat"] - 5
        assert claims["client_id"] == claims["sub"] == client_id

        intro = await client.introspect_token(meta["introspection_endpoint"], token=access_token,
                                              token_type_hint="access_token")
        assert intro.status_code == 200, intro.text
        body = intro.json()
        assert body["active"] is True and body["client_id"] == client_id and body["iss"] == app.issuer
        assert body["jti"] == claims["jti"] and body["exp"] == claims["exp"]

        revoked = await client.revoke_token(meta["revocation_endpoint"], token=access_token,
                                            token_type_hint="access_token")
        assert revoked.status_code == 200, revoked.text
        after = await client.introspect_token(meta["introspection_endpoint"], token=access_token)
        assert after.status_code == 200 and after.json() == {"active": False}


async def test_opaque_token_introspect_revoke(suite, make_app):
    app = await make_app(settings={"access_token_format": "opaque"})
    meta = await discover(app.issuer)
    async with client_for(app.client_id, app.client_secret, "client_secret_basic") as client:
        token = await client.fetch_token(meta["token_endpoint"], grant_type="client_credentials", scope="read")
        access_token = token["access_token"]
        assert "." not in access_token and token["scope"] == "read"

        intro = (await client.introspect_token(meta["introspection_endpoint"], token=access_token)).json()
        assert intro["active"] is True and intro["client_id"] == app.client_id
        assert intro["iss"] == app.issuer and intro["scope"] == "read" and intro["exp"] > time.time()

        revoked = await client.revoke_token(meta["revocation_endpoint"], token=access_token)
        assert revoked.status_code == 200, revoked.text
        after = await client.introspect_token(meta["introspection_endpoint"], token=access_token)
        assert after.json() == {"active": False}


@pytest.mark.parametrize("secret, scope, error", [
    ("wrong", "read", "invalid_client"),
    (None, "admin", "invalid_scope"),
])
async def test_errors_reach_authlib_as_oauth_errors(make_app, secret, scope, error):
    app = await make_app()
    meta = await discover(app.issuer)
    async with client_for(app.client_id, secret or app.client_secret, "client_secret_basic") as client:
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token(meta["token_endpoint"], grant_type="client_credentials", scope=scope)
    assert raised.value.error == error


async def test_metadata_passes_authlibs_rfc8414_and_openid_discovery_validation(make_app):
    """Authlib's whole-document checks: RFC 8414 §2 and OpenID Connect Discovery §3."""
    meta = await discover((await make_app()).issuer)
    AuthorizationServerMetadata(meta).validate()
    OpenIDProviderMetadata(meta).validate()
    assert meta["response_types_supported"] == ["code"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]   # OIDC Discovery §3: required
