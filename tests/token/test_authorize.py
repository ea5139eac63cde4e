"""The authorization endpoint: what is an error page, what goes back to the client, and the
pending request handed to authn (ADR 0005)."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from tests.token.code_flow import OTHER_REDIRECT, REDIRECT, make_rp, pkce, redirect_params

ADR_0005_KEYS = {"id", "tenant_id", "application_id", "application_name", "issuer", "client_id", "client_name",
                 "skip_consent", "redirect_uri", "response_mode", "scopes", "state", "nonce", "code_challenge",
                 "code_challenge_method", "prompt", "max_age", "login_hint", "ui_locales", "acr_values",
                 "created_at", "expires_at"}


def base(rp, **changes):
    params = {"client_id": rp.client_id, "response_type": "code", "scope": "openid", "redirect_uri": REDIRECT,
              "state": "xyz"}
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


async def test_pending_request_is_exactly_the_adr_json_with_a_600_second_ttl(admin, make_app, browser):
    rp = await make_rp(admin, make_app, skip_consent=True)
    _verifier, challenge = pkce()
    request_id = await browser.start(rp, scope="openid profile", code_challenge=challenge,
                                     code_challenge_method="S256", prompt="login consent", max_age="300",
                                     login_hint="ann@example.com", ui_locales="fr en", acr_values="1",
                                     id_token_hint="eyJ.x.y", claims_locales="fr", display="page", unknown="ignored")
    pending = await browser.pending(request_id)
    assert set(pending) == ADR_0005_KEYS
    assert pending["id"] == request_id and len(request_id) >= 43
    assert pending["application_id"] == rp.app_id and pending["issuer"] == rp.issuer
    assert pending["client_id"] == rp.client_id and pending["client_name"] == "web" and pending["skip_consent"] is True
    assert pending["scopes"] == ["openid", "profile"] and pending["prompt"] == ["login", "consent"]
    assert pending["max_age"] == 300 and pending["code_challenge"] == challenge
    assert pending["code_challenge_method"] == "S256" and pending["response_mode"] == "query"
    assert pending["expires_at"] - pending["created_at"] == 600 and abs(pending["created_at"] - time.time()) < 30
    ttl = await browser.redis.ttl(f"tessera:authz:{request_id}")
    assert 590 <= ttl <= 600


async def test_optional_values_are_null_and_lists_empty(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    request_id = await browser.start(rp, state=None, nonce=None)   # httpx drops None params
    pending = await browser.pending(request_id)
    assert pending["state"] is None and pending["nonce"] is None and pending["prompt"] == []
    assert pending["max_age"] is None and pending["code_challenge"] is None and pending["skip_consent"] is False


async def test_post_authorization_request_is_accepted(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    resp = await browser.authorize(rp, "POST", **base(rp))
    assert resp.status_code == 303 and urlsplit(resp.headers["Location"]).path == f"/{rp.app_id}/login"


@pytest.mark.parametrize("case, changes", [
    ("missing client_id", {"client_id": None}),
    ("unknown client", {"client_id": "no-such-client"}),
    ("unregistered redirect_uri", {"redirect_uri": "https://evil.example/cb"}),
    ("redirect_uri differing by a trailing slash", {"redirect_uri": REDIRECT + "/"}),
    ("redirect_uri differing in case", {"redirect_uri": REDIRECT.upper()}),
    ("redirect_uri with an extra query", {"redirect_uri": REDIRECT + "?a=1"}),
])
async def test_untrusted_client_or_redirect_uri_is_an_error_page_never_a_redirect(admin, make_app, browser, case, changes):
    rp = await make_rp(admin, make_app)
    resp = await browser.authorize(rp, **base(rp, **changes))
    assert resp.status_code == 400, case
    assert "Location" not in resp.headers and resp.headers["Content-Type"].startswith("text/html")
    assert "evil.example" not in resp.text


async def test_missing_redirect_uri_with_two_registered_is_an_error_page(admin, make_app, browser):
    rp = await make_rp(admin, make_app, redirect_uris=(REDIRECT, OTHER_REDIRECT))
    resp = await browser.authorize(rp, **base(rp, redirect_uri=None))
    assert resp.status_code == 400 and "Location" not in resp.headers


async def test_missing_redirect_uri_with_one_registered_uses_it(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    resp = await browser.authorize(rp, **base(rp, redirect_uri=None))
    assert resp.status_code == 303
    request_id = redirect_params(resp.headers["Location"])["request"]
    assert (await browser.pending(request_id))["redirect_uri"] == REDIRECT


async def test_duplicated_redirect_uri_is_an_error_page(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    url = (f"{rp.issuer}/authorize?client_id={rp.client_id}&response_type=code&scope=openid"
           f"&redirect_uri={REDIRECT}&redirect_uri={REDIRECT}")
    resp = await browser.http.get(url)
    assert resp.status_code == 400 and "Location" not in resp.headers


async def test_disabled_client_is_an_error_page(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    assert (await admin.call("POST", f"/admin/applications/{rp.app_id}/clients/{rp.client_id}/disable")).status_code == 200
    resp = await browser.authorize(rp, **base(rp))
    assert resp.status_code == 400 and "Location" not in resp.headers


async def test_unknown_issuer_is_404(suite, browser):
    resp = await browser.http.get(f"{suite.public_url}/no-such-app/authorize", params={"client_id": "x"})
    assert resp.status_code == 404 and "Location" not in resp.headers


@pytest.mark.parametrize("case, changes, error", [
    ("missing response_type", {"response_type": None}, "invalid_request"),
    ("implicit response_type", {"response_type": "token"}, "unsupported_response_type"),
    ("hybrid response_type", {"response_type": "code id_token"}, "unsupported_response_type"),
    ("unknown response_mode", {"response_mode": "jwt"}, "invalid_request"),
    ("missing scope", {"scope": None}, "invalid_scope"),
    ("scope the client may not have", {"scope": "openid admin"}, "invalid_scope"),
    ("plain PKCE", {"code_challenge": "a" * 43, "code_challenge_method": "plain"}, "invalid_request"),
    ("PKCE without a method (plain)", {"code_challenge": "a" * 43}, "invalid_request"),
    ("PKCE method without a challenge", {"code_challenge_method": "S256"}, "invalid_request"),
    ("malformed challenge", {"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
    ("prompt none with login", {"prompt": "none login"}, "invalid_request"),
    ("unknown prompt", {"prompt": "always"}, "invalid_request"),
    ("negative max_age", {"max_age": "-1"}, "invalid_request"),
    ("request object", {"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ("request_uri", {"request_uri": "urn:example:x"}, "request_uri_not_supported"),
])
async def test_errors_after_the_redirect_uri_is_trusted_go_back_with_state_and_iss(
        admin, make_app, browser, case, changes, error):
    rp = await make_rp(admin, make_app)
    resp = await browser.authorize(rp, **base(rp, **changes))
    assert resp.status_code == 303, case
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    params = redirect_params(location)
    assert params["error"] == error, (case, params)
    assert params["state"] == "xyz" and params["iss"] == rp.issuer
    assert "error_description" in params


async def test_duplicated_parameter_is_invalid_request_at_the_client(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    url = (f"{rp.issuer}/authorize?client_id={rp.client_id}&response_type=code&scope=openid"
           f"&redirect_uri={REDIRECT}&state=s&nonce=a&nonce=b")
    resp = await browser.http.get(url)
    assert resp.status_code == 303
    params = redirect_params(resp.headers["Location"])
    assert params["error"] == "invalid_request" and params["state"] == "s" and params["iss"] == rp.issuer


async def test_client_without_the_code_grant_gets_an_error_page(admin, make_app, browser):
    app = await make_app(scopes=["openid", "read"])
    # a client-credentials client has no redirect URI: nothing can be trusted
    resp = await browser.authorize(app, **{"client_id": app.client_id, "response_type": "code", "scope": "openid",
                                           "redirect_uri": REDIRECT})
    assert resp.status_code == 400 and "Location" not in resp.headers


async def test_public_client_without_pkce_is_invalid_request(admin, make_app, browser):
    rp = await make_rp(admin, make_app, public=True)
    resp = await browser.authorize(rp, **base(rp))
    params = redirect_params(resp.headers["Location"])
    assert params["error"] == "invalid_request" and "code_challenge" in params["error_description"]


async def test_fragment_mode_puts_the_error_in_the_fragment(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    resp = await browser.authorize(rp, **base(rp, response_type="token", response_mode="fragment"))
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "#") and "?" not in location
    assert redirect_params(location)["error"] == "unsupported_response_type"


async def test_form_post_mode_answers_an_auto_submitting_form(admin, make_app, browser):
    rp = await make_rp(admin, make_app)
    resp = await browser.authorize(rp, **base(rp, scope="openid nope", response_mode="form_post",
                                               state='"><script>x</script>'))
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert f'action="{REDIRECT}"' in resp.text
    assert 'name="error" value="invalid_scope"' in resp.text
    assert 'name="iss" value="' + rp.issuer + '"' in resp.text
    assert "<script>x</script>" not in resp.text and "&lt;script&gt;" in resp.text
    assert resp.headers["Cache-Control"] == "no-store" and "nonce-" in resp.headers["Content-Security-Policy"]


async def test_registered_query_string_is_kept_in_the_redirect(admin, make_app, browser):
    rp = await make_rp(admin, make_app, redirect_uris=(OTHER_REDIRECT,))
    resp = await browser.authorize(rp, **base(rp, redirect_uri=OTHER_REDIRECT, response_type="token"))
    location = resp.headers["Location"]
    assert location.startswith(OTHER_REDIRECT + "&")
    assert redirect_params(location)["x"] == "1"
