"""Group commit of grant events: many concurrent token responses, one Postgres statement.

Every token response waits until its ``access_token.issued`` event is durable. Writing each
event in its own transaction costs a round trip and a commit (a WAL flush) per token; here the
events of requests that arrive while a write is in flight wait for the next one and are written
together — one statement, one commit — with no added delay when the service is idle.

Each event carries its guard: it is written only if its client and application are still at
the versions the request saw and client, application and tenant are active. An event whose
guard fails is not written and its request gets :class:`GuardFailed`.

The statement writes the events and their outbox rows (positions only). After it commits, the
written events go to the store's fast path, which publishes them in the background: a
response waits for Postgres only, never for NATS (ADR 0004). Without a fast path, a NOTIFY
names them to the sweep.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from operator import attrgetter

import asyncpg

from shared.db import HeldConnection
from shared.events import ConcurrencyError, Event, EventStore, GuardFailed, NewEvent
from shared.events.store import NOTIFY_MAX_POSITIONS
from shared.metrics import Metrics

MAX_BATCH = 512

# The guard of a row ``i`` (application, client_id, client_version, application_version): its
# client and application still at those versions and active, its tenant active. A LATERAL
# subquery with LIMIT is planned on its own, per input row: three primary-key lookups. As plain
# joins, the planner (which guesses 100 input rows) chose a merge join that walked the whole
# applications index per batch: a cost growing with the number of applications (1 vs 3,000
# applications: 0.80 of the throughput; Postgres 79 → 166 µs per token).
GUARD = """CROSS JOIN LATERAL (
        SELECT FROM clients c
        JOIN applications a ON a.id = c.application_id
        JOIN tenants t ON t.id = a.tenant_id
        WHERE c.application_id = i.application AND c.client_id = i.client_id AND c.version = i.client_version
          AND c.status = 'active' AND a.version = i.application_version AND a.status = 'active'
          AND t.status = 'active'
        LIMIT 1) guard"""

_WRITE = f"""
WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb)
        AS i(id uuid, stream text, sequence int, type text, version int, tenant text, application text,
             request_id text, actor text, occurred_at timestamptz, data jsonb,
             client_id text, client_version int, application_version int)
),
ok AS (SELECT i.* FROM input i {GUARD}),
ev AS (
    INSERT INTO events (id, stream, sequence, type, version, tenant, application, request_id, actor,
                        occurred_at, data)
    SELECT id, stream, sequence, type, version, tenant, application, request_id, actor, occurred_at, data
    FROM ok ORDER BY occurred_at
    RETURNING id, position
),
ob AS (INSERT INTO outbox (position) SELECT position FROM ev),
-- Only without a fast path ($2 is the channel then): name the positions to the sweep.
wake AS (SELECT pg_notify($2, CASE WHEN count(*) <= {NOTIFY_MAX_POSITIONS}
                                   THEN string_agg(position::text, ',') ELSE '' END)
         FROM ev WHERE $2::text IS NOT NULL HAVING count(*) > 0)
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

    def __init__(self, store: EventStore, max_batch: int = MAX_BATCH, metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self.max_batch = max_batch
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task | None = None
        self._conn = HeldConnection(store.pool)   # held: no per-batch acquire and reset
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
            await asyncio.sleep(0)   # let requests the loop has already read join this batch
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            fast_path = self.store.fast_path
            started = time.perf_counter()
            try:
                try:
                    written = await self._write(batch, notify=fast_path is None)
                except asyncpg.UniqueViolationError:
                    written = await self._one_by_one(batch, notify=fast_path is None)
            except BaseException as exc:  # noqa: BLE001 - every waiter learns of the failure
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            # Committed. In position order, which is commit order within the batch.
            recorded = sorted((item.event.at(written[item.event.id])
                               for item in batch if item.event.id in written), key=attrgetter("position"))
            if fast_path is not None:   # published from memory, in the background
                fast_path.submit(recorded)
            self.batches += 1
            if self.metrics is not None:
                self.metrics.batch_seconds.labels(self.metrics.service, "grants").observe(time.perf_counter() - started)
                self.metrics.batches.labels(self.metrics.service, "grants").inc()
                self.metrics.batched.labels(self.metrics.service, "grants").inc(len(batch))
            by_id = {event.id: event for event in recorded}
            for item in batch:
                if item.done.done():
                    continue
                event = by_id.get(item.event.id)
                if event is None:
                    item.done.set_exception(GuardFailed(item.event.stream))
                else:
                    item.done.set_result(event)

    async def _write(self, batch: list[_Pending], *, notify: bool) -> dict:
        # One JSON document for the whole batch: one parameter to encode, Postgres unpacks it.
        # (The jsonb codec's orjson writes the UUID and datetime values itself.)
        rows = [{"id": e.id, "stream": e.stream, "sequence": e.sequence, "type": e.type, "version": e.version,
                 "tenant": e.tenant, "application": e.application, "request_id": e.request_id,
                 "actor": e.actor, "occurred_at": e.occurred_at, "data": e.data,
                 "client_id": p.client_id, "client_version": p.client_version,
                 "application_version": p.application_version}
                for p in batch for e in (p.event,)]
        channel = self.store.notify_channel if notify else None
        conn = await self._conn.get()
        try:
            result = await conn.fetch(_WRITE, rows, channel)
        except (asyncpg.PostgresConnectionError, OSError, asyncpg.InterfaceError):
            await self._conn.release()
            raise
        return {row["id"]: row["position"] for row in result}

    async def close(self) -> None:
        await self._conn.release()

    async def _one_by_one(self, batch: list[_Pending], *, notify: bool) -> dict:
        """A stream collision spoiled the batch: write each alone so only the colliding one fails."""
        written = {}
        for item in batch:
            try:
                written.update(await self._write([item], notify=notify))
            except asyncpg.UniqueViolationError:
                item.done.set_exception(ConcurrencyError(item.event.stream, 0))
        return written
