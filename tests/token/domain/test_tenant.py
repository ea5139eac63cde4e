import pytest

from services.token.domain import tenant as t
from services.token.domain.status import ACTIVE, DELETED, DISABLED

from .helpers import raises, tenant_events, tenant_state


def test_create_emits_tenant_created_with_id_and_name():
    [event] = t.create(None, "acme", "  Acme Corp  ")
    assert event.type == "tenant.created"
    assert event.data == {"tenant_id": "acme", "name": "Acme Corp"}
    assert event.tenant == "acme"


def test_fold_of_created_gives_active_state_at_version_1():
    assert tenant_state() == t.TenantState("acme", "Acme", ACTIVE, 1)


def test_fold_of_nothing_is_none():
    assert t.fold([]) is None


@pytest.mark.parametrize("bad", ["ab", "-acme", "acme-", "Acme", "ac_me", "a" * 64, "", 42, None, "ac me"])
def test_create_refuses_an_id_that_is_not_a_slug(bad):
    with raises("invalid_request", "tenant id"):
        t.create(None, bad, "Acme")


def test_create_accepts_a_63_character_slug():
    assert t.create(None, "a" * 63, "x")[0].data["tenant_id"] == "a" * 63


def test_create_refuses_the_reserved_system_id():
    with raises("invalid_request", "reserved"):
        t.create(None, "system", "System")


def test_bootstrap_may_create_the_system_tenant():
    assert t.create(None, "system", "System", system=True)[0].data["tenant_id"] == "system"


def test_create_refuses_an_existing_id():
    with raises("conflict", "already exists"):
        t.create(tenant_state(), "acme", "Acme")


def test_create_refuses_the_id_of_a_deleted_tenant():
    deleted = tenant_state("acme", *t.delete(tenant_state(), live_applications=0))
    with raises("gone"):
        t.create(deleted, "acme", "Acme")


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201, "line\nbreak", 7, None])
def test_create_refuses_a_bad_name(bad):
    with raises("invalid_request", "name"):
        t.create(None, "acme", bad)


def test_update_changes_the_name():
    [event] = t.update(tenant_state(), {"name": "Acme Inc."})
    assert event.type == "tenant.updated" and event.data == {"tenant_id": "acme", "changes": {"name": "Acme Inc."}}
    assert t.fold([*tenant_events(), event]).name == "Acme Inc."


def test_update_with_the_same_name_emits_nothing():
    assert t.update(tenant_state(), {"name": "Acme"}) == []


def test_update_refuses_unknown_fields():
    with raises("invalid_request", "unknown"):
        t.update(tenant_state(), {"id": "other"})


def test_update_refuses_an_empty_change():
    with raises("invalid_request", "nothing"):
        t.update(tenant_state(), {})


def test_update_of_an_unknown_tenant_is_not_found():
    with raises("not_found"):
        t.update(None, {"name": "x"})


def test_disable_then_enable_round_trips_the_status():
    disabled = tenant_state("acme", *t.disable(tenant_state()))
    assert disabled.status == DISABLED and disabled.version == 2
    enabled = t.fold([*tenant_events(), *t.disable(tenant_state()), *t.enable(disabled)])
    assert enabled.status == ACTIVE and enabled.version == 3


def test_disable_of_a_disabled_tenant_emits_nothing():
    assert t.disable(tenant_state("acme", *t.disable(tenant_state()))) == []


def test_enable_of_an_active_tenant_emits_nothing():
    assert t.enable(tenant_state()) == []


def test_the_system_tenant_cannot_be_disabled_or_deleted():
    system = t.fold(t.create(None, "system", "System", system=True))
    with raises("conflict"):
        t.disable(system)
    with raises("conflict"):
        t.delete(system, live_applications=0)


def test_delete_refuses_a_tenant_with_live_applications():
    with raises("conflict", "2 application"):
        t.delete(tenant_state(), live_applications=2)


def test_delete_marks_the_tenant_deleted():
    [event] = t.delete(tenant_state(), live_applications=0)
    assert event.type == "tenant.deleted"
    assert tenant_state("acme", event).status == DELETED


@pytest.mark.parametrize("command", [
    lambda s: t.update(s, {"name": "x"}), t.disable, t.enable, lambda s: t.delete(s, live_applications=0)])
def test_a_deleted_tenant_accepts_no_command(command):
    deleted = tenant_state("acme", *t.delete(tenant_state(), live_applications=0))
    with raises("gone"):
        command(deleted)
