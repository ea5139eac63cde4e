"""The registry's read models (``tenants``, ``applications``, ``clients``), kept in the append
transaction and rebuilt identically by replay.

Each handler writes exactly what its event says: the same event log gives the same rows,
timestamps included (they are the events' ``occurred_at``). The tables' keys make a second
``*.created`` for a taken id fail the whole append.
"""
from __future__ import annotations

from typing import Any, Mapping

import asyncpg

from shared.events import Event, Projection

from . import events as ev
from .domain.client import format_time, parse_time, rotated_hashes
from .domain.status import ACTIVE, DELETED, DISABLED
from .model import SecretHash

registry = Projection("token-registry", ["tenants", "applications", "clients"])
PROJECTIONS = [registry]

_TENANT_COLUMNS = {"name"}
_APPLICATION_COLUMNS = {"name", "issuer", "settings", "scopes"}
_CLIENT_COLUMNS = {"name", "token_endpoint_auth_method", "grant_types", "redirect_uris", "scopes",
                   "access_token_format", "skip_consent"}


async def _update(conn: asyncpg.Connection, table: str, allowed: set[str], changes: Mapping[str, Any],
                  key: dict[str, str], event: Event) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"{event.type} changes unknown columns {sorted(unknown)}")
    values: dict[str, Any] = {**changes, "version": event.sequence, "updated_at": event.occurred_at}
    columns = list(values)
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=1))
    where = " AND ".join(f"{c} = ${i}" for i, c in enumerate(key, start=len(columns) + 1))
    status = await conn.execute(f"UPDATE {table} SET {sets} WHERE {where}",
                                *values.values(), *key.values())
    if status != "UPDATE 1":
        raise ValueError(f"{event.type}: no {table} row for {key}")


async def _set_status(conn: asyncpg.Connection, table: str, status: str, key: dict[str, str],
                      event: Event, extra: str = "") -> None:
    where = " AND ".join(f"{c} = ${i}" for i, c in enumerate(key, start=4))
    result = await conn.execute(
        f"UPDATE {table} SET status = $1, version = $2, updated_at = $3{extra} WHERE {where}",
        status, event.sequence, event.occurred_at, *key.values())
    if result != "UPDATE 1":
        raise ValueError(f"{event.type}: no {table} row for {key}")


