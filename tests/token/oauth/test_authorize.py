"""The authorization endpoint's checks on plain data: page or redirect, and the pending request."""
from __future__ import annotations

import pytest

from services.token.oauth.authorize import (ErrorPage, pending_request, read_params, trusted_target, validate)
from services.token.oauth.errors import (InvalidRequest, InvalidScope, RequestNotSupported, RequestUriNotSupported,
                                         UnauthorizedClient, UnsupportedResponseType)

from .data import application, client

CB = "https://rp.example.com/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def web(**changes):
    return client(**{"grant_types": ("authorization_code",), "redirect_uris": (CB,),
                     "scopes": ("openid", "profile", "orders:read"), **changes})


def app():
    return application(scopes=("openid", "profile", "orders:read"))


def params(**values):
    base = {"client_id": "shop-backend", "response_type": "code", "scope": "openid", "redirect_uri": CB, "state": "s"}
    base.update(values)
    return read_params([(k, v) for k, v in base.items() if v is not None])


def checked(**values):
    p = params(**values)
    c = web()
    return validate(p, trusted_target(p, c, app()), c, app())


def test_repeated_parameter_is_noted_not_chosen():
    p = read_params([("state", "a"), ("state", "b"), ("scope", "openid")])
    assert p.duplicated == {"state"} and p.get("state") is None and p.get("scope") == "openid"


def test_empty_and_unknown_parameters_are_dropped():
    p = read_params([("state", ""), ("foo", "bar")])
    assert p.values == {}


@pytest.mark.parametrize("changes, who", [
    ({"client_id": None}, web()),
    ({}, None),
    ({}, web(status="disabled")),
    ({}, web(application_id="other")),
    ({"redirect_uri": CB + "/"}, web()),
    ({"redirect_uri": "https://evil.example/cb"}, web()),
])
def test_untrusted_client_or_redirect_is_an_error_page(changes, who):
    with pytest.raises(ErrorPage):
        trusted_target(params(**changes), who, app())


def test_duplicated_redirect_uri_is_an_error_page():
    p = read_params([("client_id", "shop-backend"), ("redirect_uri", CB), ("redirect_uri", CB)])
    with pytest.raises(ErrorPage):
        trusted_target(p, web(), app())


def test_redirect_uri_may_be_omitted_only_with_one_registered():
    target = trusted_target(params(redirect_uri=None), web(), app())
    assert target.redirect_uri == CB and target.redirect_uri_sent is False
    with pytest.raises(ErrorPage):
        trusted_target(params(redirect_uri=None), web(redirect_uris=(CB, CB + "2")), app())


def test_invalid_response_mode_falls_back_to_query_for_the_error():
    assert trusted_target(params(response_mode="jwt"), web(), app()).response_mode == "query"
    with pytest.raises(InvalidRequest):
        checked(response_mode="jwt")


@pytest.mark.parametrize("changes, error", [
    ({"response_type": None}, InvalidRequest),
    ({"response_type": "token"}, UnsupportedResponseType),
    ({"scope": None}, InvalidScope),
    ({"scope": "openid email"}, InvalidScope),
    ({"request": "x"}, RequestNotSupported),
    ({"request_uri": "urn:x"}, RequestUriNotSupported),
    ({"prompt": "none consent"}, InvalidRequest),
    ({"prompt": "create"}, InvalidRequest),
    ({"max_age": "1.5"}, InvalidRequest),
    ({"display": "tv"}, InvalidRequest),
    ({"code_challenge": CHALLENGE, "code_challenge_method": "plain"}, InvalidRequest),
    ({"code_challenge": CHALLENGE}, InvalidRequest),
    ({"nonce": "n" * 3000}, InvalidRequest),
])
def test_errors_after_the_redirect_is_trusted(changes, error):
    with pytest.raises(error):
        checked(**changes)


def test_client_without_the_grant_is_unauthorized_client():
    c = web(grant_types=("client_credentials",))
    p = params()
    with pytest.raises(UnauthorizedClient):
        validate(p, trusted_target(p, c, app()), c, app())


def test_public_client_must_send_pkce_confidential_may_not():
    c = web(token_endpoint_auth_method="none")
    p = params()
    with pytest.raises(InvalidRequest, match="code_challenge"):
        validate(p, trusted_target(p, c, app()), c, app())
    assert checked().code_challenge is None


def test_valid_request_keeps_what_authn_and_the_code_need():
    req = checked(scope="openid profile", nonce="n", prompt="login consent", max_age="0",
                  code_challenge=CHALLENGE, code_challenge_method="S256", login_hint="ann")
    assert req.scopes == ("openid", "profile") and req.prompt == ("login", "consent") and req.max_age == 0
    assert req.code_challenge == CHALLENGE and req.code_challenge_method == "S256" and req.nonce == "n"


def test_pending_request_has_the_adr_0005_shape():
    req = checked()
    doc = pending_request(req, request_id="rid", application=app(), client=web(skip_consent=True), now=1000)
    assert list(doc) == ["id", "tenant_id", "application_id", "application_name", "issuer", "client_id",
                         "client_name", "skip_consent", "redirect_uri", "response_mode", "scopes", "state", "nonce",
                         "code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint", "ui_locales",
                         "acr_values", "created_at", "expires_at"]
    assert doc["skip_consent"] is True and doc["client_name"] == "Backend" and doc["expires_at"] == 1600
    assert doc["prompt"] == [] and doc["scopes"] == ["openid"] and doc["nonce"] is None
