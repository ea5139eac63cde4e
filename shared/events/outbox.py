"""Relays the outbox to NATS JetStream.

The message id is the event id, so a re-send after a lost ack is deduplicated by JetStream.
Rows leave the outbox only after JetStream acknowledged them. While NATS is down the relay
backs off and retries; nothing is lost, and it catches up when NATS returns. One relay per
service is active at a time (a Postgres advisory lock), so events go out in order.
"""
from __future__ import annotations

import asyncio
import zlib

import asyncpg
from nats.js import JetStreamContext

from ..logging import get_logger

log = get_logger("tessera.outbox")

_SELECT = "SELECT position, id, subject, payload FROM outbox ORDER BY position LIMIT $1"


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, service: str, *,
                 batch: int = 256, poll_interval: float = 1.0, publish_timeout: float = 5.0) -> None:
        self.pool = pool
        self.js = js
        self.service = service
        self.batch = batch
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.channel = f"tessera_outbox_{service}"
        self.lock_key = zlib.crc32(f"tessera-outbox-{service}".encode())
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.published = 0

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Run until :meth:`stop`; survives Postgres and NATS outages."""
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                async with self.pool.acquire() as conn:
                    await self._lead(conn)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an outage; retry with backoff
                log.warning("outbox.relay_failed", error=type(exc).__name__, detail=str(exc)[:200],
                            retry_in=backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _lead(self, conn: asyncpg.Connection) -> None:
        # Wait to become the one relay of this service.
        while not self._stopping.is_set():
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
                break
            await self._sleep(self.poll_interval)
        else:
            return
        await conn.add_listener(self.channel, self._on_notify)
        try:
            while not self._stopping.is_set():
                sent = await self.relay_once(conn)
                if sent < self.batch:
                    await self._sleep(self.poll_interval)
        finally:
            await conn.remove_listener(self.channel, self._on_notify)
            await conn.execute("SELECT pg_advisory_unlock($1)", self.lock_key)

    async def relay_once(self, conn: asyncpg.Connection) -> int:
        """Publish one batch and delete what JetStream acknowledged. Returns how many."""
        rows = await conn.fetch(_SELECT, self.batch)
        if not rows:
            return 0
        # Publishes are written to the connection in order; acks are awaited together.
        acks = [asyncio.ensure_future(self.js.publish(r["subject"], r["payload"], timeout=self.publish_timeout,
                                                      headers={"Nats-Msg-Id": str(r["id"])}))
                for r in rows]
        results = await asyncio.gather(*acks, return_exceptions=True)
        done = [r["position"] for r, res in zip(rows, results) if not isinstance(res, BaseException)]
        if done:
            await conn.execute("DELETE FROM outbox WHERE position = ANY($1::bigint[])", done)
            self.published += len(done)
        failed = next((res for res in results if isinstance(res, BaseException)), None)
        if failed is not None:
            raise failed
        return len(done)

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()
