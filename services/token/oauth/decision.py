"""What a grant decided, before any token exists: the input of every token builder."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GrantDecision:
    """A validated token request.

    ``audience`` is the token's ``aud``: for now always ``(application.issuer,)``, the issuer
    standing for the application's own APIs as the default resource (RFC 9068 §3, RFC 8707
    resource indicators are not supported yet).
    """

    grant_type: str
    client_id: str
    subject: str                  # the client itself for client_credentials
    scopes: tuple[str, ...]
    audience: tuple[str, ...]
    lifetime: int                 # access token lifetime, seconds
