"""PKCE (RFC 7636): the challenge at the authorization endpoint, the verifier at the token endpoint.

Only ``S256`` is supported: ``plain`` would let whoever sees the authorization request redeem the
code (RFC 9700 §2.1.1 recommends S256). A request without ``code_challenge_method`` means
``plain`` (RFC 7636 §4.3), so it is refused as well.
"""
from __future__ import annotations

import base64
import hashlib
import re

from shared.crypto import equal

from .errors import InvalidGrant, InvalidRequest

S256 = "S256"
# §4.1 / §4.2: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"
_VALUE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> tuple[str | None, str | None]:
    """The ``(code_challenge, method)`` to store, or ``invalid_request``."""
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method given without code_challenge")
        if required:
            raise InvalidRequest("code_challenge (PKCE, S256) is required for public clients")
        return None, None
    if method is None:
        raise InvalidRequest("code_challenge_method is required and must be S256 (plain is not supported)")
    if method != S256:
        raise InvalidRequest("code_challenge_method must be S256 (plain is not supported)")
    if not _VALUE.match(challenge):
        raise InvalidRequest("code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
    return challenge, S256


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(code_verifier))) (§4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def check_verifier(verifier: str | None, challenge: str | None) -> None:
    """§4.6: the verifier must match the stored challenge; any failure is ``invalid_grant``."""
    if challenge is None:
        if verifier is not None:   # RFC 9700 §2.1.1: a verifier for a code issued without a challenge
            raise InvalidGrant("code_verifier sent but the authorization request had no code_challenge")
        return
    if verifier is None:
        raise InvalidGrant("code_verifier is required")
    if not _VALUE.match(verifier):
        raise InvalidGrant("code_verifier is malformed")
    if not equal(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
