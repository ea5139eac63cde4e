"""Names of the Redis keys more than one service reads (one place, so they never drift)."""


def revoked_jti(jti: str) -> str:
    """Set while a revoked JWT access token would still be unexpired."""
    return f"tessera:revoked:{jti}"


def opaque_access_token(token_hash: str) -> str:
    """An opaque access token's claims, under the HMAC of the token, expiring with it."""
    return f"tessera:at:{token_hash}"
