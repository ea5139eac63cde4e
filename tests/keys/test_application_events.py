"""The token service's application events drive the keys: created → keys, deleted → revoked."""

import uuid
from datetime import datetime, timezone

import orjson

from shared.events import Event
from shared.events.bus import ensure_stream
from tests.support.waiting import eventually


def _application_event(verb: str, app: str, tenant: str, sequence: int) -> Event:
    data = {"application_id": app, "tenant_id": tenant}
    if verb == "created":
        data.update(name="Portal", issuer=f"http://127.0.0.1:8080/{app}", settings={})
    return Event(id=uuid.uuid4(), type=f"application.{verb}", version=1, stream=f"application:{app}",
                 sequence=sequence, occurred_at=datetime.now(timezone.utc), service="token", tenant=tenant,
                 application=app, request_id="test", actor=None, data=data)


async def _publish(nats_client, event: Event) -> None:
    js = nats_client.jetstream()
    await ensure_stream(js)
    await js.publish(event.subject, orjson.dumps(event.envelope()), headers={"Nats-Msg-Id": str(event.id)})


async def _jwks_status(http, keys_service, app) -> int:
    async with http.get(f"{keys_service.url}/{app}/jwks.json") as response:
        return response.status


async def test_application_created_gives_it_keys_and_deleted_revokes_them(
        http, keys_service, keys_db, nats_client, internal_headers, new_application):
    app, tenant = new_application()
    created = _application_event("created", app, tenant, 1)
    assert created.subject == f"tessera.token.{tenant}.application.created"
    await _publish(nats_client, created)

    async def has_jwks():
        return await _jwks_status(http, keys_service, app) == 200
    assert await eventually(has_jwks), keys_service.output
    rows = await keys_db.fetch("SELECT alg, status, tenant_id FROM signing_keys WHERE application_id = $1", app)
    assert sorted((r["alg"], r["status"], r["tenant_id"]) for r in rows) == [
        ("ES256", "current", tenant), ("RS256", "current", tenant)]
    assert await keys_db.fetchval("SELECT status FROM applications WHERE application_id = $1", app) == "active"

    await _publish(nats_client, _application_event("deleted", app, tenant, 2))

    async def jwks_gone():
        return await _jwks_status(http, keys_service, app) == 404
    assert await eventually(jwks_gone), keys_service.output
    statuses = {r["status"] for r in await keys_db.fetch(
        "SELECT status FROM signing_keys WHERE application_id = $1", app)}
    assert statuses == {"revoked"}
    assert await keys_db.fetchval("SELECT count(*) FROM events WHERE application = $1"
                                  " AND type = 'signing_key.revoked'", app) == 2
    # A deleted application gets no new keys through the internal API either.
    async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys",
                         json={"tenant_id": tenant}, headers=internal_headers) as response:
        assert response.status == 404


async def test_keys_asked_for_first_are_kept_when_application_created_arrives(
        http, keys_service, keys_db, nats_client, internal_headers, new_application):
    app, tenant = new_application()
    async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys",
                         json={"tenant_id": tenant}, headers=internal_headers) as response:
        kids = {k["kid"] for k in (await response.json())["keys"]}
    await _publish(nats_client, _application_event("created", app, tenant, 1))

    async def applied():
        return await keys_db.fetchval("SELECT status FROM applications WHERE application_id = $1", app) == "active"
    assert await eventually(applied)
    rows = await keys_db.fetch("SELECT kid FROM signing_keys WHERE application_id = $1", app)
    assert {r["kid"] for r in rows} == kids


async def test_signing_key_events_are_published_on_nats(http, keys_service, nats_client, internal_headers,
                                                        new_application):
    app, tenant = new_application()
    js = nats_client.jetstream()
    await ensure_stream(js)
    sub = await js.subscribe(f"tessera.keys.{tenant}.signing_key.*", ordered_consumer=True)
    try:
        async with http.post(f"{keys_service.url}/internal/applications/{app}/signing-keys",
                             json={"tenant_id": tenant}, headers=internal_headers) as response:
            assert response.status == 200
        envelopes = [orjson.loads((await sub.next_msg(timeout=10)).data) for _ in range(2)]
    finally:
        await sub.unsubscribe()
    assert {e["type"] for e in envelopes} == {"signing_key.created"}
    assert {e["application"] for e in envelopes} == {app}
    assert all("d" not in e["data"]["public_jwk"] for e in envelopes)
