"""The audit service: a durable JetStream consumer keeping an append-only ledger in Postgres.

It reads every event on ``tessera.>`` (consumer ``audit-ledger``, one filter subject) and
records the events of interest (:mod:`services.audit.ledger`) in schema ``audit``. The shared
consumer writes each event's effect and its inbox row in one transaction and acks after the
commit, so after a crash the service resumes where it stopped: unacked events come again and
those already applied are skipped. It serves only ``/healthz``, ``/readyz`` and ``/metrics``;
``tessera audit`` reads the ledger directly (ADR 0003).
"""
from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import orjson
from aiohttp import web

from shared.events import Event
from shared.events.consumer import Consumer
from shared.logging import get_logger
from shared.runtime import Resources, ServiceSpec

from . import purge
from .ledger import record

log = get_logger("tessera.audit")
CONSUMER = "audit-ledger"
SUBJECT = "tessera.>"
ACK_WAIT_S = 10.0  # how soon events a crashed process held come again


class LedgerConsumer(Consumer):
    """The shared consumer, except that a message which is not an event envelope is logged and
    skipped instead of failing (and coming back) for ever."""

    async def process(self, payload: bytes) -> bool:
        try:
            Event.from_envelope(orjson.loads(payload))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("audit.malformed_message", error=type(exc).__name__, size=len(payload),
                        sha256=hashlib.sha256(payload).hexdigest())
            return False
        return await super().process(payload)


async def setup(app: web.Application, res: Resources) -> None:
    res.consumers.append(LedgerConsumer(res.pool, res.js, CONSUMER, SUBJECT, record, ack_wait=ACK_WAIT_S))

    async def retention(_app: web.Application):
        stopping = asyncio.Event()
        task = asyncio.create_task(purge.run_periodically(res.pool, stopping), name="audit-purge")
        yield
        stopping.set()
        await task

    app.cleanup_ctx.append(retention)


SPEC = ServiceSpec(name="audit", migrations=Path(__file__).parent / "migrations", projections=(), setup=setup)
