"""The client credentials grant (RFC 6749 §4.4)."""
from __future__ import annotations

import pytest

from services.token.oauth.client_credentials import ClientCredentialsGrant, GrantDecision
from services.token.oauth.errors import InvalidScope, ServerError, UnauthorizedClient, UnsupportedGrantType
from services.token.oauth.params import parse_form
from services.token.model import TokenSettings

from .data import ISSUER, application, client

GRANT = ClientCredentialsGrant()
FORM = {"grant_type": "client_credentials"}


def test_grant_declares_its_type_and_parameters():
    assert ClientCredentialsGrant.GRANT_TYPE == "client_credentials"
    assert {"grant_type", "scope", "client_id", "client_secret"} <= ClientCredentialsGrant.PARAMETERS
    assert "none" not in ClientCredentialsGrant.TOKEN_ENDPOINT_AUTH_METHODS


def test_confidential_client_gets_a_decision_for_itself():
    app = application(settings=TokenSettings(access_token_ttl=600))
    decision = GRANT.validate({**FORM, "scope": "orders:read"}, client(), app)
    assert decision == GrantDecision(grant_type="client_credentials", client_id="shop-backend",
                                     subject="shop-backend", scopes=("orders:read",),
                                     audience=(ISSUER,), lifetime=600)


def test_omitted_scope_gets_the_default():
    assert GRANT.validate(FORM, client(), application()).scopes == ("orders:read", "orders:write")


def test_unknown_parameters_do_not_reach_the_grant():
    form = parse_form([("grant_type", "client_credentials"), ("resource", "x"), ("scope", "")],
                      ClientCredentialsGrant.PARAMETERS)
    assert GRANT.validate(form, client(), application()).scopes == ("orders:read", "orders:write")


def test_public_client_may_not_use_client_credentials():
    public = client(token_endpoint_auth_method="none", secret_hashes=())
    with pytest.raises(UnauthorizedClient, match="confidential"):
        GRANT.validate(FORM, public, application())


def test_client_without_the_grant_type_is_unauthorized_client():
    with pytest.raises(UnauthorizedClient):
        GRANT.validate(FORM, client(grant_types=("authorization_code",)), application())


def test_disabled_application_is_unauthorized_client():
    with pytest.raises(UnauthorizedClient, match="application"):
        GRANT.validate(FORM, client(), application(status="disabled"))


def test_disabled_client_is_unauthorized_client():
    with pytest.raises(UnauthorizedClient):
        GRANT.validate(FORM, client(status="disabled"), application())


def test_client_of_another_application_is_a_server_error():
    with pytest.raises(ServerError):
        GRANT.validate(FORM, client(application_id="other"), application())


def test_scope_outside_the_client_is_invalid_scope():
    with pytest.raises(InvalidScope):
        GRANT.validate({**FORM, "scope": "admin"}, client(), application())


def test_other_grant_type_is_not_handled_here():
    with pytest.raises(UnsupportedGrantType):
        GRANT.validate({"grant_type": "password"}, client(), application())



def test_user_scopes_are_not_in_the_default_of_a_machine_token():
    app = application(scopes=("openid", "profile", "read"))
    machine = client(scopes=("openid", "profile", "read"))
    decision = ClientCredentialsGrant().validate({"grant_type": "client_credentials"}, machine, app)
    assert decision.scopes == ("read",)


def test_asking_for_a_user_scope_with_client_credentials_is_invalid_scope():
    app = application(scopes=("openid", "read"))
    machine = client(scopes=("openid", "read"))
    with pytest.raises(InvalidScope):
        ClientCredentialsGrant().validate({"grant_type": "client_credentials", "scope": "openid read"}, machine, app)