# Tenants --------------------------------------------------------------------------------------
@registry.on(ev.TENANT_CREATED)
async def _tenant_created(conn: asyncpg.Connection, event: Event) -> None:
    await conn.execute(
        "INSERT INTO tenants (id, name, status, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        event.data["tenant_id"], event.data["name"], ACTIVE, event.sequence, event.occurred_at)


@registry.on(ev.TENANT_UPDATED)
async def _tenant_updated(conn: asyncpg.Connection, event: Event) -> None:
    await _update(conn, "tenants", _TENANT_COLUMNS, event.data["changes"], {"id": event.data["tenant_id"]}, event)


@registry.on(ev.TENANT_DISABLED, ev.TENANT_ENABLED, ev.TENANT_DELETED)
async def _tenant_status(conn: asyncpg.Connection, event: Event) -> None:
    status = {ev.TENANT_DISABLED: DISABLED, ev.TENANT_ENABLED: ACTIVE, ev.TENANT_DELETED: DELETED}[event.type]
    await _set_status(conn, "tenants", status, {"id": event.data["tenant_id"]}, event)


# Applications ---------------------------------------------------------------------------------
@registry.on(ev.APPLICATION_CREATED)
async def _application_created(conn: asyncpg.Connection, event: Event) -> None:
    d = event.data
    await conn.execute(
        "INSERT INTO applications (id, tenant_id, name, issuer, status, settings, scopes, version, created_at,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        d["application_id"], d["tenant_id"], d["name"], d["issuer"], ACTIVE, d["settings"], d["scopes"],
        event.sequence, event.occurred_at)


@registry.on(ev.APPLICATION_UPDATED)
async def _application_updated(conn: asyncpg.Connection, event: Event) -> None:
    await _update(conn, "applications", _APPLICATION_COLUMNS, event.data["changes"],
                  {"id": event.data["application_id"]}, event)


@registry.on(ev.APPLICATION_DISABLED, ev.APPLICATION_ENABLED, ev.APPLICATION_DELETED)
async def _application_status(conn: asyncpg.Connection, event: Event) -> None:
    status = {ev.APPLICATION_DISABLED: DISABLED, ev.APPLICATION_ENABLED: ACTIVE,
              ev.APPLICATION_DELETED: DELETED}[event.type]
    await _set_status(conn, "applications", status, {"id": event.data["application_id"]}, event)


# Clients --------------------------------------------------------------------------------------
def _client_key(event: Event) -> dict[str, str]:
    return {"application_id": event.data["application_id"], "client_id": event.data["client_id"]}


def hashes_to_json(hashes: tuple[SecretHash, ...] | list[SecretHash]) -> list[dict[str, Any]]:
    return [{"hash": h.hash, "expires_at": None if h.expires_at is None else format_time(h.expires_at)}
            for h in hashes]


def hashes_from_json(rows: list[Mapping[str, Any]]) -> tuple[SecretHash, ...]:
    return tuple(SecretHash(r["hash"], parse_time(r["expires_at"])) for r in rows)


@registry.on(ev.CLIENT_CREATED)
async def _client_created(conn: asyncpg.Connection, event: Event) -> None:
    d = event.data
    hashes = [{"hash": d["secret_hash"], "expires_at": None}] if d.get("secret_hash") else []
    await conn.execute(
        "INSERT INTO clients (application_id, client_id, tenant_id, name, status, token_endpoint_auth_method,"
        " grant_types, redirect_uris, scopes, access_token_format, secret_hashes, version, created_at, updated_at,"
        " skip_consent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)",
        d["application_id"], d["client_id"], d["tenant_id"], d["name"], ACTIVE, d["token_endpoint_auth_method"],
        d["grant_types"], d["redirect_uris"], d["scopes"], d["access_token_format"], hashes, event.sequence,
        event.occurred_at, d.get("skip_consent", False))


@registry.on(ev.CLIENT_UPDATED)
async def _client_updated(conn: asyncpg.Connection, event: Event) -> None:
    await _update(conn, "clients", _CLIENT_COLUMNS, event.data["changes"], _client_key(event), event)


@registry.on(ev.CLIENT_SECRET_ROTATED)
async def _client_secret_rotated(conn: asyncpg.Connection, event: Event) -> None:
    key = _client_key(event)
    current = await conn.fetchval(
        "SELECT secret_hashes FROM clients WHERE application_id = $1 AND client_id = $2 FOR UPDATE",
        key["application_id"], key["client_id"])
    if current is None:
        raise ValueError(f"{event.type}: no clients row for {key}")
    hashes = rotated_hashes(hashes_from_json(current), event.data)
    await conn.execute(
        "UPDATE clients SET secret_hashes = $3, version = $4, updated_at = $5"
        " WHERE application_id = $1 AND client_id = $2",
        key["application_id"], key["client_id"], hashes_to_json(hashes), event.sequence, event.occurred_at)


@registry.on(ev.CLIENT_DISABLED, ev.CLIENT_ENABLED)
async def _client_status(conn: asyncpg.Connection, event: Event) -> None:
    status = DISABLED if event.type == ev.CLIENT_DISABLED else ACTIVE
    await _set_status(conn, "clients", status, _client_key(event), event)


@registry.on(ev.CLIENT_DELETED)
async def _client_deleted(conn: asyncpg.Connection, event: Event) -> None:
    await _set_status(conn, "clients", DELETED, _client_key(event), event, extra=", secret_hashes = '[]'")
