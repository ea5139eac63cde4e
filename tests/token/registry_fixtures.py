"""A registry over a fresh schema migrated with the token service's migrations."""
from __future__ import annotations

from pathlib import Path

import pytest

import services.token
from services.token.projections import PROJECTIONS
from services.token.repository import Registry
from shared.config import load_settings
from tests.support.schemas import migrated_schema
from shared.events import EventStore

MIGRATIONS = Path(services.token.__file__).parent / "migrations"


@pytest.fixture
async def token_schema(servers):
    """(schema name, pool) for a uuid-named schema with the event store and the registry tables."""
    async with migrated_schema(servers["TESSERA_DATABASE_URL"], MIGRATIONS, max_size=20) as made:
        yield made


@pytest.fixture
def token_settings(service_env):
    return load_settings("token", {**service_env, "TESSERA_PUBLIC_URL": "https://id.example.com"})


@pytest.fixture
async def registry(token_schema, token_settings):
    _name, pool = token_schema
    return Registry(pool, EventStore(pool, "token", PROJECTIONS), token_settings)
