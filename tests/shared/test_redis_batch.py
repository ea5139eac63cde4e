"""Concurrent Redis commands share one pipelined connection (shared/redis_batch.py), against a real Redis."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from shared.redis_batch import RedisBatch, pack


@pytest.fixture
def prefix() -> str:
    return f"test:batch:{uuid.uuid4().hex}:"


@pytest.fixture
async def batch(redis_client):
    made = RedisBatch(redis_client)
    yield made
    await made.close()


def test_commands_are_packed_as_resp_arrays_of_bulk_strings():
    assert pack(("SET", "k", b"v\r\n", "EX", 60)) == b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\nEX\r\n$2\r\n60\r\n"


async def test_a_lone_command_goes_at_once_and_returns_its_own_result(batch, prefix):
    await batch.set(prefix + "a", b"1", ex=60)
    assert await batch.get(prefix + "a") == b"1"
    assert await batch.exists(prefix + "a") is True
    assert await batch.delete(prefix + "a") == 1
    assert await batch.get(prefix + "a") is None
    assert batch.round_trips == 5


async def test_set_gives_the_key_its_time_to_live(batch, redis_client, prefix):
    await batch.set(prefix + "t", b"x", ex=60)
    assert 0 < await redis_client.ttl(prefix + "t") <= 60


async def test_commands_of_one_loop_turn_share_one_write_and_each_caller_gets_its_answer(batch, prefix):
    await asyncio.gather(*(batch.set(f"{prefix}{i}", str(i).encode(), ex=60) for i in range(200)))
    assert batch.round_trips == 1
    values = await asyncio.gather(*(batch.get(f"{prefix}{i}") for i in range(200)))
    assert values == [str(i).encode() for i in range(200)]
    assert batch.round_trips == 2


async def test_a_write_does_not_wait_for_the_answers_of_the_one_before(batch, redis_client, prefix):
    # BLPOP holds the connection's answers back until the list gets an element; the GET queued
    # a loop turn later is written at once all the same, and answered after the BLPOP (in order).
    blocked = asyncio.ensure_future(batch.execute("BLPOP", prefix + "list", 5))
    await asyncio.sleep(0.05)
    after = asyncio.ensure_future(batch.get(prefix + "missing"))
    await asyncio.sleep(0.05)
    assert batch.round_trips == 2 and not blocked.done() and not after.done()
    await redis_client.rpush(prefix + "list", b"x")
    assert await blocked == [(prefix + "list").encode(), b"x"]
    assert await after is None


async def test_a_failing_command_fails_only_its_own_caller(batch, redis_client, prefix):
    await redis_client.rpush(prefix + "list", "x")       # GET of a list is a WRONGTYPE error
    results = await asyncio.gather(batch.get(prefix + "list"), batch.get(prefix + "missing"),
                                   return_exceptions=True)
    assert isinstance(results[0], redis.exceptions.ResponseError) and "WRONGTYPE" in str(results[0])
    assert results[1] is None


async def test_an_unreachable_redis_fails_every_queued_caller(prefix):
    unreachable = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    batch = RedisBatch(unreachable)
    results = await asyncio.gather(batch.get(prefix + "a"), batch.get(prefix + "b"), return_exceptions=True)
    assert all(isinstance(r, redis.exceptions.ConnectionError) for r in results), results
    await batch.close()
    await unreachable.aclose()


async def test_a_lost_connection_fails_its_waiting_callers_and_the_next_command_reconnects(batch, redis_client,
                                                                                           prefix):
    client_id = await batch.execute("CLIENT", "ID")
    waiting = asyncio.ensure_future(batch.execute("BLPOP", prefix + "never", 10))
    await asyncio.sleep(0.05)
    assert await redis_client.execute_command("CLIENT", "KILL", "ID", client_id) == 1
    with pytest.raises(redis.exceptions.ConnectionError):
        await asyncio.wait_for(waiting, 5)
    await batch.set(prefix + "after", b"1", ex=60)
    assert await batch.get(prefix + "after") == b"1"
    assert await batch.execute("CLIENT", "ID") != client_id


async def test_a_connection_silent_past_the_socket_timeout_is_dropped(servers, prefix):
    slow = aioredis.from_url(servers["TESSERA_REDIS_URL"], socket_timeout=1)
    batch = RedisBatch(slow)
    started = time.monotonic()
    with pytest.raises(redis.exceptions.TimeoutError):   # well before wait_for's 10 s
        await asyncio.wait_for(batch.execute("BLPOP", prefix + "never", 0), 10)
    assert time.monotonic() - started >= 1                  # not before the client's timeout
    assert await batch.get(prefix + "missing") is None     # a new connection
    await batch.close()
    await slow.aclose()


async def test_the_database_and_the_user_of_the_url_are_used(servers, redis_client, prefix):
    user, password = f"tessera-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await redis_client.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "+@all")
    base = servers["TESSERA_REDIS_URL"].removeprefix("redis://").rsplit("/", 1)[0]
    client = aioredis.from_url(f"redis://{user}:{password}@{base}/5")
    batch = RedisBatch(client)
    try:
        assert await batch.execute("ACL", "WHOAMI") == user.encode()
        await batch.set(prefix + "db5", b"1", ex=60)
        assert await redis_client.exists(prefix + "db5") == 0          # not in database 0
        assert await client.get(prefix + "db5") == b"1"                # in database 5
    finally:
        await batch.close()
        await client.aclose()
    wrong = aioredis.from_url(f"redis://{user}:not-{password}@{base}/0")
    refused = RedisBatch(wrong)
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGPASS"):
        await refused.get(prefix + "x")
    await refused.close()
    await wrong.aclose()
    await redis_client.execute_command("ACL", "DELUSER", user)


async def test_a_script_runs_by_its_digest_and_is_sent_whole_again_when_redis_has_lost_it(batch, redis_client, prefix):
    script = batch.script("return {tonumber(ARGV[1]) + 1, redis.call('GET', KEYS[1])}")
    await batch.set(prefix + "s", b"v", ex=60)
    await redis_client.script_flush()     # a restarted Redis: EVALSHA answers NOSCRIPT
    before = batch.round_trips
    assert await script([prefix + "s"], [41]) == [42, b"v"]
    assert batch.round_trips == before + 2          # EVALSHA refused, then EVAL
    assert await redis_client.script_exists(script.sha) == [True]
    assert await script([prefix + "s"], [1]) == [2, b"v"]
    assert batch.round_trips == before + 3          # by its digest alone from then on


async def test_a_failing_script_fails_only_its_own_caller(batch, prefix):
    failing = batch.script("return redis.error_reply('refused by the script')")
    fine = batch.script("return 7")
    outcomes = await asyncio.gather(failing([]), fine([]), return_exceptions=True)
    assert isinstance(outcomes[0], redis.exceptions.ResponseError) and "refused by the script" in str(outcomes[0])
    assert outcomes[1] == 7
