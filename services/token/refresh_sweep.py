"""The sweep of expired refresh-token rows: without it, ``refresh_tokens`` only grows.

Rotation leaves each consumed row in place (a consumed token presented again is a reuse and
revokes its family, RFC 9700 §4.14.2), and nothing else deletes a row. Every
``TESSERA_REFRESH_TOKEN_SWEEP_INTERVAL`` seconds each token-service replica deletes the rows
whose token expired more than ``TESSERA_REFRESH_TOKEN_RETENTION`` seconds ago, a batch of rows
per transaction. A row kept that long after its expiry still lets a late replay of a consumed
token revoke the family; after it is gone, the replay is an unknown token (``invalid_grant``
either way: an expired token is refused before and after).

Replicas do not sweep together: each batch takes a transaction-scoped advisory lock and a
replica that does not get it leaves the round to the one that did. A row that another
transaction holds (a family being revoked) is skipped, never waited for, and taken next time.
The rows only carry look-up state: every token's events stay in the event store.
"""
from __future__ import annotations

import asyncio

import asyncpg
from prometheus_client.core import CounterMetricFamily

from shared.logging import get_logger

log = get_logger("tessera.token.refresh_sweep")

BATCH = 1_000
FIRST_AFTER_S = 30.0     # after start: not while a rolling update brings every replica up at once

# Expired rows, oldest first, by the expiry index; rows locked elsewhere are left for next time.
_DELETE = """
DELETE FROM refresh_tokens WHERE token_hash = ANY(ARRAY(
    SELECT token_hash FROM refresh_tokens
    WHERE expires_at < now() - make_interval(secs => $1)
    ORDER BY expires_at LIMIT $2
    FOR UPDATE SKIP LOCKED))
"""
# One sweeper per schema at a time (the key is the service's schema, so two deployments sharing a
# database do not block each other).
_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext('tessera-refresh-sweep:' || current_schema()))"


class RefreshTokenSweep:
    def __init__(self, pool: asyncpg.Pool, *, retention: float, interval: float, batch: int = BATCH,
                 first_after: float = FIRST_AFTER_S) -> None:
        self.pool = pool
        self.retention = retention
        self.interval = interval
        self.batch = batch
        self.first_after = first_after
        self.deleted = 0          # rows this process deleted since it started (a metric)
        self._stopping = asyncio.Event()

    async def sweep_once(self) -> int | None:
        """Delete every row expired longer than the retention, a batch per transaction.
        Returns how many this call deleted; None when another replica held the sweep."""
        deleted = 0
        async with self.pool.acquire() as conn:
            while True:
                async with conn.transaction():
                    if not await conn.fetchval(_LOCK):
                        return None if deleted == 0 else deleted
                    status = await conn.execute(_DELETE, float(self.retention), self.batch)
                count = int(status.split()[-1])
                deleted += count
                self.deleted += count
                if count < self.batch or self._stopping.is_set():   # a backlog must not hold up shutdown
                    return deleted

    async def run(self) -> None:
        """Sweep ``first_after`` seconds after start, then every ``interval``, until :meth:`stop`."""
        wait = self.first_after
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), wait)
                return
            except TimeoutError:
                pass
            wait = self.interval
            try:
                deleted = await self.sweep_once()
                if deleted:
                    log.info("refresh_tokens.swept", rows=deleted, retention_s=self.retention)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("refresh_tokens.sweep_failed", error=type(exc).__name__, detail=str(exc)[:200])

    def stop(self) -> None:
        self._stopping.set()


class SweepCollector:
    """``tessera_refresh_tokens_swept_total``: rows this process's sweep deleted (read at scrape time)."""

    def __init__(self, service: str, sweep: RefreshTokenSweep) -> None:
        self.service, self.sweep = service, sweep

    def collect(self):
        swept = CounterMetricFamily("tessera_refresh_tokens_swept", "Expired refresh-token rows deleted by the sweep",
                                    labels=["service"])
        swept.add_metric([self.service], self.sweep.deleted)
        return [swept]
