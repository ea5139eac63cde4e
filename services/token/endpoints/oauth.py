"""The token service's OAuth 2.0 endpoints, per issuer ``{public_url}/{application}``.

Each handler reads as its steps: find the issuer → read the form → authenticate the client →
do the one thing → answer (or answer the RFC error).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Awaitable, Callable

from aiohttp import web

from shared.events import GuardFailed
from shared.logging import get_logger

from ..issuer import Issuer
from ..keyring import KeysUnavailable
from ..model import Application, Client
from ..oauth import client_auth
from ..oauth.access_token import TOKEN_RESPONSE_HEADERS, introspection_response, token_response
from ..oauth.client_credentials import ClientCredentialsGrant
from ..oauth.errors import InvalidClient, InvalidRequest, OAuthError, TemporarilyUnavailable, UnsupportedGrantType
from ..oauth.params import parse_form
from ..lookup import RegistryCache
from .common import NO_STORE, json_response, not_found, oauth_error, read_form, request_origin
from .user_grants import UserGrantEndpoints

log = get_logger("tessera.token.oauth")

GRANTS = {grant.GRANT_TYPE: grant for grant in (ClientCredentialsGrant(),)}
USER_GRANTS = ("authorization_code", "refresh_token")


class OAuthEndpoints:
    def __init__(self, registry: RegistryCache, issuer: Issuer, pepper: bytes,
                 users: UserGrantEndpoints) -> None:
        self.registry = registry
        self.issuer = issuer
        self.pepper = pepper
        self.users = users

    async def application(self, request: web.Request) -> Application | None:
        app = await self.registry.for_request(request.match_info.get("application"), *request_origin(request))
        return app if app is not None and app.active else None

    async def authenticate(self, request: web.Request, app: Application, form: dict[str, str]) -> Client:
        """RFC 6749 §2.3.1: the client's credentials, from the Basic header or the form."""
        credentials = client_auth.extract_credentials(request.headers.get("Authorization"), form,
                                                      realm=app.issuer)
        client = await self.registry.client(app.id, credentials.client_id)
        return client_auth.authenticate(credentials, client, self.pepper, datetime.now(timezone.utc))

    def endpoint(self, step: Callable[[web.Request, Application, dict[str, str]], Awaitable[web.Response]]):
        """Wrap a step with issuer lookup, form parsing and RFC error answers."""
        async def handler(request: web.Request) -> web.Response:
            app = await self.application(request)
            if app is None:
                return not_found()
            try:
                form = parse_form(await read_form(request), None)
                return await step(request, app, form)
            except OAuthError as err:
                log.info("oauth.error", error=err.error, path=request.path, debug=err.debug)
                return oauth_error(err)
            except KeysUnavailable as exc:
                log.warning("oauth.keys_unavailable", detail=str(exc))
                return oauth_error(TemporarilyUnavailable("signing keys are not available yet; retry"))
        return handler

    async def token(self, request: web.Request, app: Application, form: dict[str, str]) -> web.Response:
        """RFC 6749 §3.2: the token endpoint."""
        try:
            return await self._token(request, app, form)
        except GuardFailed:
            # The client or application changed under the cached copy: decide again on fresh data.
            self.registry.forget_application(app.id)
            fresh = await self.application(request)
            if fresh is None:
                return not_found()
            return await self._token(request, fresh, form)

    async def _token(self, request: web.Request, app: Application, form: dict[str, str]) -> web.Response:
        client = await self.authenticate(request, app, form)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("grant_type is required")
        if grant_type in USER_GRANTS:
            user_grant = self.users.exchange if grant_type == "authorization_code" else self.users.refresh_grant
            return json_response(await user_grant(app, client, form), headers=TOKEN_RESPONSE_HEADERS)
        grant = GRANTS.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(f"grant_type {grant_type} is not supported")
        decision = grant.validate(form, client, app)
        token_format = client.access_token_format or app.settings.access_token_format
        token = await self.issuer.issue(app, client, decision, token_format)
        return json_response(token_response(token, decision), headers=TOKEN_RESPONSE_HEADERS)

    async def introspect(self, request: web.Request, app: Application, form: dict[str, str]) -> web.Response:
        """RFC 7662: whether a token of this issuer is active, and its claims.

        A refresh token answers only to the client it was issued to. ``token_type_hint`` only
        decides which kind is looked up first (§2.1).
        """
        client = await self.authenticate(request, app, form)
        if not client.confidential:   # discovery says so: a public client cannot vouch for itself
            raise InvalidClient(debug="public clients may not introspect")
        refresh_first = form.get("token_type_hint") == "refresh_token"
        if refresh_first and _maybe_refresh(form):
            body = await self.users.introspect(app, client, form["token"])
            if body is not None:
                return json_response(body, headers=NO_STORE)
        claims = await self._live(app, form)
        if claims is None and not refresh_first and _maybe_refresh(form):
            body = await self.users.introspect(app, client, form["token"])
            if body is not None:
                return json_response(body, headers=NO_STORE)
        return json_response(introspection_response(claims, now=datetime.now(timezone.utc)), headers=NO_STORE)

    async def revoke(self, request: web.Request, app: Application, form: dict[str, str]) -> web.Response:
        """RFC 7009: revoke a token the client holds; unknown tokens are not an error (§2.2).

        A refresh token takes its family and their access tokens with it (§2.1).
        """
        client = await self.authenticate(request, app, form)
        if form.get("token_type_hint") == "refresh_token" and _maybe_refresh(form):
            if await self.users.revoke(app, client, form["token"]):
                return web.Response(status=200, headers=NO_STORE)
        claims = await self._live(app, form)
        if claims is None and _maybe_refresh(form):
            await self.users.revoke(app, client, form["token"])
            return web.Response(status=200, headers=NO_STORE)
        if claims is not None:
            if claims.get("client_id") == client.client_id:
                await self.issuer.revoke(app, form["token"], claims, reason="revoked_by_client")
            else:
                log.info("oauth.revoke_foreign_token", client_id=client.client_id)
        return web.Response(status=200, headers=NO_STORE)

    async def _live(self, app: Application, form: dict[str, str]) -> dict | None:
        token = form.get("token")
        if token is None:
            raise InvalidRequest("token is required")
        claims = await self.issuer.find(app, token)
        if claims is None:
            return None
        # A token of a client since disabled or deleted is no longer active.
        holder = await self.registry.client(app.id, str(claims.get("client_id", "")))
        return claims if holder is not None and holder.active else None


def _maybe_refresh(form: dict[str, str]) -> bool:
    """Refresh tokens are opaque: a JWT is never one."""
    token = form.get("token")
    return token is not None and token.count(".") != 2
