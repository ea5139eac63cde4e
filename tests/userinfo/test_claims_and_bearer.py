"""The pure parts of userinfo: which claims a scope releases, where the token is, RFC 6750 challenges."""
from __future__ import annotations

import pytest

from services.userinfo import bearer
from services.userinfo.claims import normalise, released
from services.userinfo.errors import BearerError, insufficient_scope, invalid_token

FORM = "application/x-www-form-urlencoded"


def extract(**kwargs):
    base = {"method": "GET", "authorization": (), "query_names": (), "content_type": "", "body": None}
    return bearer.extract(**{**base, **kwargs})


def test_normalise_keeps_only_standard_claims_and_maps_empty_values_to_none():
    assert normalise({"email": "a@b.c", "sealed_password_hash": {"x": 1}, "username": "a", "nickname": "",
                      "email_verified": "yes", "updated_at": "2025-11-25T19:46:40Z",
                      "address": {"country": "GB", "region": None, "evil": "x"}}) == {
        "email": "a@b.c", "nickname": None, "email_verified": None, "updated_at": 1764100000,
        "address": {"country": "GB"}}


def test_released_gives_sub_and_only_the_granted_scopes_claims_with_a_value():
    stored = {"name": "Ada", "email": "a@b.c", "email_verified": True, "phone_number_verified": True}
    assert released(stored, {"openid"}, "u1") == {"sub": "u1"}
    assert released(stored, {"openid", "profile"}, "u1") == {"sub": "u1", "name": "Ada"}
    assert released(stored, {"openid", "email", "phone"}, "u1") == {
        "sub": "u1", "email": "a@b.c", "email_verified": True}      # no phone number: no flag


def test_header_token_is_taken_whatever_the_scheme_case():
    assert extract(authorization=["bearer abc.DEF-_~+/=="]) == "abc.DEF-_~+/=="


def test_form_token_only_on_a_form_post():
    assert extract(method="POST", content_type=FORM, body=b"access_token=abc") == "abc"
    with pytest.raises(BearerError) as err:
        extract(method="GET", content_type=FORM, body=b"access_token=abc")
    assert err.value.status == 401 and err.value.error is None


@pytest.mark.parametrize("kwargs", [
    {"authorization": ["Bearer a", "Bearer b"]},
    {"method": "POST", "content_type": FORM, "body": b"access_token=a&access_token=b"},
    {"method": "POST", "content_type": FORM, "body": b"access_token=a", "authorization": ["Bearer a"]},
    {"query_names": ["access_token"]},
    {"authorization": ["Bearer a,b"]},
])
def test_malformed_requests_are_invalid_request(kwargs):
    with pytest.raises(BearerError) as err:
        extract(**kwargs)
    assert (err.value.status, err.value.error) == (400, "invalid_request")


def test_challenges_follow_rfc_6750_section_3():
    assert invalid_token("Gone.").challenge("https://id.example/a") == \
        'Bearer realm="https://id.example/a", error="invalid_token", error_description="Gone."'
    assert insufficient_scope("No openid.", "openid").challenge("r").endswith('scope="openid"')
    with pytest.raises(ValueError):
        invalid_token('a "quoted" description')
