"""JWT access tokens (RFC 9068), token responses (RFC 6749 §5.1), introspection (RFC 7662 §2.2)."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet
from jwcrypto import jwk as jc_jwk

from services.token.oauth.access_token import (JWT_HEADER, TOKEN_RESPONSE_HEADERS, introspection_response,
                                               jwt_claims, token_response)
from services.token.oauth.decision import GrantDecision
from shared.jws import SigningKey, VerificationKeys, validate_claims, verify

from .data import ISSUER, NOW, application

DECISION = GrantDecision(grant_type="client_credentials", client_id="shop-backend", subject="shop-backend",
                         scopes=("orders:read", "orders:write"), audience=(ISSUER,), lifetime=600)
IAT = int(NOW.timestamp())


def claims(**changes) -> dict:
    return jwt_claims(replace(DECISION, **changes),
                      application(), jti="jti-1", now=NOW)


def test_jwt_claims_follow_rfc9068():
    assert claims() == {"iss": ISSUER, "sub": "shop-backend", "aud": ISSUER, "exp": IAT + 600, "iat": IAT,
                        "jti": "jti-1", "client_id": "shop-backend", "scope": "orders:read orders:write"}


def test_scope_claim_is_omitted_when_nothing_was_granted():
    assert "scope" not in claims(scopes=())


def test_several_audiences_are_a_list():
    assert claims(audience=(ISSUER, "https://api"))["aud"] == [ISSUER, "https://api"]


def test_access_token_header_is_at_jwt():
    assert JWT_HEADER == {"typ": "at+jwt"}


def test_signed_access_token_verifies_as_at_jwt_here_and_in_joserfc():
    private = json.loads(jc_jwk.JWK.generate(kty="EC", crv="P-256", kid="k1").export_private())
    key = SigningKey.from_jwk(private)
    token = key.sign(JWT_HEADER, claims())
    jwks = {"keys": [key.public_jwk()]}
    header, verified = verify(token, VerificationKeys.from_jwks(jwks), algorithms=["ES256"], typ="at+jwt")
    validate_claims(verified, issuer=ISSUER, audience=ISSUER, now=NOW)
    decoded = joserfc_jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])  # Authlib's JOSE
    assert decoded.header["typ"] == "at+jwt" and decoded.claims == verified


def test_token_response_follows_rfc6749_section_5_1():
    assert token_response("tok", DECISION) == {"access_token": "tok", "token_type": "Bearer",
                                               "expires_in": 600, "scope": "orders:read orders:write"}
    assert "scope" not in token_response("tok", replace(DECISION, scopes=()))


def test_token_response_must_not_be_cached():
    assert TOKEN_RESPONSE_HEADERS == {"Cache-Control": "no-store", "Pragma": "no-cache"}


def test_active_introspection_describes_the_token():
    assert introspection_response(claims(), now=NOW) == {
        "active": True, "token_type": "Bearer", "scope": "orders:read orders:write",
        "client_id": "shop-backend", "exp": IAT + 600, "iat": IAT, "sub": "shop-backend",
        "aud": ISSUER, "iss": ISSUER, "jti": "jti-1"}


@pytest.mark.parametrize("token_claims, at", [
    (None, NOW), (claims(), NOW + timedelta(seconds=600)), ({**claims(), "nbf": IAT + 5}, NOW),
    ({k: v for k, v in claims().items() if k != "exp"}, NOW),
])
def test_inactive_introspection_is_only_active_false(token_claims, at):
    assert introspection_response(token_claims, now=at) == {"active": False}
