"""Helpers for the code-flow tests: a client with redirect URIs, authorize, and authn's part.

authn is built in parallel, so these tests play its part exactly as ADR 0005 §3 says: read the
pending request, write the result with ``SET NX`` under ``tessera:authz-result:{id}``, then follow
the browser to ``/authorize/resume``.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import redis.asyncio as aioredis
from jwcrypto import jwk, jwt

from shared import redis_keys

OIDC_SCOPES = ["openid", "profile", "email", "offline_access", "read", "write"]
REDIRECT = "https://rp.example.com/cb"
OTHER_REDIRECT = "https://rp.example.com/other?x=1"


@dataclass
class Rp:
    app_id: str
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_uris: list[str]

    @property
    def auth(self):
        return (self.client_id, self.client_secret) if self.client_secret else None

    def form(self, **values: str) -> dict[str, str]:
        """A token request's form; a public client names itself in it."""
        return {**({} if self.client_secret else {"client_id": self.client_id}), **values}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def make_rp(admin, make_app, *, public: bool = False, grant_types=("authorization_code", "refresh_token"),
                  redirect_uris=(REDIRECT,), scopes=None, settings=None, app=None, **extra) -> Rp:
    app = app or await make_app(scopes=OIDC_SCOPES, settings=settings)
    body = {"name": "web", "grant_types": list(grant_types), "redirect_uris": list(redirect_uris),
            "token_endpoint_auth_method": "none" if public else "client_secret_basic", **extra}
    if scopes is not None:
        body["scopes"] = scopes
    resp = await admin.call("POST", f"/admin/applications/{app.id}/clients", json=body)
    assert resp.status_code == 201, resp.text
    made = resp.json()
    return Rp(app.id, app.issuer, made["client_id"], made.get("client_secret"), list(redirect_uris))


class Browser:
    """The user agent: follows nothing by itself, so each hop can be checked."""

    def __init__(self, suite, redis_url: str) -> None:
        self.suite = suite
        self.redis = aioredis.from_url(redis_url)
        self.http = httpx.AsyncClient(timeout=30, follow_redirects=False)

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()

    async def authorize(self, rp: Rp, method: str = "GET", **params: str) -> httpx.Response:
        url = f"{rp.issuer}/authorize"
        if method == "POST":
            return await self.http.post(url, data=params)
        return await self.http.get(url, params=params)

    async def start(self, rp: Rp, **params: str) -> str:
        """An authorization request that reaches the login page; returns the request id."""
        defaults = {"client_id": rp.client_id, "response_type": "code", "scope": "openid offline_access",
                    "redirect_uri": rp.redirect_uris[0], "state": "st-" + secrets.token_hex(4),
                    "nonce": "n-" + secrets.token_hex(4)}
        resp = await self.authorize(rp, **{**defaults, **params})
        assert resp.status_code == 303, resp.text
        location = urlsplit(resp.headers["Location"])
        assert location.path == f"/{rp.app_id}/login"
        return parse_qs(location.query)["request"][0]

    async def pending(self, request_id: str) -> dict:
        raw = await self.redis.get(redis_keys.authorization_request(request_id))
        return orjson.loads(raw)

    async def sign_in(self, request_id: str, *, user_id: str = "user-1", granted=None, **extra) -> None:
        """authn's answer (ADR 0005 §3): the user signed in and granted ``granted`` (default: all)."""
        pending = await self.pending(request_id)
        result = {"user_id": user_id, "auth_time": int(time.time()) - 5, "amr": ["pwd"], "acr": "0",
                  "sid": "sid-" + secrets.token_hex(4),
                  "granted_scopes": pending["scopes"] if granted is None else granted, **extra}
        assert await self.redis.set(redis_keys.authorization_result(request_id), orjson.dumps(result),
                                    nx=True, ex=600)

    async def refuse(self, request_id: str, error: str, description: str = "no") -> None:
        await self.redis.set(redis_keys.authorization_result(request_id),
                             orjson.dumps({"error": error, "error_description": description}), nx=True, ex=600)

    async def resume(self, rp: Rp, request_id: str) -> httpx.Response:
        return await self.http.get(f"{rp.issuer}/authorize/resume", params={"request": request_id})

    async def code(self, rp: Rp, *, user_id: str = "user-1", granted=None, **params: str) -> tuple[str, dict]:
        """The whole front channel: returns the code and the redirect's parameters."""
        request_id = await self.start(rp, **params)
        await self.sign_in(request_id, user_id=user_id, granted=granted)
        resp = await self.resume(rp, request_id)
        assert resp.status_code == 303, resp.text
        query = redirect_params(resp.headers["Location"])
        return query["code"], query


def redirect_params(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    return {k: v[0] for k, v in parse_qs(parts.fragment or parts.query).items()}


async def token(rp: Rp, **form: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(f"{rp.issuer}/token", auth=rp.auth, data=rp.form(**form))


async def exchange(rp: Rp, code: str, verifier: str | None = None, **form: str) -> httpx.Response:
    values = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uris[0], **form}
    if verifier is not None:
        values["code_verifier"] = verifier
    return await token(rp, **{k: v for k, v in values.items() if v is not None})


async def refresh(rp: Rp, refresh_token: str, **form: str) -> httpx.Response:
    return await token(rp, grant_type="refresh_token", refresh_token=refresh_token, **form)


async def introspect(rp: Rp, value: str, **form: str) -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.post(f"{rp.issuer}/introspect", auth=rp.auth, data=rp.form(token=value, **form))
    assert resp.status_code == 200, resp.text
    return resp.json()


def same_app(rp: Rp):
    """What :func:`make_rp` needs to register another client in ``rp``'s application."""
    class _App:
        id = rp.app_id
        issuer = rp.issuer
    return _App


async def verified_id_token(rp: Rp, id_token: str) -> tuple[dict, dict]:
    """Header and claims of an ID token whose RS256 signature verifies with the issuer's JWKS (jwcrypto)."""
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.get(f"{rp.issuer}/jwks.json")
    assert resp.status_code == 200
    checked = jwt.JWT(jwt=id_token, key=jwk.JWKSet.from_json(resp.text), algs=["RS256"], expected_type="JWS")
    return orjson.loads(checked.header), orjson.loads(checked.claims)


async def signed_in(browser, rp, scope="openid offline_access read") -> dict:
    """The token response of a code exchange for user-7, signed in through ``browser``."""
    code, _ = await browser.code(rp, scope=scope, user_id="user-7")
    resp = await exchange(rp, code)
    assert resp.status_code == 200, resp.text
    return resp.json()
