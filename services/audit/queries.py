"""Questions an auditor asks the ledger (schema ``audit``), as plain functions over a connection.

``tessera audit`` calls them with a connection to ``TESSERA_DATABASE_URL`` whose search_path
is ``audit``; they only read, except :func:`set_retention`.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, AsyncIterator

import asyncpg

# A token is held at T when it was issued at or before T, had not expired, had not been revoked,
# the key that signed it had not been revoked (a retired key's tokens stay valid until they
# expire), and its application had not been deleted.
_WHO_HAD = """
SELECT t.jti, t.tenant, t.application, t.client_id, t.subject, t.user_id, t.grant_id, t.grant_type,
       t.session_id, t.scope, t.format, t.kid, t.issued_at, t.expires_at, t.revoked_at, t.revoked_reason,
       k.retired_at AS key_retired_at, k.revoked_at AS key_revoked_at
FROM tokens t
LEFT JOIN signing_keys k ON k.kid = t.kid
LEFT JOIN applications a ON a.application = t.application
WHERE t.application = $1
  AND t.issued_at <= $2 AND $2 < t.expires_at
  AND (t.revoked_at IS NULL OR t.revoked_at > $2)
  AND (k.revoked_at IS NULL OR k.revoked_at > $2)
  AND (a.deleted_at IS NULL OR a.deleted_at > $2)
ORDER BY t.user_id NULLS LAST, t.client_id, t.issued_at, t.jti
"""


def holder(row: dict[str, Any]) -> str:
    return f"user:{row['user_id']}" if row.get("user_id") else f"client:{row['client_id']}"


async def who_had(conn: asyncpg.Connection, application: str, at: datetime) -> list[dict[str, Any]]:
    """Every access token of ``application`` valid at ``at``, with who held it and which grant
    (and sign-in, once there are sign-ins) gave it."""
    rows = [dict(r) for r in await conn.fetch(_WHO_HAD, application, at)]
    for row in rows:
        row["holder"] = holder(row)
        row["key_status"] = None if row["kid"] is None else ("retired" if row["key_retired_at"]
                                                             and row["key_retired_at"] <= at else "current")
    return rows


async def history(conn: asyncpg.Connection, *, user: str | None = None, client: str | None = None,
                  tenant: str | None = None, since: datetime | None = None, until: datetime | None = None,
                  limit: int = 1000) -> list[dict[str, Any]]:
    """The ledger rows about one user (or one client), oldest first."""
    if (user is None) == (client is None):
        raise ValueError("give exactly one of user and client")
    column, value = ("user_id", user) if user is not None else ("client_id", client)
    rows = await conn.fetch(
        f"""SELECT position, event_id, type, version, occurred_at, service, tenant, application, request_id,
                   actor, subject, data
            FROM ledger WHERE {column} = $1
              AND ($2::text IS NULL OR tenant = $2)
              AND ($3::timestamptz IS NULL OR occurred_at >= $3)
              AND ($4::timestamptz IS NULL OR occurred_at < $4)
            ORDER BY occurred_at, position LIMIT $5""",
        value, tenant, since, until, limit)
    return [dict(r) for r in rows]


async def export(conn: asyncpg.Connection, since: datetime, until: datetime, *, tenant: str | None = None,
                 batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
    """Every ledger row with ``since <= occurred_at < until`` as its published envelope, in order."""
    after: tuple[datetime, int] | None = None
    while True:
        rows = await conn.fetch(
            """SELECT position, event_id, type, version, stream, sequence, occurred_at, service, tenant,
                      application, request_id, actor, subject, data
               FROM ledger
               WHERE occurred_at >= $1 AND occurred_at < $2 AND ($3::text IS NULL OR tenant = $3)
                 AND ($4::timestamptz IS NULL OR (occurred_at, position) > ($4, $5))
               ORDER BY occurred_at, position LIMIT $6""",
            since, until, tenant, after[0] if after else None, after[1] if after else 0, batch)
        for row in rows:
            yield envelope(row)
        if len(rows) < batch:
            return
        after = (rows[-1]["occurred_at"], rows[-1]["position"])


def envelope(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A ledger row as the envelope it was published in (``shared/events/schemas/envelope.v1.json``)."""
    return {
        "id": str(row["event_id"]), "type": row["type"], "version": row["version"], "stream": row["stream"],
        "sequence": row["sequence"], "occurred_at": iso(row["occurred_at"]), "service": row["service"],
        "tenant": row["tenant"], "application": row["application"], "request_id": row["request_id"],
        "actor": row["actor"], "subject": row["subject"], "data": row["data"],
    }


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


async def set_retention(conn: asyncpg.Connection, tenant: str, days: int | None) -> None:
    """Keep ``tenant``'s ledger rows ``days`` days (``None``: for ever)."""
    if days is None:
        await conn.execute("DELETE FROM retention WHERE tenant = $1", tenant)
        return
    await conn.execute(
        """INSERT INTO retention (tenant, days) VALUES ($1, $2)
           ON CONFLICT (tenant) DO UPDATE SET days = EXCLUDED.days, updated_at = now()""", tenant, days)


async def retention(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch("SELECT tenant, days, updated_at FROM retention ORDER BY tenant")]
