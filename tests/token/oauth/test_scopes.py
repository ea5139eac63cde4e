"""The scope parameter (RFC 6749 §3.3)."""
from __future__ import annotations

import pytest

from services.token.oauth.errors import InvalidScope
from services.token.oauth.scopes import format_scope, grant_scopes, parse_scope

from .data import application, client


def test_scope_is_space_delimited_and_keeps_request_order():
    assert parse_scope("orders:write orders:read") == ("orders:write", "orders:read")


def test_scope_tokens_are_case_sensitive():
    assert parse_scope("Orders orders") == ("Orders", "orders")


def test_repeated_tokens_and_extra_spaces_are_tolerated():
    assert parse_scope("  a  b a ") == ("a", "b")


@pytest.mark.parametrize("value", [None, " ", "   "])
def test_no_scope_tokens_means_no_scope_requested(value):
    assert parse_scope(value) is None


@pytest.mark.parametrize("value", ['a "b"', "a\\b", "a\tb", "caf\u00e9", "a\nb", "a\x7f"])
def test_scope_with_characters_outside_the_rfc_charset_is_invalid_scope(value):
    with pytest.raises(InvalidScope):
        parse_scope(value)


def test_requested_scopes_within_client_and_application_are_granted():
    assert grant_scopes(("orders:read",), client(), application()) == ("orders:read",)


def test_scope_the_client_may_not_ask_for_is_invalid_scope():
    with pytest.raises(InvalidScope, match="admin"):          # offered by the app, not the client's
        grant_scopes(("orders:read", "admin"), client(), application())


def test_scope_the_application_no_longer_offers_is_invalid_scope():
    with pytest.raises(InvalidScope, match="reports"):        # the client's, not offered by the app
        grant_scopes(("reports",), client(), application())


def test_omitted_scope_defaults_to_client_scopes_the_application_offers():
    assert grant_scopes(None, client(), application()) == ("orders:read", "orders:write")


def test_default_may_be_empty():
    assert grant_scopes(None, client(scopes=()), application()) == ()


def test_format_scope_joins_with_single_spaces():
    assert format_scope(("a", "b")) == "a b"
