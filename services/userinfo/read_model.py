"""The userinfo read models, kept from other services' events (see ``migrations/001_userinfo.sql``).

| consumer | subject | table |
| --- | --- | --- |
| ``userinfo-token-tenants`` | ``tessera.token.*.tenant.>`` | ``tenants`` |
| ``userinfo-token-applications`` | ``tessera.token.*.application.>`` | ``applications`` |
| ``userinfo-authn-users`` | ``tessera.authn.*.user.>`` | ``users`` |

Each handler is idempotent on its own: it applies an event only when the row is older than the
event (``version`` < the event's sequence in its stream), so a redelivery, or replaying the
whole stream over a live table, changes nothing. Timestamps come from the events, never from
``now()``, so a rebuild gives the same rows. Events the service does not know are ignored.
"""
from __future__ import annotations

from typing import Awaitable, Callable

import asyncpg

from shared.events import Event
from shared.logging import get_logger

from .claims import normalise

log = get_logger("tessera.userinfo.read_model")
Handler = Callable[[asyncpg.Connection, Event], Awaitable[None]]

TENANT_SUBJECT = "tessera.token.*.tenant.>"
APPLICATION_SUBJECT = "tessera.token.*.application.>"
USER_SUBJECT = "tessera.authn.*.user.>"
TABLES = ("tenants", "applications", "users")

# ---------------------------------------------------------------------------------------- tenants

_TENANT_STATUS = {"tenant.created": "active", "tenant.enabled": "active", "tenant.disabled": "disabled",
                  "tenant.deleted": "deleted"}
_UPSERT_TENANT = """
INSERT INTO tenants (tenant_id, status, version, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version,
    updated_at = EXCLUDED.updated_at
WHERE tenants.version < EXCLUDED.version
"""


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value and "\x00" not in value else None


async def on_tenant_event(conn: asyncpg.Connection, event: Event) -> None:
    if not isinstance(event.data, dict):
        return
    status = _TENANT_STATUS.get(event.type)
    tenant_id = _text(event.data.get("tenant_id")) or event.tenant
    if status is None or tenant_id is None:
        return
    await conn.execute(_UPSERT_TENANT, tenant_id, status, event.sequence, event.occurred_at)

# ----------------------------------------------------------------------------------- applications

_INSERT_APPLICATION = """
INSERT INTO applications (application_id, tenant_id, issuer, status, version, updated_at)
VALUES ($1, $2, $3, 'active', $4, $5)
ON CONFLICT (application_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, issuer = EXCLUDED.issuer,
    status = EXCLUDED.status, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
WHERE applications.version < EXCLUDED.version
"""
_APPLICATION_STATUS = """
UPDATE applications SET status = $2, version = $3, updated_at = $4
WHERE application_id = $1 AND version < $3 AND (status <> 'deleted' OR $2 = 'deleted')
"""
_APPLICATION_ISSUER = """
UPDATE applications SET issuer = coalesce($2, issuer), version = $3, updated_at = $4
WHERE application_id = $1 AND version < $3
"""
_STATUS_OF = {"application.disabled": "disabled", "application.enabled": "active",
              "application.deleted": "deleted"}


async def on_application_event(conn: asyncpg.Connection, event: Event) -> None:
    data = event.data
    if not isinstance(data, dict):
        return
    application_id = _text(data.get("application_id")) or event.application
    if application_id is None:
        return
    if event.type == "application.created":
        tenant_id = _text(data.get("tenant_id")) or event.tenant
        issuer = _text(data.get("issuer"))
        if tenant_id is None or issuer is None:
            log.warning("userinfo.event_ignored", type=event.type, event_id=str(event.id),
                        reason="no tenant_id or issuer")
            return
        await conn.execute(_INSERT_APPLICATION, application_id, tenant_id, issuer, event.sequence,
                           event.occurred_at)
    elif event.type == "application.updated":
        changes = data.get("changes") if isinstance(data.get("changes"), dict) else {}
        await conn.execute(_APPLICATION_ISSUER, application_id, _text(changes.get("issuer")), event.sequence,
                           event.occurred_at)
    elif event.type in _STATUS_OF:
        await conn.execute(_APPLICATION_STATUS, application_id, _STATUS_OF[event.type], event.sequence,
                           event.occurred_at)

