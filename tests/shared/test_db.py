"""shared/db.py against a real Postgres: the connection a group-commit writer holds."""

import asyncpg

from shared.db import HeldConnection
from tests.support.waiting import eventually


async def test_held_connection_plans_without_sequential_scans_and_resets_on_release(schema):
    _name, pool = schema
    await pool.execute("CREATE TABLE tokens (hash text PRIMARY KEY, n int)")
    held = HeldConnection(pool)
    conn = await held.get()
    assert await held.get() is conn                      # kept between batches
    assert await conn.fetchval("SHOW enable_seqscan") == "off"
    # A table still empty when the statement is planned: the plan looks the key up anyway.
    plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN SELECT * FROM tokens WHERE hash = ANY($1::text[])",
                                                     ["a", "b"]))
    assert "Index" in plan and "Seq Scan" not in plan
    await held.release()
    # Back in the pool the setting is gone: other users of the connection plan as usual.
    async with pool.acquire() as other:
        assert await other.fetchval("SHOW enable_seqscan") == "on"


async def test_held_connection_is_replaced_after_the_server_dropped_it(schema):
    """Lost while idle (a Postgres restart, a terminated backend): the next batch gets a new one."""
    _name, pool = schema
    held = HeldConnection(pool)
    try:
        pid = await (await held.get()).fetchval("SELECT pg_backend_pid()")
        async with pool.acquire() as other:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)

        async def replaced() -> bool:
            conn = await held.get()    # never raises: a dropped connection is replaced
            try:
                return await conn.fetchval("SELECT pg_backend_pid()") != pid
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError):
                await held.release()   # a batch sent before the goodbye arrived fails; its writer releases
                return False
        assert await eventually(replaced, timeout=10)
        assert await (await held.get()).fetchval("SHOW enable_seqscan") == "off"
    finally:
        await held.release()
    await held.release()                                 # idempotent
