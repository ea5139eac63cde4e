"""The outbox relays every event to JetStream through a NATS outage; consumers apply each once.

Two paths publish (ADR 0004): the fast path of the process that committed, from memory, and
the sweep (the leader relay) for what the fast paths left or a NOTIFY names.
"""
import asyncio
import contextlib
import uuid

import nats
import orjson
import pytest

from shared.embedded import EmbeddedNats
from shared.events import EventStore, NewEvent
from shared.events.bus import STREAM, ensure_stream
from shared.events.consumer import Consumer
from shared.events.outbox import FastPath, OutboxRelay

from .events_fixtures import COUNTERS_DDL, counters, created, incremented
from tests.support.waiting import eventually


@pytest.fixture
async def own_nats(tmp_path):
    """A NATS server of this test's own, so the test may stop and restart it."""
    server = EmbeddedNats(tmp_path / "nats")
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)


async def _stream_event_ids(url: str) -> list[str]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe("tessera.>", stream=STREAM, ordered_consumer=True)
        ids = []
        info = await js.stream_info(STREAM)
        for _ in range(info.state.messages):
            msg = await sub.next_msg(timeout=5)
            ids.append(orjson.loads(msg.data)["id"])
        return ids
    finally:
        await nc.close()


@pytest.mark.parametrize("fast", [False, True], ids=["sweep", "fast-path-and-sweep"])
async def test_outbox_delivers_every_event_once_across_a_nats_restart(schema, own_nats, fast):
    _name, pool = schema
    await pool.execute(COUNTERS_DDL)
    nc = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_stream(js)
    fast_path = FastPath(pool, nc, publish_timeout=1.0) if fast else None
    store = EventStore(pool, "test", [counters], fast_path=fast_path)
    relay = OutboxRelay(pool, nc, "test", batch=20, poll_interval=0.1, publish_timeout=1.0, grace=0.5)
    task = asyncio.create_task(relay.run())
    fast_task = asyncio.create_task(fast_path.run()) if fast else None
    written = []
    try:
        written += await store.append("counter:x", 0, [created("x")])
        for seq in range(1, 51):
            written += await store.append("counter:x", seq, [incremented(1)])
        assert await eventually(lambda: _count_outbox(pool, 0))

        await asyncio.to_thread(own_nats.stop)          # NATS goes away mid-stream
        for seq in range(51, 151):
            written += await store.append("counter:x", seq, [incremented(1)])
        await asyncio.sleep(0.5)
        assert await pool.fetchval("SELECT count(*) FROM outbox") > 0  # held, not lost

        await asyncio.to_thread(own_nats.start)         # ...and comes back on the same port
        assert await eventually(lambda: _count_outbox(pool, 0), timeout=30)
    finally:
        relay.stop()
        await task
        if fast_task is not None:
            await fast_path.close(5)
            await fast_task
        await nc.close()
    published = await _stream_event_ids(own_nats.url)
    assert sorted(published) == sorted(str(e.id) for e in written)
    assert len(published) == len(set(published)) == 151


async def _count_outbox(pool, expected):
    return await pool.fetchval("SELECT count(*) FROM outbox") == expected


async def test_republished_event_is_deduplicated_by_message_id(nats_client):
    js = nats_client.jetstream()
    await ensure_stream(js)
    msg_id = str(uuid.uuid4())
    first = await js.publish("tessera.test._.counter.created", b"{}", headers={"Nats-Msg-Id": msg_id})
    again = await js.publish("tessera.test._.counter.created", b"{}", headers={"Nats-Msg-Id": msg_id})
    assert again.duplicate and again.seq == first.seq


