"""The group-commit batcher of the code and refresh grants (services/token/refresh_tokens._Batcher),
against the real Postgres: a caller may learn when its write is on its way, to work meanwhile."""
from __future__ import annotations

import asyncio

import pytest

from services.token.refresh_tokens import _Batcher

from .registry_fixtures import registry, token_schema, token_settings  # noqa: F401 - fixtures


async def test_sent_is_resolved_once_the_batch_waits_on_postgres_and_before_its_outcome(registry):
    order: list[str] = []

    async def write(conn, batch):
        order.append("statement sent")
        await conn.fetchval("SELECT pg_sleep(0.05)")
        order.append("answered")
        for _item, done in batch:
            done.set_result("ok")

    batcher = _Batcher(registry.pool, write)
    sent = asyncio.get_running_loop().create_future()
    done = batcher.submit("item", sent)

    async def work_while_in_flight():
        await sent
        order.append("caller works")

    await asyncio.gather(work_while_in_flight(), done)
    assert order == ["statement sent", "caller works", "answered"]
    assert done.result() == "ok"
    await batcher.close()


async def test_sent_is_resolved_when_the_batch_fails_and_the_failure_reaches_the_outcome(registry):
    async def write(conn, batch):
        await conn.fetchval("SELECT 1/0")

    batcher = _Batcher(registry.pool, write)
    sent = asyncio.get_running_loop().create_future()
    done = batcher.submit("item", sent)
    await asyncio.wait_for(sent, 5)
    with pytest.raises(Exception, match="division by zero"):
        await done
    await batcher.close()


async def test_items_queued_together_share_one_batch_and_sent_is_optional(registry):
    batches: list[list[str]] = []

    async def write(conn, batch):
        await conn.fetchval("SELECT 1")
        batches.append([item for item, _done in batch])
        for item, done in batch:
            done.set_result(item)

    batcher = _Batcher(registry.pool, write)
    loop = asyncio.get_running_loop()
    sents = [loop.create_future() if i % 2 else None for i in range(10)]
    results = await asyncio.gather(*(batcher.submit(f"w{i}", sent) for i, sent in enumerate(sents)))
    assert results == [f"w{i}" for i in range(10)]
    assert batches == [[f"w{i}" for i in range(10)]]
    assert all(s.done() for s in sents if s is not None)
    await batcher.close()
