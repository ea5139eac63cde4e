"""Authorization responses (RFC 6749 §4.1.2, RFC 9207, OAuth 2.0 Multiple Response Types §2,
OAuth 2.0 Form Post Response Mode) and the pages the endpoint shows instead of redirecting.

Everything here returns plain values: a URL to redirect to, or an HTML document.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import urlencode

from .errors import OAuthError

Params = Sequence[tuple[str, str]]


def success_params(code: str, state: str | None, issuer: str) -> list[tuple[str, str]]:
    params = [("code", code)]
    if state is not None:
        params.append(("state", state))
    params.append(("iss", issuer))
    return params


def error_params(error: OAuthError, state: str | None, issuer: str) -> list[tuple[str, str]]:
    """§4.1.2.1 plus ``iss`` (RFC 9207 §2: in error responses too)."""
    params = [("error", error.error)]
    if error.description:
        params.append(("error_description", error.description))
    if state is not None:
        params.append(("state", state))
    params.append(("iss", issuer))
    return params


def redirect_location(redirect_uri: str, response_mode: str, params: Params) -> str:
    """The URL for ``query`` (a registered query string is kept) or ``fragment`` mode."""
    encoded = urlencode(params)
    if response_mode == "fragment":
        return f"{redirect_uri}#{encoded}"
    return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{encoded}"


def form_post_page(redirect_uri: str, params: Params, script_nonce: str) -> str:
    """An auto-submitting form that POSTs ``params`` to ``redirect_uri`` (Form Post Response Mode §2)."""
    fields = "\n".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Submitting…</title></head>
<body>
<form method="post" action="{escape(redirect_uri)}">
{fields}
<noscript><button type="submit">Continue</button></noscript>
</form>
<script nonce="{escape(script_nonce)}">document.forms[0].submit();</script>
</body></html>
"""


def form_post_headers(script_nonce: str) -> Mapping[str, str]:
    return {"Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{script_nonce}'",
            "Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}


def error_page(description: str) -> str:
    """What the user sees when the request cannot be answered at the client (no redirect)."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in request error</title></head>
<body>
<h1>This sign-in request cannot be completed</h1>
<p>{escape(description)}</p>
<p>Go back to the application you came from and try again.</p>
</body></html>
"""


PAGE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'none'", "Referrer-Policy": "no-referrer"}
