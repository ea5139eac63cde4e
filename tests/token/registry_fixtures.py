"""A registry over a fresh schema migrated with the token service's migrations."""
from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

import services.token
from services.token.projections import PROJECTIONS
from services.token.repository import Registry
from shared.config import load_settings
from shared.db import create_pool, migrate
from shared.events import EventStore

MIGRATIONS = Path(services.token.__file__).parent / "migrations"


@pytest.fixture
async def token_schema(servers):
    """(schema name, pool) for a uuid-named schema with the event store and the registry tables."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await migrate(servers["TESSERA_DATABASE_URL"], name, MIGRATIONS)
    pool = await create_pool(servers["TESSERA_DATABASE_URL"], name, min_size=1, max_size=20)
    try:
        yield name, pool
    finally:
        await pool.close()
        conn = await asyncpg.connect(servers["TESSERA_DATABASE_URL"])
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        await conn.close()


@pytest.fixture
def token_settings(service_env):
    return load_settings("token", {**service_env, "TESSERA_PUBLIC_URL": "https://id.example.com"})


@pytest.fixture
async def registry(token_schema, token_settings):
    _name, pool = token_schema
    return Registry(pool, EventStore(pool, "token", PROJECTIONS), token_settings)
