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
import nats
import orjson
from nats.aio.msg import Msg

from ..logging import get_logger
from .bus import ensure_stream

log = get_logger("tessera.outbox")

_SELECT = "SELECT position, id, subject, payload FROM outbox ORDER BY position LIMIT $1"
SUBJECT_PREFIX = "tessera."


class PublishRefused(Exception):
    """JetStream did not store a message (no stream for its subject, or an error answer)."""


class _Acks:
    """One reply subscription for all of a relay's JetStream publishes.

    ``js.publish`` makes a request (a future, an inbox, a timer) per message; here each message
    carries a reply subject under one wildcard subscription, so a batch is written back to back
    and its acks are matched as they come.
    """

    def __init__(self, nc: nats.NATS) -> None:
        self.nc = nc
        self.prefix = nc.new_inbox()
        self.pending: dict[str, asyncio.Future] = {}
        self.sub = None
        self.seq = 0

    async def publish(self, subject: str, payload: bytes, msg_id: str) -> asyncio.Future:
        if self.sub is None:
            self.sub = await self.nc.subscribe(f"{self.prefix}.*", cb=self._on_reply)
        self.seq += 1
        reply = f"{self.prefix}.{self.seq}"
        future = asyncio.get_running_loop().create_future()
        self.pending[reply] = future
        await self.nc.publish(subject, payload, reply=reply, headers={"Nats-Msg-Id": msg_id})
        return future

    async def _on_reply(self, msg: Msg) -> None:
        future = self.pending.pop(msg.subject, None)
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == "503":
            future.set_exception(PublishRefused("no stream stores this subject"))
            return
        try:
            answer = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            answer = {"error": {"description": "unreadable acknowledgement"}}
        if "error" in answer:
            future.set_exception(PublishRefused(str(answer["error"].get("description", answer["error"]))))
        else:
            future.set_result(answer)

    def forget(self, futures: list[asyncio.Future]) -> None:
        for reply in [r for r, f in self.pending.items() if f in futures]:
            del self.pending[reply]


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, nc: nats.NATS, service: str, *,
                 batch: int = 256, poll_interval: float = 1.0, publish_timeout: float = 5.0) -> None:
        self.pool = pool
        self.nc = nc
        self.acks = _Acks(nc)
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
        dead = [r for r in rows if not r["subject"].startswith(SUBJECT_PREFIX)]
        if dead:   # can never be stored: set aside rather than block every later event
            for row in dead:
                log.error("outbox.dead_letter", event_id=str(row["id"]), subject=row["subject"][:100])
            await conn.execute("DELETE FROM outbox WHERE position = ANY($1::bigint[])", [r["position"] for r in dead])
            rows = [r for r in rows if r["subject"].startswith(SUBJECT_PREFIX)]
        # Written in order, back to back; the acks are awaited together.
        futures = [await self.acks.publish(r["subject"], r["payload"], str(r["id"])) for r in rows]
        try:
            await asyncio.wait_for(asyncio.wait(futures), self.publish_timeout)
        except asyncio.TimeoutError:
            pass
        self.acks.forget(futures)
        results = [f.exception() or f.result() if f.done() else TimeoutError("no acknowledgement")
                   for f in futures]
        done = [r["position"] for r, res in zip(rows, results) if not isinstance(res, BaseException)]
        if done:
            await conn.execute("DELETE FROM outbox WHERE position = ANY($1::bigint[])", done)
            self.published += len(done)
        failed = next((res for res in results if isinstance(res, BaseException)), None)
        if isinstance(failed, PublishRefused):
            await ensure_stream(self.nc.jetstream())   # the stream may have been removed: recreate it
        if failed is not None:
            raise failed
        return len(done) + len(dead)

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()