async def test_consumer_applies_each_event_once_under_redelivery(schema, nats_client):
    _name, pool = schema
    await pool.execute("CREATE TABLE applied (event_id uuid, amount int)")
    js = nats_client.jetstream()
    await ensure_stream(js)
    service = f"svc{uuid.uuid4().hex[:8]}"
    source = EventStore(pool, service, [])
    events = await source.append("counter:r", 0, [created("r")] + [incremented(i) for i in range(1, 11)])

    async def handler(conn, event):
        if event.type == "counter.incremented":
            await conn.execute("INSERT INTO applied VALUES ($1, $2)", event.id, event.data["amount"])

    consumer = Consumer(pool, js, f"test-{service}", f"tessera.{service}.>", handler, ack_wait=1.0)
    # Every event is delivered twice: once by the relay, once more as a redelivery.
    for event in events + events:
        assert event.subject.startswith(f"tessera.{service}.")
        await consumer.process(orjson.dumps(event.envelope()))
    assert consumer.applied == len(events)
    assert await pool.fetchval("SELECT count(*) FROM applied") == 10
    assert await pool.fetchval("SELECT sum(amount) FROM applied") == 55


async def test_consumer_reading_jetstream_survives_unacked_redelivery(schema, nats_client):
    """A consumer that dies before acking gets the batch again and still applies each once."""
    _name, pool = schema
    await pool.execute("CREATE TABLE seen (event_id uuid PRIMARY KEY)")
    js = nats_client.jetstream()
    await ensure_stream(js)
    service = f"svc{uuid.uuid4().hex[:8]}"
    store = EventStore(pool, service, [])
    events = await store.append("counter:j", 0, [created("j")] + [incremented(1) for _ in range(19)])
    relay = OutboxRelay(pool, nats_client, service, poll_interval=0.1, grace=0.2)
    relay_task = asyncio.create_task(relay.run())

    async def handler(conn, event):
        await conn.execute("INSERT INTO seen VALUES ($1)", event.id)

    name = f"test-{service}"
    consumer = Consumer(pool, js, name, f"tessera.{service}.>", handler, ack_wait=1.0)
    # First pass: apply a batch but "crash" before acking.
    sub = await consumer._subscribe()
    msgs = await sub.fetch(10, timeout=5)
    for msg in msgs:
        await consumer.process(msg.data)
    await sub.unsubscribe()
    # Second consumer instance with the same durable name picks up everything, redeliveries too.
    consumer2 = Consumer(pool, js, name, f"tessera.{service}.>", handler, ack_wait=1.0)
    task = asyncio.create_task(consumer2.run())
    try:
        assert await eventually(lambda: _count(pool, "seen", 20), timeout=20)
        await asyncio.sleep(1.5)  # give any duplicate redelivery the time to arrive
        assert await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", name) == 20
        assert await _count(pool, "seen", 20)
    finally:
        consumer2.stop()
        relay.stop()
        await asyncio.gather(task, relay_task)
    assert {str(e.id) for e in events} == {str(r["event_id"]) for r in await pool.fetch("SELECT * FROM seen")}


async def _count(pool, table, expected):
    return await pool.fetchval(f"SELECT count(*) FROM {table}") == expected


async def test_a_row_that_can_never_be_published_does_not_block_the_ones_after_it(schema, nats_client):
    _name, pool = schema
    js = nats_client.jetstream()
    await ensure_stream(js)
    service = f"svc{uuid.uuid4().hex[:8]}"
    store = EventStore(pool, service, [])
    # A position with no event, and an event whose type makes no subject: set aside, logged.
    await pool.execute("INSERT INTO outbox (position) VALUES (0)")
    bad = await pool.fetchval(
        "INSERT INTO events (id, stream, sequence, type, version, occurred_at, data) "
        "VALUES (gen_random_uuid(), 'odd:1', 1, 'noverb', 1, now(), '{}') RETURNING position")
    await pool.execute("INSERT INTO outbox (position) VALUES ($1)", bad)
    events = await store.append("counter:p", 0, [created("p"), incremented(1)])
    relay = OutboxRelay(pool, nats_client, service, poll_interval=0.1, grace=0.2)
    task = asyncio.create_task(relay.run())
    try:
        assert await eventually(lambda: _count_outbox(pool, 0))
    finally:
        relay.stop()
        await task
    assert relay.published == len(events) and relay.dead == 2


