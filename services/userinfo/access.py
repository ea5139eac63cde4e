"""Is this access token good for userinfo at this application? One check per function.

Plain data and ports (no aiohttp, asyncpg, redis or nats here):

- ``keys(application_id, kid)``: the application's published keys (:class:`shared.jwks_cache.RemoteJwks`);
- ``is_revoked(jti)``: whether a JWT was revoked (``shared.redis_keys.revoked_jti``);
- ``opaque(token)``: an opaque token's claims, stored by the token service under the HMAC of
  the token (``shared.redis_keys.opaque_access_token``), gone once revoked or expired.

A JWT access token (RFC 9068, ``typ: at+jwt``) must verify under the application's keys, name
the application's issuer, be unexpired and not revoked; an opaque one must be known, name the
issuer and be unexpired. Then it must carry ``openid`` (else 403 ``insufficient_scope``) and be
bound to a user: a client-credentials token, whose ``sub`` is its client, is refused with
``invalid_token`` (no scope would make it work here, so not ``insufficient_scope``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from shared import jws

from .errors import insufficient_scope, invalid_token

JWT_ALGORITHMS = ("RS256", "ES256", "EdDSA")
ACCESS_TOKEN_TYP = "at+jwt"

Keys = Callable[[str, str | None], Awaitable[jws.VerificationKeys | None]]
IsRevoked = Callable[[str], Awaitable[bool]]
Opaque = Callable[[str], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class Application:
    id: str
    tenant_id: str
    issuer: str
    active: bool            # false while the application or its tenant is disabled


class AccessTokens:
    def __init__(self, keys: Keys, is_revoked: IsRevoked, opaque: Opaque,
                 clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._is_revoked = is_revoked
        self._opaque = opaque
        self._clock = clock

    async def check(self, app: Application, token: str) -> dict[str, Any]:
        """The claims of a token fit for userinfo at ``app``, or :class:`BearerError`."""
        if not app.active:
            raise invalid_token("The application is disabled.")
        if token.count(".") == 2:
            claims = await self._jwt(app, token)
        else:
            claims = await self._opaque_claims(app, token)
        require_openid(claims)
        return claims

    async def _jwt(self, app: Application, token: str) -> dict[str, Any]:
        claims = await self._verified(app, token)
        if claims.get("iss") != app.issuer:
            raise invalid_token("The access token was issued by another application.")
        now = self._clock()
        try:   # the leeway absorbs clock skew on nbf and iat; exp is the token service's own word
            jws.validate_claims(claims, issuer=app.issuer, now=now)
        except jws.ExpiredTokenError:
            raise invalid_token("The access token expired.") from None
        except jws.InvalidClaimsError as exc:
            raise invalid_token(f"The access token is not valid ({_plain(exc)}).") from None
        if claims["exp"] <= now:
            raise invalid_token("The access token expired.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise invalid_token("The access token has no jti.")
        if await self._is_revoked(jti):
            raise invalid_token("The access token was revoked.")
        return claims

    async def _verified(self, app: Application, token: str) -> dict[str, Any]:
        """The claims of a JWT signed by one of the application's published keys."""
        try:
            kid = jws.peek_header(token).get("kid")
            keys = await self._keys(app.id, kid if isinstance(kid, str) else None)
            if keys is None:
                raise invalid_token("The access token cannot be verified.")
            return jws.verify(token, keys, algorithms=JWT_ALGORITHMS, typ=ACCESS_TOKEN_TYP)[1]
        except jws.WrongTypeError:
            raise invalid_token("The token is not an access token.") from None
        except (jws.UnknownKeyError, jws.BadSignatureError, jws.AlgorithmNotAllowedError):
            raise invalid_token("The access token signature does not verify.") from None
        except jws.JWSError:
            raise invalid_token("The access token is malformed.") from None

    async def _opaque_claims(self, app: Application, token: str) -> dict[str, Any]:
        claims = await self._opaque(token)
        if claims is None:        # unknown, expired (Redis dropped it) or revoked (deleted)
            raise invalid_token("The access token is unknown, expired or revoked.")
        if claims.get("iss") != app.issuer:
            raise invalid_token("The access token was issued by another application.")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)) or exp <= self._clock():
            raise invalid_token("The access token expired.")
        return claims


def require_openid(claims: dict[str, Any]) -> None:
    scope = claims.get("scope")
    if not isinstance(scope, str) or "openid" not in scope.split(" "):
        raise insufficient_scope("The access token was not granted the openid scope.", "openid")


def user_of(claims: dict[str, Any]) -> str:
    """The user a token was issued for; a client acting for itself has none."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or sub == claims.get("client_id"):
        raise invalid_token("The token is not bound to a user.")
    return sub


def _plain(exc: Exception) -> str:
    """An exception's message fit for ``error_description`` (RFC 6750 §3 characters)."""
    return "".join(c for c in str(exc) if c not in '"\\' and " " <= c <= "~")[:120]
