"""The authorization endpoint and the return from sign-in (ADR 0005), per issuer.

``GET|POST /{application}/authorize``: validate → store the pending request → 303 to authn's
``/{application}/login?request={id}``. ``GET /{application}/authorize/resume?request={id}``: take
authn's result once → issue a code (its ``authorization_code.issued`` event durable first) →
answer the client (``query``, ``fragment`` or ``form_post``), with ``state`` and ``iss``.

Until the client and its redirect URI are trusted, every error is an HTML page and never a
redirect; after that, errors go to the client.
"""
from __future__ import annotations

import time

from aiohttp import web

from shared import crypto
from shared.events import GuardFailed, NewEvent
from shared.logging import get_logger

from .. import events as ev
from ..codes import SignInStore
from ..grant_log import GrantLog
from ..lookup import RegistryCache
from ..model import Application, Client
from ..oauth import authorization_response as response
from ..oauth.authorization_code import CodeRecord, code_ttl
from ..oauth.authorization_result import read_result
from ..oauth.authorize import ErrorPage, Target, pending_request, read_params, trusted_target, validate
from ..oauth.errors import InvalidRequest, OAuthError, UnauthorizedClient
from ..oauth.params import decode_form
from ..oauth.scopes import format_scope
from .common import FORM, request_origin

log = get_logger("tessera.token.authorize")
MAX_REQUEST_ID = 64


def page(description: str, status: int = 400) -> web.Response:
    return web.Response(status=status, text=response.error_page(description), content_type="text/html",
                        charset="utf-8", headers=response.PAGE_HEADERS)


def answer(target: Target, params: list[tuple[str, str]]) -> web.Response:
    """The authorization response, in the request's response mode."""
    if target.response_mode == "form_post":
        nonce = crypto.new_id()
        return web.Response(status=200, text=response.form_post_page(target.redirect_uri, params, nonce),
                            content_type="text/html", charset="utf-8", headers=response.form_post_headers(nonce))
    location = response.redirect_location(target.redirect_uri, target.response_mode, params)
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store",
                                             "Pragma": "no-cache", "Referrer-Policy": "no-referrer"})


