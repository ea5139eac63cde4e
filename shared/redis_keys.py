"""Names of the Redis keys more than one service reads (one place, so they never drift)."""


def revoked_jti(jti: str) -> str:
    """Set while a revoked JWT access token would still be unexpired."""
    return f"tessera:revoked:{jti}"


def opaque_access_token(token_hash: str) -> str:
    """An opaque access token's claims, under the HMAC of the token, expiring with it."""
    return f"tessera:at:{token_hash}"


# The sign-in hand-off (ADR 0005). The token service writes the pending request and only reads
# the result; authn only reads the request and writes the result. Both expire with the request.

def authorization_request(request_id: str) -> str:
    """A pending authorization request (JSON), written by the token service's ``/authorize``."""
    return f"tessera:authz:{request_id}"


def authorization_result(request_id: str) -> str:
    """authn's answer to a pending request (JSON), taken once by the token service."""
    return f"tessera:authz-result:{request_id}"
