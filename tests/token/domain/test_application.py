import pytest

from services.token.domain import application as a
from services.token.domain import tenant as t
from services.token.domain.status import ACTIVE, DELETED, DISABLED
from services.token.model import TokenSettings

from .helpers import PUBLIC_URL, app_events, app_state, raises, tenant_state


def test_create_emits_the_adr_payload_with_default_issuer_settings_and_scopes():
    [event] = app_events()
    assert event.type == "application.created"
    assert event.tenant == "acme" and event.application == "billing"
    assert event.data == {
        "application_id": "billing", "tenant_id": "acme", "name": "Billing",
        "issuer": "https://id.example.com/billing",
        "settings": {"access_token_format": "jwt", "access_token_alg": "ES256", "signing_algs": ["RS256", "ES256"],
                     "access_token_ttl": 3600, "id_token_ttl": 3600, "refresh_token_ttl": 2592000,
                     "code_ttl": 60},
        "scopes": ["openid", "profile", "email", "offline_access"],
    }


def test_fold_of_created_gives_the_state_with_typed_settings():
    state = app_state(settings={"access_token_ttl": 900})
    assert state.status == ACTIVE and state.version == 1 and state.tenant_id == "acme"
    assert state.settings == TokenSettings(access_token_ttl=900)
    assert state.scopes == ("openid", "profile", "email", "offline_access")


def test_fold_of_nothing_is_none():
    assert a.fold([]) is None


@pytest.mark.parametrize("bad", ["b", "Billing", "bill_ing", "-billing", "b" * 64, 3])
def test_create_refuses_an_id_that_is_not_a_slug(bad):
    with raises("invalid_request", "application id"):
        app_events(bad)


@pytest.mark.parametrize("reserved", ["admin", "internal", "healthz", "readyz", "metrics", "system"])
def test_create_refuses_reserved_ids(reserved):
    with raises("invalid_request", "reserved"):
        app_events(reserved)


def test_bootstrap_may_create_the_system_application():
    state = app_state("system", system=True)
    assert state.issuer == "https://id.example.com/system"


def test_create_refuses_an_existing_id():
    with raises("conflict", "already exists"):
        a.create(app_state(), application_id="billing", tenant=tenant_state(), name="x", public_url=PUBLIC_URL)


def test_create_refuses_the_id_of_a_deleted_application():
    deleted = a.fold([*app_events(), *a.delete(app_state())])
    with raises("gone"):
        a.create(deleted, application_id="billing", tenant=tenant_state(), name="x", public_url=PUBLIC_URL)


def test_create_needs_an_existing_tenant():
    with raises("not_found", "tenant"):
        a.create(None, application_id="billing", tenant=None, name="x", public_url=PUBLIC_URL)


def test_create_refuses_a_deleted_tenant():
    deleted = tenant_state("acme", *t.delete(tenant_state(), live_applications=0))
    with raises("not_found", "tenant"):
        a.create(None, application_id="billing", tenant=deleted, name="x", public_url=PUBLIC_URL)


def test_create_refuses_a_bad_name():
    with raises("invalid_request", "name"):
        app_events(name="")


@pytest.mark.parametrize("issuer", ["https://login.example.com", "https://example.com/tenants/acme",
                                    "http://127.0.0.1:8080/billing", "http://localhost/billing",
                                    "https://example.com:8443/x"])
def test_create_accepts_a_custom_issuer(issuer):
    assert app_state(issuer=issuer).issuer == issuer


@pytest.mark.parametrize("issuer,why", [
    ("http://example.com/billing", "https"),
    ("ftp://example.com/billing", "https"),
    ("https://example.com/billing?x=1", "query"),
    ("https://example.com/billing#top", "fragment"),
    ("https://example.com/billing/", "'/'"),
    ("https://user:pw@example.com/billing", "user"),
    ("example.com/billing", "absolute"),
    ("https:///billing", "host"),
    ("https://example.com/bil ling", "whitespace"),
    ("https://example.com:99999/x", "valid"),
    (42, "URL"),
])
def test_create_refuses_a_bad_custom_issuer(issuer, why):
    with raises("invalid_request", why):
        app_events(issuer=issuer)


def test_access_token_format_must_be_jwt_or_opaque():
    assert app_state(settings={"access_token_format": "opaque"}).settings.access_token_format == "opaque"
    with raises("invalid_request", "access_token_format"):
        app_events(settings={"access_token_format": "paseto"})


def test_signing_algs_must_be_among_rs256_es256_eddsa():
    state = app_state(settings={"signing_algs": ["RS256", "ES256", "EdDSA"], "access_token_alg": "EdDSA"})
    assert state.settings.signing_algs == ("RS256", "ES256", "EdDSA")
    with raises("invalid_request", "signing_algs"):
        app_events(settings={"signing_algs": ["RS256", "HS256"], "access_token_alg": "RS256"})


def test_signing_algs_must_include_rs256():
    with raises("invalid_request", "RS256"):
        app_events(settings={"signing_algs": ["ES256"], "access_token_alg": "ES256"})