# The fast path -------------------------------------------------------------------------------------
class _Seen:
    """Every message on a service's subjects, as received (core NATS sees JetStream publishes)."""

    def __init__(self) -> None:
        self.messages: list = []

    async def take(self, msg) -> None:
        self.messages.append(msg)

    @property
    def ids(self) -> list[str]:
        return [orjson.loads(m.data)["id"] for m in self.messages]


async def _watch(nc, service: str) -> _Seen:
    seen = _Seen()
    await nc.subscribe(f"tessera.{service}.>", cb=seen.take)
    await nc.flush()
    return seen


async def _new_service(nc) -> tuple[str, _Seen]:
    """A service name of this test's own, and what is published under it from now on."""
    await ensure_stream(nc.jetstream())
    service = f"svc{uuid.uuid4().hex[:8]}"
    return service, await _watch(nc, service)


@contextlib.asynccontextmanager
async def _running_fast_path(pool, nc, service: str, **options):
    """A store of ``service`` whose fast path runs for the block, then is flushed and stopped."""
    fast_path = FastPath(pool, nc, **options)
    task = asyncio.create_task(fast_path.run())
    try:
        yield fast_path, EventStore(pool, service, [], fast_path=fast_path)
    finally:
        await fast_path.close(5)
        await task


async def test_fast_path_publishes_committed_events_at_once_without_a_sweep(schema, nats_client):
    _name, pool = schema
    service, seen = await _new_service(nats_client)
    async with _running_fast_path(pool, nats_client, service) as (fast_path, store):
        written = await store.append("counter:q", 0, [created("q")])
        for seq in range(1, 30):
            written += await store.append("counter:q", seq, [incremented(seq)])
        # No relay runs: the fast path alone publishes, then deletes the rows.
        assert await eventually(lambda: _true(len(seen.messages) == 30), timeout=3)
        assert await eventually(lambda: _count_outbox(pool, 0), timeout=3)
    assert seen.ids == [str(e.id) for e in written]            # in commit order
    assert [m.headers["Nats-Msg-Id"] for m in seen.messages] == seen.ids
    assert fast_path.published == 30 and fast_path.left == 0


async def _true(value: bool) -> bool:
    return value


async def test_events_a_fast_path_never_published_are_swept_after_the_grace(schema, nats_client):
    """A process that committed and died before publishing (its fast path never ran)."""
    _name, pool = schema
    service, seen = await _new_service(nats_client)
    dead = FastPath(pool, nats_client)                        # never run
    store = EventStore(pool, service, [], fast_path=dead)
    written = await store.append("counter:d", 0, [created("d"), incremented(1), incremented(2)])
    relay = OutboxRelay(pool, nats_client, service, poll_interval=0.1, grace=1.5)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.7)
        assert seen.messages == [] and await pool.fetchval("SELECT count(*) FROM outbox") == 3  # within the grace
        assert await eventually(lambda: _count_outbox(pool, 0), timeout=10)
    finally:
        relay.stop()
        await task
    assert await eventually(lambda: _true(len(seen.messages) == 3), timeout=3)
    assert seen.ids == [str(e.id) for e in written]            # in position order


async def test_fast_path_leaves_events_to_the_sweep_while_nats_is_down(schema, own_nats):
    _name, pool = schema
    nc = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    await ensure_stream(nc.jetstream())
    fast_path = FastPath(pool, nc, publish_timeout=0.5)
    store = EventStore(pool, "test", [], fast_path=fast_path)
    task = asyncio.create_task(fast_path.run())
    try:
        await asyncio.to_thread(own_nats.stop)
        assert await eventually(lambda: _true(not nc.is_connected), timeout=10)
        written = await store.append("counter:n", 0, [created("n"), incremented(1)])
        assert await eventually(lambda: _true(fast_path.left == 2), timeout=3)
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 2         # held for the sweep
        await asyncio.to_thread(own_nats.start)
        relay = OutboxRelay(pool, nc, "test", poll_interval=0.1, grace=0.2)
        relay_task = asyncio.create_task(relay.run())
        try:
            assert await eventually(lambda: _count_outbox(pool, 0), timeout=20)
        finally:
            relay.stop()
            await relay_task
    finally:
        await fast_path.close(5)
        await task
        await nc.close()
    assert sorted(await _stream_event_ids(own_nats.url)) == sorted(str(e.id) for e in written)


