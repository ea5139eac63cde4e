"""Relays committed events to NATS JetStream: a fast path from memory, and a sweep (ADR 0004).

The outbox table holds only the positions of events not yet known to be in JetStream; the
envelope and the subject are rebuilt from the ``events`` row, so a commit writes no second
copy of its events.

- :class:`FastPath` (one per process): the process that committed events publishes them from
  memory, in commit order, at most ``linger`` (10 ms) after the commit that woke it, and deletes
  the acknowledged positions in bulk. No query per event; the request that wrote them never
  waits for it.
- :class:`OutboxRelay` (the sweep; one leader per service, a Postgres advisory lock) publishes
  whatever the fast paths did not: rows left longer than a grace period (NATS was down, the
  queue was full, the process died), and at once the rows that a NOTIFY names (written by a
  store without a fast path, or inside a caller's transaction).

Delivery is at least once: the message id is the event id, so JetStream drops a re-send
within its duplicate window, and consumers' inboxes make any later one harmless. No event is
published before its commit: the fast path is handed events after the commit returned, and
the sweep reads only committed rows.
"""
from __future__ import annotations

import asyncio
import functools
import re
import time
import zlib
from collections import deque
from typing import Sequence

import asyncpg
import nats
import orjson
from nats.aio.msg import Msg

from ..logging import get_logger
from .bus import ensure_stream
from .model import Event

log = get_logger("tessera.outbox")

# tessera.<service>.<tenant>.<aggregate>.<verb>: non-empty tokens, no wildcard, no whitespace
# (what the TESSERA stream stores and a publish may carry).
_SUBJECT = re.compile(r"tessera(\.[^.\s*>]+){4,}")

# The rows the sweep may publish now: old enough ($1) or named by a NOTIFY ($2); their events
# as stored (the relay publishes the stored version; consumers upcast).
_SWEEP = """
SELECT o.position, e.id, e.type, e.version, e.stream, e.sequence, e.occurred_at, e.tenant,
       e.application, e.request_id, e.actor, e.data::text AS data
FROM outbox o LEFT JOIN events e ON e.position = o.position
WHERE o.position <= $1 OR o.position = ANY($2::bigint[])
ORDER BY o.position LIMIT $3
"""
_TOP = "SELECT coalesce(max(position), 0) FROM outbox"


def message(event: Event) -> tuple[str, bytes, str] | None:
    """What is published for ``event``: (subject, envelope, message id); None if it cannot be.

    The same bytes whichever path sends it: keys are sorted, as the sweep reads ``data`` back
    from jsonb, which does not keep the order the fast path's in-memory payload has.
    """
    try:
        subject, envelope = event.subject, event.envelope()
        payload = orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
    except (ValueError, TypeError):    # a type without a verb; a payload JSON cannot carry
        return None
    return (subject, payload, envelope["id"]) if _valid_subject(subject) else None


@functools.lru_cache(maxsize=4096)
def _valid_subject(subject: str) -> bool:
    """Whether JetStream can store ``subject`` (a service publishes a handful, over and over)."""
    return _SUBJECT.fullmatch(subject) is not None


async def delete_published(conn: asyncpg.Connection, positions: Sequence[int]) -> None:
    """Remove published positions from the outbox, without waiting for the WAL flush.

    A delete lost in a crash only means the event is published again: JetStream drops it
    within its duplicate window (the message id is the event id) and consumers' inboxes drop
    it after that. So this commit need not be durable, and skipping the flush saves an fsync.
    """
    async with conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit = off")
        await conn.execute("DELETE FROM outbox WHERE position = ANY($1::bigint[])", positions)


class PublishRefused(Exception):
    """JetStream did not store a message (no stream for its subject, or an error answer)."""


class _Batch:
    """The acks awaited for one batch: an outcome per message, and when all have come."""

    __slots__ = ("outcomes", "replies", "remaining", "settled")

    def __init__(self) -> None:
        self.outcomes: list[object] = []
        self.replies: list[str] = []
        self.remaining = 0
        self.settled = asyncio.Event()


