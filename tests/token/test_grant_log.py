"""Grant events are group-committed, each guarded by the client and application it was decided on."""
import asyncio
import uuid

import orjson
import pytest

from services.token.grant_log import GrantLog
from shared.events import EventStore, GuardFailed, NewEvent
from shared.events.bus import ensure_stream
from shared.events.outbox import FastPath

from tests.support.plans import plan_of, rows_read

from .registry_fixtures import registry, token_schema, token_settings  # noqa: F401 - fixtures


def _issued(jti: str) -> NewEvent:
    return NewEvent("access_token.issued", {
        "grant_id": jti, "grant_type": "client_credentials", "client_id": "billing", "subject": "billing",
        "scope": "", "jti": jti, "format": "jwt", "token_digest": None,
        "expires_at": "2030-01-01T00:00:00Z", "kid": "k"}, tenant="acme", application="billing")


async def _setup(registry):
    await registry.create_tenant("acme", "Acme")
    await registry.create_application("acme", "billing", "Billing")
    return await registry.application("billing"), await registry.client("billing", "billing")


async def test_concurrent_grants_are_written_together_each_exactly_once(registry):
    app, client = await _setup(registry)
    log = GrantLog(registry.store)
    events = await asyncio.gather(*(
        log.record(f"grant:g{i}", _issued(f"g{i}"), client_id=client.client_id, client_version=client.version,
                   application_version=app.version) for i in range(60)))
    await log.close()
    assert sorted(e.stream for e in events) == sorted(f"grant:g{i}" for i in range(60))
    assert all(e.position > 0 for e in events)
    assert log.batches < 60  # requests that arrived during a write shared the next one
    pool = registry.pool
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'access_token.issued'") == 60
    # Without a fast path every event waits in the outbox (its position) for the sweep.
    outbox = await pool.fetch("SELECT o.position, e.id FROM outbox o JOIN events e USING (position) "
                              "WHERE e.type = 'access_token.issued'")
    assert sorted(r["position"] for r in outbox) == sorted(e.position for e in events)
    assert {r["id"] for r in outbox} == {e.id for e in events}


async def _grant_rows(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox JOIN events USING (position)"
                               " WHERE type = 'access_token.issued'")


async def test_with_a_fast_path_every_grant_is_published_after_its_commit(registry, nats_client):
    app, client = await _setup(registry)
    await ensure_stream(nats_client.jetstream())
    # A service name of its own: these hand-made grants stay out of the session's event contract.
    service = f"svc{uuid.uuid4().hex[:8]}"
    seen = []

    async def take(msg):
        seen.append(msg)

    await nats_client.subscribe(f"tessera.{service}.>", cb=take)
    await nats_client.flush()
    fast_path = FastPath(registry.pool, nats_client)
    log = GrantLog(EventStore(registry.pool, service, fast_path=fast_path))
    task = asyncio.create_task(fast_path.run())
    try:
        events = await asyncio.gather(*(
            log.record(f"grant:g{i}", _issued(f"g{i}"), client_id=client.client_id, client_version=client.version,
                       application_version=app.version) for i in range(60)))
        for _ in range(100):
            if len(seen) == 60 and not await _grant_rows(registry.pool):
                break
            await asyncio.sleep(0.05)
    finally:
        await fast_path.close(5)
        await task
        await log.close()
    assert log.batches < 60
    assert [orjson.loads(m.data)["id"] for m in seen] == [str(e.id) for e in sorted(events, key=lambda e: e.position)]
    assert {m.subject for m in seen} == {f"tessera.{service}.acme.access_token.issued"}
    assert await _grant_rows(registry.pool) == 0                # acked, then deleted
    assert fast_path.published == 60


async def test_a_grant_decided_on_a_stale_client_is_refused_and_not_written(registry):
    app, client = await _setup(registry)
    log = GrantLog(registry.store)
    await registry.disable_client("billing", "billing")
    stale = log.record("grant:s", _issued("s"), client_id="billing", client_version=client.version,
                       application_version=app.version)
    with pytest.raises(GuardFailed):
        await stale
    assert await registry.pool.fetchval("SELECT count(*) FROM events WHERE stream = 'grant:s'") == 0
    # In the same batch, a good grant of another application is still written.
    await registry.create_application("acme", "other", "Other")
    other_app, other = await registry.application("other"), await registry.client("other", "other")
    bad = log.record("grant:b", _issued("b"), client_id="billing", client_version=client.version,
                     application_version=app.version)
    good = log.record("grant:o", NewEvent("access_token.issued", {**_issued("o").data, "client_id": "other"},
                                          tenant="acme", application="other"),
                      client_id="other", client_version=other.version, application_version=other_app.version)
    results = await asyncio.gather(bad, good, return_exceptions=True)
    await log.close()
    assert isinstance(results[0], GuardFailed) and results[1].stream == "grant:o"
    assert await _grant_rows(registry.pool) == 1                # the refused ones have no outbox row


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
async def test_the_guard_looks_up_each_row_by_key_whatever_the_number_of_applications(registry, plan_cache_mode):
    """The guard's cost must not grow with the registry: 1 vs 10,000 applications (BENCHMARKS.md)."""
    from services.token.grant_log import GUARD
    await registry.create_tenant("acme", "Acme")
    for i in range(120):
        await registry.create_application("acme", f"app-{i:03d}", f"App {i}")
    picked = [f"app-{i:03d}" for i in (7, 64, 119)]
    rows = []
    for app_id in picked:
        app, client = await registry.application(app_id), await registry.client(app_id, app_id)
        rows.append({"application": app_id, "client_id": client.client_id, "client_version": client.version,
                     "application_version": app.version})
    query = ("SELECT i.application FROM jsonb_to_recordset($1::jsonb) AS i(application text, client_id text, "
             f"client_version int, application_version int) {GUARD}")
    async with registry.pool.acquire() as conn:
        await conn.execute("ANALYZE applications; ANALYZE clients; ANALYZE tenants")
        await conn.execute(f"SET plan_cache_mode = {plan_cache_mode}")
        try:
            assert sorted(r["application"] for r in await conn.fetch(query, rows)) == picked
            plan = plan_of(await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", rows))
        finally:
            await conn.execute("RESET plan_cache_mode")
    for relation in ("applications", "clients", "tenants"):
        assert rows_read(plan, relation) <= len(rows), (relation, plan)
