"""Read models built from events.

A projection names the tables it owns and a handler per event type. Local projections run in
the append transaction; the same projection rebuilt by :func:`replay` from the event log gives
the same tables (a test proves it).
"""
from __future__ import annotations

from typing import Awaitable, Callable, Sequence, TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from .model import Event
    from .store import EventStore

Handler = Callable[[asyncpg.Connection, "Event"], Awaitable[None]]


class Projection:
    def __init__(self, name: str, tables: Sequence[str]) -> None:
        self.name = name
        self.tables = tuple(tables)
        self.handlers: dict[str, Handler] = {}

    def on(self, *event_types: str) -> Callable[[Handler], Handler]:
        """Register the decorated coroutine as the handler of ``event_types``."""
        def register(fn: Handler) -> Handler:
            for name in event_types:
                self.handlers[name] = fn
            return fn
        return register

    async def apply(self, conn: asyncpg.Connection, event: "Event") -> None:
        handler = self.handlers.get(event.type)
        if handler is not None:
            await handler(conn, event)


async def replay(store: "EventStore", projections: Sequence[Projection] | None = None) -> int:
    """Rebuild read models from the service's own events, in one transaction. Returns the count."""
    projections = store.projections if projections is None else projections
    count = 0
    async with store.pool.acquire() as conn, conn.transaction():
        tables = [t for p in projections for t in p.tables]
        if tables:
            await conn.execute(f"TRUNCATE {', '.join(tables)}")
        async for event in store.read_all(conn):
            for projection in projections:
                await projection.apply(conn, event)
            count += 1
    return count
