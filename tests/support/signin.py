"""A user, a relying party's client and a user agent without a browser, for code-flow tests.

The agent is what a browser does with Tessera's pages, nothing more: it follows redirects,
keeps cookies, and submits the login and consent forms with the hidden fields the page gave
it. It stops at the client's redirect URI and returns that URL, so the relying-party library
under test can take the authorization response from it.
"""
from __future__ import annotations

import html
import re
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from .fixtures import Admin, App

OIDC_SCOPES = ["openid", "profile", "email", "offline_access"]
_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_FORM = re.compile(r'<form\b[^>]*\baction\s*=\s*"([^"]*)"', re.I)


@dataclass
class User:
    id: str
    tenant: str
    username: str
    password: str
    email: str


@dataclass
class RelyingParty:
    client_id: str
    client_secret: str | None
    redirect_uri: str


async def make_user(admin: Admin, tenant: str, **claims) -> User:
    """A new user of ``tenant`` with a random password, through authn's admin API."""
    username = f"u-{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(12)
    body = {"tenant_id": tenant, "username": username, "password": password,
            "email": f"{username}@example.com", "email_verified": True,
            "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace", **claims}
    resp = await admin.call("POST", "/admin/users", base=admin.suite.public_url, json=body)
    assert resp.status_code == 201, resp.text
    return User(resp.json()["id"], tenant, username, password, body["email"])


async def make_rp(admin: Admin, app: App, *, redirect_uri: str = "https://rp.example.com/callback",
                  public: bool = False, skip_consent: bool = False,
                  scopes: list[str] | None = None) -> RelyingParty:
    """A client of ``app`` for the code flow (with refresh tokens), registered through the admin API."""
    resp = await admin.call("POST", f"/admin/applications/{app.id}/clients", json={
        "name": "relying party", "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "none" if public else "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": scopes or OIDC_SCOPES, "skip_consent": skip_consent})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    return RelyingParty(created["client_id"], created.get("client_secret"), redirect_uri)


def form_fields(page: str) -> tuple[str | None, dict[str, str]]:
    """The first form's action and its named inputs (hidden and submit values included)."""
    action = _FORM.search(page)
    fields = {}
    for tag in _INPUT.findall(page):
        attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
        if "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    return (html.unescape(action.group(1)) if action else None), fields


class Agent:
    """A cookie-keeping user agent that signs in on Tessera's hosted pages."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=30)
        self.pages: list[str] = []    # the URL of every page Tessera showed (login, consent)

    async def __aenter__(self) -> Agent:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.http.aclose()

    async def sign_in(self, authorization_url: str, redirect_uri: str, user: User | None,
                      consent: str = "allow", max_steps: int = 12) -> str:
        """Follow ``authorization_url`` until the redirect URI; returns the URL it was sent to.

        A login page is answered with ``user``'s credentials (a test that expects no login page
        passes ``user=None``), a consent page with ``consent``. A ``form_post`` response's
        auto-submitting form counts as arriving at the redirect URI: its fields are returned
        as the query of the URL.
        """
        url, method, data = authorization_url, "GET", None
        for _ in range(max_steps):
            resp = await self.http.request(method, url, data=data)
            if resp.status_code in (301, 302, 303, 307):
                url, method, data = urljoin(url, resp.headers["location"]), "GET", None
                if url.startswith(redirect_uri):
                    return url
                continue
            action, fields = form_fields(resp.text)
            if action is not None and urljoin(url, action).startswith(redirect_uri):
                return str(httpx.URL(urljoin(url, action), params=fields))
            assert resp.status_code == 200 and action is not None, \
                f"{method} {url} answered {resp.status_code}: {resp.text[:500]}"
            self.pages.append(url)
            if "password" in fields:
                assert user is not None, f"a login page was shown at {url}"
                fields.update(username=user.username, password=user.password)
            elif "decision" in fields or "decision" in resp.text:
                fields["decision"] = consent
            url, method, data = urljoin(url, action), "POST", fields
        raise AssertionError(f"no redirect to {redirect_uri} after {max_steps} steps; last at {url}")
