"""Form parameters (RFC 6749 §3.1): duplicates refused, empty values absent, unknown ignored."""
from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from services.token.oauth.errors import InvalidRequest
from services.token.oauth.params import decode_form, parse_form

ALLOWED = {"grant_type", "scope"}


def test_parameter_given_twice_is_invalid_request():
    with pytest.raises(InvalidRequest, match="scope"):
        parse_form([("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")], ALLOWED)


def test_parameter_given_twice_is_refused_even_when_one_value_is_empty():
    with pytest.raises(InvalidRequest, match="scope"):
        parse_form([("scope", ""), ("scope", "a")], ALLOWED)


def test_empty_value_is_treated_as_absent():
    assert parse_form([("grant_type", "client_credentials"), ("scope", "")], ALLOWED) == {
        "grant_type": "client_credentials"}


def test_unknown_parameters_are_ignored_even_when_repeated():
    pairs = [("grant_type", "client_credentials"), ("foo", "1"), ("foo", "2")]
    assert parse_form(pairs, ALLOWED) == {"grant_type": "client_credentials"}


def test_parameter_names_are_case_sensitive():
    assert parse_form([("Scope", "a"), ("scope", "b")], ALLOWED) == {"scope": "b"}


def test_without_an_allow_list_every_parameter_is_kept_and_checked():
    assert parse_form([("a", "1"), ("b", "2")], None) == {"a": "1", "b": "2"}
    with pytest.raises(InvalidRequest):
        parse_form([("a", "1"), ("a", "1")], None)


def test_decode_form_reads_urlencoded_pairs_in_order():
    assert decode_form(b"grant_type=client_credentials&scope=a+b%3Ac&empty=") == [
        ("grant_type", "client_credentials"), ("scope", "a b:c"), ("empty", "")]


@pytest.mark.parametrize("body", [b"scope=%ff", b"scope=\xff"])
def test_form_that_is_not_utf8_is_invalid_request(body):
    with pytest.raises(InvalidRequest):
        decode_form(body)


def test_form_with_too_many_fields_is_invalid_request():
    with pytest.raises(InvalidRequest):
        decode_form(b"&".join(b"f%d=1" % i for i in range(200)))


@pytest.mark.parametrize("body", [
    b"", b"grant_type=client_credentials", b"a=1&b=2&a=3", b"a=&b", b"&&a=1&", b"=x&y=", b"a==b",
    b"scope=read write", b"a=1;b=2", b"x=caf\xc3\xa9", b"&".join(b"f%d=1" % i for i in range(100)),
])
def test_unescaped_forms_read_as_parse_qsl_reads_them(body):
    """The split fast path gives exactly the standard library's pairs."""
    assert decode_form(body) == parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100)


def test_unescaped_form_with_too_many_fields_is_invalid_request():
    with pytest.raises(InvalidRequest):
        decode_form(b"&".join(b"f%d=1" % i for i in range(101)))
