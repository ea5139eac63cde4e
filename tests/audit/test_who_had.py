"""``tessera audit who-had APP --at TIME`` across a revocation, a key rotation, a key revocation
and an application's deletion, read from the ledger the audit service keeps."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import httpx

from tests.support.waiting import eventually
from tests.support.fixtures import client_credentials

from .conftest import made_event, utc_now


def _kid(token: str) -> str | None:
    if token.count(".") != 2:
        return None
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


async def _issue(suite, app) -> tuple[str, str]:
    """A new access token of ``app`` and its jti (from the ledger's source, the token event)."""
    response = await client_credentials(suite.public_url, app.id, app.client_id, app.client_secret)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def _jti_of_last(ledger, app) -> str:
    return await ledger.token_pool.fetchval(
        "SELECT data->>'jti' FROM events WHERE type = 'access_token.issued' AND application = $1"
        " ORDER BY position DESC LIMIT 1", app.id)


async def _recorded(ledger, sql: str, *args) -> bool:
    return await ledger.pool.fetchval(sql, *args)


def _held(ledger, app, at: datetime) -> set[str]:
    answer = ledger.cli_json("audit", "who-had", app.id, "--at", at.isoformat())
    assert answer["application"] == app.id
    return {t["jti"] for t in answer["tokens"]}


async def _wait_for_token(ledger, jti: str, column: str = "issued_at") -> None:
    assert await eventually(lambda: _recorded(
        ledger, f"SELECT {column} IS NOT NULL FROM tokens WHERE jti = $1", jti)), \
        ledger.process.log()[-2000:]


async def test_a_revoked_token_is_held_until_its_revocation(ledger, suite, make_app):
    app = await make_app()
    before = utc_now()
    first = await _issue(suite, app)
    first_jti = await _jti_of_last(ledger, app)
    await _issue(suite, app)
    second_jti = await _jti_of_last(ledger, app)
    await _wait_for_token(ledger, second_jti)
    both = utc_now()

    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{suite.public_url}/{app.id}/revoke", data={"token": first},
                                   auth=(app.client_id, app.client_secret))
    assert response.status_code == 200
    await _wait_for_token(ledger, first_jti, "revoked_at")
    after = utc_now()

    assert _held(ledger, app, before) == set()
    assert _held(ledger, app, both) == {first_jti, second_jti}
    assert _held(ledger, app, after) == {second_jti}
    expires = await ledger.pool.fetchval("SELECT expires_at FROM tokens WHERE jti = $1", second_jti)
    assert _held(ledger, app, expires - timedelta(seconds=1)) == {second_jti}
    assert _held(ledger, app, expires) == set()

    row = await ledger.pool.fetchrow("SELECT revoked_reason, client_id FROM tokens WHERE jti = $1", first_jti)
    assert (row["revoked_reason"], row["client_id"]) == ("revoked_by_client", app.client_id)
    # Who held it, and which grant gave it: a client acting for itself, no sign-in behind it.
    answer = ledger.cli_json("audit", "who-had", app.id, "--at", both.isoformat())
    held = {t["jti"]: t for t in answer["tokens"]}
    assert held[first_jti]["holder"] == f"client:{app.client_id}"
    assert held[first_jti]["grant_id"] == first_jti and held[first_jti]["grant_type"] == "client_credentials"
    assert held[first_jti]["user_id"] is None and held[first_jti]["session_id"] is None
    # The same as a table.
    table = ledger.cli("audit", "who-had", app.id, "--at", both.isoformat())
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["holder", "client", "grant"]
    assert sum(first_jti in line or second_jti in line for line in lines) == 2


