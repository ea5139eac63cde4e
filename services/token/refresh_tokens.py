"""Refresh tokens at rest (table ``refresh_tokens``, by HMAC of the token), and the group commit
that writes the events of the code and refresh grants together with them.

Reads: concurrent look-ups share one ``SELECT … WHERE token_hash = ANY($1)`` (the primary key),
so the cost per refresh does not grow with the number of live tokens.

Writes (:class:`TokenLog`): like :mod:`services.token.grant_log`, requests that arrive while a
write is in flight go together in the next one: one statement, one commit. Each item is guarded
(client and application at the versions the request saw, all active); an item that rotates a
refresh token consumes it in the same statement (``consumed_at IS NULL AND revoked_at IS NULL``),
so the old token is spent, the new one stored and the events recorded all at once, or none of it.
An item whose guard failed gets :class:`GuardFailed` (nothing written; decide again on fresh
data); one whose token was consumed or revoked meanwhile gets :class:`TokenSpent`.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any, Awaitable, Callable

import asyncpg

from shared.db import HeldConnection
from shared.events import Event, EventStore, GuardFailed
from shared.events.store import NOTIFY_MAX_POSITIONS
from shared.metrics import Metrics

from .grant_log import GUARD
from .oauth.refresh_token import RefreshRecord
from .oauth.user_grant import SignInFacts

MAX_BATCH = 512


class TokenSpent(Exception):
    """The refresh token to rotate was consumed or revoked by another request; nothing was written."""


_WRITE = f"""
WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb)
        AS i(ref int, application text, client_id text, client_version int, application_version int,
             consume text, refresh jsonb, events jsonb)
),
guarded AS (SELECT i.* FROM input i {GUARD}),
-- The tokens to consume are named by an array: a plan cached while the table was small (a new
-- deployment: generic plans are kept until the table is next analysed) still looks each one up
-- by key, instead of hashing the whole table (a joined UPDATE planned on an empty table did:
-- 44 ms a batch at 60,000 tokens).
consumed AS (
    UPDATE refresh_tokens r SET consumed_at = now()
    FROM guarded g
    WHERE r.token_hash = ANY(ARRAY(SELECT consume FROM guarded WHERE consume IS NOT NULL))
      AND r.token_hash = g.consume AND r.application_id = g.application
      AND r.client_id = g.client_id AND r.consumed_at IS NULL AND r.revoked_at IS NULL
    RETURNING g.ref
),
ok AS (SELECT g.* FROM guarded g WHERE g.consume IS NULL OR g.ref IN (SELECT ref FROM consumed)),
fresh AS (
    INSERT INTO refresh_tokens (token_hash, token_id, family_id, grant_id, tenant_id, application_id, client_id,
                                subject, scopes, claims, issued_at, expires_at, access_jti, access_exp, access_hash)
    SELECT r.* FROM ok, jsonb_to_record(ok.refresh)
        AS r(token_hash text, token_id text, family_id text, grant_id text, tenant_id text, application_id text,
             client_id text, subject text, scopes text[], claims jsonb, issued_at timestamptz,
             expires_at timestamptz, access_jti text, access_exp bigint, access_hash text)
    WHERE ok.refresh IS NOT NULL
),
ev AS (
    INSERT INTO events (id, stream, sequence, type, version, tenant, application, request_id, actor,
                        occurred_at, data)
    SELECT e.id, e.stream, e.sequence, e.type, e.version, e.tenant, e.application, e.request_id, e.actor,
           e.occurred_at, e.data
    FROM ok, jsonb_to_recordset(ok.events)
        AS e(n int, id uuid, stream text, sequence int, type text, version int, tenant text, application text,
             request_id text, actor text, occurred_at timestamptz, data jsonb)
    ORDER BY ok.ref, e.n
    RETURNING id, position
),
ob AS (INSERT INTO outbox (position) SELECT position FROM ev),
wake AS (SELECT pg_notify($2, CASE WHEN count(*) <= {NOTIFY_MAX_POSITIONS}
                                   THEN string_agg(position::text, ',') ELSE '' END)
         FROM ev WHERE $2::text IS NOT NULL HAVING count(*) > 0)
SELECT ev.id, ev.position, NULL::int AS ref, (SELECT count(*) FROM wake) AS woken FROM ev
UNION ALL
SELECT NULL, NULL, g.ref, 0 FROM guarded g
"""
_READ = "SELECT * FROM refresh_tokens WHERE token_hash = ANY($1::text[])"
_REVOKE_FAMILY = """
UPDATE refresh_tokens SET revoked_at = now()
WHERE family_id = $1 AND application_id = $2 AND revoked_at IS NULL
RETURNING token_id, grant_id, client_id, subject, access_jti, access_exp, access_hash
"""


def record_from_row(row: asyncpg.Record) -> RefreshRecord:
    return RefreshRecord(
        token_id=row["token_id"], family_id=row["family_id"], grant_id=row["grant_id"],
        application_id=row["application_id"], client_id=row["client_id"], subject=row["subject"],
        scopes=tuple(row["scopes"]), sign_in=SignInFacts.from_json(row["claims"]),
        issued_at=int(row["issued_at"].timestamp()), expires_at=int(row["expires_at"].timestamp()),
        consumed=row["consumed_at"] is not None, revoked=row["revoked_at"] is not None)


@dataclass(slots=True)
class Write:
    """One request's part of a batch: events of new streams, maybe a token to consume and a new one."""
    application_id: str
    client_id: str
    client_version: int
    application_version: int
    events: list[Event]
    consume: str | None = None           # hash of the refresh token being rotated
    refresh: dict[str, Any] | None = None  # the new refresh_tokens row (column -> value)