async def test_fast_path_and_sweep_publish_the_same_bytes(schema, nats_client):
    """The sweep rebuilds the envelope from the stored event: byte for byte the fast path's."""
    _name, pool = schema
    service, seen = await _new_service(nats_client)
    # Keys in an order jsonb does not keep, nested, and non-ASCII text.
    data = {"zeta": 1, "name": "b", "nested": {"y": [1, "ü"], "x": None}, "a": "€"}
    async with _running_fast_path(pool, nats_client, service) as (_fast_path, store):
        (event,) = await store.append("counter:b", 0, [NewEvent("counter.created", data, tenant="t1")])
        assert await eventually(lambda: _count_outbox(pool, 0), timeout=3)
    # As if the fast path's delete was lost: the sweep publishes the event again.
    await pool.execute("INSERT INTO outbox (position) VALUES ($1)", event.position)
    relay = OutboxRelay(pool, nats_client, service, poll_interval=0.1, grace=0)
    relay_task = asyncio.create_task(relay.run())
    try:
        assert await eventually(lambda: _count_outbox(pool, 0), timeout=5)
    finally:
        relay.stop()
        await relay_task
    assert await eventually(lambda: _true(len(seen.messages) == 2), timeout=3)
    fast, swept = (m.data for m in seen.messages)
    assert fast == swept
    assert {m.subject for m in seen.messages} == {event.subject}
    assert orjson.loads(fast)["data"] == data


async def test_events_appended_in_a_callers_transaction_wait_for_its_commit(schema, nats_client):
    """Not handed to the fast path (the caller may still roll back): a NOTIFY names them to the
    sweep, which Postgres delivers only on commit, and the sweep publishes them at once."""
    _name, pool = schema
    service, seen = await _new_service(nats_client)
    fast_path = FastPath(pool, nats_client)
    store = EventStore(pool, service, [], fast_path=fast_path)
    relay = OutboxRelay(pool, nats_client, service, poll_interval=0.1, grace=60)   # no sweep by age
    tasks = [asyncio.create_task(fast_path.run()), asyncio.create_task(relay.run())]
    try:
        assert await eventually(lambda: _true(relay.leading), timeout=5)
        async with pool.acquire() as conn:
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await store.append("counter:r", 0, [created("r")], conn=conn)
                    raise RuntimeError("the caller changes its mind")
            async with conn.transaction():
                written = await store.append("counter:c", 0, [created("c")], conn=conn)
                await asyncio.sleep(0.5)
                assert seen.messages == []                      # not before the commit
        assert await eventually(lambda: _true(len(seen.messages) == 1), timeout=5)
        assert await eventually(lambda: _count_outbox(pool, 0), timeout=5)
    finally:
        relay.stop()
        await fast_path.close(5)
        await asyncio.gather(*tasks)
    assert seen.ids == [str(written[0].id)] and fast_path.published == 0 and relay.published == 1


async def test_a_full_fast_path_queue_leaves_events_to_the_sweep(schema, nats_client):
    _name, pool = schema
    fast_path = FastPath(pool, nats_client, max_queued=2)        # not running: nothing drains it
    store = EventStore(pool, f"svc{uuid.uuid4().hex[:8]}", [], fast_path=fast_path)
    await store.append("counter:f", 0, [created("f"), incremented(1)])
    await store.append("counter:f", 2, [incremented(2)])
    assert len(fast_path._queue) == 2 and fast_path.left == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 3


