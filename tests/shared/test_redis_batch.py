"""Concurrent Redis commands share round trips (shared/redis_batch.py), against a real Redis."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.exceptions

from shared.redis_batch import RedisBatch


@pytest.fixture
def prefix() -> str:
    return f"test:batch:{uuid.uuid4().hex}:"


async def test_a_lone_command_goes_at_once_and_returns_its_own_result(redis_client, prefix):
    batch = RedisBatch(redis_client)
    await batch.set(prefix + "a", b"1", ex=60)
    assert await batch.get(prefix + "a") == b"1"
    assert await batch.exists(prefix + "a") is True
    assert await batch.delete(prefix + "a") == 1
    assert await batch.get(prefix + "a") is None
    assert batch.round_trips == 5


async def test_set_gives_the_key_its_time_to_live(redis_client, prefix):
    await RedisBatch(redis_client).set(prefix + "t", b"x", ex=60)
    assert 0 < await redis_client.ttl(prefix + "t") <= 60


async def test_concurrent_commands_share_round_trips_and_each_caller_gets_its_answer(redis_client, prefix):
    batch = RedisBatch(redis_client)
    await asyncio.gather(*(batch.set(f"{prefix}{i}", str(i).encode(), ex=60) for i in range(200)))
    trips_after_writes = batch.round_trips
    values = await asyncio.gather(*(batch.get(f"{prefix}{i}") for i in range(200)))
    assert values == [str(i).encode() for i in range(200)]
    assert trips_after_writes <= 2                       # the first command alone, then the rest together
    assert batch.round_trips - trips_after_writes <= 2


async def test_a_failing_command_fails_only_its_own_caller(redis_client, prefix):
    batch = RedisBatch(redis_client)
    await redis_client.rpush(prefix + "list", "x")       # GET of a list is a WRONGTYPE error
    results = await asyncio.gather(batch.get(prefix + "list"), batch.get(prefix + "missing"),
                                   return_exceptions=True)
    assert isinstance(results[0], redis.exceptions.ResponseError)
    assert results[1] is None


async def test_an_unreachable_redis_fails_every_caller_of_that_round_trip(prefix):
    import redis.asyncio as aioredis
    unreachable = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    batch = RedisBatch(unreachable)
    results = await asyncio.gather(batch.get(prefix + "a"), batch.get(prefix + "b"), return_exceptions=True)
    assert all(isinstance(r, (redis.exceptions.ConnectionError, OSError)) for r in results)
    await unreachable.aclose()
