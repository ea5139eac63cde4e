"""``GET|POST {public_url}/{application}/userinfo`` (OIDC Core §5.3, RFC 6750), and its CORS preflight.

The endpoint reads as its steps: find the application → take the one bearer token → check it
(signature or look-up, issuer, expiry, revocation, ``openid``) → find the token's user in the
application's tenant → release the claims its scopes allow.
"""
from __future__ import annotations

import orjson
from aiohttp import web

from . import bearer
from .access import AccessTokens, user_of
from .claims import released
from .errors import BearerError, invalid_token
from .lookup import Applications, Users

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Any origin (single-page applications call userinfo); no cookies are involved, so "*" it is.
# WWW-Authenticate is exposed so a script can read why it was refused.
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "WWW-Authenticate"}
RESPONSE_HEADERS = {**NO_STORE, **CORS}
# Authorization must be named: "*" in Access-Control-Allow-Headers does not cover it (Fetch).
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "7200",
}
JSON = "application/json"


def _json(body: object, status: int = 200, headers: dict[str, str] = RESPONSE_HEADERS) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type=JSON)


def error_response(err: BearerError, realm: str) -> web.Response:
    return _json(err.body(), err.status, {**RESPONSE_HEADERS, "WWW-Authenticate": err.challenge(realm)})


class UserinfoEndpoint:
    def __init__(self, applications: Applications, tokens: AccessTokens, users: Users) -> None:
        self.applications = applications
        self.tokens = tokens
        self.users = users

    def routes(self) -> list[web.RouteDef]:
        path = "/{application}/userinfo"
        return [web.get(path, self.userinfo), web.post(path, self.userinfo), web.options(path, self.preflight)]

    async def preflight(self, _request: web.Request) -> web.Response:
        return web.Response(status=204, headers=PREFLIGHT_HEADERS)

    async def userinfo(self, request: web.Request) -> web.Response:
        app = await self.applications.get(request.match_info["application"])
        if app is None:
            return _json({"error": "not_found", "error_description": "No such application."}, 404)
        try:
            token = await self._token(request)
            claims = await self.tokens.check(app, token)
            sub = user_of(claims)
            stored = await self.users.claims(app.tenant_id, sub)
            if stored is None:
                raise invalid_token("The token's user is unknown, disabled or deleted.")
        except BearerError as err:
            return error_response(err, app.issuer)
        scopes = frozenset(claims["scope"].split(" "))
        return _json(released(stored, scopes, sub))

    @staticmethod
    async def _token(request: web.Request) -> str:
        form = request.method == "POST" and request.content_type == bearer.FORM
        return bearer.extract(
            method=request.method, authorization=request.headers.getall("Authorization", ()),
            query_names=request.query.keys(), content_type=request.content_type,
            body=await request.read() if form else None)
