"""Every token issued appears in the ledger exactly once, even when the audit service is killed
mid-stream and restarted: it resumes where it stopped, losing and duplicating nothing."""
from __future__ import annotations

import asyncio
import itertools
import signal

from tests.support.waiting import eventually
from tests.support.fixtures import client_credentials

from .conftest import made_event

TOKENS = 60


async def _issued_in_source(ledger, apps) -> dict:
    """``access_token.issued`` events of ``apps`` in the token service's event store (the truth)."""
    rows = await ledger.token_pool.fetch(
        "SELECT id, data->>'jti' AS jti FROM events WHERE type = 'access_token.issued' AND application = ANY($1)",
        [a.id for a in apps])
    return {r["id"]: r["jti"] for r in rows}


async def _ledger_rows(ledger, apps) -> list:
    return await ledger.pool.fetch(
        "SELECT event_id, data->>'jti' AS jti FROM ledger WHERE type = 'access_token.issued'"
        " AND application = ANY($1)", [a.id for a in apps])


async def test_every_token_issued_is_in_the_ledger_once_across_a_crash(ledger, suite, make_app):
    jwt_app = await make_app()
    opaque_app = await make_app(settings={"access_token_format": "opaque"})
    apps = [jwt_app, opaque_app]
    # Both token processes, both applications, JWT and opaque, interleaved.
    targets = itertools.cycle([(suite.token.url, jwt_app), (suite.token2.url, opaque_app),
                               (suite.token2.url, jwt_app), (suite.token.url, opaque_app)])
    formats = []

    async def issue(count: int) -> None:
        for _ in range(count):
            base, app = next(targets)
            response = await client_credentials(base, app.id, app.client_id, app.client_secret)
            assert response.status_code == 200, response.text
            formats.append("jwt" if response.json()["access_token"].count(".") == 2 else "opaque")
            await asyncio.sleep(0.02)

    issuing = asyncio.create_task(issue(TOKENS))
    try:
        # Mid-stream: the ledger has some of the tokens, the rest are still being issued.
        assert await eventually(lambda: _has_some(ledger, apps), timeout=30), ledger.process.log()[-3000:]
        ledger.kill()
        assert ledger.process.proc.returncode == -signal.SIGKILL
        recorded_before_crash = len(await _ledger_rows(ledger, apps))
        assert 0 < recorded_before_crash < TOKENS
    finally:
        await issuing
    assert sorted(set(formats)) == ["jwt", "opaque"]
    source = await _issued_in_source(ledger, apps)
    assert len(source) == TOKENS

    ledger.restart()

    async def caught_up() -> bool:
        return len(await _ledger_rows(ledger, apps)) >= TOKENS
    # Events the killed process had fetched but not acked come again after the ack wait (10 s).
    assert await eventually(caught_up, timeout=90), ledger.process.log()[-3000:]
    await asyncio.sleep(1.0)  # room for a duplicate to show up, if the ledger let one through
    rows = await _ledger_rows(ledger, apps)
    assert sorted(r["event_id"] for r in rows) == sorted(source)           # nothing lost, nothing twice
    assert sorted(r["jti"] for r in rows) == sorted(source.values())
    tokens = await ledger.pool.fetch(
        "SELECT jti, format, kid, client_id, issued_event FROM tokens WHERE application = ANY($1)",
        [a.id for a in apps])
    assert sorted(t["jti"] for t in tokens) == sorted(source.values())
    assert {t["issued_event"] for t in tokens} == set(source)
    for token in tokens:
        assert (token["kid"] is not None) == (token["format"] == "jwt")
    inbox = await ledger.pool.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer = 'audit-ledger' AND event_id = ANY($1::uuid[])", list(source))
    assert inbox == TOKENS


async def _has_some(ledger, apps) -> bool:
    return len(await _ledger_rows(ledger, apps)) >= 5


async def test_the_ledger_is_append_only(ledger):
    import asyncpg
    import pytest
    async with ledger.pool.acquire() as conn:
        position = await conn.fetchval("SELECT max(position) FROM ledger")
        assert position is not None
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE ledger SET type = 'x' WHERE position = $1", position)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM ledger WHERE position = $1", position)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("TRUNCATE ledger")


async def test_a_message_that_is_not_an_event_is_skipped_not_retried(ledger, make_app):
    app = await make_app()
    await ledger.publish_raw(f"tessera.token.{app.tenant}.access_token.issued", b"not an envelope")
    after = made_event("client.disabled", {"application_id": app.id, "client_id": app.client_id,
                                           "tenant_id": app.tenant},
                       service="token", tenant=app.tenant, application=app.id,
                       stream=f"client:{app.id}:{app.client_id}", sequence=2)
    await ledger.publish(after)
    assert await eventually(lambda: ledger.pool.fetchval(
        "SELECT count(*) = 1 FROM ledger WHERE event_id = $1", after.id), timeout=30)
    assert '"audit.malformed_message"' in ledger.process.log()
