"""A per-service event store in Postgres.

Append-only, unique ``(stream, sequence)``, optimistic concurrency: an append names the
sequence it expects the stream to be at, and a conflicting append fails with
:class:`ConcurrencyError` having written nothing. The same transaction writes the outbox row
that the relay publishes to NATS, and every local projection's read-model change.
"""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timezone
from typing import AsyncIterator, Sequence

import asyncpg
import orjson

from .. import context
from .model import Event, NewEvent, registry
from .projection import Projection


class ConcurrencyError(Exception):
    """The stream moved on since the caller read it; nothing was written."""

    def __init__(self, stream: str, expected: int) -> None:
        super().__init__(f"stream {stream!r} is no longer at sequence {expected}; reload and retry")
        self.stream = stream
        self.expected = expected


_INSERT_EVENTS = """
INSERT INTO events (id, stream, sequence, type, version, tenant, application, request_id, actor,
                    occurred_at, data)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::jsonb[])
RETURNING position
"""
_INSERT_OUTBOX = """
INSERT INTO outbox (position, id, subject, payload)
SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bytea[])
"""


class GuardFailed(Exception):
    """The state the caller decided on changed in the meantime; nothing was written."""


class EventStore:
    """Appends and reads the events of one service (its pool's search_path is its schema)."""

    def __init__(self, pool: asyncpg.Pool, service: str, projections: Sequence[Projection] = ()) -> None:
        self.pool = pool
        self.service = service
        self.projections = list(projections)
        self.notify_channel = f"tessera_outbox_{service}"

    async def append(self, stream: str, expected: int, new: Sequence[NewEvent], *,
                     conn: asyncpg.Connection | None = None) -> list[Event]:
        """Append ``new`` to ``stream``, which the caller saw at sequence ``expected`` (0: new)."""
        if conn is None:
            async with self.pool.acquire() as conn:
                return await self.append(stream, expected, new, conn=conn)
        events = self.build(stream, expected, new)
        try:
            async with conn.transaction():
                positions = await conn.fetch(_INSERT_EVENTS, *self._columns(events))
                events = [_with_position(e, row["position"]) for e, row in zip(events, positions)]
                await conn.execute(_INSERT_OUTBOX, [e.position for e in events], [e.id for e in events],
                                   [e.subject for e in events],
                                   [orjson.dumps(e.envelope()) for e in events])
                for event in events:
                    for projection in self.projections:
                        await projection.apply(conn, event)
                await conn.execute("SELECT pg_notify($1, '')", self.notify_channel)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_stream_sequence":
                raise ConcurrencyError(stream, expected) from None
            raise
        return events

    def build(self, stream: str, expected: int, new: Sequence[NewEvent]) -> list[Event]:
        """The events ``new`` would become, numbered after ``expected`` (not yet written)."""
        now = datetime.now(timezone.utc)
        out = []
        for offset, item in enumerate(new, start=1):
            etype = registry.get(item.type)
            out.append(Event(
                id=uuid.uuid4(), type=item.type, version=etype.version, stream=stream,
                sequence=expected + offset, occurred_at=now, service=self.service,
                tenant=item.tenant, application=item.application,
                request_id=context.request_id.get(), actor=context.actor.get(), data=item.data,
            ))
        return out

    @staticmethod
    def _columns(events: list[Event]) -> tuple[list, ...]:
        return (
            [e.id for e in events], [e.stream for e in events], [e.sequence for e in events],
            [e.type for e in events], [e.version for e in events], [e.tenant for e in events],
            [e.application for e in events], [e.request_id for e in events],
            [e.actor for e in events], [e.occurred_at for e in events],
            [e.data for e in events],
        )

    async def load(self, stream: str) -> list[Event]:
        """Every event of one stream, in order, upcast to the current versions."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM events WHERE stream = $1 ORDER BY sequence", stream)
        return [self._row_to_event(r) for r in rows]

    async def read_all(self, conn: asyncpg.Connection, after: int = 0,
                       batch: int = 1000) -> AsyncIterator[Event]:
        """Every event of the service in position order (for replay), upcast."""
        while True:
            rows = await conn.fetch(
                "SELECT * FROM events WHERE position > $1 ORDER BY position LIMIT $2", after, batch)
            for row in rows:
                yield self._row_to_event(row)
            if len(rows) < batch:
                return
            after = rows[-1]["position"]

    def _row_to_event(self, row: asyncpg.Record) -> Event:
        data = row["data"]
        version = row["version"]
        if row["type"] in registry:
            etype = registry.get(row["type"])
            data, version = etype.upcast(version, data), etype.version
        return Event(
            id=row["id"], type=row["type"], version=version, stream=row["stream"],
            sequence=row["sequence"], occurred_at=row["occurred_at"], service=self.service,
            tenant=row["tenant"], application=row["application"], request_id=row["request_id"],
            actor=row["actor"], data=data, position=row["position"],
        )


def _with_position(event: Event, position: int) -> Event:
    return replace(event, position=position)
