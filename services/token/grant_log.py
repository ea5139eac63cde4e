"""Group commit of grant events: many concurrent token responses, one Postgres statement.

Every token response waits until its ``access_token.issued`` event is durable. Writing each
event in its own transaction costs a round trip and a commit (a WAL flush) per token; here the
events of requests that arrive while a write is in flight wait for the next one and are written
together — one statement, one commit — with no added delay when the service is idle.

Each event carries its guard: it is written only if its client and application are still at
the versions the request saw and client, application and tenant are active. An event whose
guard fails is not written and its request gets :class:`GuardFailed`.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import asyncpg
import orjson

from shared.events import ConcurrencyError, Event, EventStore, GuardFailed, NewEvent

MAX_BATCH = 512

_WRITE = """
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::timestamptz[], $11::jsonb[], $12::text[], $13::bytea[],
                         $14::text[], $15::int[], $16::int[])
        AS i(id, stream, sequence, type, version, tenant, application, request_id, actor, occurred_at, data,
             subject, payload, client_id, client_version, application_version)
),
ok AS (
    SELECT i.* FROM input i
    JOIN clients c ON c.application_id = i.application AND c.client_id = i.client_id
                  AND c.version = i.client_version AND c.status = 'active'
    JOIN applications a ON a.id = i.application AND a.version = i.application_version AND a.status = 'active'
    JOIN tenants t ON t.id = a.tenant_id AND t.status = 'active'
),
ev AS (
    INSERT INTO events (id, stream, sequence, type, version, tenant, application, request_id, actor,
                        occurred_at, data)
    SELECT id, stream, sequence, type, version, tenant, application, request_id, actor, occurred_at, data
    FROM ok ORDER BY occurred_at
    RETURNING id, position
),
ob AS (INSERT INTO outbox (position, id, subject, payload)
       SELECT ev.position, ev.id, ok.subject, ok.payload FROM ev JOIN ok USING (id)),
wake AS (SELECT pg_notify($17, '') FROM (SELECT 1 FROM ev LIMIT 1) one)
SELECT ev.id, ev.position, (SELECT count(*) FROM wake) AS woken FROM ev
"""


@dataclass(slots=True)
class _Pending:
    event: Event
    client_id: str
    client_version: int
    application_version: int
    done: asyncio.Future


class GrantLog:
    """Writes grant events durably, batching concurrent ones (see the module docstring)."""

    def __init__(self, store: EventStore, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task | None = None
        self.batches = 0

    async def record(self, stream: str, new: NewEvent, *, client_id: str, client_version: int,
                     application_version: int) -> Event:
        """Record the first event of a new grant stream; returns once it is committed."""
        (event,) = self.store.build(stream, 0, [new])
        done = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(event, client_id, client_version, application_version, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            try:
                written = await self._write(batch)
            except asyncpg.UniqueViolationError:
                written = await self._one_by_one(batch)
            except BaseException as exc:  # noqa: BLE001 - every waiter learns of the failure
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            self.batches += 1
            for item in batch:
                if item.done.done():
                    continue
                position = written.get(item.event.id)
                if position is None:
                    item.done.set_exception(GuardFailed(item.event.stream))
                else:
                    item.done.set_result(replace(item.event, position=position))

    async def _write(self, batch: list[_Pending]) -> dict:
        events = [p.event for p in batch]
        rows = await self.store.pool.fetch(
            _WRITE,
            [e.id for e in events], [e.stream for e in events], [e.sequence for e in events],
            [e.type for e in events], [e.version for e in events], [e.tenant for e in events],
            [e.application for e in events], [e.request_id for e in events], [e.actor for e in events],
            [e.occurred_at for e in events], [e.data for e in events], [e.subject for e in events],
            [orjson.dumps(e.envelope()) for e in events], [p.client_id for p in batch],
            [p.client_version for p in batch], [p.application_version for p in batch],
            self.store.notify_channel)
        return {row["id"]: row["position"] for row in rows}

    async def _one_by_one(self, batch: list[_Pending]) -> dict:
        """A stream collision spoiled the batch: write each alone so only the colliding one fails."""
        written = {}
        for item in batch:
            try:
                written.update(await self._write([item]))
            except asyncpg.UniqueViolationError:
                item.done.set_exception(ConcurrencyError(item.event.stream, 0))
        return written
