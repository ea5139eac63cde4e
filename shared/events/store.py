"""A per-service event store in Postgres.

Append-only, unique ``(stream, sequence)``, optimistic concurrency: an append names the
sequence it expects the stream to be at, and a conflicting append fails with
:class:`ConcurrencyError` having written nothing. The same transaction writes the events'
outbox rows (their positions) and every local projection's read-model change. After the commit
the events go to the process's fast path, if one is attached; otherwise a NOTIFY names them to
the service's sweep (ADR 0004).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import AsyncIterator, Sequence

import asyncpg

from .. import context
from ..crypto import new_uuid7
from .model import Event, NewEvent, registry
from .outbox import FastPath
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
_INSERT_OUTBOX = "INSERT INTO outbox (position) SELECT unnest($1::bigint[])"
# A NOTIFY payload is under 8000 bytes: beyond this many positions, name none (the sweep then
# publishes every row committed before it).
NOTIFY_MAX_POSITIONS = 300


def notify_payload(positions: Sequence[int]) -> str:
    """What a NOTIFY to the sweep carries: the positions to publish now ('' for all)."""
    return ",".join(map(str, positions)) if len(positions) <= NOTIFY_MAX_POSITIONS else ""


class GuardFailed(Exception):
    """The state the caller decided on changed in the meantime; nothing was written."""


class EventStore:
    """Appends and reads the events of one service (its pool's search_path is its schema)."""

    def __init__(self, pool: asyncpg.Pool, service: str, projections: Sequence[Projection] = (), *,
                 fast_path: FastPath | None = None) -> None:
        self.pool = pool
        self.service = service
        self.projections = list(projections)
        self.notify_channel = f"tessera_outbox_{service}"
        # Publishes committed events from memory; None (tests, tools): the sweep, woken by NOTIFY.
        self.fast_path = fast_path

    async def append(self, stream: str, expected: int, new: Sequence[NewEvent], *,
                     conn: asyncpg.Connection | None = None) -> list[Event]:
        """Append ``new`` to ``stream``, which the caller saw at sequence ``expected`` (0: new).

        Inside a transaction of the caller's (``conn`` already in one), the events are committed
        only with it, maybe never: they are not handed to the fast path but named in a NOTIFY,
        which Postgres delivers to the sweep only if that transaction commits.
        """
        if conn is None:
            async with self.pool.acquire() as conn:
                return await self.append(stream, expected, new, conn=conn)
        fast_path = None if conn.is_in_transaction() else self.fast_path
        events = self.build(stream, expected, new)
        try:
            async with conn.transaction():
                events = await self.insert(conn, events)
                for event in events:
                    for projection in self.projections:
                        await projection.apply(conn, event)
                if fast_path is None:
                    await conn.execute("SELECT pg_notify($1, $2)", self.notify_channel,
                                       notify_payload([e.position for e in events]))
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "events_stream_sequence":
                raise ConcurrencyError(stream, expected) from None
            raise
        if fast_path is not None:    # committed: publish from memory, in the background
            fast_path.submit(events)
        return events

    async def insert(self, conn: asyncpg.Connection, events: Sequence[Event]) -> list[Event]:
        """Write built events (of any streams) and their outbox rows in the caller's transaction;
        returns them with their positions. Projections, NOTIFY and the fast path are the caller's."""
        positions = await conn.fetch(_INSERT_EVENTS, *self._columns(events))
        written = [e.at(row["position"]) for e, row in zip(events, positions)]
        await conn.execute(_INSERT_OUTBOX, [e.position for e in written])
        return written

    def build(self, stream: str, expected: int, new: Sequence[NewEvent]) -> list[Event]:
        """The events ``new`` would become, numbered after ``expected`` (not yet written)."""
        now = datetime.now(timezone.utc)
        out = []
        for offset, item in enumerate(new, start=1):
            etype = registry.get(item.type)
            out.append(Event(
                id=new_uuid7(), type=item.type, version=etype.version, stream=stream,
                sequence=expected + offset, occurred_at=now, service=self.service,
                tenant=item.tenant, application=item.application,
                request_id=context.request_id.get(), actor=context.actor.get(), data=item.data,
            ))
        return out

    @staticmethod
    def _columns(events: Sequence[Event]) -> tuple[list, ...]:
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

