"""Authorization responses on plain data: query, fragment, form_post, and iss everywhere."""
from __future__ import annotations

from services.token.oauth.authorization_response import (error_page, error_params, form_post_page,
                                                         redirect_location, success_params)
from services.token.oauth.errors import InvalidScope


def test_success_carries_code_state_and_iss():
    assert success_params("c", "s", "https://i") == [("code", "c"), ("state", "s"), ("iss", "https://i")]
    assert success_params("c", None, "https://i") == [("code", "c"), ("iss", "https://i")]


def test_error_carries_iss_too():
    assert error_params(InvalidScope("bad"), "s", "https://i") == [
        ("error", "invalid_scope"), ("error_description", "bad"), ("state", "s"), ("iss", "https://i")]


def test_query_keeps_a_registered_query_and_fragment_uses_the_fragment():
    assert redirect_location("https://rp/cb?x=1", "query", [("code", "a b")]) == "https://rp/cb?x=1&code=a+b"
    assert redirect_location("https://rp/cb", "query", [("code", "c")]) == "https://rp/cb?code=c"
    assert redirect_location("https://rp/cb", "fragment", [("code", "c")]) == "https://rp/cb#code=c"


def test_form_post_escapes_every_value():
    html = form_post_page('https://rp/cb?a="b"', [("state", '"><script>')], "NONCE")
    assert 'action="https://rp/cb?a=&quot;b&quot;"' in html and "&quot;&gt;&lt;script&gt;" in html
    assert '<script nonce="NONCE">' in html


def test_error_page_escapes_the_description():
    assert "&lt;b&gt;" in error_page("<b>")