class AuthorizeEndpoints:
    def __init__(self, registry: RegistryCache, sign_ins: SignInStore, grants: GrantLog, public_url: str) -> None:
        self.registry = registry
        self.sign_ins = sign_ins
        self.grants = grants
        self.public_url = public_url

    async def _application(self, request: web.Request) -> Application | None:
        app = await self.registry.for_request(request.match_info.get("application"), *request_origin(request))
        return app if app is not None and app.active else None

    async def authorize(self, request: web.Request) -> web.Response:
        """RFC 6749 §4.1.1 / OIDC Core §3.1.2.1, by GET (query) or POST (form)."""
        app = await self._application(request)
        if app is None:
            return page("There is no such issuer.", 404)
        try:
            params = read_params(await self._pairs(request))
            client_id = params.get("client_id")
            client = await self.registry.client(app.id, client_id) if client_id else None
            target = trusted_target(params, client, app)
        except ErrorPage as err:
            log.info("authorize.error_page", reason=err.description)
            return page(err.description, err.status)
        try:
            authz = validate(params, target, client, app)
        except OAuthError as err:
            log.info("authorize.error", error=err.error, client_id=client.client_id, debug=err.debug)
            return answer(target, response.error_params(err, target.state, app.issuer))
        request_id = crypto.new_secret()
        pending = pending_request(authz, request_id=request_id, application=app, client=client, now=int(time.time()))
        await self.sign_ins.save_request(pending, {"redirect_uri_sent": authz.redirect_uri_sent})
        return web.Response(status=303, headers={
            "Location": f"{self.public_url}/{app.id}/login?request={request_id}", "Cache-Control": "no-store"})

    async def _pairs(self, request: web.Request) -> list[tuple[str, str]]:
        try:
            if request.method == "POST":
                if request.content_type != FORM:
                    raise ErrorPage(f"An authorization request sent by POST must be {FORM}.")
                return decode_form(await request.read())
            return decode_form(request.rel_url.raw_query_string.encode())
        except InvalidRequest as err:
            raise ErrorPage("The request's parameters cannot be read.") from err

    async def resume(self, request: web.Request) -> web.Response:
        """Back from authn: take its result once and answer the client (ADR 0005 §4)."""
        app = await self._application(request)
        if app is None:
            return page("There is no such issuer.", 404)
        request_id = request.query.get("request", "")
        if not request_id or len(request_id) > MAX_REQUEST_ID or not request_id.isascii():
            return page("The sign-in request is missing.")
        taken = await self.sign_ins.take_sign_in(request_id)
        if not taken.finished:
            return page("This sign-in is not finished." if taken.request is not None
                        else "This sign-in request is unknown, expired or already used.")
        pending = taken.request
        if not isinstance(pending, dict) or pending.get("application_id") != app.id \
                or pending.get("tenant_id") != app.tenant_id or pending.get("issuer") != app.issuer:
            return page("This sign-in request is unknown, expired or already used.")
        client = await self.registry.client(app.id, pending.get("client_id") or "")
        if client is None or not client.active or pending.get("redirect_uri") not in client.redirect_uris:
            return page("The client of this sign-in request is no longer available.")
        extra = taken.extra if isinstance(taken.extra, dict) else {}
        target = Target(pending["redirect_uri"], bool(extra.get("redirect_uri_sent", True)),
                        pending.get("response_mode") or "query", pending.get("state"))
        try:
            sign_in = read_result(taken.result, tuple(pending.get("scopes") or ()))
            code = await self._issue_code(app, client, pending, target, sign_in)
        except OAuthError as err:
            log.info("authorize.resume_error", error=err.error, client_id=client.client_id, debug=err.debug)
            return answer(target, response.error_params(err, target.state, app.issuer))
        return answer(target, response.success_params(code, target.state, app.issuer))

    async def _issue_code(self, app: Application, client: Client, pending: dict, target: Target, sign_in) -> str:
        now = int(time.time())
        ttl = code_ttl(app)
        code, grant_id = crypto.new_secret(), crypto.new_ordered_id()
        record = CodeRecord(
            grant_id=grant_id, tenant_id=app.tenant_id, application_id=app.id, issuer=app.issuer,
            client_id=client.client_id, redirect_uri=target.redirect_uri, redirect_uri_sent=target.redirect_uri_sent,
            scopes=sign_in.granted_scopes, nonce=pending.get("nonce"), code_challenge=pending.get("code_challenge"),
            subject=sign_in.user_id, auth_time=sign_in.auth_time, amr=sign_in.amr, acr=sign_in.acr, sid=sign_in.sid,
            issued_at=now, expires_at=now + ttl)
        event = NewEvent(ev.AUTHORIZATION_CODE_ISSUED, {
            "grant_id": grant_id, "client_id": client.client_id, "subject": sign_in.user_id,
            "scope": format_scope(sign_in.granted_scopes), "session_id": sign_in.sid,
            "code_digest": crypto.digest(self.sign_ins.code_hash(code)),
            "expires_at": ev.expiry(now + ttl),
        }, tenant=app.tenant_id, application=app.id)
        for attempt in range(2):
            try:   # durable before the code exists, written only if client and application are unchanged
                await self.grants.record(ev.grant_stream(grant_id), event, client_id=client.client_id,
                                         client_version=client.version, application_version=app.version)
                break
            except GuardFailed:
                self.registry.forget_application(app.id)
                fresh_app = await self.registry.application(app.id)
                fresh = await self.registry.client(app.id, client.client_id)
                if attempt or fresh_app is None or not fresh_app.active or fresh is None or not fresh.active \
                        or "authorization_code" not in fresh.grant_types:
                    raise UnauthorizedClient("the client may no longer use the authorization code grant") from None
                app, client = fresh_app, fresh
        await self.sign_ins.put_code(app.id, code, record.to_json(), ttl)
        return code
