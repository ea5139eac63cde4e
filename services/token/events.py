"""Every event type the token service writes, with an example payload (ADR 0002).

| stream | events |
| --- | --- |
| ``tenant:{tenant_id}`` | ``tenant.created``, ``.updated``, ``.disabled``, ``.enabled``, ``.deleted`` |
| ``application:{application_id}`` | ``application.created``, ``.updated``, ``.disabled``, ``.enabled``, ``.deleted`` |
| ``client:{application_id}:{client_id}`` | ``client.created``, ``.updated``, ``.secret_rotated``, ``.disabled``, ``.enabled``, ``.deleted`` |
| ``grant:{grant_id}`` | ``authorization_code.issued``, ``authorization_code.reused`` (the code flow's grant) |
| ``grant:{jti}`` | ``access_token.issued``, ``access_token.revoked`` (each access token; ``grant_id`` in the payload names its grant) |
| ``refresh_token:{token_id}`` | ``refresh_token.issued`` (at the code exchange) or ``refresh_token.rotated`` (at a refresh) |
| ``refresh_family:{family_id}`` | ``refresh_token.reused``, ``refresh_token.revoked`` (the whole family) |

Payloads hold ids, settings and digests, never a secret or a token. ``client.created`` and
``client.secret_rotated`` carry the secret's *stored form* (``secret_hash``: HMAC-SHA-256 under
the server pepper) because replay rebuilds the ``clients`` read model from events alone, and
``secret_digest`` (SHA-256 of that hash) for audit correlation; see
:mod:`services.token.domain.client` for why publishing the keyed hash is safe.

``*.updated`` events carry ``changes``: the new value of each field that changed (an
application's ``settings`` in full, as they are after the change).
"""
from __future__ import annotations

import time

from shared.events import event_type

_HASH = "4f0c3b6c2f0b5e8d1d6a6c9b7e2f1a0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a"
_DIGEST = "9a1e5c0b7d3f2e4a6c8b0d1f3e5a7c9b2d4f6e8a0c1b3d5f7e9a2c4b6d8f0e1a"
_SETTINGS = {"access_token_format": "jwt", "access_token_alg": "ES256", "signing_algs": ["RS256", "ES256"],
             "access_token_ttl": 3600, "id_token_ttl": 3600, "refresh_token_ttl": 2592000, "code_ttl": 60}

# Tenants --------------------------------------------------------------------------------------
TENANT_CREATED = event_type(
    "tenant.created", description="A tenant (user pool) was created.",
    example={"tenant_id": "acme", "name": "Acme Corporation"}).name
TENANT_UPDATED = event_type(
    "tenant.updated", description="A tenant's name changed.",
    example={"tenant_id": "acme", "changes": {"name": "Acme Corp."}}).name
TENANT_DISABLED = event_type(
    "tenant.disabled", description="A tenant was disabled: none of its applications issues tokens.",
    example={"tenant_id": "acme"}).name
TENANT_ENABLED = event_type(
    "tenant.enabled", description="A disabled tenant was enabled again.",
    example={"tenant_id": "acme"}).name
TENANT_DELETED = event_type(
    "tenant.deleted", description="A tenant without live applications was deleted; its id is not reused.",
    example={"tenant_id": "acme"}).name

# Applications ---------------------------------------------------------------------------------
APPLICATION_CREATED = event_type(
    "application.created",
    description="An application (an authorization server with its own issuer) was created.",
    example={"application_id": "billing", "tenant_id": "acme", "name": "Billing",
             "issuer": "https://id.acme.example/billing", "settings": _SETTINGS,
             "scopes": ["openid", "profile", "email", "offline_access", "invoices:read"]}).name
APPLICATION_UPDATED = event_type(
    "application.updated",
    description="An application's name, issuer, token settings or offered scopes changed.",
    example={"application_id": "billing", "tenant_id": "acme",
             "changes": {"name": "Billing (EU)", "settings": {**_SETTINGS, "access_token_ttl": 900}}}).name
