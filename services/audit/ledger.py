"""What the audit ledger records, and the read models ``who-had`` answers from.

The consumer sees every event on ``tessera.>``. An event of interest (:data:`INTEREST`) gets one
``ledger`` row, as published, and updates ``tokens``, ``signing_keys`` or ``applications``;
every other event is skipped (its inbox row still marks it seen). The audit service reads the
published contract only (``docs/events.md``, ``shared/events/schemas``): it imports no other
service's code, so payloads are handled at the version they were published with.

Each read-model handler fills only the columns of its own event, with upserts, so the rows are
the same whatever order events arrive in (a redelivery after a crash reorders them).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Awaitable, Callable

import asyncpg

from shared.events import Event
from shared.logging import get_logger

log = get_logger("tessera.audit")

# Recorded today: token issuance and revocation, key lifecycle, the registry's lifecycle.
PUBLISHED = frozenset({
    "access_token.issued", "access_token.revoked",
    "signing_key.created", "signing_key.activated", "signing_key.retired", "signing_key.revoked",
    "tenant.created", "tenant.disabled", "tenant.enabled", "tenant.deleted",
    "application.created", "application.updated", "application.disabled", "application.enabled",
    "application.deleted",
    "client.created", "client.updated", "client.secret_rotated", "client.disabled", "client.enabled",
    "client.deleted",
})
# The sign-in, consent, code and refresh flows (ADR 0003): recorded in the ledger as published
# (the tokens read model follows access_token.*). Names reserved for events not published yet
# (a logout, grant-level events) are kept so they are recorded once they are.
FUTURE = frozenset({
    "session.started", "session.ended",
    "consent.granted", "consent.revoked",
    "grant.issued", "grant.revoked",
    "authorization_code.issued", "authorization_code.reused",
    "refresh_token.issued", "refresh_token.rotated", "refresh_token.reused", "refresh_token.revoked",
    "id_token.issued",
})
INTEREST = PUBLISHED | FUTURE

Handler = Callable[[asyncpg.Connection, Event], Awaitable[None]]
_PROJECTIONS: dict[str, Handler] = {}


def _on(*types: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in types:
            _PROJECTIONS[name] = fn
        return fn
    return register


_INSERT_LEDGER = """
INSERT INTO ledger (event_id, type, version, occurred_at, service, tenant, application, stream, sequence,
                    request_id, actor, subject, client_id, user_id, grant_id, data)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (event_id) DO NOTHING
"""


async def record(conn: asyncpg.Connection, event: Event) -> None:
    """The consumer's handler: one ledger row per event of interest, and its read-model effect."""
    if event.type not in INTEREST:
        return
    ids = event.subject_ids
    await conn.execute(
        _INSERT_LEDGER, event.id, event.type, event.version, event.occurred_at, event.service, event.tenant,
        event.application, event.stream, event.sequence, event.request_id, event.actor, ids,
        ids.get("client_id"), ids.get("user_id"), ids.get("grant_id"), event.data)
    project = _PROJECTIONS.get(event.type)
    if project is None:
        return
    try:
        async with conn.transaction():  # a savepoint: a payload it cannot read leaves the ledger row
            await project(conn, event)
    except (KeyError, TypeError, ValueError, asyncpg.DataError) as exc:
        log.warning("audit.projection_skipped", type=event.type, event_id=str(event.id),
                    error=type(exc).__name__, detail=str(exc)[:200])


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# Tokens -----------------------------------------------------------------------------------------
@_on("access_token.issued")
async def _issued(conn: asyncpg.Connection, event: Event) -> None:
    d = event.data
    await conn.execute("""
        INSERT INTO tokens (jti, tenant, application, client_id, subject, user_id, grant_id, grant_type,
                            session_id, scope, format, kid, issued_at, expires_at, issued_event)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (jti) DO UPDATE SET
            tenant = EXCLUDED.tenant, application = EXCLUDED.application, client_id = EXCLUDED.client_id,
            subject = EXCLUDED.subject, user_id = EXCLUDED.user_id, grant_id = EXCLUDED.grant_id,
            grant_type = EXCLUDED.grant_type, session_id = EXCLUDED.session_id, scope = EXCLUDED.scope,
            format = EXCLUDED.format, kid = EXCLUDED.kid, issued_at = EXCLUDED.issued_at,
            expires_at = EXCLUDED.expires_at, issued_event = EXCLUDED.issued_event""",
        d["jti"], event.tenant, event.application, d.get("client_id"), d.get("subject"),
        event.subject_ids.get("user_id"), d.get("grant_id"), d.get("grant_type"),
        d.get("session_id") or d.get("sid"), d.get("scope"), d.get("format"), d.get("kid"),
        event.occurred_at, _time(d.get("expires_at")), event.id)


@_on("access_token.revoked")
async def _revoked(conn: asyncpg.Connection, event: Event) -> None:
    d = event.data
    await conn.execute("""
        INSERT INTO tokens (jti, tenant, application, client_id, grant_id, revoked_at, revoked_reason,
                            revoked_event)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (jti) DO UPDATE SET revoked_at = EXCLUDED.revoked_at,
            revoked_reason = EXCLUDED.revoked_reason, revoked_event = EXCLUDED.revoked_event
        WHERE tokens.revoked_at IS NULL OR tokens.revoked_at > EXCLUDED.revoked_at""",
        d["jti"], event.tenant, event.application, d.get("client_id"), d.get("grant_id"),
        event.occurred_at, d.get("reason"), event.id)


# Signing keys -----------------------------------------------------------------------------------
_KEY_COLUMNS = {
    "signing_key.created": "created_at",
    "signing_key.activated": "activated_at",
    "signing_key.retired": "retired_at",
    "signing_key.revoked": "revoked_at",
}


@_on(*_KEY_COLUMNS)
async def _key(conn: asyncpg.Connection, event: Event) -> None:
    """Each lifecycle step keeps its first time: a key revoked twice was revoked the first time."""
    d = event.data
    column = _KEY_COLUMNS[event.type]
    reason = d.get("reason") if event.type == "signing_key.revoked" else None
    await conn.execute(f"""
        INSERT INTO signing_keys (kid, tenant, application, alg, {column}, replaced_by, revoked_reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (kid) DO UPDATE SET
            {column} = LEAST(signing_keys.{column}, EXCLUDED.{column}),
            revoked_reason = CASE WHEN EXCLUDED.revoked_at < signing_keys.revoked_at
                                       OR signing_keys.revoked_at IS NULL
                                  THEN COALESCE(EXCLUDED.revoked_reason, signing_keys.revoked_reason)
                                  ELSE signing_keys.revoked_reason END,
            tenant = COALESCE(signing_keys.tenant, EXCLUDED.tenant),
            application = COALESCE(signing_keys.application, EXCLUDED.application),
            alg = COALESCE(signing_keys.alg, EXCLUDED.alg),
            replaced_by = COALESCE(signing_keys.replaced_by, EXCLUDED.replaced_by)""",
        d["kid"], event.tenant, d.get("application_id") or event.application, d.get("alg"),
        event.occurred_at, d.get("replaced_by"), reason)


# Applications -----------------------------------------------------------------------------------
@_on("application.created", "application.deleted")
async def _application(conn: asyncpg.Connection, event: Event) -> None:
    column = "created_at" if event.type == "application.created" else "deleted_at"
    await conn.execute(f"""
        INSERT INTO applications (application, tenant, {column}) VALUES ($1, $2, $3)
        ON CONFLICT (application) DO UPDATE SET {column} = LEAST(applications.{column}, EXCLUDED.{column})""",
        event.data.get("application_id") or event.application, event.tenant, event.occurred_at)
