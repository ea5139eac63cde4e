"""Waiting until a system has digested what was just loaded into it, before measuring it.

Loading data (users imported, refresh tokens inserted, the main rows' leftovers) leaves work
behind that runs on the same server CPU as the load: Tessera's durable JetStream consumers
apply the events (the userinfo service's ``userinfo-authn-users`` applies each ``user.created``
to its read model, about 600 a second here, most of the one server CPU with its Postgres and
NATS share), the outbox relays publish, Postgres's autovacuum analyses and vacuums the tables
that grew (and the first reads of freshly inserted rows set their hint bits, a write each).
Measured in the middle of that, a sign-in rate halves for reasons that have nothing to do with
the number of users (bench/scaling.py's users row did: 20 → 10 sign-ins/s, and the 1,000 first
users alone were as slow as all 20,000 while the consumer was behind).

:func:`quiesce_tessera` therefore waits, in order, until

1. every durable consumer of the stream ``TESSERA`` has ``num_pending == 0`` and
   ``num_ack_pending == 0`` (JetStream consumer info) and every service's outbox is empty;
2. ``VACUUM (ANALYZE)`` of the tables just loaded is done (the whole database when none are
   named): the planner's statistics are current, and the insert-triggered autovacuum and the
   hint-bit writes that would otherwise fall into the measurement are done now;
3. ``CHECKPOINT`` is done, so that every case starts at the same point of Postgres's checkpoint
   cycle: no checkpoint that the loading's WAL started is still writing pages into the
   measurement, and the first write to each page logs its whole image in every case alike
   (refresh with a million live tokens came out at 0.74 of a thousand in a run where most likely
   only the second case had a checkpoint under way; measured apart, 1.07 with none in either,
   and right after one the million's case logged 0.5–0.7 full-page images per refresh);
4. no autovacuum worker is running and every process of the system together uses less than
   ``quiet`` of one CPU over a second (twice in a row).

:func:`quiesce_peer` does the same for the peer as far as it applies: no background save or
append-only-file rewrite in its Redis, and its processes quiet. Both answer a
:class:`Quiesced`, which says how long each step took and what was still pending if the time
allowed ran out.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from .procs import cpu_seconds

STREAM = "TESSERA"
PROGRESS_EVERY_S = 10.0


@dataclass
class Quiesced:
    """How a wait went: seconds per step, and what was still busy when the time ran out."""
    steps: dict[str, float] = field(default_factory=dict)     # step -> seconds, in order
    drained: int = 0                                           # events the consumers applied meanwhile
    busy: list[str] = field(default_factory=list)              # what was not quiet at the deadline
    analyzed: str = ""                                         # what VACUUM (ANALYZE) ran on

    @property
    def seconds(self) -> float:
        return sum(self.steps.values())

    @property
    def ok(self) -> bool:
        return not self.busy

    def describe(self) -> str:
        parts = []
        for step, seconds in self.steps.items():
            text = f"{step} {seconds:,.1f} s"
            if step == "consumers and outboxes" and self.drained:
                text += f" ({self.drained:,} events applied)"
            if step == "VACUUM (ANALYZE)" and self.analyzed:
                text += f" ({self.analyzed})"
            parts.append(text)
        out = f"{self.seconds:,.1f} s" + (f": {', '.join(parts)}" if parts else "")
        if self.busy:
            out += f"; NOT quiet when the time ran out: {'; '.join(self.busy)}"
        return out


def busy_consumers(infos: list[tuple[str, int, int]]) -> list[str]:
    """``(name, num_pending, num_ack_pending)`` of each consumer → those with work left, as text."""
    return [f"{name}: {pending:,} pending, {acking:,} unacknowledged"
            for name, pending, acking in infos if pending or acking]


def pending_total(infos: list[tuple[str, int, int]]) -> int:
    return sum(pending + acking for _name, pending, acking in infos)


def cpu_share(processes: dict[str, tuple[int | None, bool]], seconds: float = 1.0) -> float:
    """CPU used by these processes (label → (pid, count children)) together over ``seconds``,
    as a share of one CPU."""
    watched = {label: how for label, how in processes.items() if how[0]}
    before = sum(cpu_seconds(pid, tree) for pid, tree in watched.values())
    time.sleep(seconds)
    return (sum(cpu_seconds(pid, tree) for pid, tree in watched.values()) - before) / seconds


def wait_cpu_quiet(processes: dict[str, tuple[int | None, bool]], deadline: float, quiet: float = 0.10,
                   in_a_row: int = 2, extra_busy=None) -> str | None:
    """Until ``in_a_row`` seconds in a row each under ``quiet`` (and ``extra_busy()`` answers
    nothing); None, or what was still busy at ``deadline``."""
    calm, last = 0, ""
    while time.monotonic() < deadline:
        share = cpu_share(processes)
        other = extra_busy() if extra_busy else ""
        calm = calm + 1 if share < quiet and not other else 0
        if calm >= in_a_row:
            return None
        last = f"server CPU {share:.0%} of one CPU" + (f", {other}" if other else "")
    return last or "no time left to check the CPU"


# Tessera -------------------------------------------------------------------------------------------
async def _consumers(nats_url: str) -> list[tuple[str, int, int]]:
    import nats
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=1)
    try:
        infos = await nc.jetstream().consumers_info(STREAM)
        return [(i.name, int(i.num_pending or 0), int(i.num_ack_pending or 0)) for i in infos]
    finally:
        await nc.close()


async def sql(database_url: str, statement: str, *args):
    import asyncpg
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        return await conn.fetch(statement, *args, timeout=None)
    finally:
        await conn.close()


def _autovacuum(database_url: str) -> str:
    rows = asyncio.run(sql(database_url, "SELECT query FROM pg_stat_activity WHERE backend_type = "
                                         "'autovacuum worker' AND state IS DISTINCT FROM 'idle'"))
    return "; ".join(r["query"][:80] for r in rows)


def quiesce_tessera(suite, tables: list[str] | None = None, max_s: float = 600.0, quiet: float = 0.10,
                    label: str = "Tessera") -> Quiesced:
    """See the module docstring. ``tables``: schema-qualified tables to VACUUM (ANALYZE)
    (None: the whole database)."""
    nats_url = suite.services["token"].env["TESSERA_NATS_URL"]
    out = Quiesced()
    started = time.monotonic()
    deadline = started + max_s
    first, last_print, infos, backlog = None, started, [], {}
    while True:
        infos = asyncio.run(_consumers(nats_url))
        backlog = {schema: n for schema, n in suite.outbox_backlog().items() if n}
        total = pending_total(infos)
        first = total if first is None else first
        if total == 0 and not backlog:
            break
        now = time.monotonic()
        if now >= deadline:
            out.busy += busy_consumers(infos) + [f"outbox {s}: {n:,}" for s, n in backlog.items()]
            break
        if now - last_print >= PROGRESS_EVERY_S:
            last_print = now
            print(f"      waiting for {label} to digest: {', '.join(busy_consumers(infos)) or 'consumers done'}"
                  + (f"; outboxes {backlog}" if backlog else "") + f" ({now - started:,.0f} s)", flush=True)
        time.sleep(1.0)
    out.drained = max(0, (first or 0) - pending_total(infos))
    out.steps["consumers and outboxes"] = time.monotonic() - started
    step = time.monotonic()
    if tables:   # those that exist (a service may not have an outbox or an inbox)
        found = asyncio.run(sql(suite.database_url, "SELECT t FROM unnest($1::text[]) t WHERE to_regclass(t) IS NOT NULL",
                                tables))
        tables = [r["t"] for r in found] or None
    target = ", ".join(tables) if tables else ""
    asyncio.run(sql(suite.database_url, f"VACUUM (ANALYZE) {target}".strip()))
    out.analyzed = target or "the whole database"
    out.steps["VACUUM (ANALYZE)"] = time.monotonic() - step
    step = time.monotonic()
    asyncio.run(sql(suite.database_url, "CHECKPOINT"))
    out.steps["CHECKPOINT"] = time.monotonic() - step
    step = time.monotonic()
    left = wait_cpu_quiet(suite.processes(), max(deadline, step + 30.0), quiet,
                          extra_busy=lambda: (f"autovacuum: {a}" if (a := _autovacuum(suite.database_url)) else ""))
    if left:
        out.busy.append(left)
    out.steps["CPU quiet"] = time.monotonic() - step
    return out


# The peer --------------------------------------------------------------------------------------------
def _redis_saving(redis_url: str) -> str:
    import redis
    client = redis.Redis.from_url(redis_url)
    try:
        info = client.info("persistence")
    finally:
        client.close()
    busy = [k for k in ("rdb_bgsave_in_progress", "aof_rewrite_in_progress", "aof_rewrite_scheduled")
            if int(info.get(k) or 0)]
    return f"redis {', '.join(busy)}" if busy else ""


def quiesce_peer(peer, max_s: float = 120.0, quiet: float = 0.10) -> Quiesced:
    """The peer's Redis done saving and its processes quiet (it has no consumers or outboxes)."""
    out = Quiesced()
    step = time.monotonic()
    left = wait_cpu_quiet(peer.processes(), step + max_s, quiet, extra_busy=lambda: _redis_saving(peer.redis_url))
    if left:
        out.busy.append(left)
    out.steps["Redis done saving, CPU quiet"] = time.monotonic() - step
    return out