async def test_a_bulk_writer_waits_for_room_instead_of_overflowing_the_fast_path(schema, nats_client):
    """make_room: wait until the queue, with the batch to come, is at most half full."""
    _name, pool = schema
    service, seen = await _new_service(nats_client)
    fast_path = FastPath(pool, nats_client, max_queued=10)
    store = EventStore(pool, service, [], fast_path=fast_path)
    assert await fast_path.make_room(9, timeout=0.1)             # empty: room for anything
    await store.append("counter:w", 0, [created("w")] + [incremented(i) for i in range(1, 4)])
    assert await fast_path.make_room(1, timeout=0.1)             # 4 + 1 of 10: half full at most
    assert not await fast_path.make_room(2, timeout=0.2)         # 4 + 2: nothing drains it yet
    waiting = asyncio.create_task(fast_path.make_room(2, timeout=5))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    task = asyncio.create_task(fast_path.run())                  # publishing empties the queue
    try:
        assert await asyncio.wait_for(waiting, 5) is True
        await store.append("counter:w", 4, [incremented(i) for i in range(4, 6)])
        assert await eventually(lambda: _true(len(seen.messages) == 6), timeout=3)
        assert fast_path.left == 0
    finally:
        await fast_path.close(5)
        await asyncio.wait_for(task, 1)


async def test_closing_the_fast_path_lets_a_waiting_bulk_writer_go(schema, nats_client):
    _name, pool = schema
    fast_path = FastPath(pool, nats_client, max_queued=4)        # not running: nothing drains it
    store = EventStore(pool, f"svc{uuid.uuid4().hex[:8]}", [], fast_path=fast_path)
    await store.append("counter:x", 0, [created("x"), incremented(1), incremented(2)])
    waiting = asyncio.create_task(fast_path.make_room(1, timeout=30))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await fast_path.close(0.1)          # its flush times out; what it holds is the sweep's now
    assert await asyncio.wait_for(waiting, 1) is True            # at once, not after 30 s


async def test_closing_the_fast_path_flushes_what_is_queued(schema, nats_client):
    _name, pool = schema
    service, seen = await _new_service(nats_client)
    fast_path = FastPath(pool, nats_client, delete_interval=60)  # only the flush deletes
    store = EventStore(pool, service, [], fast_path=fast_path)
    task = asyncio.create_task(fast_path.run())
    await store.append("counter:s", 0, [created("s")] + [incremented(i) for i in range(1, 50)])
    await fast_path.close(5)
    await asyncio.wait_for(task, 1)                             # run() returns after the flush
    assert fast_path.published == 50
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    await store.append("counter:s", 50, [incremented(50)])      # closed: left to the sweep
    assert fast_path.left == 1 and await pool.fetchval("SELECT count(*) FROM outbox") == 1
    assert await eventually(lambda: _true(len(seen.messages) == 50), timeout=3)


async def test_a_notify_too_long_to_name_its_positions_wakes_the_sweep_for_all(schema, nats_client):
    _name, pool = schema
    service, seen = await _new_service(nats_client)
    store = EventStore(pool, service, [])                        # no fast path: a NOTIFY
    relay = OutboxRelay(pool, nats_client, service, poll_interval=0.1, grace=60)
    task = asyncio.create_task(relay.run())
    try:
        assert await eventually(lambda: _true(relay.leading), timeout=5)
        written = await store.append("counter:l", 0, [created("l")] + [incremented(1) for _ in range(400)])
        assert await eventually(lambda: _count_outbox(pool, 0), timeout=10)
    finally:
        relay.stop()
        await task
    assert await eventually(lambda: _true(len(seen.messages) == 401), timeout=3)
    assert seen.ids == [str(e.id) for e in written]


