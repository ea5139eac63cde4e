"""Idempotent JetStream consumers.

A durable pull consumer delivers each event at least once. The handler's effect and an
``inbox`` row ``(consumer, event_id)`` are written in one transaction; a redelivered event hits
the inbox key and is skipped, so each event is applied exactly once. The message is acked only
after that transaction commits.

A fetched batch is applied in one transaction (one commit for up to ``batch`` events: a backlog
of a million user events is digested in minutes, not half an hour). When any event of the batch
fails, the batch is rolled back and applied again one event per transaction, so a bad event holds
back only itself.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import asyncpg
import orjson
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from .. import context
from ..logging import get_logger
from .bus import STREAM
from .model import Event

log = get_logger("tessera.consumer")

Handler = Callable[[asyncpg.Connection, Event], Awaitable[None]]


class Consumer:
    """Applies the events on ``subject`` (one filter, wildcards allowed) with ``handler``."""

    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, name: str, subject: str,
                 handler: Handler, *, batch: int = 64, ack_wait: float = 30.0) -> None:
        self.pool = pool
        self.js = js
        self.name = name
        self.subject = subject
        self.handler = handler
        self.batch = batch
        self.ack_wait = ack_wait
        self.applied = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Fetch and apply until :meth:`stop`; survives NATS and Postgres outages."""
        backoff = 0.1
        sub = None
        try:
            while not self._stopping.is_set():
                try:
                    if sub is None:
                        sub = await self._subscribe()
                    try:
                        msgs = await sub.fetch(self.batch, timeout=1.0)
                    except (NatsTimeoutError, asyncio.TimeoutError):   # nats-py raises either when idle
                        continue
                    await self.apply(msgs)
                    backoff = 0.1
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - an outage or a failing handler: retry later
                    log.warning("consumer.failed", consumer=self.name, error=type(exc).__name__,
                                detail=str(exc)[:200], retry_in=backoff)
                    await _unsubscribe(sub)
                    sub = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            # A pull subscription keeps what arrives after the last fetch (the server's "request
            # timeout" notices); left subscribed, it would hold the connection's drain until it
            # timed out. The durable consumer stays on the server.
            await _unsubscribe(sub)

    async def _subscribe(self):
        config = ConsumerConfig(
            durable_name=self.name, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.subject, ack_wait=self.ack_wait, max_ack_pending=1000,
        )
        return await self.js.pull_subscribe(self.subject, durable=self.name, stream=STREAM, config=config)

    async def apply(self, msgs) -> None:
        """Apply fetched messages and ack them (see the module docstring)."""
        if len(msgs) > 1:
            try:
                await self.process_together([msg.data for msg in msgs])
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
                raise                   # an outage: the caller backs off and fetches again
            except Exception as exc:  # noqa: BLE001 - a failing event: find it, one at a time
                log.info("consumer.batch_failed", consumer=self.name, error=type(exc).__name__,
                         detail=str(exc)[:200], events=len(msgs))
            else:
                for msg in msgs:
                    await msg.ack()
                return
        failed = None
        for msg in msgs:
            try:
                await self.process(msg.data)
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
                raise
            except Exception as exc:  # noqa: BLE001 - not acked: JetStream delivers it again later
                failed = failed or exc
                log.warning("consumer.event_failed", consumer=self.name, error=type(exc).__name__,
                            detail=str(exc)[:200])
                continue
            await msg.ack()
        if failed is not None:
            raise failed              # the caller backs off before fetching again

    async def process_together(self, payloads: list[bytes]) -> int:
        """Apply published events in one transaction, each once. Returns how many were new."""
        events = [Event.from_envelope(orjson.loads(payload)) for payload in payloads]
        applied = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for event in events:
                token = context.request_id.set(event.request_id)
                try:
                    if await self._first_time(conn, event):
                        await self.handler(conn, event)
                        applied += 1
                finally:
                    context.request_id.reset(token)
        self.applied += applied
        return applied

    async def _first_time(self, conn: asyncpg.Connection, event: Event) -> bool:
        status = await conn.execute(
            "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", self.name, event.id)
        return not status.endswith(" 0")

    async def process(self, payload: bytes) -> bool:
        """Apply one published event once. Returns False when it had been applied before."""
        event = Event.from_envelope(orjson.loads(payload))
        token = context.request_id.set(event.request_id)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if not await self._first_time(conn, event):
                    return False
                await self.handler(conn, event)
            self.applied += 1
            return True
        finally:
            context.request_id.reset(token)


async def _unsubscribe(sub) -> None:
    if sub is None:
        return
    try:
        await sub.unsubscribe()
    except Exception:  # noqa: BLE001 - the connection is gone: nothing to undo
        pass