async def test_a_token_signed_with_a_retired_key_is_held_until_it_expires(ledger, suite, make_app, admin):
    app = await make_app()
    old_token = await _issue(suite, app)
    old_jti, old_kid = await _jti_of_last(ledger, app), _kid(old_token)

    response = await admin.call("POST", f"/admin/keys/applications/{app.id}/rotate", base=suite.keys.url)
    assert response.status_code == 200, response.text
    new_token, new_jti = old_token, old_jti
    for _ in range(100):  # the token service swaps keys on the keys service's events
        new_token = await _issue(suite, app)
        new_jti = await _jti_of_last(ledger, app)
        if _kid(new_token) != old_kid:
            break
    new_kid = _kid(new_token)
    assert new_kid != old_kid
    await _wait_for_token(ledger, new_jti)
    assert await eventually(lambda: _recorded(
        ledger, "SELECT retired_at IS NOT NULL FROM signing_keys WHERE kid = $1", old_kid))
    now = utc_now()

    answer = ledger.cli_json("audit", "who-had", app.id, "--at", now.isoformat())
    held = {t["jti"]: t for t in answer["tokens"]}
    assert old_jti in held and new_jti in held
    assert (held[old_jti]["kid"], held[old_jti]["key_status"]) == (old_kid, "retired")
    assert (held[new_jti]["kid"], held[new_jti]["key_status"]) == (new_kid, "current")

    # A compromised key, revoked at once: the tokens it signed are no longer held from then on.
    alg = await ledger.pool.fetchval("SELECT alg FROM signing_keys WHERE kid = $1", old_kid)
    await ledger.publish(made_event(
        "signing_key.revoked", {"kid": old_kid, "application_id": app.id, "alg": alg, "reason": "compromised"},
        service="keys", tenant=app.tenant, application=app.id, stream=f"signing_key:{old_kid}", sequence=3))
    assert await eventually(lambda: _recorded(
        ledger, "SELECT revoked_at IS NOT NULL FROM signing_keys WHERE kid = $1", old_kid))
    compromised_at = await ledger.pool.fetchval("SELECT revoked_at FROM signing_keys WHERE kid = $1", old_kid)
    assert _held(ledger, app, compromised_at - timedelta(milliseconds=1)) == {old_jti, new_jti}
    assert _held(ledger, app, utc_now()) == {new_jti}

    # Deleting the application revokes its keys: nothing of it is valid from then on.
    response = await admin.call("DELETE", f"/admin/applications/{app.id}")
    assert response.status_code in (200, 204), response.text
    assert await eventually(lambda: _recorded(
        ledger, "SELECT revoked_reason = 'application_deleted' FROM signing_keys WHERE kid = $1", new_kid)), \
        ledger.process.log()[-2000:]
    deleted_at = await ledger.pool.fetchval("SELECT deleted_at FROM applications WHERE application = $1", app.id)
    # The keys service revokes the old key again (it never heard of the compromise): the first
    # revocation stands.
    assert await eventually(lambda: _recorded(
        ledger, "SELECT count(*) = 2 FROM ledger WHERE type = 'signing_key.revoked' AND data->>'kid' = $1", old_kid))
    assert await ledger.pool.fetchval("SELECT revoked_at FROM signing_keys WHERE kid = $1", old_kid) == compromised_at
    assert _held(ledger, app, deleted_at - timedelta(milliseconds=1)) == {new_jti}
    assert _held(ledger, app, deleted_at) == set()
    assert _held(ledger, app, utc_now()) == set()


async def test_an_opaque_token_is_not_held_after_its_application_is_deleted(ledger, suite, make_app, admin):
    app = await make_app(settings={"access_token_format": "opaque"})
    token = await _issue(suite, app)
    assert token.count(".") == 0
    jti = await _jti_of_last(ledger, app)
    await _wait_for_token(ledger, jti)
    before = utc_now()
    response = await admin.call("DELETE", f"/admin/applications/{app.id}")
    assert response.status_code in (200, 204), response.text
    assert await eventually(lambda: _recorded(
        ledger, "SELECT deleted_at IS NOT NULL FROM applications WHERE application = $1", app.id))
    assert _held(ledger, app, before) == {jti}
    assert _held(ledger, app, utc_now()) == set()
