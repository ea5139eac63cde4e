"""The event contract: a JSON Schema per event type and version, one for the envelope, and a
validator that catches an event breaking them (the session-wide check in
``tests/support/contract.py`` runs it on every event the test session publishes)."""
from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import datetime, timezone

import orjson
import pytest
from jsonschema import Draft202012Validator

from shared.events import Event, schema
from shared.events.docs import load_all, render
from shared.events.model import subject_ids
from tests.support.contract import ContractCheck, Message
from tests.support.fixtures import client_credentials


def _types():
    return [t for t in load_all() if t.service != "?"]


def _event(event_type: str = "access_token.issued", data: dict | None = None, **envelope) -> Event:
    etype = load_all().get(event_type)
    fields = dict(id=uuid.uuid4(), type=event_type, version=etype.version, stream="grant:x", sequence=1,
                  occurred_at=datetime.now(timezone.utc), service=etype.service, tenant="acme",
                  application="billing", request_id="3f2a9c", actor=None,
                  data=copy.deepcopy(etype.example if data is None else data))
    fields.update(envelope)
    return Event(**fields)


# The schemas ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("etype", _types(), ids=lambda t: t.name)
def test_every_event_type_has_a_schema_for_its_version_and_its_example_keeps_it(etype):
    name = schema.schema_file(etype.name, etype.version)
    document = schema.load(name)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"urn:tessera:events:{etype.name}:v{etype.version}"
    assert document["additionalProperties"] is False, "payloads are closed: a new field is a schema change"
    schema.validate_payload(etype.name, etype.version, etype.example)


def test_every_schema_file_belongs_to_a_registered_type_and_version():
    registry = load_all()
    for event_type, version in schema.available():
        assert event_type in registry, f"{event_type}.v{version}.json describes no registered type"
        assert version <= registry.get(event_type).version


def test_envelope_schema_is_valid_and_closed():
    document = schema.load(schema.ENVELOPE)
    Draft202012Validator.check_schema(document)
    assert document["additionalProperties"] is False
    assert set(document["required"]) == set(_event().envelope())


@pytest.mark.parametrize("etype", _types(), ids=lambda t: t.name)
def test_an_envelope_built_by_the_store_keeps_the_contract(etype):
    event = _event(etype.name)
    assert schema.problems(orjson.loads(orjson.dumps(event.envelope())), event.subject) == []


def test_docs_render_every_schema():
    text = render()
    assert "shared/events/schemas/envelope.v1.json" in text
    for etype in _types():
        assert f"shared/events/schemas/{schema.schema_file(etype.name, etype.version)}" in text


# The envelope's subject ids -----------------------------------------------------------------------------
def test_subject_ids_of_a_client_credentials_token_name_no_user():
    data = {"grant_id": "g" * 22, "client_id": "c" * 22, "subject": "c" * 22, "jti": "j" * 22, "kid": "k1"}
    assert subject_ids(data) == {"client_id": "c" * 22, "grant_id": "g" * 22, "jti": "j" * 22, "kid": "k1"}


def test_subject_ids_of_a_users_token_name_the_user():
    data = {"client_id": "portal", "subject": "user-42", "jti": "j" * 22}
    assert subject_ids(data) == {"client_id": "portal", "user_id": "user-42", "jti": "j" * 22}


def test_subject_ids_skip_missing_and_null_ids():
    assert subject_ids({"kid": "k1", "application_id": "billing", "client_id": None}) == {"kid": "k1"}


def test_an_envelope_without_subject_still_parses():
    envelope = _event().envelope()
    del envelope["subject"]
    parsed = Event.from_envelope(envelope)
    assert parsed.subject_ids == _event(data=envelope["data"]).subject_ids
    assert parsed.envelope()["subject"]["jti"] == envelope["data"]["jti"]


# Malformed events are caught ----------------------------------------------------------------------------
def _envelope(**changes) -> dict:
    envelope = orjson.loads(orjson.dumps(_event().envelope()))
    for path, value in changes.items():
        target = envelope
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return envelope


DELETE = object()


@pytest.mark.parametrize("changes, expected", [
    ({"data__jti": DELETE}, "'jti' is a required property"),
    ({"data__access_token": "eyJhbGciOi..."}, "Additional properties are not allowed"),
    ({"data__expires_at": "tomorrow"}, "data.expires_at"),
    ({"data__format": "opaque"}, "data"),                     # opaque without token_digest, with kid
    ({"data__scope": 42}, "data.scope"),
    ({"version": 9}, "no schema for access_token.issued v9"),
    ({"type": "access_token.minted"}, "no schema for access_token.minted v1"),
    ({"id": "not-a-uuid"}, "envelope.id"),
    ({"occurred_at": "2025-06-01 10:30"}, "envelope.occurred_at"),
    ({"subject": DELETE}, "'subject' is a required property"),
    ({"token": "raw"}, "Additional properties are not allowed"),
])
def test_a_malformed_event_is_caught(changes, expected):
    found = schema.problems(_envelope(**changes))
    assert found and any(expected in p for p in found), found
    with pytest.raises(schema.ContractViolation):
        schema.validate(_envelope(**changes))


def test_a_secret_anywhere_in_a_payload_is_caught():
    data = copy.deepcopy(load_all().get("signing_key.created").example)
    data["public_jwk"]["d"] = "private-exponent"
    event = _event("signing_key.created", data=data)
    found = schema.problems(orjson.loads(orjson.dumps(event.envelope())))
    assert any("data.public_jwk.d" in p and "never carries" in p for p in found), found


def test_an_event_on_the_wrong_subject_is_caught():
    event = _event()
    found = schema.problems(event.envelope(), "tessera.token.other-tenant.access_token.issued")
    assert found == [f"subject 'tessera.token.other-tenant.access_token.issued' is not {event.subject!r}"]


# The session-wide check ----------------------------------------------------------------------------------
async def test_the_session_check_fails_on_a_malformed_event_a_service_recorded():
    bad = _envelope(data__jti=DELETE)
    good = _event()
    check = ContractCheck([Message("tessera.token.acme.access_token.issued", orjson.dumps(bad)),
                           Message(good.subject, orjson.dumps(good.envelope())),
                           Message("tessera.test._.counter.created", b"{}")])

    async def every_id_recorded(ids):
        return set(ids)
    found = await check.violations(every_id_recorded)
    assert len(found) == 1 and bad["id"] in found[0] and "'jti' is a required property" in found[0]
    assert check.out_of_scope == 1


async def test_the_session_check_counts_hand_made_events_apart():
    bad = _envelope(data__jti=DELETE)
    check = ContractCheck([Message("tessera.token.acme.access_token.issued", orjson.dumps(bad))])

    async def nothing_recorded(ids):
        return set()
    assert await check.violations(nothing_recorded) == []
    assert len(check.hand_made) == 1


async def test_the_session_check_sees_what_the_suite_publishes(event_contract, suite, make_app):
    app = await make_app()
    response = await client_credentials(suite.public_url, app.id, app.client_id, app.client_secret)
    assert response.status_code == 200, response.text
    for _ in range(100):
        issued = [e for e in event_contract.envelopes("access_token.issued") if e["application"] == app.id]
        if issued:
            break
        await asyncio.sleep(0.1)
    assert len(issued) == 1
    assert issued[0]["subject"]["client_id"] == app.client_id and "user_id" not in issued[0]["subject"]
    assert schema.problems(issued[0]) == []