class _Acks:
    """One reply subscription for all of a publisher's JetStream publishes.

    ``js.publish`` makes a request (a future, an inbox, a timer) per message; here each message
    carries a reply subject under one wildcard subscription, so a batch is written back to back
    and its acks are matched as they come, into the batch's list (no future per message).
    """

    def __init__(self, nc: nats.NATS) -> None:
        self.nc = nc
        self.prefix = nc.new_inbox()
        self.pending: dict[str, tuple[_Batch, int]] = {}
        self.sub = None
        self.seq = 0

    async def send(self, messages: Sequence[tuple[str, bytes, str]], timeout: float) -> list[object]:
        """Publish ``(subject, payload, msg_id)`` in order, back to back, and wait for the acks.

        Returns each message's outcome: True when JetStream stored it (or had it already), else
        the exception (a timeout when no ack came; when NATS failed mid-batch, its error for that
        message and every later one).
        """
        if self.sub is None and messages:
            self.sub = await self.nc.subscribe(f"{self.prefix}.*", cb=self._on_reply)
        batch = _Batch()
        batch.outcomes = [TimeoutError("no acknowledgement")] * len(messages)
        try:
            for index, (subject, payload, msg_id) in enumerate(messages):
                self.seq += 1
                reply = f"{self.prefix}.{self.seq}"
                self.pending[reply] = (batch, index)
                batch.replies.append(reply)
                batch.remaining += 1
                await self.nc.publish(subject, payload, reply=reply, headers={"Nats-Msg-Id": msg_id})
        except Exception as exc:  # noqa: BLE001 - reported as the outcome of this and later messages
            del self.pending[batch.replies.pop()]
            batch.remaining -= 1
            batch.outcomes[index:] = [exc] * (len(messages) - index)
        if batch.remaining:
            try:
                async with asyncio.timeout(timeout):
                    await batch.settled.wait()
            except TimeoutError:
                for reply in batch.replies:
                    self.pending.pop(reply, None)
        return batch.outcomes

    async def _on_reply(self, msg: Msg) -> None:
        entry = self.pending.pop(msg.subject, None)
        if entry is None:
            return
        batch, index = entry
        if msg.headers and msg.headers.get("Status") == "503":
            batch.outcomes[index] = PublishRefused("no stream stores this subject")
        elif b'"error"' in msg.data:    # an ack is {"stream": ..., "seq": ...}: parse only errors
            try:
                error = orjson.loads(msg.data).get("error", {})
            except (orjson.JSONDecodeError, AttributeError):
                error = {"description": "unreadable acknowledgement"}
            batch.outcomes[index] = PublishRefused(str(error.get("description", error)))
        else:
            batch.outcomes[index] = True
        batch.remaining -= 1
        if not batch.remaining:
            batch.settled.set()


