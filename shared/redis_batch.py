"""Redis commands from concurrent requests, sent together: one round trip for many callers.

redis-py's asyncio client costs tens of microseconds of CPU per command (a connection taken
from the pool and given back, a write, a read). On a hot endpoint every request needs one or
two commands. Here a caller queues its command and awaits its own answer; while one pipeline
is on the wire, the commands that arrive meanwhile wait for the next, which carries them all.
Nothing waits when the service is idle: a lone command goes at once, in a pipeline of one.

Commands are independent (a non-transactional pipeline): one failing command fails only its
own caller. A connection error fails every caller of that round trip; none of them is retried
here (the caller decides, as it would for a single command).
"""
from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

MAX_BATCH = 1024


class RedisBatch:
    def __init__(self, redis: aioredis.Redis, max_batch: int = MAX_BATCH) -> None:
        self.redis = redis
        self.max_batch = max_batch
        self._queued: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future]] = []
        self._sender: asyncio.Task | None = None
        self.round_trips = 0

    def execute(self, *args: Any, **options: Any) -> asyncio.Future:
        """Queue one command (as for ``Redis.execute_command``); await the result."""
        done = asyncio.get_running_loop().create_future()
        self._queued.append((args, options, done))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())
        return done

    async def get(self, key: str) -> bytes | None:
        return await self.execute("GET", key)

    async def set(self, key: str, value: bytes, ex: int) -> None:
        await self.execute("SET", key, value, "EX", ex)

    async def exists(self, key: str) -> bool:
        return bool(await self.execute("EXISTS", key))

    async def delete(self, key: str) -> int:
        return int(await self.execute("DEL", key))

    async def _send(self) -> None:
        while self._queued:
            batch, self._queued = self._queued[:self.max_batch], self._queued[self.max_batch:]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for args, options, _done in batch:
                        pipe.execute_command(*args, **options)
                    results = await pipe.execute(raise_on_error=False)
            except BaseException as exc:  # noqa: BLE001 - every caller of this round trip learns of it
                for *_rest, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            self.round_trips += 1
            for (*_rest, done), result in zip(batch, results):
                if done.done():
                    continue
                if isinstance(result, Exception):
                    done.set_exception(result)
                else:
                    done.set_result(result)
