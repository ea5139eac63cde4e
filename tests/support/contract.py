"""The event contract, checked on every event a test session's services publish.

A plugin (``pytest_plugins`` in the root ``tests/conftest.py``): an autouse session fixture
subscribes to ``tessera.>`` on the session's NATS before the first test, and on the running
suite's own NATS as soon as the ``suite`` fixture has started it, and keeps every message (a
thread of its own receives them, whatever the tests' event loop is doing). At the end of the
session it checks each one against the envelope schema and its type's schema
(:mod:`shared.events.schema`); any violation fails the session, listing the offending events.

In scope: what Tessera's services publish on those servers. Out of scope, and counted only:
messages under a service name that is not one of Tessera's (tests publish ``tessera.test...``
and ``tessera.svc<hex>...`` events of their own), and messages that break the contract but were
recorded by no service of the session's database (built by hand in a test). Tests that start a
NATS of their own (``tests/keys``, the outbox tests, ``tessera run``) are out of scope too.
"""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Coroutine, Iterable

import asyncpg
import nats
import orjson
import pytest

from shared.config import SERVICES
from shared.events import schema

Lookup = Callable[[Iterable[uuid.UUID]], Awaitable[set[uuid.UUID]]]
_current: "ContractCheck | None" = None
_summary: list[str] = []


@dataclass
class Message:
    subject: str
    data: bytes


@dataclass
class ContractCheck:
    """The messages seen, and what breaks the contract among them."""
    messages: list[Message] = field(default_factory=list, repr=False)
    out_of_scope: int = 0
    hand_made: list[str] = field(default_factory=list, repr=False)
    watched: list[str] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _clients: list[Any] = field(default_factory=list, repr=False)

    # Receiving ---------------------------------------------------------------------------------
    def _run(self, coro: Coroutine, timeout: float = 30) -> Any:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="event-contract", daemon=True)
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def watch(self, nats_url: str) -> None:
        """Keep every message published on ``tessera.>`` at ``nats_url`` from now on."""
        if nats_url not in self.watched:
            self._run(self._subscribe(nats_url))
            self.watched.append(nats_url)

    async def _subscribe(self, url: str) -> None:
        async def ignore(*_args) -> None:
            pass
        nc = await nats.connect(url, allow_reconnect=False, error_cb=ignore, disconnected_cb=ignore,
                                closed_cb=ignore)
        await nc.subscribe("tessera.>", cb=self._on_message, pending_msgs_limit=0, pending_bytes_limit=0)
        await nc.flush()
        self._clients.append(nc)

    async def _on_message(self, msg) -> None:
        self.messages.append(Message(msg.subject, msg.data))

    async def _close(self) -> None:
        for nc in self._clients:
            try:
                if nc.is_connected:
                    await asyncio.wait_for(nc.flush(), 2)
                await nc.close()
            except Exception:  # noqa: BLE001 - a server already stopped: its messages are in
                pass

    def finish(self, recorded: Lookup) -> list[str]:
        """Stop receiving and return :meth:`violations` (run on the check's own thread)."""
        if self._loop is None:
            return asyncio.run(self.violations(recorded))
        time.sleep(0.2)  # what the services published last is delivered
        self._run(self._close())
        try:
            return self._run(self.violations(recorded), timeout=120)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = None

    def envelopes(self, event_type: str | None = None) -> list[dict]:
        """Parsed envelopes seen so far (of one type)."""
        out = []
        for message in list(self.messages):
            try:
                envelope = orjson.loads(message.data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(envelope, dict) and (event_type is None or envelope.get("type") == event_type):
                out.append(envelope)
        return out

    # Checking ----------------------------------------------------------------------------------
    async def violations(self, recorded: Lookup) -> list[str]:
        """One line per message that breaks the contract and was published by a Tessera service."""
        suspects: list[tuple[Message, uuid.UUID | None, list[str]]] = []
        self.out_of_scope = 0
        for message in list(self.messages):
            parts = message.subject.split(".")
            if len(parts) < 2 or parts[1] not in SERVICES:
                self.out_of_scope += 1
                continue
            try:
                envelope = orjson.loads(message.data)
            except orjson.JSONDecodeError as exc:
                suspects.append((message, None, [f"not JSON: {exc}"]))
                continue
            problems = schema.problems(envelope, message.subject)
            if problems:
                suspects.append((message, _event_id(envelope), problems))
        known = await recorded({event_id for _, event_id, _ in suspects if event_id is not None})
        found, self.hand_made = [], []
        for message, event_id, problems in suspects:
            if event_id is not None and event_id in known:
                found.append(f"{message.subject} id={event_id}: " + "; ".join(problems))
            else:
                self.hand_made.append(f"{message.subject}: " + "; ".join(problems))
        return found


def _event_id(envelope) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(envelope.get("id")))
    except (AttributeError, ValueError):
        return None


def recorded_in(database_url: str) -> Lookup:
    """Which of some event ids are in the event store of a Tessera service in this database."""
    async def lookup(ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        ids = list(ids)
        if not ids:
            return set()
        conn = await asyncpg.connect(database_url)
        try:
            found: set[uuid.UUID] = set()
            for service in SERVICES:
                if await conn.fetchval("SELECT to_regclass($1)", f'"{service}".events') is None:
                    continue
                rows = await conn.fetch(f'SELECT id FROM "{service}".events WHERE id = ANY($1::uuid[])', ids)
                found |= {r["id"] for r in rows}
            return found
        finally:
            await conn.close()
    return lookup


@pytest.fixture(scope="session", autouse=True)
def event_contract(servers) -> ContractCheck:
    """Every message published on the session's (and the suite's) NATS, checked at the end."""
    global _current
    check = _current = ContractCheck()
    check.watch(servers["TESSERA_NATS_URL"])
    try:
        yield check
    finally:
        _current = None
    found = check.finish(recorded_in(servers["TESSERA_DATABASE_URL"]))
    _summary.append(f"event contract: {len(check.messages)} messages on {len(check.watched)} NATS server(s), "
                    f"{len(found)} breaking it, {len(check.hand_made)} hand-made by tests and "
                    f"{check.out_of_scope} of test services set aside")
    if found:
        listing = "\n  ".join(found[:50]) + (f"\n  ... and {len(found) - 50} more" if len(found) > 50 else "")
        raise AssertionError(f"{len(found)} published event(s) break the event contract "
                             f"(shared/events/schemas):\n  {listing}")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """Once the ``suite`` fixture has started the suite on a NATS of its own, watch that one too."""
    result = yield
    if fixturedef.argname == "suite" and _current is not None:
        url = getattr(result, "env", {}).get("TESSERA_NATS_URL")
        if url:
            _current.watch(url)
    return result


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _summary:
        terminalreporter.write_line(line)
