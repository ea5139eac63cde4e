"""Access tokens: their JWT claims (RFC 9068), the token response (RFC 6749 §5.1) and what
introspection says about them (RFC 7662 §2.2)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from ..model import Application
from .decision import GrantDecision
from .scopes import format_scope

ACCESS_TOKEN_TYP = "at+jwt"
JWT_HEADER = {"typ": ACCESS_TOKEN_TYP}
TOKEN_TYPE = "Bearer"
# RFC 6749 §5.1: responses carrying tokens MUST NOT be cached
TOKEN_RESPONSE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 7662 §2.2 members copied from the token to an active introspection response
_INTROSPECTED = ("scope", "client_id", "username", "exp", "iat", "nbf", "sub", "aud", "iss", "jti")


def jwt_claims(decision: GrantDecision, application: Application, *, jti: str,
               now: datetime) -> dict[str, Any]:
    """The claims of a JWT access token; sign them with header :data:`JWT_HEADER`.

    ``aud`` is the decision's audience, the application's issuer by default (RFC 9068 §3 wants
    a default resource when none was requested): a single audience is a string.
    """
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": application.issuer,
        "sub": decision.subject,
        "aud": decision.audience[0] if len(decision.audience) == 1 else list(decision.audience),
        "exp": iat + decision.lifetime,
        "iat": iat,
        "jti": jti,
        "client_id": decision.client_id,
    }
    if decision.scopes:
        claims["scope"] = format_scope(decision.scopes)
    return claims


def token_response(access_token: str, decision: GrantDecision) -> dict[str, Any]:
    """The successful token response body; send it with :data:`TOKEN_RESPONSE_HEADERS`.

    ``scope`` is always included when something was granted, not only when it differs from
    the request (§5.1 allows that, and clients need not remember what they asked).
    """
    body: dict[str, Any] = {"access_token": access_token, "token_type": TOKEN_TYPE,
                            "expires_in": decision.lifetime}
    if decision.scopes:
        body["scope"] = format_scope(decision.scopes)
    return body


def introspection_response(claims: Mapping[str, Any] | None, *, now: datetime) -> dict[str, Any]:
    """RFC 7662 §2.2 for the claims of a token the caller found valid and not revoked.

    ``None`` (unknown, malformed, revoked or foreign token) and an expired or not-yet-valid
    token give exactly ``{"active": false}``: nothing more about an inactive token (§2.2).
    """
    if claims is None or not _within_lifetime(claims, now.timestamp()):
        return {"active": False}
    body: dict[str, Any] = {"active": True, "token_type": TOKEN_TYPE}
    body.update((name, claims[name]) for name in _INTROSPECTED if name in claims)
    return body


def _within_lifetime(claims: Mapping[str, Any], at: float) -> bool:
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, (int, float)) or at >= exp:
        return False
    return not isinstance(nbf, (int, float)) or at >= nbf
