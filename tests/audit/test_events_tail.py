"""``tessera events tail``: the stream from a point in time or live, filtered, readable or JSON."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import orjson

from shared.events import schema
from tests.support.fixtures import client_credentials

from .conftest import ROOT, utc_now


def _tail(ledger, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return ledger.cli("events", "tail", *args, timeout=timeout)


async def _issue(suite, app, count: int = 1) -> None:
    for _ in range(count):
        response = await client_credentials(suite.public_url, app.id, app.client_id, app.client_secret)
        assert response.status_code == 200, response.text


async def test_tail_from_the_start_filtered_by_tenant_and_type_as_json(ledger, suite, make_app):
    app = await make_app()
    await _issue(suite, app, 3)
    out = _tail(ledger, "--all", "--tenant", app.tenant, "--type", "access_token.issued", "--json",
                "--limit", "3", "--timeout", "30")
    assert out.returncode == 0, out.stderr
    envelopes = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert len(envelopes) == 3
    for envelope in envelopes:
        assert (envelope["type"], envelope["tenant"], envelope["application"]) == \
            ("access_token.issued", app.tenant, app.id)
        assert schema.problems(envelope) == []


async def test_tail_filters_by_application_and_client_in_readable_lines(ledger, suite, make_app):
    app, other = await make_app(), await make_app()
    await _issue(suite, other, 2)
    await _issue(suite, app, 2)
    out = _tail(ledger, "--all", "--application", app.id, "--client", app.client_id, "--limit", "3",
                "--timeout", "30")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # client.created, then the two tokens (the client's subject ids), nothing of the other app.
    assert [line.split()[1] for line in lines] == ["client.created", "access_token.issued", "access_token.issued"]
    for line in lines:
        time, _type, where, *rest = line.split()
        assert time.endswith("Z") and where == f"{app.tenant}/{app.id}"
        assert f"client_id={app.client_id}" in rest and any(p.startswith("request_id=") for p in rest)
    assert other.id not in out.stdout


async def test_tail_follows_live_events_since_a_time(ledger, suite, make_app):
    app = await make_app()
    since = utc_now()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tessera", "events", "tail", "--since", since.isoformat(), "--application", app.id,
        "--type", "access_token.*", "--json", "--limit", "2", "--timeout", "60",
        cwd=ROOT, env=ledger.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await asyncio.sleep(1.0)
        await _issue(suite, app, 2)   # while it runs: at least the last one arrives live
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    envelopes = [orjson.loads(line) for line in stdout.splitlines()]
    assert [e["type"] for e in envelopes] == ["access_token.issued"] * 2
    assert all(e["occurred_at"] >= since.isoformat().replace("+00:00", "Z")[:19] for e in envelopes)


def test_tail_stops_at_its_timeout_when_nothing_matches(ledger):
    out = _tail(ledger, "--all", "--tenant", "no-such-tenant", "--timeout", "2")
    assert (out.returncode, out.stdout) == (0, "")


def test_tail_says_when_nats_is_unreachable(ledger):
    out = _tail(ledger, "--nats-url", "nats://127.0.0.1:1", "--timeout", "2")
    assert out.returncode == 1 and out.stderr.startswith("tessera: cannot reach NATS at nats://127.0.0.1:1")


def test_the_subscription_is_the_most_specific_subject_the_filters_allow():
    from tessera.events_cli import filter_subject
    assert filter_subject(None, []) == "tessera.>"
    assert filter_subject("acme", []) == "tessera.*.acme.>"
    assert filter_subject("acme", ["access_token.issued"]) == "tessera.token.acme.access_token.issued"
    assert filter_subject(None, ["signing_key.*"]) == "tessera.*.*.signing_key.*"
    assert filter_subject("acme", ["access_token.issued", "access_token.revoked"]) == "tessera.*.acme.access_token.*"
    assert filter_subject("acme", ["access_token.issued", "client.created"]) == "tessera.*.acme.>"
    assert filter_subject(None, ["session.started"]) == "tessera.authn.*.session.started"
    assert filter_subject(None, ["session.ended"]) == "tessera.*.*.session.ended"  # not published yet
