"""The sweep of expired refresh-token rows (services/token/refresh_sweep.py), on real Postgres."""
from __future__ import annotations

import asyncio

import asyncpg
import httpx

from services.token.refresh_sweep import RefreshTokenSweep
from tests.support.plans import plan_of, rows_read
from tests.token.code_flow import introspect, make_rp, refresh, signed_in

from .registry_fixtures import registry, token_schema, token_settings  # noqa: F401 - fixtures

DAY = 86_400

_INSERT = """
INSERT INTO refresh_tokens (token_hash, token_id, family_id, grant_id, tenant_id, application_id, client_id,
                            subject, scopes, claims, issued_at, expires_at, consumed_at, revoked_at)
SELECT h, 'id-' || h, 'family-' || h, 'grant-' || h, 'acme', 'billing', 'billing', 'alice', '{openid}', '{}',
       now() - interval '30 days', now() + make_interval(secs => $2),
       CASE WHEN $3 THEN now() END, CASE WHEN $4 THEN now() END
FROM unnest($1::text[]) h
"""


async def _rows(pool, hashes: list[str], expires_in: float, *, consumed: bool = False, revoked: bool = False) -> None:
    async with pool.acquire() as conn:
        await conn.execute(_INSERT, hashes, float(expires_in), consumed, revoked)


async def _left(pool) -> list[str]:
    async with pool.acquire() as conn:
        return sorted(r["token_hash"] for r in await conn.fetch("SELECT token_hash FROM refresh_tokens"))


async def test_rows_expired_longer_than_the_retention_go_and_every_other_row_stays(registry):
    pool = registry.pool
    await _rows(pool, ["live"], DAY)
    await _rows(pool, ["live-consumed"], DAY, consumed=True)          # a reuse of it must still be seen
    await _rows(pool, ["expired-an-hour-ago"], -3600, consumed=True)  # within the retention: kept
    await _rows(pool, ["expired-2-days-ago"], -2 * DAY)
    await _rows(pool, ["revoked-expired-3-days-ago"], -3 * DAY, revoked=True)
    sweep = RefreshTokenSweep(pool, retention=DAY, interval=60)
    assert await sweep.sweep_once() == 2
    assert await _left(pool) == ["expired-an-hour-ago", "live", "live-consumed"]
    assert sweep.deleted == 2
    assert await sweep.sweep_once() == 0


async def test_many_rows_go_a_batch_per_transaction_until_none_is_left(registry):
    pool = registry.pool
    await _rows(pool, [f"old-{i:02d}" for i in range(25)], -2 * DAY)
    await _rows(pool, ["live"], DAY)
    sweep = RefreshTokenSweep(pool, retention=DAY, interval=60, batch=10)
    assert await sweep.sweep_once() == 25
    assert await _left(pool) == ["live"]


async def test_a_stopping_sweep_ends_after_its_batch_and_leaves_the_rest_for_the_next_start(registry):
    pool = registry.pool
    await _rows(pool, [f"old-{i:02d}" for i in range(25)], -2 * DAY)
    sweep = RefreshTokenSweep(pool, retention=DAY, interval=60, batch=10)
    sweep.stop()    # SIGTERM during a large backlog: shutdown must not wait for all of it
    assert await sweep.sweep_once() == 10
    assert len(await _left(pool)) == 15


async def test_while_another_replica_sweeps_this_one_leaves_the_round_to_it(registry):
    pool = registry.pool
    await _rows(pool, ["old"], -2 * DAY)
    sweep = RefreshTokenSweep(pool, retention=DAY, interval=60)
    async with pool.acquire() as other:
        async with other.transaction():   # the other replica, mid-sweep
            assert await other.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext('tessera-refresh-sweep:' || current_schema()))")
            assert await asyncio.wait_for(sweep.sweep_once(), 5) is None
    assert await _left(pool) == ["old"]
    assert await sweep.sweep_once() == 1


async def test_a_row_another_transaction_holds_is_skipped_not_waited_for(registry):
    pool = registry.pool
    await _rows(pool, ["held", "free"], -2 * DAY)
    sweep = RefreshTokenSweep(pool, retention=DAY, interval=60)
    async with pool.acquire() as other:
        async with other.transaction():   # e.g. a family being revoked
            await other.execute("SELECT 1 FROM refresh_tokens WHERE token_hash = 'held' FOR UPDATE")
            assert await asyncio.wait_for(sweep.sweep_once(), 5) == 1
    assert await _left(pool) == ["held"]
    assert await sweep.sweep_once() == 1


async def test_the_sweep_reads_expired_rows_by_the_expiry_index_not_the_whole_table(registry):
    pool = registry.pool
    await _rows(pool, [f"live-{i}" for i in range(5000)], DAY)
    await _rows(pool, ["old-1", "old-2", "old-3"], -2 * DAY)
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE refresh_tokens")
        async with conn.transaction():
            plan = plan_of(await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT token_hash FROM refresh_tokens "
                "WHERE expires_at < now() - make_interval(secs => $1) ORDER BY expires_at LIMIT $2 "
                "FOR UPDATE SKIP LOCKED", float(DAY), 1000))
    assert rows_read(plan, "refresh_tokens") <= 3, plan


async def test_the_token_service_sweeps_expired_rows_and_counts_them(suite, make_app, admin, browser, servers):
    """The suite's token services sweep every second (tests/support/suite.py); the retention is a day."""
    rp = await make_rp(admin, make_app)
    conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"], server_settings={"search_path": "token"})
    try:
        live = await signed_in(browser, rp)
        live_family = await conn.fetchval("SELECT family_id FROM refresh_tokens WHERE application_id = $1", rp.app_id)
        old = await signed_in(browser, rp)
        rotated = await refresh(rp, old["refresh_token"])     # a consumed row and a new one
        assert rotated.status_code == 200, rotated.text
        expired = await conn.execute("UPDATE refresh_tokens SET expires_at = now() - interval '2 days' "
                                     "WHERE application_id = $1 AND family_id <> $2", rp.app_id, live_family)
        assert expired == "UPDATE 2"
        for _ in range(100):
            left = await conn.fetch("SELECT family_id FROM refresh_tokens WHERE application_id = $1", rp.app_id)
            if len(left) == 1:
                break
            await asyncio.sleep(0.1)
        assert [r["family_id"] for r in left] == [live_family]
    finally:
        await conn.close()
    assert (await introspect(rp, live["refresh_token"]))["active"] is True
    resp = await refresh(rp, rotated.json()["refresh_token"])
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    async with httpx.AsyncClient(timeout=30) as http:
        pages = [(await http.get(f"{url}/metrics")).text for url in (suite.token.url, suite.token2.url)]
    swept = sum(float(line.rsplit(" ", 1)[1]) for page in pages for line in page.splitlines()
                if line.startswith('tessera_refresh_tokens_swept_total{service="token"}'))
    assert swept >= 2