class FastPath:
    """Publishes this process's committed events from memory (see the module docstring).

    :meth:`submit` is called right after a commit, never waits and never fails: when NATS is
    disconnected or more than ``max_queued`` events wait, the events are left to the sweep.
    Acked positions are deleted by one statement every ``delete_interval`` seconds, or sooner
    when ``delete_batch`` of them wait. A bulk writer (a user import: a thousand events a
    commit) waits in :meth:`make_room` before it writes, so that it goes at the pace of
    publishing instead of overflowing the queue.

    Woken by a commit, it waits ``linger`` seconds before publishing, so the commits of the next
    few milliseconds go out with it. Below full load a commit carries one or two events; each
    publish and each burst of acknowledgements is a wake-up of this process and of nats-server
    on a core the requests need. Measured (client credentials at about half of peak, all server
    processes on one core): 10 ms halves nats-server's CPU per token (≈ 105 → 50–57 µs) and
    lowers the token process's (≈ 850 → 640–720 µs), and with them the response time (p50
    5.5–6.4 → 2.5–3.4 ms). At full load the bursts are long anyway. Subscribers see an event
    up to ``linger`` later.
    """

    def __init__(self, pool: asyncpg.Pool, nc: nats.NATS, *, max_queued: int = 10_000, batch: int = 512,
                 publish_timeout: float = 2.0, delete_interval: float = 0.05, delete_batch: int = 2_000,
                 linger: float = 0.01) -> None:
        self.pool = pool
        self.nc = nc
        self.acks = _Acks(nc)
        self.max_queued = max_queued
        self.batch = batch
        self.publish_timeout = publish_timeout
        self.delete_interval = delete_interval
        self.delete_batch = delete_batch
        self.linger = linger
        self._queue: deque[Event] = deque()
        self._acked: list[int] = []
        self._queued = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._delete_now = asyncio.Event()
        self._hurry = asyncio.Event()        # close(): no more lingering
        self._has_acked = asyncio.Event()
        self._shrunk = asyncio.Event()       # the queue got shorter (or closed): make_room() looks again
        self._closed = False     # no more events taken
        self._stopped = False    # run() returns
        self._warned_at = 0.0
        self.published = 0
        self.left = 0        # events left to the sweep (queue full, NATS down, no ack)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, events: Sequence[Event]) -> None:
        """Queue committed events (with their positions) for publishing, in commit order."""
        if not events:
            return
        if self._closed or len(self._queue) + len(events) > self.max_queued:
            self._leave(len(events), "closed" if self._closed else "queue_full")
            return
        self._queue.extend(events)
        self._idle.clear()
        self._queued.set()

    async def make_room(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` more events leave the queue at most half full (half: several bulk
        writers may be let through at once), at most ``timeout`` seconds; False if it timed out.

        Backpressure for a bulk writer, called before its transaction: without it, a burst of
        imports fills the queue faster than JetStream acknowledges and the rest is left to the
        sweep, which publishes it only after its grace period. Returns at once when the queue is
        empty, the fast path closed or NATS disconnected (the sweep's case anyway).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._shrunk.clear()
            if (not self._queue or len(self._queue) + count <= self.max_queued // 2 or self._closed
                    or not self.nc.is_connected):
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await self._shrunk.wait()
            except TimeoutError:
                return False

    async def run(self) -> None:
        """Publish and delete until :meth:`close` has flushed (or cancelled)."""
        deleter = asyncio.create_task(self._delete_loop(), name="outbox-fast-path-delete")
        try:
            while not self._stopped:
                await self._queued.wait()
                if self.linger:
                    await self._linger()
                self._queued.clear()
                while self._queue and not self._stopped:
                    try:
                        await self._publish_some()
                    except Exception as exc:  # noqa: BLE001 - a bug must not stop the fast path
                        log.error("outbox.fast_path_error", error=type(exc).__name__, detail=str(exc)[:200])
                self._idle.set()
        finally:
            deleter.cancel()
            await asyncio.gather(deleter, return_exceptions=True)

    async def _linger(self) -> None:
        """Let the next commits join this publish (see the class docstring); cut short by close()."""
        try:
            async with asyncio.timeout(self.linger):
                await self._hurry.wait()
        except TimeoutError:
            pass

    async def close(self, timeout: float) -> None:
        """Publish what is queued, wait for its acks and delete it, within ``timeout`` seconds.

        For shutdown, after the last request. Later events, and what the flush did not finish,
        are left to the sweep of any replica. :meth:`run` returns afterwards.
        """
        self._closed = True
        self._hurry.set()
        self._shrunk.set()
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
                await self._delete_acked()
        except TimeoutError:
            log.warning("outbox.fast_path_flush_timeout", queued=len(self._queue), acked=len(self._acked))
        finally:
            self._stopped = True
            self._queued.set()

    async def _publish_some(self) -> None:
        events = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
        self._shrunk.set()
        if not self.nc.is_connected:
            self._leave(len(events), "nats_disconnected")
            return
        sent, messages = [], []
        for event in events:
            built = message(event)
            if built is not None:          # else the sweep sets it aside, with an error log
                sent.append(event.position)
                messages.append(built)
        outcomes = await self.acks.send(messages, self.publish_timeout)
        done = [p for p, outcome in zip(sent, outcomes) if not isinstance(outcome, BaseException)]
        self.published += len(done)
        if len(done) < len(events):
            failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
            self._leave(len(events) - len(done), type(failed).__name__ if failed else "unpublishable")
        if done:
            self._acked += done
            self._has_acked.set()
        if len(self._acked) >= self.delete_batch:
            self._delete_now.set()

    async def _delete_loop(self) -> None:
        """Sleeps while nothing was published (an idle service wakes for nothing); then deletes
        what was acked in the next ``delete_interval`` together (sooner when a batch is full)."""
        while True:
            await self._has_acked.wait()
            try:
                async with asyncio.timeout(self.delete_interval):
                    await self._delete_now.wait()
            except TimeoutError:
                pass
            self._delete_now.clear()
            self._has_acked.clear()
            await self._delete_acked()

    async def _delete_acked(self) -> None:
        positions, self._acked = self._acked, []
        if not positions:
            return
        try:
            async with self.pool.acquire() as conn:
                await delete_published(conn, positions)
        except Exception as exc:  # noqa: BLE001 - Postgres away: retry, or let the sweep re-publish
            log.warning("outbox.delete_failed", error=type(exc).__name__, detail=str(exc)[:200])
            if len(self._acked) + len(positions) <= self.max_queued:
                self._acked = positions + self._acked
                self._has_acked.set()     # try again after the next interval

    def _leave(self, count: int, reason: str) -> None:
        """Leave ``count`` events to the sweep; warn at most every 10 seconds."""
        self.left += count
        now = time.monotonic()
        if now - self._warned_at >= 10:
            self._warned_at = now
            log.warning("outbox.fast_path_left_to_sweep", events=count, reason=reason, total=self.left)


class OutboxRelay:
    """The sweep: one leader per service publishes what the fast paths left (module docstring).

    A row becomes eligible ``grace`` seconds after the sweep first saw the outbox reach its
    position (a clock of its own: no comparison of timestamps between hosts), so it does not
    race a live fast path; rows named by a NOTIFY are eligible at once.
    """

    def __init__(self, pool: asyncpg.Pool, nc: nats.NATS, service: str, *, batch: int = 256,
                 poll_interval: float = 1.0, publish_timeout: float = 5.0, grace: float = 5.0) -> None:
        self.pool = pool
        self.nc = nc
        self.acks = _Acks(nc)
        self.service = service
        self.batch = batch
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.grace = grace
        self.channel = f"tessera_outbox_{service}"
        self.lock_key = zlib.crc32(f"tessera-outbox-{service}".encode())
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._marks: deque[tuple[float, int]] = deque()   # (when, the outbox's top position then)
        self._named: set[int] = set()                      # positions a NOTIFY asked for
        self._all_named = False                            # a NOTIFY without positions: everything
        self._floor: int | None = None                     # ...committed before it, i.e. up to here
        self.leading = False                               # holds the lock and listens
        self.published = 0
        self.dead = 0

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
        self.leading = True
        try:
            while not self._stopping.is_set():
                sent = await self.relay_once(conn)
                if sent < self.batch:
                    await self._sleep(self.poll_interval)
        finally:
            self.leading = False
            await conn.remove_listener(self.channel, self._on_notify)
            await conn.execute("SELECT pg_advisory_unlock($1)", self.lock_key)

    async def relay_once(self, conn: asyncpg.Connection) -> int:
        """Publish one batch of eligible rows, delete what JetStream acknowledged. Returns how many."""
        named, everything = set(self._named), self._all_named
        self._all_named = False
        rows = await conn.fetch(_SWEEP, await self._cutoff(conn, everything), list(named), self.batch)
        # Named rows not in a full batch are gone already (another path published them).
        self._named -= named if len(rows) < self.batch else {r["position"] for r in rows}
        if not rows:
            return 0
        ready, dead = [], []
        for row in rows:
            built = self._message(row)
            if built is None:
                dead.append(row["position"])
            else:
                ready.append((row["position"], built))
        if dead:   # can never be published: set aside rather than block every later event
            await delete_published(conn, dead)
            self.dead += len(dead)
        outcomes = await self.acks.send([m for _, m in ready], self.publish_timeout)
        done = [p for (p, _), outcome in zip(ready, outcomes) if not isinstance(outcome, BaseException)]
        if done:
            await delete_published(conn, done)
            self.published += len(done)
        failed = [(p, o) for (p, _), o in zip(ready, outcomes) if isinstance(o, BaseException)]
        if failed:
            self._named |= {p for p, _ in failed}     # retried first when the relay recovers
            if any(isinstance(o, PublishRefused) for _, o in failed):
                await ensure_stream(self.nc.jetstream())   # the stream may have been removed: recreate it
            raise failed[0][1]
        return len(done) + len(dead)

    async def _cutoff(self, conn: asyncpg.Connection, everything: bool) -> int | None:
        """The highest position to publish now (None: none yet): old enough, or below a NOTIFY
        that named no positions (then every row committed before it, over as many batches)."""
        now = time.monotonic()
        if everything or not self._marks or now - self._marks[-1][0] >= min(0.25, self.grace):
            self._marks.append((now, await conn.fetchval(_TOP)))
        if everything:
            self._floor = self._marks[-1][1]
        while len(self._marks) > 1 and self._marks[1][0] <= now - self.grace:
            self._marks.popleft()
        when, top = self._marks[0]
        aged = top if when <= now - self.grace else None
        return max((c for c in (aged, self._floor) if c is not None), default=None)

    def _message(self, row: asyncpg.Record) -> tuple[str, bytes, str] | None:
        """The message of an outbox row's event as stored, or None (logged) if it has none."""
        built = None
        if row["id"] is not None:
            built = message(Event(
                id=row["id"], type=row["type"], version=row["version"], stream=row["stream"],
                sequence=row["sequence"], occurred_at=row["occurred_at"], service=self.service,
                tenant=row["tenant"], application=row["application"], request_id=row["request_id"],
                actor=row["actor"], data=orjson.loads(row["data"]), position=row["position"]))
        if built is None:
            log.error("outbox.dead_letter", position=row["position"], event_id=str(row["id"]),
                      type=str(row["type"])[:100],
                      reason="no event at this position" if row["id"] is None else "no valid subject or payload")
        return built

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        """A commit without a fast path: publish the positions it names now (all when none)."""
        try:
            positions = {int(p) for p in payload.split(",")} if payload else set()
        except ValueError:
            positions = set()
        if positions:
            self._named |= positions
        else:
            self._all_named = True
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()
