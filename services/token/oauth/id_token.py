"""ID tokens (OIDC Core §2, §3.1.3.6, §12.2): their claims and ``at_hash``."""
from __future__ import annotations

import base64
import hashlib
from typing import Any

from .user_grant import UserGrant

ID_TOKEN_HEADER = {"typ": "JWT"}
ID_TOKEN_ALG = "RS256"          # OIDC Core §15.1: RS256 is always available; per-client algs come later
_HASHES = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "PS256": hashlib.sha256, "EdDSA": hashlib.sha512}


def at_hash(access_token: str, alg: str = ID_TOKEN_ALG) -> str:
    """Base64url of the left half of the hash of the access token's ASCII (OIDC Core §3.1.3.6)."""
    digest = _HASHES[alg](access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def id_token_claims(grant: UserGrant, *, issuer: str, access_token: str, now: int, ttl: int,
                    alg: str = ID_TOKEN_ALG) -> dict[str, Any]:
    """The claims for ``grant``. ``nonce`` only when the authorization request carried one (a
    refreshed ID token has none, §12.2); ``auth_time`` always (the original sign-in's)."""
    facts = grant.sign_in
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": grant.subject,
        "aud": grant.client_id,
        "exp": now + ttl,
        "iat": now,
        "auth_time": facts.auth_time,
    }
    if grant.nonce is not None:
        claims["nonce"] = grant.nonce
    if facts.acr is not None:
        claims["acr"] = facts.acr
    if facts.amr:
        claims["amr"] = list(facts.amr)
    claims["azp"] = grant.client_id
    claims["at_hash"] = at_hash(access_token, alg)
    if facts.sid is not None:
        claims["sid"] = facts.sid
    return claims