APPLICATION_DISABLED = event_type(
    "application.disabled", description="An application was disabled: it issues no tokens.",
    example={"application_id": "billing", "tenant_id": "acme"}).name
APPLICATION_ENABLED = event_type(
    "application.enabled", description="A disabled application was enabled again.",
    example={"application_id": "billing", "tenant_id": "acme"}).name
APPLICATION_DELETED = event_type(
    "application.deleted",
    description="An application was deleted (its clients' client.deleted events precede it).",
    example={"application_id": "billing", "tenant_id": "acme"}).name

# Clients --------------------------------------------------------------------------------------
CLIENT_CREATED = event_type(
    "client.created",
    description="A client of an application was registered. Confidential clients carry the stored "
                "form of their secret (HMAC under the pepper) and its digest; public ones neither.",
    example={"application_id": "billing", "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "tenant_id": "acme",
             "name": "Invoice exporter", "token_endpoint_auth_method": "client_secret_basic",
             "grant_types": ["client_credentials"], "redirect_uris": [], "scopes": ["invoices:read"],
             "access_token_format": None, "secret_hash": _HASH, "secret_digest": _DIGEST}).name
CLIENT_UPDATED = event_type(
    "client.updated", description="A client's name, grant types, redirect URIs, scopes or token format changed.",
    example={"application_id": "billing", "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "tenant_id": "acme",
             "changes": {"scopes": ["invoices:read", "invoices:write"]}}).name
CLIENT_SECRET_ROTATED = event_type(
    "client.secret_rotated",
    description="A confidential client got a new secret. `previous` lists the earlier secrets that stay "
                "valid until their deadline (by digest); every other earlier secret is revoked.",
    example={"application_id": "billing", "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "tenant_id": "acme",
             "secret_hash": _HASH, "secret_digest": _DIGEST, "grace_seconds": 86400,
             "previous": [{"digest": "0b8e6f4d2c1a3e5b7d9f0a2c4e6b8d1f3a5c7e9b0d2f4a6c8e1b3d5f7a9c0e2b",
                           "expires_at": "2025-06-02T09:30:00Z"}]}).name
