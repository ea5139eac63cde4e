"""The authn domain on plain data: users, consents, sign-in decisions, password rules, sealing."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest

from services.authn import events as ev
from services.authn import signin
from services.authn.domain import CONFLICT, GONE, INVALID_REQUEST, NOT_FOUND, DomainError
from services.authn.domain import consent, user
from services.authn.handoff import PendingRequest, parse
from services.authn.passwords import Passwords, check_phc, check_policy
from services.authn.sessions import Session
from shared import sealing

SEALED = {"nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "B" * 60}


@dataclass
class Rec:
    type: str
    data: dict[str, Any]


def _created(**fields):
    return user.create(None, "u1", "acme", {"username": "ada", **fields}, sealed_password_hash=SEALED,
                       updated_at=100)


def _state(events):
    return user.fold([Rec(e.type, e.data) for e in events])


def test_create_records_every_claim_with_defaults_and_the_sealed_hash():
    [event] = _created(email="ada@example.com", address={"country": "GB"})
    assert event.type == ev.USER_CREATED and event.tenant == "acme"
    assert event.data["email"] == "ada@example.com" and event.data["email_verified"] is False
    assert event.data["address"]["country"] == "GB" and event.data["address"]["locality"] is None
    assert event.data["name"] is None and event.data["sealed_password_hash"] == SEALED
    assert event.data["status"] == "active" and event.data["updated_at"] == 100


@pytest.mark.parametrize("fields, message", [
    ({"username": ""}, "username must be"),
    ({"email": "x@"}, "email must be"),
    ({"email_verified": "yes"}, "email_verified must be true or false"),
    ({"website": "ftp://x.example"}, "website must be an absolute http(s) URL"),
    ({"locale": "english please"}, "locale must be"),
    ({"role": "admin"}, "unknown user field(s): role"),
])
def test_create_refuses_bad_claims(fields, message):
    with pytest.raises(DomainError) as info:
        _created(**fields)
    assert info.value.code == INVALID_REQUEST and message in info.value.message


def test_update_records_only_changes_with_updated_at_and_fold_applies_them():
    created = _created(nickname="a", locale="en")
    state = _state(created)
    [event] = user.update(state, {"nickname": None, "locale": "en", "name": "Ada"}, updated_at=200)
    assert event.data["changes"] == {"nickname": None, "name": "Ada", "updated_at": 200}
    after = _state(created + [event])
    assert after.claims["nickname"] is None and after.claims["name"] == "Ada" and after.updated_at == 200
    assert after.version == 2
    assert user.update(after, {"name": "Ada"}, updated_at=300) == []


def test_lifecycle_commands_follow_the_status():
    created = _created()
    state = _state(created)
    assert user.enable(state) == []
    [disabled] = user.disable(state)
    state = _state(created + [disabled])
    assert state.status == "disabled" and user.disable(state) == []
    [deleted] = user.delete(state)
    state = _state(created + [disabled, deleted])
    for command in (user.enable, user.disable, user.delete):
        with pytest.raises(DomainError) as info:
            command(state)
        assert info.value.code == GONE
    with pytest.raises(DomainError) as info:
        user.update(None, {"name": "x"}, updated_at=1)
    assert info.value.code == NOT_FOUND
    with pytest.raises(DomainError) as info:
        user.create(_state(created), "u1", "acme", {"username": "x"}, sealed_password_hash=None, updated_at=1)
    assert info.value.code == CONFLICT


def test_password_change_replaces_the_sealed_hash():
    created = _created()
    new = {"nonce": "CCCCCCCCCCCCCCCC", "ciphertext": "D" * 60}
    [changed] = user.set_password(_state(created), new, reason="rehash")
    assert changed.data["reason"] == "rehash"
    assert _state(created + [changed]).sealed_password_hash == new


def test_consent_grants_accumulate_and_a_revocation_forgets_them():
    first = consent.grant(frozenset(), "acme", "u1", "app", "c1", ["openid", "profile"])
    granted = consent.fold([Rec(e.type, e.data) for e in first])
    assert granted == {"openid", "profile"}
    assert consent.grant(granted, "acme", "u1", "app", "c1", ["profile"]) == []
    more = consent.grant(granted, "acme", "u1", "app", "c1", ["email"])
    granted = consent.fold([Rec(e.type, e.data) for e in first + more])
    assert granted == {"openid", "profile", "email"}
    revoked = consent.revoke(granted, "acme", "u1", "app", "c1")
    assert consent.fold([Rec(e.type, e.data) for e in first + more + revoked]) == frozenset()


def test_needs_consent_rules():
    assert consent.needs_consent(["openid"], [], skip_consent=False, prompt=[])
    assert not consent.needs_consent(["openid"], ["openid", "x"], skip_consent=False, prompt=[])
    assert not consent.needs_consent(["openid"], [], skip_consent=True, prompt=[])
    assert consent.needs_consent(["openid"], ["openid"], skip_consent=True, prompt=["consent"])


def _request(**kw) -> PendingRequest:
    base = dict(id="r" * 20, tenant_id="acme", application_id="app", application_name="App", client_id="c",
                client_name="C", skip_consent=False, scopes=("openid",), prompt=(), max_age=None, login_hint=None)
    return PendingRequest(**{**base, **kw})


def _session(auth_time=1000, tenant="acme") -> Session:
    return Session("sid", tenant, "u1", auth_time, ["pwd"], auth_time)


def test_sign_in_decisions_follow_prompt_and_max_age():
    assert signin.before_login(_request(), _session(), 1010) == signin.USE_SESSION
    assert signin.before_login(_request(), None, 1010) == signin.LOGIN_FORM
    assert signin.before_login(_request(prompt=("none",)), None, 1010) == signin.LOGIN_REQUIRED
    assert signin.before_login(_request(prompt=("login",)), _session(), 1010) == signin.LOGIN_FORM
    assert signin.before_login(_request(max_age=5), _session(), 1010) == signin.LOGIN_FORM
    assert signin.before_login(_request(max_age=10), _session(), 1010) == signin.USE_SESSION
    assert signin.before_login(_request(), _session(tenant="other"), 1010) == signin.LOGIN_FORM
    assert signin.after_login(_request(), []) == signin.CONSENT_PAGE
    assert signin.after_login(_request(prompt=("none",)), []) == signin.CONSENT_REQUIRED
    assert signin.after_login(_request(), ["openid"]) == signin.RESULT


def test_pending_request_parsing_refuses_what_is_not_the_adr_shape():
    good = b'{"id": "rrrrrrrrrrrrrrrrrrrr", "tenant_id": "acme", "application_id": "app", "client_id": "c",' \
           b' "scopes": ["openid"], "prompt": [], "max_age": null}'
    parsed = parse("r" * 20, good)
    assert parsed.client_name == "c" and parsed.application_name == "app" and parsed.skip_consent is False
    assert parse("r" * 20, b"not json") is None
    assert parse("x" * 20, good) is None                                 # another request's id
    assert parse("r" * 20, good.replace(b"null", b"-1")) is None
    assert parse("r" * 20, None) is None


def test_password_policy_is_8_to_256_characters():
    assert check_policy("12345678") == "12345678"
    for bad in ("1234567", "x" * 257, 12345678, None):
        with pytest.raises(DomainError):
            check_policy(bad)


def test_imported_hash_must_be_argon2id_phc_with_bounded_parameters():
    good = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43
    assert check_phc(good) == good
    for bad in ("$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,
                "$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + "A" * 43,
                good.replace("m=19456", "m=1024"), good.replace("t=2", "t=99"), "plain text", None):
        with pytest.raises(DomainError):
            check_phc(bad)


async def test_hash_verify_rehash_and_seal_round_trip():
    passwords = Passwords(os.urandom(32), workers=2)
    try:
        phc = await passwords.hash("correct horse")
        assert phc.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert (await passwords.verify(phc, "correct horse")).ok
        assert not (await passwords.verify(phc, "wrong horse")).ok
        assert not (await passwords.verify(None, "anything")).ok          # the dummy verification
        from argon2 import PasswordHasher
        weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("old")
        assert (await passwords.verify(weak, "old")).needs_rehash
        sealed = passwords.seal("u1", phc)
        assert passwords.unseal("u1", sealed) == phc
        with pytest.raises(sealing.SealError):
            passwords.unseal("u2", sealed)                               # bound to the user id
    finally:
        passwords.close()


def test_sealing_refuses_another_key_or_altered_bytes():
    kek = os.urandom(32)
    nonce, ciphertext = sealing.seal(kek, b"aad", b"plain")
    assert sealing.unseal(kek, b"aad", nonce, ciphertext) == b"plain"
    with pytest.raises(sealing.SealError):
        sealing.unseal(os.urandom(32), b"aad", nonce, ciphertext)
    with pytest.raises(sealing.SealError):
        sealing.unseal(kek, b"aad", nonce, ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]))
    with pytest.raises(ValueError):
        sealing.seal(b"short", b"aad", b"x")
