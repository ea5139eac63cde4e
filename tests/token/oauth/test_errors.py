"""OAuth error objects: codes, statuses, challenges and the error_description charset."""
from __future__ import annotations

import pytest

from services.token.oauth import errors as e

STATUSES = [
    (e.InvalidRequest, "invalid_request", 400), (e.InvalidClient, "invalid_client", 401),
    (e.InvalidGrant, "invalid_grant", 400), (e.UnauthorizedClient, "unauthorized_client", 400),
    (e.UnsupportedGrantType, "unsupported_grant_type", 400), (e.InvalidScope, "invalid_scope", 400),
    (e.InvalidToken, "invalid_token", 401), (e.InsufficientScope, "insufficient_scope", 403),
    (e.ServerError, "server_error", 500), (e.TemporarilyUnavailable, "temporarily_unavailable", 503),
    (e.AccessDenied, "access_denied", 403), (e.UnsupportedTokenType, "unsupported_token_type", 400),
]


@pytest.mark.parametrize("cls, code, status", STATUSES)
def test_each_error_class_has_its_rfc_code_and_status(cls, code, status):
    error = cls("why")
    assert (error.error, error.status) == (code, status)
    assert error.to_body()["error"] == code
    assert isinstance(error, e.OAuthError)


def test_error_description_strips_forbidden_characters():
    error = e.InvalidRequest('bad "value" \\ here\n\té€\x7f!')
    assert error.description == "bad value  here!"
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in error.to_body()["error_description"])


def test_body_leaves_out_empty_members_and_never_shows_debug():
    assert e.InvalidGrant(debug="code abc reused").to_body() == {"error": "invalid_grant"}
    body = e.InvalidScope("nope", uri="https://docs.example.com/errors#scope").to_body()
    assert body == {"error": "invalid_scope", "error_description": "nope",
                    "error_uri": "https://docs.example.com/errors#scope"}


def test_error_uri_with_forbidden_characters_is_a_programming_error():
    with pytest.raises(ValueError):
        e.InvalidRequest(uri='https://x/"quoted"')


def test_invalid_client_after_basic_auth_carries_a_basic_challenge():
    error = e.InvalidClient(basic_realm="https://id.example.com/shop")
    assert error.status == 401
    assert error.headers["WWW-Authenticate"] == 'Basic realm="https://id.example.com/shop", error="invalid_client"'


def test_invalid_client_after_form_auth_has_no_challenge():
    error = e.InvalidClient()
    assert error.status == 401 and "WWW-Authenticate" not in error.headers
    assert error.to_body() == {"error": "invalid_client", "error_description": "client authentication failed"}


def test_challenge_quotes_and_strips_what_would_break_the_header():
    assert e.challenge("Basic", 'a"b\\c\r\nd') == 'Basic realm="a\\"b\\\\cd"'


def test_bearer_errors_repeat_themselves_in_a_bearer_challenge():
    error = e.InsufficientScope("needs more", realm="https://i", scope="orders:write")
    assert error.headers["WWW-Authenticate"] == (
        'Bearer realm="https://i", error="insufficient_scope", error_description="needs more", '
        'scope="orders:write"')
    assert "WWW-Authenticate" not in e.InvalidToken("x").headers


def test_temporarily_unavailable_may_say_when_to_retry():
    assert e.TemporarilyUnavailable(retry_after=5).headers == {"Retry-After": "5"}
