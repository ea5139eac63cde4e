"""The token service's event types: every name of ADR 0002, each with an example payload."""
import pytest

from services.token import events  # noqa: F401 - registers the types
from shared.events import registry

ADR_TYPES = [
    "tenant.created", "tenant.updated", "tenant.disabled", "tenant.enabled", "tenant.deleted",
    "application.created", "application.updated", "application.disabled", "application.enabled",
    "application.deleted",
    "client.created", "client.updated", "client.secret_rotated", "client.disabled", "client.enabled",
    "client.deleted",
    "access_token.issued", "access_token.revoked",
]


@pytest.mark.parametrize("name", ADR_TYPES)
def test_every_adr_event_type_is_declared_with_a_description_and_example(name):
    etype = registry.get(name)
    assert etype.version == 1 and etype.description and etype.example


@pytest.mark.parametrize("name", [n for n in ADR_TYPES if not n.startswith("access_token.")])
def test_registry_event_examples_name_their_aggregate_ids(name):
    example = registry.get(name).example
    assert {"tenant_id"} <= set(example)
    if name.startswith(("application.", "client.")):
        assert "application_id" in example
    if name.startswith("client."):
        assert "client_id" in example


@pytest.mark.parametrize("name", ADR_TYPES)
def test_no_example_carries_a_plaintext_secret_or_token(name):
    keys = set(registry.get(name).example)
    assert not keys & {"secret", "client_secret", "token", "access_token", "refresh_token", "code"}


def test_access_token_events_carry_the_fields_the_token_endpoint_writes():
    assert set(registry.get("access_token.issued").example) == {
        "grant_id", "grant_type", "client_id", "subject", "scope", "jti", "format", "token_digest", "expires_at",
        "kid"}
    assert set(registry.get("access_token.revoked").example) == {"grant_id", "jti", "client_id", "reason"}
