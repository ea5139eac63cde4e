"""Plain read-model values for the protocol tests: an application, its clients, a pepper."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from services.token.model import Application, Client, SecretHash, TokenSettings
from shared.crypto import secret_hash

PEPPER = b"p" * 32
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
ISSUER = "https://id.example.com/shop"
SECRET = "s3cret-Value_with.unusual~chars"


def application(**changes) -> Application:
    app = Application(id="shop", tenant_id="acme", name="Shop", issuer=ISSUER, status="active",
                      settings=TokenSettings(), scopes=("orders:read", "orders:write", "admin"), version=1)
    return replace(app, **changes)


def client(**changes) -> Client:
    c = Client(application_id="shop", client_id="shop-backend", tenant_id="acme", name="Backend",
               status="active", token_endpoint_auth_method="client_secret_basic",
               grant_types=("client_credentials",), redirect_uris=(),
               scopes=("orders:read", "orders:write", "reports"),
               secret_hashes=(SecretHash(secret_hash(PEPPER, SECRET)),), version=1)
    return replace(c, **changes)


def hashed(secret: str, expires_in: timedelta | None = None) -> SecretHash:
    return SecretHash(secret_hash(PEPPER, secret), None if expires_in is None else NOW + expires_in)