async def test_a_batch_is_applied_in_one_transaction_and_a_bad_event_holds_back_only_itself(schema, nats_client):
    _name, pool = schema
    await pool.execute("CREATE TABLE applied (event_id uuid PRIMARY KEY, amount int)")
    js = nats_client.jetstream()
    await ensure_stream(js)
    service = f"svc{uuid.uuid4().hex[:8]}"
    events = await EventStore(pool, service, []).append(
        "counter:b", 0, [created("b")] + [incremented(i) for i in range(1, 6)])
    commits = []

    async def handler(conn, event):
        commits.append(conn.is_in_transaction())
        if event.type == "counter.incremented":
            if event.data["amount"] == 3:
                raise ValueError("a handler that cannot apply this one")
            await conn.execute("INSERT INTO applied VALUES ($1, $2)", event.id, event.data["amount"])

    consumer = Consumer(pool, js, f"test-{service}", f"tessera.{service}.>", handler)
    payloads = [orjson.dumps(e.envelope()) for e in events]
    good = [p for e, p in zip(events, payloads) if e.data.get("amount") != 3]
    assert await consumer.process_together(good) == 5 and all(commits)
    assert await pool.fetchval("SELECT sum(amount) FROM applied") == 1 + 2 + 4 + 5
    assert await consumer.process_together(good) == 0          # each once, even batched again
    with pytest.raises(ValueError):                            # the bad one rolls its batch back
        await consumer.process_together(payloads)
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", consumer.name) == 5

    # Fetched from JetStream: the batch fails, then one at a time every event but the bad one
    # is applied and acked; the bad one alone comes back after ack_wait.
    for event, payload in zip(events, payloads):
        await js.publish(event.subject, payload, headers={"Nats-Msg-Id": str(event.id)})
    await pool.execute("DELETE FROM applied")
    await pool.execute("DELETE FROM inbox")
    batched = Consumer(pool, js, f"test-{service}-2", f"tessera.{service}.>", handler, ack_wait=1.0)
    sub = await batched._subscribe()
    try:
        msgs = await sub.fetch(len(events), timeout=5)
        assert len(msgs) == len(events)
        with pytest.raises(ValueError):
            await batched.apply(msgs)
        assert await pool.fetchval("SELECT sum(amount) FROM applied") == 1 + 2 + 4 + 5
        again = await sub.fetch(10, timeout=5)
        assert [orjson.loads(m.data)["id"] for m in again] == [str(events[3].id)]
    finally:
        await sub.unsubscribe()


async def test_the_fast_path_lingers_so_the_next_commits_go_out_with_the_first(schema, nats_client):
    """A commit wakes the fast path; what commits during its linger is published with it."""
    _name, pool = schema
    service, seen = await _new_service(nats_client)
    async with _running_fast_path(pool, nats_client, service, linger=0.5) as (fast_path, store):
        await store.append("counter:l", 0, [created("l")])
        await asyncio.sleep(0.2)
        second = await store.append("counter:m", 0, [created("m")])
        await asyncio.sleep(0.1)
        assert fast_path.published == 0 and seen.messages == []      # still lingering
        assert await eventually(lambda: _true(fast_path.published == 2), timeout=3)
        assert await eventually(lambda: _true(len(seen.messages) == 2), timeout=3)
        assert seen.ids[1] == str(second[0].id)                       # in commit order


async def test_closing_the_fast_path_cuts_its_linger_short(schema, nats_client):
    _name, pool = schema
    service, seen = await _new_service(nats_client)
    fast_path = FastPath(pool, nats_client, linger=60)
    store = EventStore(pool, service, [], fast_path=fast_path)
    task = asyncio.create_task(fast_path.run())
    await store.append("counter:q", 0, [created("q")])
    await asyncio.sleep(0.1)                                     # lingering now, for a minute
    await fast_path.close(5)     # a flush that waited out the linger would time out, publishing nothing
    await asyncio.wait_for(task, 1)
    assert fast_path.published == 1 and await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await eventually(lambda: _true(len(seen.messages) == 1), timeout=3)