class _Batcher:
    """Run ``fn`` on the items queued while the previous call was in flight (one held connection)."""

    def __init__(self, pool: asyncpg.Pool, fn: Callable[[asyncpg.Connection, list], Awaitable[None]],
                 max_batch: int = MAX_BATCH, *, name: str = "", metrics: Metrics | None = None) -> None:
        self.pool = pool
        self.fn = fn
        self.max_batch = max_batch
        self._timer = metrics.batch_seconds.labels(metrics.service, name) if metrics is not None else None
        self._queue: list[tuple[Any, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self._conn = HeldConnection(pool)
        self._sent: dict[asyncio.Future, asyncio.Future] = {}

    def submit(self, item: Any, sent: asyncio.Future | None = None) -> asyncio.Future:
        """Queue ``item``; the future it returns gets its outcome. ``sent``, when given, is
        resolved once the batch holding ``item`` is on its way (or has failed before that)."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if sent is not None:
            self._sent[done] = sent
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return done

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(0)   # let requests the loop has already read join this batch
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            try:
                conn = await self._conn.get()
                started = time.perf_counter()
                self._tell_sent(batch)   # woken after ``fn`` has written the batch and waits
                await self.fn(conn, batch)
                if self._timer is not None:
                    self._timer.observe(time.perf_counter() - started)
            except BaseException as exc:  # noqa: BLE001 - every waiter learns of the failure
                self._tell_sent(batch)
                if isinstance(exc, (asyncpg.PostgresConnectionError, OSError, asyncpg.InterfaceError)):
                    await self.close()
                for _item, done in batch:
                    if not done.done():
                        done.set_exception(exc)

    def _tell_sent(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        if self._sent:
            for _item, done in batch:
                sent = self._sent.pop(done, None)
                if sent is not None and not sent.done():
                    sent.set_result(None)

    async def close(self) -> None:
        await self._conn.release()


class RefreshTokens:
    """Look-ups by hash (batched) and family revocation."""

    def __init__(self, pool: asyncpg.Pool, metrics: Metrics | None = None) -> None:
        self.pool = pool
        self._reads = _Batcher(pool, self._read, name="refresh_reads", metrics=metrics)

    async def find(self, token_hash: str) -> RefreshRecord | None:
        row = await self._reads.submit(token_hash)
        return None if row is None else record_from_row(row)

    async def _read(self, conn: asyncpg.Connection, batch: list) -> None:
        rows = await conn.fetch(_READ, list({h for h, _ in batch}))
        by_hash = {row["token_hash"]: row for row in rows}
        for token_hash, done in batch:
            if not done.done():
                done.set_result(by_hash.get(token_hash))

    async def revoke_family(self, application_id: str, family_id: str) -> list[asyncpg.Record]:
        """Revoke every token of the family; returns the rows revoked now (none: it was already).

        Run twice: a rotation that committed while the first statement waited for its row lock
        inserted a token the first statement's snapshot cannot see; the second one sees it.
        """
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_REVOKE_FAMILY, family_id, application_id)
            rows += await conn.fetch(_REVOKE_FAMILY, family_id, application_id)
        return rows

    async def close(self) -> None:
        await self._reads.close()


class TokenLog:
    """Group commit of the code and refresh grants' writes (see the module docstring)."""

    def __init__(self, store: EventStore, metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self._writes = _Batcher(store.pool, self._write, name="user_grants", metrics=metrics)

    def submit(self, item: Write, sent: asyncio.Future | None = None) -> asyncio.Future:
        """Queue ``item``; await the returned future for its recorded events (or its failure).
        ``sent`` is resolved once the write is on its way to Postgres: work done from then on
        overlaps the round trip."""
        return self._writes.submit(item, sent)

    async def _write(self, conn: asyncpg.Connection, batch: list) -> None:
        fast_path = self.store.fast_path
        rows = []
        for ref, (item, _done) in enumerate(batch):
            rows.append({
                "ref": ref, "application": item.application_id, "client_id": item.client_id,
                "client_version": item.client_version, "application_version": item.application_version,
                "consume": item.consume, "refresh": item.refresh,
                "events": [{"n": n, "id": e.id, "stream": e.stream, "sequence": e.sequence, "type": e.type,
                            "version": e.version, "tenant": e.tenant, "application": e.application,
                            "request_id": e.request_id, "actor": e.actor, "occurred_at": e.occurred_at,
                            "data": e.data} for n, e in enumerate(item.events)],
            })
        channel = None if fast_path is not None else self.store.notify_channel
        result = await conn.fetch(_WRITE, rows, channel)
        positions = {r["id"]: r["position"] for r in result if r["id"] is not None}
        guarded = {r["ref"] for r in result if r["ref"] is not None}
        recorded = sorted((e.at(positions[e.id]) for item, _ in batch for e in item.events if e.id in positions),
                          key=attrgetter("position"))
        if fast_path is not None:
            fast_path.submit(recorded)
        if self.metrics is not None:
            self.metrics.batches.labels(self.metrics.service, "user_grants").inc()
            self.metrics.batched.labels(self.metrics.service, "user_grants").inc(len(batch))
        by_id = {e.id: e for e in recorded}
        for ref, (item, done) in enumerate(batch):
            if done.done():
                continue
            events = [by_id[e.id] for e in item.events if e.id in by_id]
            if len(events) == len(item.events):
                done.set_result(events)
            elif ref in guarded:
                done.set_exception(TokenSpent())
            else:
                done.set_exception(GuardFailed(item.events[0].stream if item.events else ""))

    async def close(self) -> None:
        await self._writes.close()


def timestamp(epoch: int) -> str:
    """A timestamptz literal Postgres reads from JSON."""
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()

