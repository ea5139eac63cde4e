"""Redis commands of concurrent requests on one pipelined connection: one write per loop turn.

redis-py's asyncio client costs tens of microseconds of CPU per command: a connection taken
from the pool and given back, a timeout context and a parser call per reply, its pipeline's
retry and bookkeeping. On a hot endpoint every request needs one or two commands. Here the
callers share one connection of their own, speaking RESP directly (Redis answers the commands
of a connection in order, §"Pipelining" of the Redis documentation): a command is packed and
queued; everything queued during one turn of the event loop goes out in one write, without
waiting for the answers of earlier writes; replies are parsed by hiredis as they arrive and
handed to their callers in order. Nothing waits when the service is idle: a lone command goes
at the end of the loop turn that queued it.

The connection is made from the redis-py client's own settings (``redis://``, ``rediss://``
with its TLS options, ``unix://``; user, password and database), lazily, and again after it
was lost. Commands are independent: an error reply fails only its own caller (as
``redis.exceptions.ResponseError``). A lost connection, or one whose oldest command has waited
longer than the client's ``socket_timeout``, fails every command still waiting on it; none is
retried here (the caller decides, as it would for a single command).
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

DEFAULT_TIMEOUT = 5.0


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


class _Connection(asyncio.Protocol):
    """One connection: futures wait in the order their commands were written."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future] = deque()
        self.reader = hiredis.Reader(protocolError=InvalidResponse, replyError=ResponseError)
        self.lost: BaseException | None = None
        self.progress = time.monotonic()    # when a reply last arrived, or the queue last started

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        self.progress = time.monotonic()
        waiting, gets = self.waiting, self.reader.gets
        while True:
            try:
                reply = gets()
            except InvalidResponse as exc:   # the stream cannot be trusted any more
                self.abort(exc)
                return
            if reply is False:
                return
            if not waiting:   # a reply nobody asked for: the stream is out of step
                self.abort(InvalidResponse("a reply from Redis without a command"))
                return
            done = waiting.popleft()
            if done.done():
                continue
            if isinstance(reply, ResponseError):
                done.set_exception(reply)
            else:
                done.set_result(reply)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.fail(self.lost or RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def abort(self, exc: BaseException) -> None:
        self.fail(exc)
        if self.transport is not None:
            self.transport.abort()

    def fail(self, exc: BaseException) -> None:
        if self.lost is None:
            self.lost = exc
        while self.waiting:
            done = self.waiting.popleft()
            if not done.done():
                done.set_exception(self.lost)

    @property
    def usable(self) -> bool:
        return self.lost is None and self.transport is not None and not self.transport.is_closing()


class RedisBatch:
    """Commands of concurrent callers, pipelined on one connection (see the module docstring)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        pool = redis.connection_pool
        self._settings = pool.connection_kwargs
        self._ssl = (pool.connection_class(**self._settings).ssl_context.get()
                     if issubclass(pool.connection_class, SSLConnection) else None)
        self._unix = issubclass(pool.connection_class, UnixDomainSocketConnection)
        self._timeout = self._settings.get("socket_timeout") or DEFAULT_TIMEOUT
        self._connect_timeout = self._settings.get("socket_connect_timeout") or DEFAULT_TIMEOUT
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task | None = None
        self._queued: list[tuple[bytes, asyncio.Future]] = []
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None
        self.round_trips = 0    # writes sent (each carries every command queued in one loop turn)

    def execute(self, *args: Any) -> asyncio.Future:
        """Queue one command (``"GET", key``…); await the reply (bytes, int, None, list)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queued.append((pack(args), done))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return done

    async def get(self, key: str) -> bytes | None:
        return await self.execute("GET", key)

    async def set(self, key: str, value: bytes, ex: int) -> None:
        await self.execute("SET", key, value, "EX", ex)

    async def exists(self, key: str) -> bool:
        return bool(await self.execute("EXISTS", key))

    async def delete(self, key: str) -> int:
        return int(await self.execute("DEL", key))

    def script(self, source: str) -> "Script":
        """A Lua script to run on this connection (``EVALSHA``)."""
        return Script(self, source)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._queued:
            return
        conn = self._conn
        if conn is None or not conn.usable:
            if self._connecting is None or self._connecting.done():
                self._connecting = asyncio.create_task(self._connect())
            return    # the connection, once made, flushes what is queued
        queued, self._queued = self._queued, []
        if not conn.waiting:
            conn.progress = time.monotonic()
        conn.waiting.extend(done for _command, done in queued)
        conn.transport.write(b"".join(command for command, _done in queued))
        self.round_trips += 1

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        s = self._settings
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                if self._unix:
                    _transport, conn = await loop.create_unix_connection(_Connection, s["path"])
                else:
                    _transport, conn = await loop.create_connection(
                        _Connection, s.get("host", "localhost"), s.get("port", 6379), ssl=self._ssl,
                        server_hostname=s.get("host") if self._ssl else None)
            handshake = []
            if s.get("password") is not None:
                auth = ("AUTH", s["username"], s["password"]) if s.get("username") else ("AUTH", s["password"])
                handshake.append(auth)
            if s.get("db"):
                handshake.append(("SELECT", s["db"]))
            replies = [loop.create_future() for _ in handshake]
            conn.waiting.extend(replies)
            if handshake:
                conn.transport.write(b"".join(pack(args) for args in handshake))
                async with asyncio.timeout(self._timeout):
                    await asyncio.gather(*replies)
        except BaseException as exc:  # noqa: BLE001 - every queued caller learns why
            if conn is not None and conn.transport is not None:
                conn.transport.close()    # refused (a wrong password, no such database): not kept
            queued, self._queued = self._queued, []
            error = exc if isinstance(exc, (RedisConnectionError, ResponseError)) else \
                RedisConnectionError(f"cannot connect to Redis: {type(exc).__name__}: {exc}")
            for _command, done in queued:
                if not done.done():
                    done.set_exception(error)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        self._conn = conn
        if self._watchdog is None:
            self._watchdog = loop.call_later(1.0, self._watch)
        self._flush()

    def _watch(self) -> None:
        """Once a second: a connection whose oldest command waited past the timeout is dropped."""
        conn = self._conn
        if conn is not None and conn.waiting and time.monotonic() - conn.progress > self._timeout:
            conn.abort(RedisTimeoutError(f"no reply from Redis in {self._timeout:g} s"))
        self._watchdog = asyncio.get_running_loop().call_later(1.0, self._watch)

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
        self._conn = None


class Script:
    """A Lua script run by ``EVALSHA`` on a :class:`RedisBatch`, pipelined like any command.

    When Redis does not have it (a restarted or flushed server answers ``NOSCRIPT``), the call is
    made once more with ``EVAL``, which also stores the script for the calls after it.
    """

    def __init__(self, batch: RedisBatch, source: str) -> None:
        self.batch = batch
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source).hexdigest()

    async def __call__(self, keys: list[str], args: list[Any] | tuple[Any, ...] = ()) -> Any:
        try:
            return await self.batch.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.batch.execute("EVAL", self.source, len(keys), *keys, *args)
