"""How every service process starts, serves and stops.

``python -m services.<name> [serve|migrate|replay]``. ``serve`` validates the configuration
(one clear line and exit 2 when it is wrong), migrates the service's schema, connects to
Postgres, Redis and NATS, serves ``/healthz``, ``/readyz`` and ``/metrics`` beside the
service's own routes, and on SIGTERM or SIGINT stops accepting, drains in-flight requests and
NATS subscriptions, and exits 0.
"""
from __future__ import annotations

import asyncio
import gc
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Sequence

import aiohttp
import asyncpg
import nats
import nats.errors
import redis.asyncio as aioredis
import uvloop
from aiohttp import web
from nats.js import JetStreamContext

from . import redis_keys
from .admin_auth import ADMIN_VERIFIER, AdminTokenVerifier
from .config import ConfigError, Settings, load_settings
from .db import create_pool, migrate
from .events import EventStore, Projection
from .events.bus import ensure_stream
from .events.consumer import Consumer
from .events.outbox import FastPath, OutboxRelay
from .events.projection import replay
from .http.middleware import InFlight, json_response, request_id_middleware
from .logging import configure_logging, get_logger
from .metrics import Metrics

log = get_logger("tessera.runtime")


@dataclass
class Resources:
    """What a running service holds: settings, connections, its event store and workers."""
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    nc: nats.NATS
    js: JetStreamContext
    store: EventStore
    metrics: Metrics
    http: aiohttp.ClientSession
    consumers: list[Consumer] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)
    relay: OutboxRelay | None = None
    fast_path: FastPath | None = None
    on_reconnect: list[Callable[[], None]] = field(default_factory=list)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)   # before pools close
    ready: bool = False
    inflight: InFlight = field(default_factory=InFlight)

    def consume(self, name: str, subject: str, handler) -> Consumer:
        """Register an idempotent durable consumer, started with the service."""
        consumer = Consumer(self.pool, self.js, f"{self.settings.service}-{name}", subject, handler)
        self.consumers.append(consumer)
        return consumer


