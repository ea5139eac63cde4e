import asyncio
import uuid

import asyncpg
import pytest

from shared.db import EVENT_STORE_SQL
from shared.events import ConcurrencyError, EventStore
from shared.events.projection import replay

from .events_fixtures import COUNTERS_DDL, counters, created, incremented


@pytest.fixture
async def store(schema):
    _name, pool = schema
    await pool.execute(COUNTERS_DDL)
    return EventStore(pool, "test", [counters])


async def test_append_assigns_sequences_and_updates_read_model_in_same_transaction(store):
    events = await store.append("counter:a", 0, [created("a"), incremented(2), incremented(3)])
    assert [e.sequence for e in events] == [1, 2, 3]
    assert await store.pool.fetchval("SELECT value FROM counters WHERE name = 'a'") == 5
    assert [e.type for e in await store.load("counter:a")] == ["counter.created", "counter.incremented",
                                                              "counter.incremented"]
    # The outbox holds the positions only; the relay reads the rest from the events.
    outbox = await store.pool.fetch("SELECT * FROM outbox ORDER BY position")
    assert [r["position"] for r in outbox] == [e.position for e in events]
    assert all(r["payload"] is None and r["subject"] is None for r in outbox)


async def test_event_ids_are_time_ordered_uuid7(store):
    events = await store.append("counter:u", 0, [created("u"), incremented(1), incremented(2)])
    assert all(e.id.version == 7 for e in events)
    assert sorted(e.id.int >> 80 for e in events) == [e.id.int >> 80 for e in events]  # ms prefix


async def test_append_without_a_fast_path_names_its_positions_to_the_sweep(store):
    heard = asyncio.Queue()

    def listen(*args):
        heard.put_nowait(args[-1])

    async with store.pool.acquire() as conn:
        await conn.add_listener(store.notify_channel, listen)
        events = await store.append("counter:n", 0, [created("n"), incremented(1)])
        payload = await asyncio.wait_for(heard.get(), 5)
        await conn.remove_listener(store.notify_channel, listen)
    assert payload == ",".join(str(e.position) for e in events)


async def test_event_store_sql_migrates_an_old_outbox_in_place_keeping_its_rows(servers):
    """A database from before ADR 0004 (outbox rows with subject and payload, NOT NULL)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"], server_settings={"search_path": schema})
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute("CREATE TABLE outbox (position bigint PRIMARY KEY, id uuid NOT NULL,"
                           " subject text NOT NULL, payload bytea NOT NULL)")
        await conn.execute("INSERT INTO outbox VALUES (7, gen_random_uuid(), 'tessera.t._.a.b', '{}')")
        for _ in range(2):                                      # idempotent: runs again harmlessly
            await conn.execute(EVENT_STORE_SQL.read_text())
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE position = 7") == 1  # not lost
        await conn.execute("INSERT INTO outbox (position) VALUES (8)")                   # the new shape
        # An old release's writer still works during a rolling update.
        await conn.execute("INSERT INTO outbox VALUES (9, gen_random_uuid(), 'tessera.t._.a.b', '{}')")
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def test_migrate_brings_an_existing_event_store_up_to_the_release(servers):
    """A schema whose event store was made by an earlier release (its file recorded as applied)
    still gets the store's later changes: migrate() runs event_store.sql at every start."""
    from shared.db import migrate
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = servers["TESSERA_DATABASE_URL"]
    conn = await asyncpg.connect(url, server_settings={"search_path": schema})
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute("CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz "
                           "NOT NULL DEFAULT now())")
        await conn.execute("INSERT INTO schema_migrations (name) VALUES ('000_event_store.sql')")
        await conn.execute("CREATE TABLE outbox (position bigint PRIMARY KEY, id uuid NOT NULL,"
                           " subject text NOT NULL, payload bytea NOT NULL)")
        assert await migrate(url, schema, None) == []          # nothing new is recorded…
        await conn.execute("INSERT INTO outbox (position) VALUES (1)")   # …but the outbox has its new shape
        assert await conn.fetchval("SELECT count(*) FROM events") == 0   # and the rest of the store exists
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def test_conflicting_append_fails_and_writes_nothing(store):
    await store.append("counter:b", 0, [created("b")])
    await store.append("counter:b", 1, [incremented(1)])
    with pytest.raises(ConcurrencyError):
        await store.append("counter:b", 1, [incremented(10), incremented(20)])
    assert len(await store.load("counter:b")) == 2
    assert await store.pool.fetchval("SELECT value FROM counters WHERE name = 'b'") == 1
    assert await store.pool.fetchval("SELECT count(*) FROM outbox") == 2


async def test_concurrent_appends_at_same_version_exactly_one_wins(store):
    await store.append("counter:c", 0, [created("c")])
    results = await asyncio.gather(*(store.append("counter:c", 1, [incremented(1)]) for _ in range(8)),
                                   return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, ConcurrencyError) for r in results if isinstance(r, Exception))
    assert await store.pool.fetchval("SELECT value FROM counters WHERE name = 'c'") == 1


async def test_failing_projection_rolls_back_the_events(store):
    await store.append("counter:d", 0, [created("d")])
    with pytest.raises(Exception):
        # A second counter.created for the same name violates the read model's key.
        await store.append("counter:d2", 0, [created("d")])
    assert await store.load("counter:d2") == []
    assert await store.pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_events_are_append_only(store):
    await store.append("counter:e", 0, [created("e")])
    with pytest.raises(Exception, match="append-only"):
        await store.pool.execute("UPDATE events SET data = '{}'")
    with pytest.raises(Exception, match="append-only"):
        await store.pool.execute("DELETE FROM events")


async def test_old_event_versions_are_upcast_on_read(store):
    await store.append("counter:f", 0, [created("f")])
    # An event written by an older release, in version 1's shape.
    await store.pool.execute(
        "INSERT INTO events (id, stream, sequence, type, version, occurred_at, data) "
        "VALUES (gen_random_uuid(), 'counter:f', 2, 'counter.incremented', 1, now(), '{\"by\": 7}')")
    loaded = await store.load("counter:f")
    assert loaded[1].version == 2 and loaded[1].data == {"amount": 7}


async def test_replay_gives_read_models_identical_to_live_ones(store):
    for name in ("g", "h", "i"):
        await store.append(f"counter:{name}", 0, [created(name)])
        for seq, amount in enumerate(range(1, 6), start=1):
            await store.append(f"counter:{name}", seq, [incremented(amount)])
    live = [tuple(r) for r in await store.pool.fetch("SELECT * FROM counters ORDER BY name")]
    await store.pool.execute("UPDATE counters SET value = -1")  # damage the read model
    count = await replay(store)
    rebuilt = [tuple(r) for r in await store.pool.fetch("SELECT * FROM counters ORDER BY name")]
    assert count == 18
    assert rebuilt == live

