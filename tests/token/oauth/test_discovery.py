"""Authorization server metadata (RFC 8414 §2, OIDC Discovery §3): what works, nothing else."""
from __future__ import annotations

import pytest

from services.token.oauth.discovery import CAPABILITIES, metadata, well_known_urls

from .data import ISSUER, application

ENDPOINTS = {"token": f"{ISSUER}/token", "jwks": f"{ISSUER}/jwks.json",
             "introspection": f"{ISSUER}/token/introspect", "revocation": f"{ISSUER}/token/revoke",
             "authorization": f"{ISSUER}/authorize", "userinfo": f"{ISSUER}/userinfo"}
SECRET_METHODS = ["client_secret_basic", "client_secret_post"]


def test_base_document_advertises_exactly_what_works_now():
    assert metadata(application(), endpoints=ENDPOINTS) == {
        "issuer": ISSUER,
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks.json",
        "introspection_endpoint": f"{ISSUER}/token/introspect",
        "revocation_endpoint": f"{ISSUER}/token/revoke",
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": SECRET_METHODS,
        "introspection_endpoint_auth_methods_supported": SECRET_METHODS,
        "revocation_endpoint_auth_methods_supported": SECRET_METHODS,
        "scopes_supported": ["orders:read", "orders:write", "admin"],
    }


def test_required_response_types_member_is_present_even_with_no_authorization_endpoint():
    doc = metadata(application(), endpoints=ENDPOINTS)
    assert doc["response_types_supported"] == [] and "authorization_endpoint" not in doc


def test_no_openid_members_before_id_tokens_exist():
    doc = metadata(application(), endpoints=ENDPOINTS)
    assert not {"subject_types_supported", "id_token_signing_alg_values_supported", "userinfo_endpoint"} & doc.keys()


def test_issuer_is_the_application_issuer_exactly():
    assert metadata(application(issuer="https://x.example/a"), endpoints=ENDPOINTS)["issuer"] == "https://x.example/a"


def test_capabilities_add_their_members():
    doc = metadata(application(), endpoints=ENDPOINTS,
                   capabilities={"userinfo", "openid", "pkce", "refresh_token", "authorization_code"})
    assert doc["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert doc["grant_types_supported"] == ["client_credentials", "authorization_code", "refresh_token"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert doc["userinfo_endpoint"] == f"{ISSUER}/userinfo"


def test_openid_states_request_uri_unsupported_because_its_default_is_true():
    doc = metadata(application(), endpoints=ENDPOINTS, capabilities={"authorization_code", "openid"})
    assert doc["request_uri_parameter_supported"] is False


def test_public_clients_are_advertised_at_the_token_endpoint_only():
    doc = metadata(application(), endpoints=ENDPOINTS, capabilities={"authorization_code", "public_clients"})
    assert doc["token_endpoint_auth_methods_supported"] == [*SECRET_METHODS, "none"]
    assert doc["introspection_endpoint_auth_methods_supported"] == SECRET_METHODS
    assert doc["revocation_endpoint_auth_methods_supported"] == [*SECRET_METHODS, "none"]


def test_capabilities_never_leak_into_the_next_document():
    metadata(application(), endpoints=ENDPOINTS, capabilities=set(CAPABILITIES))
    assert metadata(application(), endpoints=ENDPOINTS)["token_endpoint_auth_methods_supported"] == SECRET_METHODS


def test_unknown_capability_is_refused():
    with pytest.raises(ValueError, match="implicit"):
        metadata(application(), endpoints=ENDPOINTS, capabilities={"implicit"})


def test_capability_without_its_prerequisite_is_refused():
    with pytest.raises(ValueError, match="authorization_code"):
        metadata(application(), endpoints=ENDPOINTS, capabilities={"openid"})


def test_missing_endpoint_url_is_refused():
    with pytest.raises(ValueError, match="revocation"):
        metadata(application(), endpoints={k: v for k, v in ENDPOINTS.items() if k != "revocation"})


def test_well_known_urls_for_an_issuer_with_a_path():
    assert well_known_urls("https://id.example.com/shop") == {
        "openid-configuration": "https://id.example.com/shop/.well-known/openid-configuration",
        "oauth-authorization-server": "https://id.example.com/.well-known/oauth-authorization-server/shop",
    }