def test_signing_algs_must_not_be_empty_or_repeat():
    with raises("invalid_request", "non-empty"):
        app_events(settings={"signing_algs": []})
    with raises("invalid_request", "repeat"):
        app_events(settings={"signing_algs": ["RS256", "RS256"], "access_token_alg": "RS256"})


def test_access_token_alg_must_be_one_of_signing_algs():
    with raises("invalid_request", "access_token_alg"):
        app_events(settings={"signing_algs": ["RS256"], "access_token_alg": "ES256"})


@pytest.mark.parametrize("name,low,high", [("access_token_ttl", 60, 86400), ("id_token_ttl", 60, 86400),
                                           ("code_ttl", 10, 600), ("refresh_token_ttl", 60, 365 * 86400)])
def test_lifetimes_are_bounded(name, low, high):
    assert getattr(app_state(settings={name: low}).settings, name) == low
    assert getattr(app_state(settings={name: high}).settings, name) == high
    for bad in (low - 1, high + 1):
        with raises("invalid_request", name):
            app_events(settings={name: bad})


@pytest.mark.parametrize("bad", ["3600", 3600.0, True, None])
def test_lifetimes_must_be_integers(bad):
    with raises("invalid_request", "integer"):
        app_events(settings={"access_token_ttl": bad})


def test_settings_refuse_unknown_fields():
    with raises("invalid_request", "unknown settings"):
        app_events(settings={"access_token_lifetime": 60})


def test_settings_must_be_an_object():
    with raises("invalid_request", "object"):
        app_events(settings=["jwt"])


def test_scopes_follow_rfc_6749_charset():
    assert app_state(scopes=["tessera:admin", "invoices.read", "a/b"]).scopes == ("tessera:admin", "invoices.read",
                                                                                   "a/b")
    for bad in (["has space"], ['quote"'], ["back\\slash"], [""], ["é"]):
        with raises("invalid_request", "scope"):
            app_events(scopes=bad)


def test_scopes_must_be_a_list_without_repeats():
    with raises("invalid_request", "list"):
        app_events(scopes="openid profile")
    with raises("invalid_request", "repeat"):
        app_events(scopes=["openid", "openid"])


def test_update_changes_only_what_differs_and_keeps_other_settings():
    state = app_state(settings={"access_token_format": "opaque"})
    [event] = a.update(state, {"name": "Billing", "settings": {"access_token_ttl": 900}}, public_url=PUBLIC_URL)
    assert event.type == "application.updated"
    assert set(event.data["changes"]) == {"settings"}
    after = a.fold([*app_events(settings={"access_token_format": "opaque"}), event])
    assert after.settings.access_token_ttl == 900 and after.settings.access_token_format == "opaque"
    assert after.version == 2


def test_update_with_no_difference_emits_nothing():
    assert a.update(app_state(), {"name": "Billing", "scopes": list(app_state().scopes)}, public_url=PUBLIC_URL) == []


def test_update_of_issuer_to_null_restores_the_default():
    custom = a.fold(app_events(issuer="https://login.example.com"))
    [event] = a.update(custom, {"issuer": None}, public_url=PUBLIC_URL)
    assert event.data["changes"] == {"issuer": "https://id.example.com/billing"}


def test_update_validates_like_create():
    with raises("invalid_request", "issuer"):
        a.update(app_state(), {"issuer": "http://example.com"}, public_url=PUBLIC_URL)
    with raises("invalid_request", "code_ttl"):
        a.update(app_state(), {"settings": {"code_ttl": 5}}, public_url=PUBLIC_URL)


def test_update_refuses_unknown_fields_such_as_tenant_id():
    with raises("invalid_request", "unknown"):
        a.update(app_state(), {"tenant_id": "other"}, public_url=PUBLIC_URL)


def test_update_refuses_an_empty_change():
    with raises("invalid_request", "nothing"):
        a.update(app_state(), {}, public_url=PUBLIC_URL)


def test_update_of_an_unknown_application_is_not_found():
    with raises("not_found"):
        a.update(None, {"name": "x"}, public_url=PUBLIC_URL)


def test_disable_and_enable_are_idempotent():
    disabled = a.fold([*app_events(), *a.disable(app_state())])
    assert disabled.status == DISABLED
    assert a.disable(disabled) == []
    assert a.enable(app_state()) == []
    assert a.fold([*app_events(), *a.disable(app_state()), *a.enable(disabled)]).status == ACTIVE


def test_the_system_application_cannot_be_disabled_or_deleted():
    system = app_state("system", system=True)
    with raises("conflict"):
        a.disable(system)
    with raises("conflict"):
        a.delete(system)


def test_delete_marks_the_application_deleted():
    [event] = a.delete(app_state())
    assert event.type == "application.deleted"
    assert event.data == {"application_id": "billing", "tenant_id": "acme"}
    assert a.fold([*app_events(), event]).status == DELETED


@pytest.mark.parametrize("command", [
    lambda s: a.update(s, {"name": "x"}, public_url=PUBLIC_URL), a.disable, a.enable, a.delete])
def test_a_deleted_application_accepts_no_command(command):
    deleted = a.fold([*app_events(), *a.delete(app_state())])
    with raises("gone"):
        command(deleted)