# ------------------------------------------------------------------------------------------ users

_CREATE_USER = """
INSERT INTO users (tenant_id, user_id, status, claims, version, updated_at)
VALUES ($1, $2, $6, $3, $4, $5)
ON CONFLICT (tenant_id, user_id) DO UPDATE SET status = EXCLUDED.status, claims = EXCLUDED.claims,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
WHERE users.version < EXCLUDED.version
"""
# ``changes`` may clear a claim (null): it is merged, then nulls are stripped.
_UPDATE_USER = """
UPDATE users SET claims = jsonb_strip_nulls(claims || $3::jsonb), version = $4, updated_at = $5
WHERE tenant_id = $1 AND user_id = $2 AND version < $4 AND status <> 'deleted'
"""
_USER_STATUS = """
UPDATE users SET status = $3, version = $4, updated_at = $5
WHERE tenant_id = $1 AND user_id = $2 AND version < $4 AND status <> 'deleted'
"""
_DELETE_USER = """
INSERT INTO users (tenant_id, user_id, status, claims, version, updated_at)
VALUES ($1, $2, 'deleted', '{}'::jsonb, $3, $4)
ON CONFLICT (tenant_id, user_id) DO UPDATE SET status = 'deleted', claims = '{}'::jsonb,
    version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
WHERE users.version < EXCLUDED.version
"""


def _user_ids(event: Event) -> tuple[str, str] | None:
    user_id = _text(event.data.get("user_id"))
    if user_id is None and event.stream.startswith("user:"):    # user:{tenant_id}:{user_id}
        user_id = event.stream.rsplit(":", 1)[1] or None
    tenant_id = _text(event.data.get("tenant_id")) or event.tenant
    return (tenant_id, user_id) if tenant_id and user_id else None


def _stamped(claims: dict, event: Event) -> dict:
    """``updated_at`` (§5.1) when a claim changed: the event's own, else when it happened."""
    if claims.get("updated_at") is None and any(k != "updated_at" for k in claims):
        claims["updated_at"] = int(event.occurred_at.timestamp())
    return claims


async def on_user_event(conn: asyncpg.Connection, event: Event) -> None:
    if not isinstance(event.data, dict):
        return
    ids = _user_ids(event)
    if ids is None:
        log.warning("userinfo.event_ignored", type=event.type, event_id=str(event.id),
                    reason="no user_id and tenant_id")
        return
    tenant_id, user_id = ids
    seq, at = event.sequence, event.occurred_at
    if event.type == "user.created":
        claims = {k: v for k, v in _stamped(normalise(event.data), event).items() if v is not None}
        status = "disabled" if event.data.get("status") == "disabled" else "active"
        await conn.execute(_CREATE_USER, tenant_id, user_id, claims, seq, at, status)
    elif event.type == "user.updated":
        changes = event.data.get("changes")
        claims = _stamped(normalise(changes), event) if isinstance(changes, dict) else {}
        await conn.execute(_UPDATE_USER, tenant_id, user_id, claims, seq, at)
    elif event.type == "user.disabled":
        await conn.execute(_USER_STATUS, tenant_id, user_id, "disabled", seq, at)
    elif event.type == "user.enabled":
        await conn.execute(_USER_STATUS, tenant_id, user_id, "active", seq, at)
    elif event.type == "user.deleted":
        await conn.execute(_DELETE_USER, tenant_id, user_id, seq, at)


CONSUMERS: tuple[tuple[str, str, Handler], ...] = (
    ("token-tenants", TENANT_SUBJECT, on_tenant_event),
    ("token-applications", APPLICATION_SUBJECT, on_application_event),
    ("authn-users", USER_SUBJECT, on_user_event),
)
