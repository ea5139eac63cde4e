"""The token service's read models, as the protocol code sees them: plain frozen data.

Loaded from the read-model tables by :mod:`services.token.repository`, never mutated: a
change is an event, and the next load sees its effect.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ACTIVE = "active"
DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    status: str
    version: int


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """Per-application token settings (clients may override the access token format)."""
    access_token_format: str = "jwt"          # "jwt" (RFC 9068) or "opaque"
    access_token_alg: str = "ES256"           # one of signing_algs
    signing_algs: tuple[str, ...] = ("RS256", "ES256")
    access_token_ttl: int = 3600              # seconds
    id_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 24 * 3600
    code_ttl: int = 60


@dataclass(frozen=True, slots=True)
class Application:
    id: str
    tenant_id: str
    name: str
    issuer: str                               # absolute URL, no trailing slash
    status: str
    settings: TokenSettings
    scopes: tuple[str, ...]                   # scopes the application offers
    version: int

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


@dataclass(frozen=True, slots=True)
class SecretHash:
    hash: str                                 # hex HMAC-SHA-256 under the pepper
    expires_at: datetime | None = None        # None: valid until rotated


@dataclass(frozen=True, slots=True)
class Client:
    application_id: str
    client_id: str
    tenant_id: str
    name: str
    status: str
    token_endpoint_auth_method: str           # client_secret_basic | client_secret_post | none
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]                   # scopes the client may ask for
    secret_hashes: tuple[SecretHash, ...] = field(default=())
    access_token_format: str | None = None    # overrides the application's when set
    version: int = 0
    skip_consent: bool = False                # authn may skip the consent screen (first-party client)

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def confidential(self) -> bool:
        return self.token_endpoint_auth_method != "none"
