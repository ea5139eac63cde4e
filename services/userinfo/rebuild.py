"""Rebuild the userinfo read models from the event stream (``python -m services.userinfo replay``).

Every table here is derived from other services' events (no event store of its own to replay),
so a rebuild reads them back from JetStream (stream ``TESSERA`` keeps every event): in one
transaction it empties the tables and applies every event of each consumer's subject, in stream
order, with the same handlers the live consumers use. A live consumer applying an event at the
same moment waits for the lock and then finds its effect already there (the handlers skip an
event a row has seen), so the service may keep running during a rebuild.
"""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import asyncpg
import nats
import nats.errors
import orjson
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.config import Settings
from shared.db import create_pool, migrate
from shared.events import Event
from shared.events.bus import STREAM
from shared.logging import get_logger

from .read_model import CONSUMERS, TABLES

log = get_logger("tessera.userinfo.rebuild")
BATCH = 256
MIGRATIONS = Path(__file__).parent / "migrations"


async def events_on(js: JetStreamContext, subject: str) -> AsyncIterator[Event]:
    """Every event stored on ``subject``, oldest first (a short-lived consumer of its own)."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.ALL,
                            filter_subject=subject, inactive_threshold=60.0, max_ack_pending=-1)
    sub = await js.pull_subscribe(subject, stream=STREAM, config=config)
    try:
        info = await sub.consumer_info()
        name, remaining = info.name, info.num_pending
        while remaining:
            try:
                msgs = await sub.fetch(min(BATCH, remaining), timeout=5.0)
            except (NatsTimeoutError, TimeoutError):
                raise ConnectionError(f"the stream stopped delivering {subject} with {remaining} events left") from None
            for msg in msgs:
                yield Event.from_envelope(orjson.loads(msg.data))
                remaining = msg.metadata.num_pending
            await msgs[-1].ack()
    finally:
        await sub.unsubscribe()
    try:
        await js.delete_consumer(STREAM, name)
    except Exception:  # noqa: BLE001 - its inactive threshold removes it anyway
        pass


async def rebuild(pool: asyncpg.Pool, js: JetStreamContext) -> int:
    """Empty the read models and re-apply every event; returns how many were applied."""
    count = 0
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"TRUNCATE {', '.join(TABLES)}")
        for _name, subject, handler in CONSUMERS:
            async for event in events_on(js, subject):
                await handler(conn, event)
                count += 1
    return count


async def replay_command(settings: Settings) -> None:
    await migrate(settings.database_url, "userinfo", MIGRATIONS)
    pool = await create_pool(settings.database_url, "userinfo", min_size=1, max_size=2)
    nc = await nats.connect(settings.nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        count = await rebuild(pool, nc.jetstream())
        log.info("replay.done", events=count, tables=list(TABLES))
    finally:
        await nc.close()
        await pool.close()

