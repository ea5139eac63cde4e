from datetime import datetime, timedelta, timezone

import pytest

from services.token.domain import application as a
from services.token.domain import client as c
from services.token.domain.status import ACTIVE, DELETED, DISABLED
from services.token.model import SecretHash
from shared.crypto import digest

from .helpers import CLIENT_ID, HASH_A, HASH_B, HASH_C, app_events, app_state, client_events, client_state, raises

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=timezone.utc)
CODE_FLOW = {"grant_types": ["authorization_code", "refresh_token"],
             "redirect_uris": ["https://app.example.com/callback"]}


def test_create_emits_client_created_with_hash_and_digest_never_a_secret():
    [event] = client_events(scopes=["openid"])
    assert event.type == "client.created" and event.tenant == "acme" and event.application == "billing"
    assert event.data == {
        "application_id": "billing", "client_id": CLIENT_ID, "tenant_id": "acme", "name": "Exporter",
        "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["client_credentials"],
        "redirect_uris": [], "scopes": ["openid"], "access_token_format": None,
        "secret_hash": HASH_A, "secret_digest": digest(HASH_A), "skip_consent": False,
    }


def test_fold_of_created_gives_an_active_client_with_one_current_secret():
    state = client_state()
    assert state.status == ACTIVE and state.version == 1
    assert state.secret_hashes == (SecretHash(HASH_A),)
    assert state.scopes == app_state().scopes  # defaults to every scope the application offers


def test_fold_of_nothing_is_none():
    assert c.fold([]) is None


def test_a_public_client_has_no_secret():
    [event] = client_events(token_endpoint_auth_method="none", **CODE_FLOW)
    assert event.data["secret_hash"] is None and event.data["secret_digest"] is None
    assert c.fold([event]).secret_hashes == ()


def test_a_public_client_defaults_to_the_code_grant():
    with raises("invalid_request", "redirect_uri"):
        client_events(token_endpoint_auth_method="none")


def test_a_secret_hash_is_required_exactly_for_confidential_clients():
    with pytest.raises(ValueError):
        client_events(secret_hash=None)
    with pytest.raises(ValueError):
        client_events(token_endpoint_auth_method="none", secret_hash=HASH_A, **CODE_FLOW)


def test_create_needs_a_live_application():
    with raises("not_found", "application"):
        c.create(None, application=None, client_id=CLIENT_ID, name="x", secret_hash=HASH_A)
    deleted = a.fold([*app_events(), *a.delete(app_state())])
    with raises("not_found", "application"):
        c.create(None, application=deleted, client_id=CLIENT_ID, name="x", secret_hash=HASH_A)


def test_the_default_client_id_is_the_application_id():
    assert client_state(client_id="billing").client_id == "billing"


@pytest.mark.parametrize("bad", ["short", "other-app", CLIENT_ID + "x", "q3Zr8kX1bV9sLm2PwT7a+c"])
def test_other_client_ids_must_be_22_url_safe_characters(bad):
    with raises("invalid_request", "client_id"):
        client_events(client_id=bad)


def test_create_refuses_an_existing_or_deleted_id():
    with raises("conflict"):
        c.create(client_state(), application=app_state(), client_id=CLIENT_ID, name="x", secret_hash=HASH_B)
    deleted = client_state(*c.delete(client_state()))
    with raises("gone"):
        c.create(deleted, application=app_state(), client_id=CLIENT_ID, name="x", secret_hash=HASH_B)


def test_auth_method_must_be_basic_post_or_none():
    assert client_state(token_endpoint_auth_method="client_secret_post").token_endpoint_auth_method == \
        "client_secret_post"
    with raises("invalid_request", "token_endpoint_auth_method"):
        client_events(token_endpoint_auth_method="private_key_jwt")


def test_grant_types_must_be_known():
    with raises("invalid_request", "grant_types"):
        client_events(grant_types=["password"])
    with raises("invalid_request", "grant_types"):
        client_events(grant_types=["implicit"])


def test_grant_types_must_not_be_empty():
    with raises("invalid_request", "empty"):
        client_events(grant_types=[])


def test_a_public_client_cannot_use_client_credentials():
    with raises("invalid_request", "public client"):
        client_events(token_endpoint_auth_method="none", grant_types=["client_credentials"])


def test_authorization_code_needs_a_redirect_uri():
    with raises("invalid_request", "redirect_uri"):
        client_events(grant_types=["authorization_code"])


def test_redirect_uris_need_the_authorization_code_grant():
    with raises("invalid_request", "only used"):
        client_events(redirect_uris=["https://app.example.com/cb"])