RESOURCES = web.AppKey("resources", Resources)
Setup = Callable[[web.Application, Resources], Awaitable[None]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    migrations: Path | None
    projections: Sequence[Projection]
    setup: Setup
    # Read models derived from other services' events (no event store to replay): rebuilt from
    # the stream by this instead (``replay`` runs it after the service's own projections).
    rebuild: Callable[[Settings], Awaitable[None]] | None = None


async def _healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    res = request.app[RESOURCES]
    checks = {"postgres": False, "redis": False, "nats": res.nc.is_connected}
    try:
        async with asyncio.timeout(1.0):
            checks["postgres"] = await res.pool.fetchval("SELECT 1") == 1
    except Exception:  # noqa: BLE001 - reported as not ready
        pass
    try:
        async with asyncio.timeout(1.0):
            checks["redis"] = bool(await res.redis.ping())
    except Exception:  # noqa: BLE001
        pass
    ok = res.ready and all(checks.values())
    return json_response({"status": "ready" if ok else "unavailable", "checks": checks},
                         status=200 if ok else 503)


async def _metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[RESOURCES].metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _connect_nats(settings: Settings, hooks: list[Callable[[], None]]) -> nats.NATS:
    async def on_error(exc: Exception) -> None:
        log.warning("nats.error", error=type(exc).__name__, detail=str(exc)[:200])

    client = nats.NATS()

    async def on_disconnect() -> None:
        if client.is_closed:    # our own close at shutdown (nats-py reports it as a disconnect too)
            log.info("nats.closed")
        else:
            log.warning("nats.disconnected")

    async def on_reconnect() -> None:
        log.info("nats.reconnected")
        for hook in hooks:
            hook()

    await client.connect(
        settings.nats_url, name=f"tessera-{settings.service}", max_reconnect_attempts=-1,
        reconnect_time_wait=0.5, connect_timeout=5, error_cb=on_error,
        disconnected_cb=on_disconnect, reconnected_cb=on_reconnect,
    )
    return client


async def open_resources(spec: ServiceSpec, settings: Settings) -> Resources:
    await migrate(settings.database_url, spec.name, spec.migrations)
    pool = await create_pool(settings.database_url, spec.name)
    redis = aioredis.from_url(settings.redis_url, decode_responses=False)
    reconnect_hooks: list[Callable[[], None]] = []
    nc = await _connect_nats(settings, reconnect_hooks)
    js = nc.jetstream()
    await ensure_stream(js)
    store = EventStore(pool, spec.name, spec.projections)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    return Resources(settings, pool, redis, nc, js, store, Metrics(spec.name), http,
                     on_reconnect=reconnect_hooks)


def build_app(res: Resources) -> web.Application:
    app = web.Application(middlewares=[request_id_middleware(res.metrics, res.inflight)], client_max_size=1024 * 256)
    app[RESOURCES] = res

    async def is_revoked(jti: str) -> bool:
        return bool(jti) and bool(await res.redis.exists(redis_keys.revoked_jti(jti)))

    app[ADMIN_VERIFIER] = AdminTokenVerifier(res.settings.public_url, res.settings.keys_service_url,
                                             res.http, is_revoked)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    return app


async def start_workers(res: Resources) -> None:
    # This process publishes its own commits at once (the fast path); one replica's relay
    # sweeps what any process left (ADR 0004).
    res.fast_path = FastPath(res.pool, res.nc)
    res.store.fast_path = res.fast_path
    res.tasks.append(asyncio.create_task(res.fast_path.run(), name="outbox-fast-path"))
    res.relay = OutboxRelay(res.pool, res.nc, res.settings.service)
    res.tasks.append(asyncio.create_task(res.relay.run(), name="outbox-relay"))
    res.metrics.watch_outbox(res.fast_path, res.relay)
    for consumer in res.consumers:
        res.tasks.append(asyncio.create_task(consumer.run(), name=f"consumer-{consumer.name}"))


async def stop_workers(res: Resources, timeout: float) -> None:
    if res.fast_path is not None:
        # After the last request: publish what is queued while NATS is still up. A later commit
        # (none is expected) is named to the sweep by NOTIFY; what the flush misses, a sweep takes.
        res.store.fast_path = None
        await res.fast_path.close(min(timeout, 5.0))
    if res.relay is not None:
        res.relay.stop()
    for consumer in res.consumers:
        consumer.stop()
    if res.tasks:
        _done, pending = await asyncio.wait(res.tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def close_resources(res: Resources) -> None:
    for hook in res.on_close:
        await hook()
    try:
        await asyncio.wait_for(res.nc.drain(), 5)
    except Exception:  # noqa: BLE001 - closing anyway
        await res.nc.close()
    await res.http.close()
    await res.redis.aclose()
    await res.pool.close()


async def serve(spec: ServiceSpec, settings: Settings) -> None:
    res = await open_resources(spec, settings)
    app = build_app(res)
    try:
        await spec.setup(app, res)
    except BaseException:
        await close_resources(res)
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=settings.shutdown_timeout,
                           access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
    await site.start()
    await start_workers(res)
    # What start-up made lives as long as the process: keep it out of the cyclic collector's
    # scans (fewer, shorter pauses under load).
    gc.collect()
    gc.freeze()
    res.ready = True
    log.info("service.listening", url=f"http://{settings.host}:{settings.port}")
    await stop.wait()
    log.info("service.stopping")
    res.ready = False                # /readyz answers 503 from now on
    await site.stop()                # no new connections
    if not await res.inflight.wait_idle(settings.shutdown_timeout):
        log.warning("service.drain_timeout", in_flight=res.inflight.count)
    await runner.cleanup()           # close idle keep-alive connections
    await stop_workers(res, settings.shutdown_timeout)
    await close_resources(res)
    log.info("service.stopped")


async def replay_command(spec: ServiceSpec, settings: Settings) -> None:
    await migrate(settings.database_url, spec.name, spec.migrations)
    pool = await create_pool(settings.database_url, spec.name, min_size=1, max_size=2)
    try:
        count = await replay(EventStore(pool, spec.name, spec.projections))
        log.info("replay.done", events=count, projections=[p.name for p in spec.projections])
    finally:
        await pool.close()
    if spec.rebuild is not None:
        await spec.rebuild(settings)


async def migrate_command(spec: ServiceSpec, settings: Settings) -> None:
    applied = await migrate(settings.database_url, spec.name, spec.migrations)
    log.info("migrate.done", applied=applied)


COMMANDS = {"serve": serve, "replay": replay_command, "migrate": migrate_command}


def main(spec: ServiceSpec, argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else "serve"
    if command not in COMMANDS:
        print(f"usage: python -m services.{spec.name} [{'|'.join(COMMANDS)}]", file=sys.stderr)
        sys.exit(2)
    try:
        settings = load_settings(spec.name)
    except ConfigError as exc:
        print(f"tessera-{spec.name}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(spec.name, settings.log_format, settings.log_level)
    try:
        uvloop.run(COMMANDS[command](spec, settings))
    except KeyboardInterrupt:
        pass
    except (OSError, asyncpg.PostgresError, nats.errors.NoServersError) as exc:
        log.error("service.failed", error=type(exc).__name__, detail=str(exc)[:300])
        sys.exit(1)
