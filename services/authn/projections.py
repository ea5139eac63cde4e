"""The read models of authn's own events: ``users`` and ``consents`` (projection ``authn-users``).

Applied in the append transaction and rebuilt identically by ``python -m services.authn replay``:
each handler writes exactly what its event says, timestamps included (the events' occurred_at).
A bulk import writes its rows with :data:`INSERT_USERS` too, the statement the ``user.created``
handler runs, so a rebuilt table equals the imported one. The ``tenants`` table is kept by a
consumer of the token service's events, not by this projection.
"""
from __future__ import annotations

from typing import Any, Sequence

import asyncpg

from shared import sealing
from shared.events import Event, Projection

from . import events as ev
from .domain.claims import CLAIMS

users = Projection("authn-users", ["users", "consents"])
PROJECTIONS = [users]

COLUMN_CLAIMS = ("email", "phone_number")               # claims kept in their own (indexed) columns
JSON_CLAIMS = tuple(name for name in CLAIMS if name not in COLUMN_CLAIMS)

INSERT_USERS = """
INSERT INTO users (id, tenant_id, username, email, phone_number, status, claims, password_nonce,
                   password_ciphertext, claims_updated_at, version, created_at, updated_at)
SELECT u.id, u.tenant_id, u.username, u.email, u.phone_number, u.status, u.claims, u.nonce, u.ciphertext,
       u.claims_updated_at, u.version, u.at, u.at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
            $8::bytea[], $9::bytea[], $10::bigint[], $11::int[], $12::timestamptz[])
     AS u(id, tenant_id, username, email, phone_number, status, claims, nonce, ciphertext,
          claims_updated_at, version, at)
"""


def _sealed(data: dict[str, Any]) -> tuple[bytes | None, bytes | None]:
    sealed = data.get("sealed_password_hash")
    if not sealed:
        return None, None
    return sealing.unb64(sealed["nonce"]), sealing.unb64(sealed["ciphertext"])


def user_rows(events: Sequence[Event]) -> list[list[Any]]:
    """The ``INSERT_USERS`` arguments (one array per column) for ``user.created`` events."""
    columns: list[list[Any]] = [[] for _ in range(12)]
    for event in events:
        d = event.data
        nonce, ciphertext = _sealed(d)
        row = (d["user_id"], d["tenant_id"], d["username"], d.get("email"), d.get("phone_number"), d["status"],
               {name: d.get(name) for name in JSON_CLAIMS}, nonce, ciphertext, d["updated_at"], event.sequence,
               event.occurred_at)
        for column, value in zip(columns, row):
            column.append(value)
    return columns


@users.on(ev.USER_CREATED)
async def _created(conn: asyncpg.Connection, event: Event) -> None:
    await conn.execute(INSERT_USERS, *user_rows([event]))


async def _touch(conn: asyncpg.Connection, event: Event, sets: str = "", *args: Any) -> None:
    status = await conn.execute(f"UPDATE users SET version = $2, updated_at = $3{sets} WHERE id = $1",
                                event.data["user_id"], event.sequence, event.occurred_at, *args)
    if status != "UPDATE 1":
        raise ValueError(f"{event.type}: no users row for {event.data['user_id']}")


@users.on(ev.USER_UPDATED)
async def _updated(conn: asyncpg.Connection, event: Event) -> None:
    changes = dict(event.data["changes"])
    updated_at = changes.pop("updated_at")
    columns = {name: changes.pop(name) for name in ("username", *COLUMN_CLAIMS) if name in changes}
    sets = ", claims = claims || $4::jsonb, claims_updated_at = $5"
    args: list[Any] = [changes, updated_at]
    for name, value in columns.items():
        args.append(value)
        sets += f", {name} = ${len(args) + 3}"
    await _touch(conn, event, sets, *args)


@users.on(ev.USER_PASSWORD_CHANGED)
async def _password(conn: asyncpg.Connection, event: Event) -> None:
    await _touch(conn, event, ", password_nonce = $4, password_ciphertext = $5", *_sealed(event.data))


@users.on(ev.USER_DISABLED, ev.USER_ENABLED, ev.USER_DELETED)
async def _status(conn: asyncpg.Connection, event: Event) -> None:
    status = {ev.USER_DISABLED: "disabled", ev.USER_ENABLED: "active", ev.USER_DELETED: "deleted"}[event.type]
    await _touch(conn, event, ", status = $4", status)


@users.on(ev.SESSION_STARTED)
async def _signed_in(conn: asyncpg.Connection, event: Event) -> None:
    # Not a user event: the user's version stays; only the time of the last sign-in moves.
    await conn.execute("UPDATE users SET last_sign_in_at = $2 WHERE id = $1", event.data["user_id"],
                       event.occurred_at)


@users.on(ev.CONSENT_GRANTED)
async def _consent_granted(conn: asyncpg.Connection, event: Event) -> None:
    d = event.data
    await conn.execute(
        "INSERT INTO consents (tenant_id, user_id, application_id, client_id, scopes, version, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (tenant_id, user_id, application_id, client_id) DO UPDATE SET"
        " scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || EXCLUDED.scopes) ORDER BY 1),"
        " version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
        d["tenant_id"], d["user_id"], d["application_id"], d["client_id"], sorted(set(d["scopes"])),
        event.sequence, event.occurred_at)


@users.on(ev.CONSENT_REVOKED)
async def _consent_revoked(conn: asyncpg.Connection, event: Event) -> None:
    d = event.data
    await conn.execute("DELETE FROM consents WHERE tenant_id = $1 AND user_id = $2 AND application_id = $3"
                       " AND client_id = $4", d["tenant_id"], d["user_id"], d["application_id"], d["client_id"])
