"""The audit service as a real process beside the session's suite, and ways to read its ledger.

The service consumes the suite's NATS (``suite.env``) and writes schema ``audit`` of the
session's database; ``token.events`` in the same database is the source of truth it is
compared with. The process is shared by the folder's tests; a test may kill and restart it.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest

from services.audit import purge
from shared.db import create_pool
from shared.events import Event
from tests.support.processes import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def made_event(event_type: str, data: dict, *, service: str, tenant: str, application: str | None,
               stream: str, occurred_at: datetime | None = None, sequence: int = 1) -> Event:
    """An event as a service would record it (for events no service can be made to publish yet)."""
    return Event(id=uuid.uuid4(), type=event_type, version=1, stream=stream, sequence=sequence,
                 occurred_at=occurred_at or utc_now(), service=service, tenant=tenant, application=application,
                 request_id=f"test-{uuid.uuid4().hex[:8]}", actor=None, data=data)


@dataclass
class Ledger:
    """The running audit service and the database it writes."""
    process: ServiceProcess
    env: dict[str, str]
    pool: Any          # asyncpg pool, search_path audit
    token_pool: Any    # asyncpg pool, search_path token
    started: float = field(default_factory=time.monotonic)

    def restart(self) -> None:
        self.process.start()
        self.started = time.monotonic()

    async def past_first_purge(self) -> None:
        """Wait until the service's own first purge (a few seconds after it starts) is behind it."""
        await asyncio.sleep(max(0.0, self.started + purge.FIRST_AFTER_S + 1.0 - time.monotonic()))

    def kill(self) -> None:
        """SIGKILL: no drain, no ack of what it was applying."""
        self.process.proc.kill()
        self.process.proc.wait(10)

    async def count(self, sql: str, *args) -> int:
        return await self.pool.fetchval(sql, *args)

    async def publish(self, event: Event) -> None:
        """Publish a hand-made event on the suite's NATS, as a service's outbox would."""
        await self.publish_raw(event.subject, orjson.dumps(event.envelope()))

    async def publish_raw(self, subject: str, payload: bytes) -> None:
        nc = await nats.connect(self.env["TESSERA_NATS_URL"])
        try:
            await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": str(uuid.uuid4())})
        finally:
            await nc.close()

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """``tessera <args>`` as a subprocess, with the suite's environment."""
        return subprocess.run([sys.executable, "-m", "tessera", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def cli_json(self, *args: str) -> Any:
        out = self.cli(*args, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


@pytest.fixture(scope="session")
async def ledger(suite, servers, tmp_path_factory) -> Ledger:
    process = ServiceProcess("audit", suite.env, tmp_path_factory.mktemp("audit-logs")).start()
    pool = await create_pool(servers["TESSERA_DATABASE_URL"], "audit", min_size=1, max_size=4)
    token_pool = await create_pool(servers["TESSERA_DATABASE_URL"], "token", min_size=1, max_size=4)
    try:
        yield Ledger(process, {**suite.env}, pool, token_pool)
    finally:
        await pool.close()
        await token_pool.close()
        assert process.stop() == 0, process.log()[-3000:]
