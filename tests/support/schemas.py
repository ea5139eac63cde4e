"""Throw-away Postgres schemas for tests that work on the store directly."""
from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import asyncpg

from shared.db import create_pool, migrate


@asynccontextmanager
async def migrated_schema(url: str, migrations: Path | None = None,
                          max_size: int = 10) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A uuid-named schema with the event store (and ``migrations``), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await migrate(url, name, migrations)
    pool = await create_pool(url, name, min_size=1, max_size=max_size)
    try:
        yield name, pool
    finally:
        await pool.close()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        finally:
            await conn.close()