CLIENT_DISABLED = event_type(
    "client.disabled", description="A client was disabled: it cannot authenticate or get tokens.",
    example={"application_id": "billing", "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "tenant_id": "acme"}).name
CLIENT_ENABLED = event_type(
    "client.enabled", description="A disabled client was enabled again.",
    example={"application_id": "billing", "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "tenant_id": "acme"}).name
CLIENT_DELETED = event_type(
    "client.deleted", description="A client was deleted; its secrets are void and its id is not reused.",
    example={"application_id": "billing", "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "tenant_id": "acme"}).name

# Grants (written by the token endpoint) --------------------------------------------------------
ACCESS_TOKEN_ISSUED = event_type(
    "access_token.issued",
    description="An access token was issued. `token_digest` (SHA-256 of the token) is set for opaque "
                "tokens only; JWTs are identified by `jti` and `kid`.",
    example={"grant_id": "6mD0yQm2Wc8rXg4TzK1bNa", "grant_type": "client_credentials",
             "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "subject": "q3Zr8kX1bV9sLm2PwT7aYc",
             "scope": "invoices:read", "jti": "Yx3kP0aL9vQw2eRt6uIo1A", "format": "jwt",
             "token_digest": None, "expires_at": "2025-06-01T10:30:00Z",
             "kid": "billing-es256-2025-06-01"}).name
ACCESS_TOKEN_REVOKED = event_type(
    "access_token.revoked", description="An access token was revoked (RFC 7009, or with its grant).",
    example={"grant_id": "6mD0yQm2Wc8rXg4TzK1bNa", "jti": "Yx3kP0aL9vQw2eRt6uIo1A",
             "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "reason": "revoked_by_client"}).name


# The code flow and refresh tokens (docs/oauth.md) ------------------------------------------------
_USER = "8f14e45f-ceea-467a-9af0-1b7c4d2e6a3b"
_GRANT = "Gr4nT0b7XkQz9LmP2sV1aW"
_FAMILY = "Fm1yX8c2Vb7Nq4Lk0Pz3sA"
AUTHORIZATION_CODE_ISSUED = event_type(
    "authorization_code.issued",
    description="A user signed in and an authorization code was issued to a client: the start of a grant. "
                "`code_digest` is SHA-256 of the code's stored HMAC (never the code).",
    example={"grant_id": _GRANT, "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "subject": _USER,
             "scope": "openid profile offline_access", "session_id": "s3ss10nIdAbCdEfGhIjKlM",
             "code_digest": _DIGEST, "expires_at": "2025-06-01T09:31:00Z"}).name
AUTHORIZATION_CODE_REUSED = event_type(
    "authorization_code.reused",
    description="A redeemed authorization code was presented again: what its redemption issued is revoked "
                "(RFC 6749 §4.1.2, RFC 9700 §4.2.4).",
    example={"grant_id": _GRANT, "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "subject": _USER,
             "code_digest": _DIGEST}).name
REFRESH_TOKEN_ISSUED = event_type(
    "refresh_token.issued",
    description="A refresh token was issued with the access token `jti` at the code exchange: the first of "
                "its family. `token_digest` is SHA-256 of the token's stored HMAC (never the token).",
    example={"grant_id": _GRANT, "family_id": _FAMILY, "token_id": "Rt0kEn1dXyZaBcDeFgHiJk",
             "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "subject": _USER, "scope": "openid profile offline_access",
             "jti": "Yx3kP0aL9vQw2eRt6uIo1A", "token_digest": _DIGEST, "expires_at": "2025-07-01T09:30:00Z"}).name
REFRESH_TOKEN_ROTATED = event_type(
    "refresh_token.rotated",
    description="A refresh token was used: `previous_token_id` is consumed, `token_id` replaces it in the same "
                "family, issued with the access token `jti` (RFC 9700 §4.14.2).",
    example={"grant_id": _GRANT, "family_id": _FAMILY, "token_id": "Nw7oKeN2dXyZaBcDeFgHiJ",
             "previous_token_id": "Rt0kEn1dXyZaBcDeFgHiJk", "client_id": "q3Zr8kX1bV9sLm2PwT7aYc",
             "subject": _USER, "scope": "openid profile offline_access", "jti": "Pq8rS1tU2vW3xY4zA5bC6d",
             "token_digest": _DIGEST, "expires_at": "2025-07-02T09:30:00Z"}).name
REFRESH_TOKEN_REUSED = event_type(
    "refresh_token.reused",
    description="A consumed refresh token was presented again: its whole family is revoked.",
    example={"grant_id": _GRANT, "family_id": _FAMILY, "token_id": "Rt0kEn1dXyZaBcDeFgHiJk",
             "client_id": "q3Zr8kX1bV9sLm2PwT7aYc", "subject": _USER}).name
REFRESH_TOKEN_REVOKED = event_type(
    "refresh_token.revoked",
    description="Every refresh token of a family was revoked, with the family's live access tokens (each its "
                "own access_token.revoked). `reason`: revoked_by_client (RFC 7009), reused, code_reused.",
    example={"grant_id": _GRANT, "family_id": _FAMILY, "client_id": "q3Zr8kX1bV9sLm2PwT7aYc",
             "subject": _USER, "reason": "reused", "tokens": 3}).name


def tenant_stream(tenant_id: str) -> str:
    return f"tenant:{tenant_id}"


def application_stream(application_id: str) -> str:
    return f"application:{application_id}"


def client_stream(application_id: str, client_id: str) -> str:
    return f"client:{application_id}:{client_id}"


def grant_stream(grant_id: str) -> str:
    return f"grant:{grant_id}"


def refresh_token_stream(token_id: str) -> str:
    return f"refresh_token:{token_id}"


def refresh_family_stream(family_id: str) -> str:
    return f"refresh_family:{family_id}"


def expiry(epoch: int) -> str:
    """An event's ``expires_at``: RFC 3339 UTC, to the second (what a JWT's ``exp`` holds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
