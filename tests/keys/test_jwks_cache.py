"""The in-memory JWKS cache: bounded staleness, local invalidation, no stale write-back."""
import asyncio

import orjson

from services.keys.jwks import JwksCache


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _loader(state, calls):
    async def load(app):
        calls.append(app)
        return list(state.get(app, []))
    return load


async def test_served_from_memory_within_ttl_and_reloaded_after():
    state, calls, clock = {"a": [{"kid": "1"}]}, [], Clock()
    cache = JwksCache(_loader(state, calls), ttl=5, clock=clock)
    assert orjson.loads(await cache.get("a")) == {"keys": [{"kid": "1"}]}
    state["a"] = [{"kid": "2"}]
    clock.now = 4.9
    assert orjson.loads(await cache.get("a"))["keys"] == [{"kid": "1"}]   # another replica's change
    clock.now = 5.1
    assert orjson.loads(await cache.get("a"))["keys"] == [{"kid": "2"}]
    assert calls == ["a", "a"]


async def test_local_change_is_served_at_once():
    state, calls = {"a": [{"kid": "1"}]}, []
    cache = JwksCache(_loader(state, calls), ttl=60)
    await cache.get("a")
    state["a"] = [{"kid": "2"}]
    cache.invalidate("a")
    assert orjson.loads(await cache.get("a"))["keys"] == [{"kid": "2"}]


async def test_unknown_application_is_not_cached():
    state, calls = {}, []
    cache = JwksCache(_loader(state, calls), ttl=60)
    assert await cache.get("a") is None
    state["a"] = [{"kid": "1"}]
    assert await cache.get("a") is not None


async def test_load_racing_an_invalidation_is_not_kept():
    gate = asyncio.Event()
    state = {"a": [{"kid": "old"}]}

    async def slow_load(app):
        keys = list(state[app])
        await gate.wait()
        return keys

    cache = JwksCache(slow_load, ttl=60)
    pending = asyncio.create_task(cache.get("a"))
    await asyncio.sleep(0)
    state["a"] = [{"kid": "new"}]
    cache.invalidate("a")
    gate.set()
    assert orjson.loads(await pending)["keys"] == [{"kid": "old"}]   # answered, but not kept
    assert orjson.loads(await cache.get("a"))["keys"] == [{"kid": "new"}]


async def test_cache_is_bounded():
    state = {str(i): [{"kid": str(i)}] for i in range(10)}
    cache = JwksCache(_loader(state, []), ttl=60, max_entries=3)
    for i in range(10):
        await cache.get(str(i))
    assert len(cache._entries) == 3
