"""Retention: each tenant's ledger rows older than its ``retention.days`` are deleted.

This is the one delete the ledger allows: the purge sets ``tessera.audit_purge`` for its own
transaction, which the ledger's append-only trigger lets through. Tokens whose validity ended
before the same cut-off go with them. Rows of tenants without a retention row are kept for
ever. The consumer's inbox is kept, so a purged event delivered again is not recorded again.
"""
from __future__ import annotations

import asyncio

import asyncpg

from shared.logging import get_logger

log = get_logger("tessera.audit")
INTERVAL_S = 3600.0
FIRST_AFTER_S = 5.0

_PURGE_LEDGER = """
DELETE FROM ledger l USING retention r
WHERE l.tenant = r.tenant AND l.occurred_at < now() - make_interval(days => r.days)
"""
_PURGE_TOKENS = """
DELETE FROM tokens t USING retention r
WHERE t.tenant = r.tenant
  AND LEAST(t.expires_at, t.revoked_at) < now() - make_interval(days => r.days)
"""


async def purge(conn: asyncpg.Connection) -> dict[str, int]:
    """Apply every tenant's retention now. Returns the rows deleted per table."""
    async with conn.transaction():
        await conn.execute("SET LOCAL tessera.audit_purge = 'on'")
        ledger = await conn.execute(_PURGE_LEDGER)
        tokens = await conn.execute(_PURGE_TOKENS)
    return {"ledger": int(ledger.split()[-1]), "tokens": int(tokens.split()[-1])}


async def run_periodically(pool: asyncpg.Pool, stopping: asyncio.Event, interval: float = INTERVAL_S) -> None:
    """Purge shortly after start, then every ``interval`` seconds, until ``stopping`` is set."""
    wait = FIRST_AFTER_S
    while True:
        try:
            await asyncio.wait_for(stopping.wait(), wait)
            return
        except asyncio.TimeoutError:
            pass
        wait = interval
        try:
            async with pool.acquire() as conn:
                deleted = await purge(conn)
            if any(deleted.values()):
                log.info("audit.purged", **deleted)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("audit.purge_failed", error=type(exc).__name__, detail=str(exc)[:200])
