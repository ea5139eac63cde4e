"""``tessera audit``: run the audit ledger and ask it questions.

- ``tessera audit run`` starts the audit service (``python -m services.audit``) in this process.
- ``who-had APP --at TIME``: which users and clients held valid access tokens for an
  application at a moment, and which grant (and sign-in) gave them.
- ``history USER`` (or ``history --client CLIENT``): the ledger rows about one user or client.
- ``retention [TENANT [DAYS|--forever]]``: show or set how long a tenant's rows are kept;
  ``purge`` applies retention now (the service does it every hour).
- ``export --from T --to T [--tenant]``: the rows of a period as JSON lines (one published
  envelope per line) on stdout, for a SIEM.

The questions read schema ``audit`` of ``--database-url`` (default ``$TESSERA_DATABASE_URL``)
directly: an auditor runs a ledger of their own. Tables by default, JSON with ``--json``. Any
error prints one line, ``tessera: <description>``, and exits 1.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime
from typing import Any, Awaitable, Callable

import orjson

from .events_cli import parse_time

SCHEMA = "audit"


class CliError(Exception):
    """One line for the user; the command exits 1."""


def _database_url(args: argparse.Namespace) -> str:
    url = args.database_url or os.environ.get("TESSERA_DATABASE_URL")
    if not url:
        raise CliError("TESSERA_DATABASE_URL is not set (the Postgres database of the audit ledger); "
                       "or pass --database-url")
    return url


async def _connect(args: argparse.Namespace, *, migrate: bool = False):
    import asyncpg

    from shared.db import create_pool
    from shared.db import migrate as migrate_schema
    url = _database_url(args)
    try:
        if migrate:
            from services.audit.service import SPEC
            await migrate_schema(url, SCHEMA, SPEC.migrations)
        pool = await create_pool(url, SCHEMA, min_size=1, max_size=1)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise CliError(f"cannot open the audit database: {exc}") from None
    ready = await pool.fetchval("SELECT to_regclass('audit.ledger') IS NOT NULL")
    if not ready:
        await pool.close()
        raise CliError("this database has no audit ledger yet; start one with `tessera audit run`")
    return pool


def _jsonable(value: Any) -> Any:
    from services.audit.queries import iso
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value.__class__.__name__ == "UUID":
        return str(value)
    return value


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(_jsonable(value), option=orjson.OPT_INDENT_2).decode() + "\n")


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    from .admin_cli import table
    print(table([_jsonable(r) for r in rows], columns) if rows else "(none)")


# Commands ----------------------------------------------------------------------------------------
async def who_had(args: argparse.Namespace) -> None:
    from services.audit import queries
    pool = await _connect(args)
    try:
        async with pool.acquire() as conn:
            rows = await queries.who_had(conn, args.application, args.at)
    finally:
        await pool.close()
    if args.json:
        _print_json({"application": args.application, "at": args.at, "tokens": rows})
        return
    _table(rows, [("holder", "holder"), ("client", "client_id"), ("grant", "grant_id"),
                  ("grant type", "grant_type"), ("sign-in", "session_id"), ("jti", "jti"), ("kid", "kid"),
                  ("key", "key_status"), ("issued", "issued_at"), ("expires", "expires_at")])


async def history(args: argparse.Namespace) -> None:
    from services.audit import queries
    pool = await _connect(args)
    who = {"client": args.id} if args.client else {"user": args.id}
    try:
        async with pool.acquire() as conn:
            rows = await queries.history(conn, **who, tenant=args.tenant, since=args.since, until=args.until,
                                         limit=args.limit)
    finally:
        await pool.close()
    if args.json:
        _print_json(rows)
        return
    for row in rows:
        ids = row["subject"] or {}
        row["ids"] = " ".join(f"{k}={v}" for k, v in ids.items() if k not in ("client_id", "user_id"))
    _table(rows, [("time", "occurred_at"), ("type", "type"), ("tenant", "tenant"),
                  ("application", "application"), ("ids", "ids"), ("request", "request_id"), ("actor", "actor")])


async def retention(args: argparse.Namespace) -> None:
    from services.audit import queries
    writing = args.days is not None or args.forever
    if writing and not args.tenant:
        raise CliError("name the tenant whose retention to set")
    if args.days is not None and args.forever:
        raise CliError("give DAYS or --forever, not both")
    pool = await _connect(args, migrate=writing)
    try:
        async with pool.acquire() as conn:
            if writing:
                await queries.set_retention(conn, args.tenant, None if args.forever else args.days)
            rows = await queries.retention(conn)
    finally:
        await pool.close()
    if args.tenant:
        rows = [r for r in rows if r["tenant"] == args.tenant] or [{"tenant": args.tenant, "days": None}]
    if args.json:
        _print_json(rows)
        return
    for row in rows:
        row["kept"] = "for ever" if row["days"] is None else f"{row['days']} days"
    _table(rows, [("tenant", "tenant"), ("kept", "kept")])


async def purge(args: argparse.Namespace) -> None:
    from services.audit.purge import purge as apply
    pool = await _connect(args)
    try:
        async with pool.acquire() as conn:
            deleted = await apply(conn)
    finally:
        await pool.close()
    if args.json:
        _print_json(deleted)
    else:
        print(f"deleted {deleted['ledger']} ledger rows and {deleted['tokens']} token rows past retention")


async def export(args: argparse.Namespace) -> None:
    from services.audit import queries
    if args.until <= args.since:
        raise CliError("--to must be after --from")
    pool = await _connect(args)
    out = sys.stdout.buffer
    try:
        async with pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
            async for envelope in queries.export(conn, args.since, args.until, tenant=args.tenant):
                out.write(orjson.dumps(envelope) + b"\n")
    finally:
        await pool.close()
    out.flush()


def run(_args: argparse.Namespace) -> int:
    """Become the audit service (same process, so signals reach it directly)."""
    os.execv(sys.executable, [sys.executable, "-m", "services.audit", "serve"])
    return 0  # not reached


# Wiring --------------------------------------------------------------------------------------------
def _async(fn: Callable[[argparse.Namespace], Awaitable[None]]) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        try:
            asyncio.run(fn(args))
        except CliError as exc:
            print(f"tessera: {exc}", file=sys.stderr)
            return 1
        except BrokenPipeError:
            pass
        return 0
    return command


def _common(p: argparse.ArgumentParser, *, json: bool = True) -> argparse.ArgumentParser:
    p.add_argument("--database-url", help="default: $TESSERA_DATABASE_URL")
    if json:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("DAYS must be a whole number of days") from None
    if not 1 <= days <= 36500:
        raise argparse.ArgumentTypeError("DAYS must be between 1 and 36500")
    return days


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``audit`` and its commands to the ``tessera`` CLI."""
    group = subparsers.add_parser("audit", help="the audit ledger: run it, ask who had access, export")
    sub = group.add_subparsers(dest="audit_command", required=True)
    p = sub.add_parser("run", help="run the audit service (the durable ledger consumer)")
    p.set_defaults(fn=run)

    p = _common(sub.add_parser("who-had", help="who held valid tokens for an application at a moment"))
    p.add_argument("application")
    p.add_argument("--at", type=parse_time, required=True, metavar="TIME", help="ISO 8601 time, or 'now'")
    p.set_defaults(fn=_async(who_had))

    p = _common(sub.add_parser("history", help="what the ledger holds about a user (or a client)"))
    p.add_argument("id", metavar="USER", help="a user id (a client id with --client)")
    p.add_argument("--client", action="store_true", help="the id is a client id")
    p.add_argument("--tenant")
    p.add_argument("--from", dest="since", type=parse_time, metavar="TIME")
    p.add_argument("--to", dest="until", type=parse_time, metavar="TIME")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(fn=_async(history))

    p = _common(sub.add_parser("retention", help="show or set how long a tenant's ledger rows are kept"))
    p.add_argument("tenant", nargs="?")
    p.add_argument("days", nargs="?", type=_days)
    p.add_argument("--forever", action="store_true", help="keep the tenant's rows for ever")
    p.set_defaults(fn=_async(retention))

    p = _common(sub.add_parser("purge", help="delete the rows past each tenant's retention now"))
    p.set_defaults(fn=_async(purge))

    p = _common(sub.add_parser("export", help="a period's ledger rows as JSON lines, for a SIEM"), json=False)
    p.add_argument("--from", dest="since", type=parse_time, required=True, metavar="TIME")
    p.add_argument("--to", dest="until", type=parse_time, required=True, metavar="TIME")
    p.add_argument("--tenant")
    p.set_defaults(fn=_async(export))
