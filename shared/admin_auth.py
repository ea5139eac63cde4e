"""The guard of every admin API: an access token of the suite itself.

A request is admitted when it carries ``Authorization: Bearer <JWT>`` issued by the system
application (``{public_url}/system``), signed by one of its keys (fetched from the keys
service's JWKS, cached, re-fetched on an unknown ``kid``), unexpired, not revoked, and with the
scope ``tessera:admin``. A token of any other issuer — another tenant's application, even one
with the same scope — is refused.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web

from . import context, jws

ADMIN_SCOPE = "tessera:admin"
SYSTEM_APPLICATION = "system"
JWKS_MIN_REFRESH_S = 10.0
JWKS_TTL_S = 300.0


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    client_id: str
    subject: str
    scopes: frozenset[str]
    token_id: str


def _error(status: int, error: str, description: str) -> web.HTTPException:
    cls = web.HTTPUnauthorized if status == 401 else web.HTTPForbidden
    challenge = f'Bearer realm="tessera-admin", error="{error}", error_description="{description}"'
    return cls(body=orjson.dumps({"error": error, "error_description": description}),
               content_type="application/json", headers={"WWW-Authenticate": challenge})


class AdminTokenVerifier:
    """Verifies admin access tokens; one per process, shared by its admin routes."""

    def __init__(self, public_url: str, keys_service_url: str, session: aiohttp.ClientSession,
                 is_revoked=None) -> None:
        self.issuer = f"{public_url}/{SYSTEM_APPLICATION}"
        self.jwks_url = f"{keys_service_url}/{SYSTEM_APPLICATION}/jwks.json"
        self.session = session
        self.is_revoked = is_revoked
        self._keys: jws.VerificationKeys | None = None
        self._fetched_at = 0.0

    async def _jwks(self, refresh: bool = False) -> jws.VerificationKeys | None:
        age = time.monotonic() - self._fetched_at
        if self._keys is None or age > JWKS_TTL_S or (refresh and age > JWKS_MIN_REFRESH_S):
            try:
                async with self.session.get(self.jwks_url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    if resp.status == 200:
                        self._keys = jws.VerificationKeys.from_jwks(await resp.json())
                        self._fetched_at = time.monotonic()
            except (aiohttp.ClientError, TimeoutError):
                pass
        return self._keys

    async def verify(self, token: str) -> AdminPrincipal:
        keys = await self._jwks()
        if keys is None:
            raise _error(401, "invalid_token", "The admin token cannot be checked right now.")
        try:
            try:
                _header, claims = jws.verify(token, keys, algorithms=("RS256", "ES256", "EdDSA"), typ="at+jwt")
            except jws.UnknownKeyError:
                keys = await self._jwks(refresh=True)
                _header, claims = jws.verify(token, keys, algorithms=("RS256", "ES256", "EdDSA"), typ="at+jwt")
            jws.validate_claims(claims, issuer=self.issuer)
        except jws.JWSError:
            raise _error(401, "invalid_token", "The access token is not a valid admin token.") from None
        if self.is_revoked is not None and await self.is_revoked(claims.get("jti", "")):
            raise _error(401, "invalid_token", "The access token was revoked.")
        scopes = frozenset(str(claims.get("scope", "")).split())
        if ADMIN_SCOPE not in scopes:
            raise _error(403, "insufficient_scope", f"The admin API needs the scope {ADMIN_SCOPE}.")
        return AdminPrincipal(client_id=str(claims.get("client_id", "")), subject=str(claims.get("sub", "")),
                              scopes=scopes, token_id=str(claims.get("jti", "")))


ADMIN_VERIFIER = web.AppKey("admin_verifier", AdminTokenVerifier)


async def require_admin(request: web.Request) -> AdminPrincipal:
    """The admin principal of ``request``, or an HTTP 401/403 with an RFC 6750 challenge."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise web.HTTPUnauthorized(
            body=orjson.dumps({"error": "invalid_token", "error_description": "An admin access token is required."}),
            content_type="application/json", headers={"WWW-Authenticate": 'Bearer realm="tessera-admin"'})
    principal = await request.app[ADMIN_VERIFIER].verify(token.strip())
    context.actor.set(f"client:{principal.client_id}")
    return principal
