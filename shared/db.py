"""Postgres: a pool per service bound to its own schema, and ordered SQL migrations."""
from __future__ import annotations

import zlib
from importlib import resources
from pathlib import Path

import asyncpg
import orjson

EVENT_STORE_SQL = resources.files("shared.events").joinpath("event_store.sql")


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
                                  schema="pg_catalog")


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """What a released connection needs beyond asyncpg's own rollback: nothing.

    asyncpg's default reset sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``
    on every release: a second round trip for every pooled query. Tessera leaves no session
    state on a pooled connection (settings are ``SET LOCAL``, advisory locks are
    transaction-scoped or released by their holder, listeners are removed by theirs), and an
    open transaction is still rolled back by asyncpg before this is called.
    """


async def create_pool(url: str, schema: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    """A pool whose connections see only ``schema`` (and ``public``) by default."""
    return await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session,
        server_settings={"search_path": schema, "application_name": f"tessera-{schema}"},
        command_timeout=30,
    )


async def migrate(url: str, schema: str, migrations: Path | None) -> list[str]:
    """Create ``schema`` with its event store and apply pending ``NNN_name.sql`` files, in order.

    The event store's file (``shared/events/event_store.sql``) is idempotent and runs at every
    start, like a repeatable migration: the store's shape follows the code of the release (its
    changes must be expand-only and lock-free on a re-run, see the file). Each file runs in its own transaction; an advisory lock keeps two starting replicas from
    migrating at once. Returns the names applied.
    """
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", zlib.crc32(f"tessera-migrate-{schema}".encode()))
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                           "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        files = [("000_event_store.sql", EVENT_STORE_SQL.read_text())]
        if migrations is not None and migrations.is_dir():
            files += [(p.name, p.read_text()) for p in sorted(migrations.glob("*.sql"))]
        for name, sql in files:
            if name in done and name != files[0][0]:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                if name not in done:
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                    applied.append(name)
    finally:
        await conn.close()
    return applied


class HeldConnection:
    """One pooled connection kept by a group-commit writer (or batched reader) between batches.

    Holding it saves an acquire per batch. Its statements look rows up by key only, so the
    connection plans without sequential scans (``enable_seqscan = off``, reset on release): a
    generic plan cached while a table was still small — every fresh deployment — would
    otherwise scan it whole for as long as the statement stays prepared, however large the table
    grows (seen on the refresh-token table: a 2.5 ms read at 60,000 rows instead of 0.1 ms).
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._conn: asyncpg.Connection | None = None

    async def get(self) -> asyncpg.Connection:
        if self._conn is None or not _usable(self._conn):
            conn = await self.pool.acquire()
            try:
                await conn.execute("SET enable_seqscan = off")
            except BaseException:
                await self.pool.release(conn)
                raise
            self._conn = conn
        return self._conn

    async def release(self) -> None:
        """Give the connection back (after a connection error too: the pool replaces a broken one)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                if _usable(conn):
                    await conn.execute("RESET enable_seqscan")
                await self.pool.release(conn)
            except Exception:  # noqa: BLE001 - a broken connection: the pool replaces it
                pass


def _usable(conn: asyncpg.Connection) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:   # the pool took it back when the server closed it
        return False
