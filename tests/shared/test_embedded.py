"""Embedded Postgres/Redis/NATS: real servers, real clients, restarts keep port and data."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
import redis

from shared.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServerError,
    EmbeddedServers,
    free_port,
)

SYSTEM_PORTS = {5432, 6379, 4222}


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg", fast=True)
    yield server
    server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats")
    yield server
    server.stop()


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# -- Postgres ------------------------------------------------------------------


async def _pg(url: str, *statements: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = []
        for sql in statements:
            rows = await conn.fetch(sql)
        return rows
    finally:
        await conn.close()


def test_postgres_serves_tessera_and_keeps_data_across_restart(postgres: EmbeddedPostgres) -> None:
    url = postgres.start()
    assert postgres.running
    assert url == f"postgresql://postgres@127.0.0.1:{postgres.port}/tessera"
    assert postgres.port not in SYSTEM_PORTS
    rows = asyncio.run(_pg(url, "CREATE TABLE t (v text)", "INSERT INTO t VALUES ('kept')",
                           "SELECT current_database() AS db, current_setting('max_connections') AS mc,"
                           " current_setting('fsync') AS fsync"))
    assert (rows[0]["db"], rows[0]["mc"], rows[0]["fsync"]) == ("tessera", "300", "off")

    postgres.stop()
    assert not postgres.running
    postgres.stop()  # idempotent

    assert postgres.start() == url  # same port, same data
    assert [r["v"] for r in asyncio.run(_pg(url, "SELECT v FROM t"))] == ["kept"]


def test_postgres_fsync_stays_on_by_default(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "pg") as server:
        rows = asyncio.run(_pg(server.url, "SELECT current_setting('fsync') AS fsync"))
        assert rows[0]["fsync"] == "on"


def test_postgres_recovers_after_crash_and_stale_pid_file(tmp_path: Path) -> None:
    # Durable settings: with fast=True (synchronous_commit=off) a SIGKILL may lose the last commits.
    postgres = EmbeddedPostgres(tmp_path / "pg")
    try:
        url = postgres.start()
        asyncio.run(_pg(url, "CREATE TABLE t (v int)", "INSERT INTO t VALUES (1)"))
        postgres.kill()
        assert not postgres.running
        pidfile = postgres.pgdata / "postmaster.pid"
        assert pidfile.exists()  # left behind by the crash
        # Pretend the pid was reused by an unrelated process (this one): still stale.
        lines = pidfile.read_text().splitlines()
        pidfile.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")

        assert postgres.start() == url
        assert asyncio.run(_pg(url, "SELECT v FROM t"))[0]["v"] == 1
    finally:
        postgres.stop()


def test_postgres_new_instance_reuses_remembered_port(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "pg", fast=True) as first:
        port = first.port
    with EmbeddedPostgres(tmp_path / "pg", fast=True) as second:
        assert second.port == port
        assert asyncio.run(_pg(second.url, "SELECT 1 AS one"))[0]["one"] == 1


# -- Redis ---------------------------------------------------------------------


def test_redis_appendonly_survives_restart(redis_server: EmbeddedRedis) -> None:
    url = redis_server.start()
    assert url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.port not in SYSTEM_PORTS
    client = redis.Redis.from_url(url)
    client.set("session", "abc")
    client.close()

    redis_server.stop()
    assert not redis_server.running
    assert redis_server.start() == url
    client = redis.Redis.from_url(url)
    assert client.get("session") == b"abc"
    client.close()


def test_redis_without_persist_forgets(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", persist=False)
    try:
        url = server.start()
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        client.close()
        server.stop()
        server.start()
        client = redis.Redis.from_url(url)
        assert client.get("k") is None
        client.close()
    finally:
        server.stop()


def test_start_failure_names_server_and_log_tail(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = EmbeddedRedis(tmp_path / "redis", port=port)
        with pytest.raises(EmbeddedServerError) as info:
            server.start(timeout=10)
    message = str(info.value)
    assert message.startswith("redis failed to start")
    assert "\n" not in message
    assert "server.log" in message and "Address already in use" in message
    assert not server.running


def test_second_server_on_same_data_dir_is_refused(redis_server: EmbeddedRedis) -> None:
    redis_server.start()
    assert redis_server._proc is not None
    # Own session: a terminal Ctrl-C reaches only the supervisor.
    assert os.getpgid(redis_server._proc.pid) != os.getpgid(0)
    with pytest.raises(EmbeddedServerError, match="redis is already running"):
        EmbeddedRedis(redis_server.data_dir).start()
    assert redis_server.running


# -- NATS ----------------------------------------------------------------------


async def _jetstream_roundtrip(server: EmbeddedNats) -> None:
    reconnected = asyncio.Event()

    async def on_reconnect() -> None:
        reconnected.set()

    nc = await nats.connect(server.url, reconnected_cb=on_reconnect, max_reconnect_attempts=-1,
                            reconnect_time_wait=0.1)
    try:
        js = nc.jetstream()
        await js.add_stream(name="EVENTS", subjects=["events.>"])
        ack = await js.publish("events.created", b"hello")
        assert ack.seq == 1

        port = server.port
        await asyncio.to_thread(server.stop)
        assert not server.running
        await asyncio.to_thread(server.start)
        assert server.port == port

        await asyncio.wait_for(reconnected.wait(), 10)
        msg = await js.get_msg("EVENTS", seq=1)
        assert msg.data == b"hello"
        assert (await js.publish("events.created", b"again")).seq == 2
    finally:
        await nc.close()

    # A fresh client sees both messages too.
    nc = await nats.connect(server.url)
    try:
        info = await nc.jetstream().stream_info("EVENTS")
        assert info.state.messages == 2
    finally:
        await nc.close()


def test_nats_jetstream_stream_survives_restart_on_same_port(nats_server: EmbeddedNats) -> None:
    url = nats_server.start()
    assert url == f"nats://127.0.0.1:{nats_server.port}"
    assert nats_server.port not in SYSTEM_PORTS
    asyncio.run(_jetstream_roundtrip(nats_server))


def test_nats_kill_and_restart(nats_server: EmbeddedNats) -> None:
    url = nats_server.start()
    nats_server.kill()
    assert not nats_server.running
    assert nats_server.start() == url


# -- EmbeddedServers -----------------------------------------------------------


def test_servers_start_only_what_is_not_configured(tmp_path: Path) -> None:
    env = {"TESSERA_DATABASE_URL": "postgresql://db.example:5432/x", "TESSERA_REDIS_URL": ""}
    servers = EmbeddedServers(tmp_path, env, fast=True, persist=False)
    with servers as urls:
        assert urls["TESSERA_DATABASE_URL"] == "postgresql://db.example:5432/x"
        assert urls["TESSERA_REDIS_URL"].startswith("redis://127.0.0.1:")
        assert urls["TESSERA_NATS_URL"].startswith("nats://127.0.0.1:")
        assert not (tmp_path / "postgres").exists()
        assert [s.name for s in servers.started] == ["redis", "nats"]
        assert all(s.running for s in servers.started)
        client = redis.Redis.from_url(urls["TESSERA_REDIS_URL"])
        assert client.ping()
        client.close()
        started = list(servers.started)
    assert not any(s.running for s in started)
    assert servers.started == []


def test_servers_all_configured_starts_nothing(tmp_path: Path) -> None:
    env = {
        "TESSERA_DATABASE_URL": "postgresql://a/b",
        "TESSERA_REDIS_URL": "redis://c/0",
        "TESSERA_NATS_URL": "nats://d:4222",
    }
    servers = EmbeddedServers(tmp_path / "root", env)
    assert servers.start() == env
    assert servers.started == []
    assert not (tmp_path / "root").exists()
    servers.stop()


def test_servers_start_all_three(tmp_path: Path) -> None:
    with EmbeddedServers(tmp_path, {}, fast=True) as urls:
        assert set(urls) == {"TESSERA_DATABASE_URL", "TESSERA_REDIS_URL", "TESSERA_NATS_URL"}
        assert asyncio.run(_pg(urls["TESSERA_DATABASE_URL"], "SELECT 1 AS one"))[0]["one"] == 1
        for name in ("postgres", "redis", "nats"):
            assert (tmp_path / name / "server.log").exists()
