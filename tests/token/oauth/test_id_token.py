"""ID token claims (OIDC Core §2, §3.1.3.6, §12.2) on plain data."""
from __future__ import annotations

from services.token.oauth.id_token import at_hash, id_token_claims
from services.token.oauth.user_grant import SignInFacts, UserGrant, issues_refresh_token


def grant(**changes) -> UserGrant:
    values = dict(grant_type="authorization_code", grant_id="g", client_id="rp", subject="user-1",
                  scopes=("openid",), grant_scopes=("openid",), sign_in=SignInFacts(900, ("pwd", "otp"), "1", "sid-1"),
                  nonce="n-1")
    values.update(changes)
    return UserGrant(**values)


def test_at_hash_is_the_left_half_of_sha256_base64url():
    # OIDC Core §A.3 example: access token and its at_hash (RS256)
    assert at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y") == "77QmUPtjPfzWtF2AnpK9RQ"


def test_claims_of_a_code_grant():
    claims = id_token_claims(grant(), issuer="https://id.example.com/shop", access_token="at", now=1000, ttl=300)
    assert claims == {"iss": "https://id.example.com/shop", "sub": "user-1", "aud": "rp", "exp": 1300, "iat": 1000,
                      "auth_time": 900, "nonce": "n-1", "acr": "1", "amr": ["pwd", "otp"], "azp": "rp",
                      "at_hash": at_hash("at"), "sid": "sid-1"}


def test_refreshed_id_token_has_no_nonce_and_keeps_auth_time():
    claims = id_token_claims(grant(nonce=None, grant_type="refresh_token"), issuer="i", access_token="x",
                             now=5000, ttl=60)
    assert "nonce" not in claims and claims["auth_time"] == 900


def test_optional_claims_are_left_out_when_unknown():
    claims = id_token_claims(grant(sign_in=SignInFacts(1), nonce=None), issuer="i", access_token="x", now=1, ttl=1)
    assert not {"acr", "amr", "sid", "nonce"} & claims.keys()


def test_refresh_token_needs_the_grant_type_and_offline_access():
    assert issues_refresh_token(("authorization_code", "refresh_token"), ("openid", "offline_access"))
    assert not issues_refresh_token(("authorization_code",), ("openid", "offline_access"))
    assert not issues_refresh_token(("authorization_code", "refresh_token"), ("openid",))
