"""``tessera audit history|retention|purge|export`` on the ledger the audit service keeps."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta

import httpx
import orjson

from shared.events import schema
from tests.support.waiting import eventually
from tests.support.fixtures import client_credentials

from .conftest import made_event, utc_now


def _user_token_event(app, user: str, *, occurred_at=None, tenant: str | None = None):
    """``access_token.issued`` for a user (the code flow that mints them comes later)."""
    jti = uuid.uuid4().hex[:22]
    issued = occurred_at or utc_now()
    data = {"grant_id": jti, "grant_type": "authorization_code", "client_id": app.client_id, "subject": user,
            "scope": "read", "jti": jti, "format": "opaque", "token_digest": uuid.uuid4().hex * 2,
            "expires_at": (issued + timedelta(hours=1)).isoformat().replace("+00:00", "Z"), "kid": None}
    return made_event("access_token.issued", data, service="token", tenant=tenant or app.tenant,
                      application=app.id, stream=f"grant:{jti}", occurred_at=issued)


async def _in_ledger(ledger, event_id) -> bool:
    return await ledger.pool.fetchval("SELECT count(*) = 1 FROM ledger WHERE event_id = $1", event_id)


async def test_history_of_a_user_and_of_a_client(ledger, suite, make_app):
    app = await make_app()
    user = f"user-{uuid.uuid4().hex[:8]}"
    event = _user_token_event(app, user)
    await ledger.publish(event)
    response = await client_credentials(suite.public_url, app.id, app.client_id, app.client_secret)
    token = response.json()["access_token"]
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(f"{suite.public_url}/{app.id}/revoke", data={"token": token},
                        auth=(app.client_id, app.client_secret))
    assert await eventually(lambda: _in_ledger(ledger, event.id))
    assert await eventually(lambda: ledger.pool.fetchval(
        "SELECT count(*) = 1 FROM ledger WHERE type = 'access_token.revoked' AND application = $1", app.id))

    rows = ledger.cli_json("audit", "history", user)
    assert [(r["type"], r["event_id"]) for r in rows] == [("access_token.issued", str(event.id))]
    assert rows[0]["subject"]["user_id"] == user

    held = ledger.cli_json("audit", "who-had", app.id, "--at", "now")["tokens"]
    assert {t["holder"] for t in held} == {f"user:{user}"}  # the client's own token was revoked

    types = [r["type"] for r in ledger.cli_json("audit", "history", app.client_id, "--client")]
    assert types[0] == "client.created"
    assert sorted(types[1:]) == ["access_token.issued", "access_token.issued", "access_token.revoked"]
    table = ledger.cli("audit", "history", app.client_id, "--client")
    assert table.returncode == 0 and "client.created" in table.stdout and "access_token.revoked" in table.stdout
    assert ledger.cli_json("audit", "history", app.client_id, "--client", "--tenant", "another-tenant") == []


async def test_retention_purges_old_rows_of_its_tenant_only(ledger, make_app):
    app = await make_app()
    kept_app = await make_app()
    old = utc_now() - timedelta(days=40)
    old_event, recent_event = _user_token_event(app, "user-old", occurred_at=old), _user_token_event(app, "user-new")
    other_old = _user_token_event(kept_app, "user-other", occurred_at=old)
    for event in (old_event, recent_event, other_old):
        await ledger.publish(event)
    for event in (old_event, recent_event, other_old):
        assert await eventually(lambda: _in_ledger(ledger, event.id))

    await ledger.past_first_purge()   # so the purge counted below is the command's, not the service's
    out = ledger.cli("audit", "retention", app.tenant, "30")
    assert out.returncode == 0, out.stderr
    [shown] = ledger.cli_json("audit", "retention", app.tenant)
    assert (shown["tenant"], shown["days"]) == (app.tenant, 30)
    purged = ledger.cli_json("audit", "purge")
    assert purged["ledger"] >= 1 and purged["tokens"] >= 1

    assert not await _in_ledger(ledger, old_event.id)
    assert await _in_ledger(ledger, recent_event.id)
    assert await _in_ledger(ledger, other_old.id)           # no retention for that tenant: kept
    assert await ledger.pool.fetchval("SELECT count(*) FROM tokens WHERE jti = $1", old_event.data["jti"]) == 0
    # A purged event that came again would not come back: the consumer's inbox remembers it.
    assert await ledger.pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", old_event.id) == 1

    out = ledger.cli("audit", "retention", app.tenant, "--forever")
    assert out.returncode == 0, out.stderr
    assert ledger.cli_json("audit", "retention", app.tenant) == [{"tenant": app.tenant, "days": None}]


async def test_the_service_applies_retention_itself(ledger, make_app):
    app = await make_app()
    old_event = _user_token_event(app, "user-old", occurred_at=utc_now() - timedelta(days=3))
    await ledger.publish(old_event)
    assert await eventually(lambda: _in_ledger(ledger, old_event.id))
    assert ledger.cli("audit", "retention", app.tenant, "1").returncode == 0
    ledger.process.stop()
    ledger.restart()   # the service purges shortly after it starts, then every hour

    async def purged() -> bool:
        return not await _in_ledger(ledger, old_event.id)
    assert await eventually(purged, timeout=30), ledger.process.log()[-2000:]
    assert '"audit.purged"' in ledger.process.log()


async def test_export_writes_the_period_as_envelopes_that_keep_the_contract(ledger, suite, make_app):
    start = utc_now()
    app = await make_app()
    for _ in range(3):
        response = await client_credentials(suite.public_url, app.id, app.client_id, app.client_secret)
        assert response.status_code == 200
    assert await eventually(lambda: ledger.pool.fetchval(
        "SELECT count(*) = 3 FROM ledger WHERE type = 'access_token.issued' AND tenant = $1", app.tenant))
    end = utc_now() + timedelta(seconds=1)

    out = ledger.cli("audit", "export", "--from", start.isoformat(), "--to", end.isoformat(), "--tenant", app.tenant)
    assert out.returncode == 0, out.stderr
    lines = [orjson.loads(line) for line in out.stdout.splitlines()]
    expected = await ledger.pool.fetch(
        "SELECT event_id FROM ledger WHERE tenant = $1 AND occurred_at >= $2 AND occurred_at < $3", app.tenant, start, end)
    assert sorted(e["id"] for e in lines) == sorted(str(r["event_id"]) for r in expected)
    types = [e["type"] for e in lines]
    assert types.count("access_token.issued") == 3 and {"tenant.created", "client.created"} <= set(types)
    assert [e["occurred_at"] for e in lines] == sorted(e["occurred_at"] for e in lines)
    for envelope in lines:
        assert envelope["tenant"] == app.tenant
        assert schema.problems(envelope) == [], envelope
    # A window that ends before the tokens leaves them out.
    first_token = min(e["occurred_at"] for e in lines if e["type"] == "access_token.issued")
    out = ledger.cli("audit", "export", "--from", start.isoformat(), "--to", first_token, "--tenant", app.tenant)
    assert "access_token.issued" not in out.stdout and "tenant.created" in out.stdout


def test_cli_errors_are_one_line(ledger):
    env = {k: v for k, v in ledger.env.items() if k != "TESSERA_DATABASE_URL"}
    out = subprocess.run([sys.executable, "-m", "tessera", "audit", "who-had", "app", "--at", "now"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.startswith("tessera: TESSERA_DATABASE_URL is not set")
    out = ledger.cli("audit", "export", "--from", "2025-06-02T00:00:00Z", "--to", "2025-06-01T00:00:00Z")
    assert out.returncode == 1 and out.stderr.strip() == "tessera: --to must be after --from"
    out = ledger.cli("audit", "who-had", "app", "--at", "yesterday")
    assert out.returncode == 2 and "is not an ISO 8601 time" in out.stderr
    assert json.loads(ledger.cli("audit", "who-had", "no-such-app", "--at", "now", "--json").stdout)["tokens"] == []


def test_audit_run_is_the_audit_service(ledger):
    env = {k: v for k, v in ledger.env.items() if k != "TESSERA_DATABASE_URL"}
    out = subprocess.run([sys.executable, "-m", "tessera", "audit", "run"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == "tessera-audit: configuration error: TESSERA_DATABASE_URL: is required but not set"
