"""Event types and a projection used by the backbone's own tests."""
from __future__ import annotations

from shared.events import NewEvent, Projection, event_type, registry

if "counter.incremented" not in registry:
    event_type("counter.created", description="A test counter was created.", example={"name": "a"})
    # v2 renamed "by" to "amount"; stored v1 payloads are upcast on read.
    event_type("counter.incremented", 2, description="A test counter went up.", example={"amount": 1},
               upcasters={1: lambda d: {"amount": d["by"]}})

COUNTERS_DDL = "CREATE TABLE counters (name text PRIMARY KEY, value int NOT NULL, version int NOT NULL)"

counters = Projection("counters", ["counters"])


@counters.on("counter.created")
async def _created(conn, event):
    await conn.execute("INSERT INTO counters (name, value, version) VALUES ($1, 0, $2)",
                       event.data["name"], event.sequence)


@counters.on("counter.incremented")
async def _incremented(conn, event):
    await conn.execute("UPDATE counters SET value = value + $2, version = $3 WHERE name = $1",
                       event.stream.split(":", 1)[1], event.data["amount"], event.sequence)


def created(name: str) -> NewEvent:
    return NewEvent("counter.created", {"name": name}, tenant="t1")


def incremented(amount: int) -> NewEvent:
    return NewEvent("counter.incremented", {"amount": amount}, tenant="t1")
