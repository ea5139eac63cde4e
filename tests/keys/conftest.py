"""A keys service process of the tests' own, on a database of its own.

The keys tests use their own database on the session's Postgres server: other tests (``tessera
run``) start a keys service with another key encryption key over the shared database, and must
not meet keys sealed under this one.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

from shared.db import create_pool
from shared.embedded import EmbeddedNats, free_port

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_URL = "http://tessera.test"


class KeysProcess:
    """``python -m services.keys [command]`` with its output captured in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The admin guard verifies tokens of {public_url}/system against this service's own JWKS.
        self.env = {**env, "TESSERA_PORT": str(self.port), "TESSERA_KEYS_SERVICE_URL": self.url}
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "services.keys", *args], cwd=ROOT, env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"keys service exited {self.proc.returncode}:\n{self.output}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"keys service not ready after {timeout}s:\n{self.output}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(30)


@pytest.fixture(scope="session")
async def keys_database_url(servers):
    url = servers["TESSERA_DATABASE_URL"]
    name = f"keys_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    conn = await asyncpg.connect(url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture(scope="session")
def keys_nats_url(tmp_path_factory):
    """A NATS of the keys tests' own: the session's keys service shares the durable consumer name
    (as replicas do), and would take half of the events these tests publish."""
    server = EmbeddedNats(tmp_path_factory.mktemp("keys-nats"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def keys_env(service_env, keys_database_url, keys_nats_url) -> dict[str, str]:
    return {**service_env, "TESSERA_DATABASE_URL": keys_database_url, "TESSERA_LOG_LEVEL": "debug",
            "TESSERA_PUBLIC_URL": PUBLIC_URL, "TESSERA_NATS_URL": keys_nats_url}


@pytest.fixture
async def nats_client(keys_nats_url):
    """Overrides the session fixture: the keys tests talk to their own NATS."""
    import nats
    nc = await nats.connect(keys_nats_url)
    yield nc
    await nc.close()


@pytest.fixture(scope="module")
def keys_service(keys_env, tmp_path_factory):
    """A running keys service (one per test module); it must stop cleanly, exit 0."""
    process = KeysProcess(keys_env, tmp_path_factory.mktemp("keys") / "keys.log")
    try:
        process.wait_ready()
        yield process
    finally:
        code = process.stop()
    assert code == 0, process.output
    # A clean stop: nothing left pending in NATS subscriptions (no asyncio error at drain).
    assert "Traceback" not in process.output and "never retrieved" not in process.output, process.output[-3000:]


@pytest.fixture
async def keys_db(keys_service, keys_database_url):
    """A pool on the keys schema of the service's database."""
    pool = await create_pool(keys_database_url, "keys", min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
def internal_headers(service_env) -> dict[str, str]:
    return {"Authorization": f"Bearer {service_env['TESSERA_INTERNAL_TOKEN']}"}


@pytest.fixture
def new_application():
    """A fresh application and tenant id for one test (the database is shared by the session)."""
    def make() -> tuple[str, str]:
        return f"app-{uuid.uuid4().hex[:12]}", f"tenant-{uuid.uuid4().hex[:8]}"
    return make
