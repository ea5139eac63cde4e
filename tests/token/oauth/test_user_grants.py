"""The code and refresh grants' checks on plain data, and authn's result."""
from __future__ import annotations

import pytest

from services.token.oauth.authorization_code import AuthorizationCodeGrant, CodeRecord, code_ttl
from services.token.oauth.authorization_result import read_result
from services.token.oauth.errors import (ConsentRequired, InvalidGrant, InvalidRequest, InvalidScope,
                                         LoginRequired, ServerError, UnauthorizedClient)
from services.token.oauth.refresh_token import RefreshRecord, RefreshTokenGrant, RefreshTokenReused
from services.token.oauth.user_grant import SignInFacts
from services.token.model import TokenSettings

from .data import ISSUER, application, client

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
CB = "https://rp.example.com/cb"


def rp(**changes):
    return client(**{"grant_types": ("authorization_code", "refresh_token"), "redirect_uris": (CB,),
                     "scopes": ("openid", "offline_access", "orders:read"), **changes})


def app(**changes):
    return application(**{"scopes": ("openid", "offline_access", "orders:read"), **changes})


def record(**changes) -> CodeRecord:
    values = dict(grant_id="g", tenant_id="acme", application_id="shop", issuer=ISSUER, client_id="shop-backend",
                  redirect_uri=CB, redirect_uri_sent=True, scopes=("openid", "orders:read"), nonce="n",
                  code_challenge=CHALLENGE, subject="user-1", auth_time=100, amr=("pwd",), acr=None, sid="s",
                  issued_at=1000, expires_at=1060)
    values.update(changes)
    return CodeRecord(**values)


FORM = {"grant_type": "authorization_code", "code": "c", "redirect_uri": CB, "code_verifier": VERIFIER}


def test_code_record_round_trips_through_json():
    assert CodeRecord.from_json(record().to_json()) == record()


def test_code_ttl_is_capped_at_60_seconds():
    assert code_ttl(app(settings=TokenSettings(code_ttl=600))) == 60
    assert code_ttl(app(settings=TokenSettings(code_ttl=30))) == 30


def test_client_without_the_grant_or_a_request_without_a_code_burns_nothing():
    with pytest.raises(UnauthorizedClient):
        AuthorizationCodeGrant().check_client(FORM, rp(grant_types=("client_credentials",)))
    with pytest.raises(InvalidRequest):
        AuthorizationCodeGrant().check_client({"grant_type": "authorization_code"}, rp())


def test_redeem_gives_the_user_grant():
    grant = AuthorizationCodeGrant().redeem(FORM, record(), rp(), app(), now=1010)
    assert grant.subject == "user-1" and grant.scopes == ("openid", "orders:read") and grant.nonce == "n"
    assert grant.sign_in == SignInFacts(100, ("pwd",), None, "s") and grant.grant_id == "g"


@pytest.mark.parametrize("case, code, form, now", [
    ("unknown code", None, FORM, 1010),
    ("other application", record(application_id="other"), FORM, 1010),
    ("other client", record(client_id="someone-else"), FORM, 1010),
    ("expired", record(), FORM, 1060),
    ("redirect_uri missing", record(), {**FORM, "redirect_uri": None}, 1010),
    ("redirect_uri differs", record(), {**FORM, "redirect_uri": CB + "x"}, 1010),
    ("verifier missing", record(), {**FORM, "code_verifier": None}, 1010),
    ("verifier wrong", record(), {**FORM, "code_verifier": "x" * 43}, 1010),
])
def test_every_mismatch_is_invalid_grant(case, code, form, now):
    form = {k: v for k, v in form.items() if v is not None}
    with pytest.raises(InvalidGrant):
        AuthorizationCodeGrant().redeem(form, code, rp(), app(), now=now)


def refresh_record(**changes) -> RefreshRecord:
    values = dict(token_id="t", family_id="f", grant_id="g", application_id="shop", client_id="shop-backend",
                  subject="user-1", scopes=("openid", "offline_access", "orders:read"), sign_in=SignInFacts(100),
                  issued_at=1000, expires_at=5000, consumed=False, revoked=False)
    values.update(changes)
    return RefreshRecord(**values)


RFORM = {"grant_type": "refresh_token", "refresh_token": "r"}


def test_refresh_narrows_the_access_token_and_keeps_the_grant():
    grant = RefreshTokenGrant().validate({**RFORM, "scope": "orders:read"}, refresh_record(), rp(), app(), now=2000)
    assert grant.scopes == ("orders:read",) and grant.grant_scopes == ("openid", "offline_access", "orders:read")
    assert grant.nonce is None and grant.family_id == "f" and grant.previous_token_id == "t"


def test_refresh_never_widens():
    with pytest.raises(InvalidScope):
        RefreshTokenGrant().validate({**RFORM, "scope": "openid profile"}, refresh_record(), rp(), app(), now=2000)


def test_consumed_refresh_token_is_a_reuse():
    with pytest.raises(RefreshTokenReused) as caught:
        RefreshTokenGrant().validate(RFORM, refresh_record(consumed=True), rp(), app(), now=2000)
    assert caught.value.error == "invalid_grant" and caught.value.record.family_id == "f"


@pytest.mark.parametrize("stored, now", [
    (None, 2000), (refresh_record(application_id="other"), 2000), (refresh_record(client_id="x"), 2000),
    (refresh_record(revoked=True), 2000), (refresh_record(), 5000),
])
def test_unusable_refresh_tokens_are_invalid_grant_and_not_a_reuse(stored, now):
    with pytest.raises(InvalidGrant) as caught:
        RefreshTokenGrant().validate(RFORM, stored, rp(), app(), now=now)
    assert not isinstance(caught.value, RefreshTokenReused)


def test_sign_in_result_keeps_only_requested_scopes():
    sign_in = read_result({"user_id": "u", "auth_time": 5, "amr": ["pwd"], "acr": "0", "sid": "s",
                           "granted_scopes": ["openid", "admin"]}, ("openid", "profile"))
    assert sign_in.granted_scopes == ("openid",) and sign_in.user_id == "u"


def test_sign_in_errors_become_their_oauth_errors():
    with pytest.raises(LoginRequired):
        read_result({"error": "login_required"}, ())
    with pytest.raises(ConsentRequired):
        read_result({"error": "consent_required", "error_description": "ask"}, ())
    for broken in ({"error": "teapot"}, {"user_id": ""}, [], {"user_id": "u", "auth_time": "5", "granted_scopes": []}):
        with pytest.raises(ServerError):
            read_result(broken, ())