def test_refresh_token_needs_the_authorization_code_grant():
    with raises("invalid_request", "refresh_token"):
        client_events(grant_types=["client_credentials", "refresh_token"])


@pytest.mark.parametrize("uri", ["https://app.example.com/cb", "https://app.example.com/cb?tenant=1",
                                 "http://127.0.0.1:53124/cb", "http://localhost/cb", "http://[::1]:8000/cb",
                                 "com.example.app:/oauth2redirect", "com.example.app://callback"])
def test_redirect_uri_accepts_https_loopback_http_and_private_use_schemes(uri):
    assert client_state(grant_types=["authorization_code"], redirect_uris=[uri]).redirect_uris == (uri,)


@pytest.mark.parametrize("uri,why", [
    ("https://app.example.com/cb#frag", "fragment"),
    ("/cb", "absolute"),
    ("http://app.example.com/cb", "loopback"),
    ("javascript:alert(1)", "private-use"),
    ("data:text/html,hi", "private-use"),
    ("myapp:/cb", "private-use"),
    ("https:///cb", "host"),
    ("https://user@app.example.com/cb", "user"),
    ("https://app.example.com/c b", "whitespace"),
])
def test_redirect_uri_refuses_unsafe_uris(uri, why):
    with raises("invalid_request", why):
        client_events(grant_types=["authorization_code"], redirect_uris=[uri])


def test_redirect_uris_must_be_a_list():
    with raises("invalid_request", "list"):
        client_events(grant_types=["authorization_code"], redirect_uris="https://app.example.com/cb")


def test_client_scopes_must_be_offered_by_the_application():
    with raises("invalid_request", "not offered"):
        client_events(scopes=["openid", "admin:all"])


def test_client_scopes_follow_rfc_6749_charset():
    with raises("invalid_request", "scope"):
        client_events(scopes=["open id"])


def test_access_token_format_override_is_jwt_opaque_or_none():
    assert client_state(access_token_format="opaque").access_token_format == "opaque"
    with raises("invalid_request", "access_token_format"):
        client_events(access_token_format="macaroon")


def test_update_changes_fields_and_emits_only_the_difference():
    [event] = c.update(client_state(), {"name": "Exporter", "scopes": ["openid"]}, application=app_state())
    assert event.type == "client.updated" and event.data["changes"] == {"scopes": ["openid"]}
    assert c.fold([*client_events(), event]).scopes == ("openid",)


def test_update_with_no_difference_emits_nothing():
    assert c.update(client_state(), {"name": "Exporter"}, application=app_state()) == []


def test_update_checks_the_client_as_it_would_be_after():
    with raises("invalid_request", "redirect_uri"):
        c.update(client_state(), {"grant_types": ["authorization_code"]}, application=app_state())
    state = client_state(**CODE_FLOW)
    with raises("invalid_request", "redirect_uri"):
        c.update(state, {"redirect_uris": []}, application=app_state())


def test_update_may_switch_between_basic_and_post():
    [event] = c.update(client_state(), {"token_endpoint_auth_method": "client_secret_post"}, application=app_state())
    assert event.data["changes"] == {"token_endpoint_auth_method": "client_secret_post"}


def test_update_refuses_switching_between_public_and_confidential():
    with raises("invalid_request", "public and confidential"):
        c.update(client_state(**CODE_FLOW), {"token_endpoint_auth_method": "none"}, application=app_state())
    public = client_state(token_endpoint_auth_method="none", **CODE_FLOW)
    with raises("invalid_request", "public and confidential"):
        c.update(public, {"token_endpoint_auth_method": "client_secret_basic"}, application=app_state())


def test_update_refuses_unknown_fields_and_secrets():
    with raises("invalid_request", "unknown"):
        c.update(client_state(), {"client_secret": "mine"}, application=app_state())


def test_update_refuses_an_empty_change():
    with raises("invalid_request", "nothing"):
        c.update(client_state(), {}, application=app_state())


def test_update_scopes_must_be_offered_by_the_application():
    with raises("invalid_request", "not offered"):
        c.update(client_state(), {"scopes": ["payroll"]}, application=app_state())


def test_rotation_without_grace_revokes_the_old_secret_at_once():
    [event] = c.rotate_secret(client_state(), secret_hash=HASH_B, grace_seconds=0, now=NOW)
    assert event.type == "client.secret_rotated"
    assert event.data["secret_hash"] == HASH_B and event.data["secret_digest"] == digest(HASH_B)
    assert event.data["previous"] == []
    assert c.fold([*client_events(), event]).secret_hashes == (SecretHash(HASH_B),)


