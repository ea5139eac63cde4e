"""Real servers for the test run.

Postgres, Redis and NATS come from ``TESSERA_DATABASE_URL``, ``TESSERA_REDIS_URL`` and
``TESSERA_NATS_URL`` when given; otherwise the session starts embedded ones (real servers from
PyPI packages) on free loopback ports and stops them at the end. Nothing here is a fake.
"""
from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import nats
import pytest
import redis.asyncio as aioredis

from shared.embedded import EmbeddedServers
from tests.support.schemas import migrated_schema
# The running suite and admin access, shared by every folder: one suite per test session.
from tests.support.fixtures import admin, make_app, suite  # noqa: F401
# Every event the session's services publish keeps the event contract (checked at the end).
pytest_plugins = ("tests.support.contract",)


@pytest.fixture(scope="session")
def servers() -> dict[str, str]:
    root = Path(tempfile.mkdtemp(prefix="tessera-test-"))
    embedded = EmbeddedServers(root, os.environ, fast=True, persist=False)
    try:
        yield embedded.start()
    finally:
        embedded.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def suite_secrets() -> dict[str, str]:
    return {
        "TESSERA_SECRET_PEPPER": base64.b64encode(secrets.token_bytes(32)).decode(),
        "TESSERA_KEY_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "TESSERA_INTERNAL_TOKEN": secrets.token_urlsafe(32),
    }


@pytest.fixture(scope="session")
def service_env(servers, suite_secrets) -> dict[str, str]:
    """Everything a service process needs, without the port."""
    return {**os.environ, **servers, **suite_secrets, "TESSERA_LOG_FORMAT": "json"}


@pytest.fixture
async def schema(servers):
    """A fresh, migrated schema with its own event store; dropped afterwards."""
    async with migrated_schema(servers["TESSERA_DATABASE_URL"]) as made:
        yield made


@pytest.fixture
async def nats_client(servers):
    nc = await nats.connect(servers["TESSERA_NATS_URL"])
    yield nc
    await nc.close()


@pytest.fixture
async def redis_client(servers):
    client = aioredis.from_url(servers["TESSERA_REDIS_URL"])
    yield client
    await client.aclose()
