"""The outbox relays every event to JetStream through a NATS outage; consumers apply each once."""
import asyncio
import uuid

import nats
import orjson
import pytest

from shared.embedded import EmbeddedNats
from shared.events import EventStore
from shared.events.bus import STREAM, ensure_stream
from shared.events.consumer import Consumer
from shared.events.outbox import OutboxRelay

from .events_fixtures import COUNTERS_DDL, counters, created, incremented


async def _eventually(predicate, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


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


async def test_outbox_delivers_every_event_once_across_a_nats_restart(schema, own_nats):
    _name, pool = schema
    await pool.execute(COUNTERS_DDL)
    store = EventStore(pool, "test", [counters])
    nc = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_stream(js)
    relay = OutboxRelay(pool, nc, "test", batch=20, poll_interval=0.1, publish_timeout=1.0)
    task = asyncio.create_task(relay.run())
    written = []
    try:
        written += await store.append("counter:x", 0, [created("x")])
        for seq in range(1, 51):
            written += await store.append("counter:x", seq, [incremented(1)])
        assert await _eventually(lambda: _count_outbox(pool, 0))

        await asyncio.to_thread(own_nats.stop)          # NATS goes away mid-stream
        for seq in range(51, 151):
            written += await store.append("counter:x", seq, [incremented(1)])
        await asyncio.sleep(0.5)
        assert await pool.fetchval("SELECT count(*) FROM outbox") > 0  # held, not lost

        await asyncio.to_thread(own_nats.start)         # ...and comes back on the same port
        assert await _eventually(lambda: _count_outbox(pool, 0), timeout=30)
    finally:
        relay.stop()
        await task
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
    relay = OutboxRelay(pool, nats_client, service, poll_interval=0.1)
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
        assert await _eventually(lambda: _count(pool, "seen", 20), timeout=20)
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
    await pool.execute("INSERT INTO outbox (position, id, subject, payload) VALUES (0, gen_random_uuid(), "
                       "'not-a-tessera-subject', '{}')")
    events = await store.append("counter:p", 0, [created("p"), incremented(1)])
    relay = OutboxRelay(pool, nats_client, service, poll_interval=0.1)
    task = asyncio.create_task(relay.run())
    try:
        assert await _eventually(lambda: _count_outbox(pool, 0))
    finally:
        relay.stop()
        await task
    assert relay.published == len(events)