def test_rotation_with_grace_keeps_the_old_secret_until_the_deadline():
    [event] = c.rotate_secret(client_state(), secret_hash=HASH_B, grace_seconds=3600, now=NOW)
    assert event.data["previous"] == [{"digest": digest(HASH_A), "expires_at": "2025-06-01T10:30:00Z"}]
    assert c.fold([*client_events(), event]).secret_hashes == (
        SecretHash(HASH_B), SecretHash(HASH_A, NOW + timedelta(hours=1)))


def test_a_second_rotation_bounds_every_earlier_secret_by_its_own_grace():
    first = c.rotate_secret(client_state(), secret_hash=HASH_B, grace_seconds=7200, now=NOW)
    later = NOW + timedelta(minutes=10)
    second = c.rotate_secret(client_state(*first), secret_hash=HASH_C, grace_seconds=600, now=later)
    hashes = c.fold([*client_events(), *first, *second]).secret_hashes
    assert hashes == (SecretHash(HASH_C), SecretHash(HASH_B, later + timedelta(minutes=10)),
                      SecretHash(HASH_A, later + timedelta(minutes=10)))


def test_rotation_drops_secrets_already_expired():
    first = c.rotate_secret(client_state(), secret_hash=HASH_B, grace_seconds=60, now=NOW)
    second = c.rotate_secret(client_state(*first), secret_hash=HASH_C, grace_seconds=600,
                             now=NOW + timedelta(minutes=5))
    assert [h.hash for h in c.fold([*client_events(), *first, *second]).secret_hashes] == [HASH_C, HASH_B]


@pytest.mark.parametrize("bad", [-1, 30 * 86400 + 1, "60", None, 1.5])
def test_rotation_grace_is_an_integer_up_to_30_days(bad):
    with raises("invalid_request", "grace_seconds"):
        c.rotate_secret(client_state(), secret_hash=HASH_B, grace_seconds=bad, now=NOW)


def test_rotation_accepts_the_30_day_maximum():
    assert c.rotate_secret(client_state(), secret_hash=HASH_B, grace_seconds=30 * 86400, now=NOW)


def test_a_public_client_has_no_secret_to_rotate():
    public = client_state(token_endpoint_auth_method="none", **CODE_FLOW)
    with raises("invalid_request", "public client"):
        c.rotate_secret(public, secret_hash=HASH_B, grace_seconds=0, now=NOW)


def test_disable_and_enable_are_idempotent():
    disabled = client_state(*c.disable(client_state()))
    assert disabled.status == DISABLED and c.disable(disabled) == []
    assert c.enable(client_state()) == []
    assert client_state(*c.disable(client_state()), *c.enable(disabled)).status == ACTIVE


def test_delete_marks_the_client_deleted_and_voids_its_secrets():
    [event] = c.delete(client_state())
    assert event.type == "client.deleted"
    deleted = client_state(event)
    assert deleted.status == DELETED and deleted.secret_hashes == ()


@pytest.mark.parametrize("command", [
    lambda s: c.update(s, {"name": "x"}, application=app_state()),
    lambda s: c.rotate_secret(s, secret_hash=HASH_B, grace_seconds=0, now=NOW),
    c.disable, c.enable, c.delete])
def test_a_deleted_client_accepts_no_command(command):
    deleted = client_state(*c.delete(client_state()))
    with raises("gone"):
        command(deleted)


@pytest.mark.parametrize("command", [
    lambda s: c.update(s, {"name": "x"}, application=app_state()),
    lambda s: c.rotate_secret(s, secret_hash=HASH_B, grace_seconds=0, now=NOW),
    c.disable, c.enable, c.delete])
def test_commands_on_an_unknown_client_are_not_found(command):
    with raises("not_found"):
        command(None)


def test_skip_consent_is_a_boolean_set_at_creation_and_by_update():
    [event] = client_events(skip_consent=True)
    assert event.data["skip_consent"] is True
    state = c.fold([event])
    assert state.skip_consent is True
    [changed] = c.update(state, {"skip_consent": False}, application=app_state())
    assert changed.data["changes"] == {"skip_consent": False}
    assert c.fold([event, changed]).skip_consent is False
    with raises("invalid_request"):
        client_events(skip_consent="yes")


def test_events_written_before_skip_consent_fold_to_false():
    [event] = client_events()
    old = type(event)(event.type, {k: v for k, v in event.data.items() if k != "skip_consent"},
                      event.tenant, event.application)
    assert c.fold([old]).skip_consent is False
