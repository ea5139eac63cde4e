"""The hosted sign-in pages: ``/{application}/login`` and ``/{application}/consent``.

Plain HTML forms (no JavaScript), usable by a scripted client: GET the page, read the hidden
``csrf`` input and the cookies, POST ``request``, ``csrf`` and ``username``/``password`` (login)
or ``decision=allow|deny`` (consent). Every answer ends in one of: a page, an error page (400,
never a redirect, for an unknown, expired or foreign request), or ``303`` to
``{public_url}/{application}/authorize/resume?request={id}`` once the result is written.

CSRF: the token is HMAC-SHA-256 (a key derived from the pepper) over the request id and the
browser-binding cookie (``tessera_bb``, 256 random bits, HttpOnly, SameSite=Lax), compared in
constant time. Every page answers ``Cache-Control: no-store``, ``X-Frame-Options: DENY``, a CSP
with ``frame-ancestors 'none'`` and ``Referrer-Policy: no-referrer``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.crypto import equal, new_id, new_secret, random_bytes
from shared.logging import get_logger

from . import handoff, signin
from .handoff import HandOff, PendingRequest
from .limits import Limits
from .passwords import MAX_LENGTH, Passwords
from .repository import Users
from .sessions import BINDING_COOKIE, Session, Sessions, cookie_name

log = get_logger("tessera.authn.pages")
TEMPLATES = Path(__file__).with_name("templates")
AMR = ["pwd"]
SCOPE_TEXT = {
    "openid": "Know who you are (your user id)",
    "profile": "Your profile: name, nickname, picture, birthdate, locale…",
    "email": "Your email address",
    "address": "Your postal address",
    "phone": "Your phone number",
    "offline_access": "Keep access while you are away (offline access)",
}
MAX_ACCOUNT = 320


class Pages:
    def __init__(self, users: Users, passwords: Passwords, sessions: Sessions, limits: Limits, hand_off: HandOff,
                 public_url: str, pepper: bytes) -> None:
        self.users, self.passwords, self.sessions, self.limits, self.hand_off = \
            users, passwords, sessions, limits, hand_off
        self.public_url = public_url
        self.secure = public_url.startswith("https://")
        self.csrf_key = hmac.new(pepper, b"tessera-authn-csrf", hashlib.sha256).digest()
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                               auto_reload=False)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/{application}/login", self.login_page), web.post("/{application}/login", self.login),
                web.get("/{application}/consent", self.consent_page), web.post("/{application}/consent", self.consent)]

    # Responses ----------------------------------------------------------------------------------
    def _headers(self, nonce: str) -> dict[str, str]:
        return {"Cache-Control": "no-store", "Pragma": "no-cache", "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:;"
                                           " frame-ancestors 'none'; base-uri 'none'"}

    def render(self, template: str, status: int = 200, headers: dict[str, str] | None = None,
               **context: Any) -> web.Response:
        nonce = base64.b64encode(random_bytes(16)).decode()
        body = self.env.get_template(template).render(nonce=nonce, **context)
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                            headers={**self._headers(nonce), **(headers or {})})

    def error_page(self, message: str, status: int = 400) -> web.Response:
        return self.render("error.html", status=status, message=message)

    def redirect(self, location: str) -> web.Response:
        return web.Response(status=303, headers={**self._headers("-"), "Location": location})

    def resume(self, request: PendingRequest) -> web.Response:
        return self.redirect(f"{self.public_url}/{quote(request.application_id)}/authorize/resume"
                             f"?request={request.id}")

    def _set_cookie(self, response: web.StreamResponse, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(name, value, path="/", httponly=True, samesite="Lax", secure=self.secure,
                            max_age=max_age)

    # Shared steps -------------------------------------------------------------------------------
    def csrf(self, request_id: str, binding: str) -> str:
        mac = hmac.new(self.csrf_key, f"{request_id}\x00{binding}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def csrf_ok(self, request_id: str, binding: str | None, token: Any) -> bool:
        if not binding or not isinstance(token, str) or len(token) > 100:
            return False
        return equal(self.csrf(request_id, binding), token)

    async def pending(self, request: web.Request, request_id: Any) -> PendingRequest | web.Response:
        """The pending request of this application, or the error page to answer instead."""
        pending = await self.hand_off.load(request_id)
        if pending is None:
            return self.error_page("This sign-in request is unknown or has expired. Go back to the "
                                   "application and start again.")
        if pending.application_id != request.match_info["application"]:
            return self.error_page("This sign-in request belongs to another application.")
        if await self.users.tenant_status(pending.tenant_id) != "active":
            return self.error_page("Sign-in is not available for this application right now.")
        return pending

    async def answer(self, pending: PendingRequest, result: dict[str, Any]) -> web.Response:
        """Write the result once and send the browser back to the token service."""
        written = await self.hand_off.answer(pending.id, result)
        if written == handoff.EXPIRED:
            return self.error_page("This sign-in request has expired. Go back to the application and start again.")
        await self.sessions.forget(pending.id)
        return self.resume(pending)

    async def signed_in(self, pending: PendingRequest, session: Session, binding: str) -> web.Response:
        """The user is known: consent if needed, else the result."""
        granted = await self.users.granted_scopes(pending.tenant_id, session.user_id, pending.application_id,
                                                  pending.client_id)
        step = signin.after_login(pending, granted)
        if step == signin.CONSENT_REQUIRED:
            return await self.answer(pending, handoff.error("consent_required", "The user has not consented."))
        if step == signin.CONSENT_PAGE:
            await self.sessions.remember(pending.id, session, binding, await self.hand_off.remaining_ms(pending.id))
            return self.redirect(f"{self.public_url}/{quote(pending.application_id)}/consent?request={pending.id}")
        return await self.answer(pending, self.success(pending, session, list(pending.scopes)))

    @staticmethod
    def success(pending: PendingRequest, session: Session, scopes: list[str]) -> dict[str, Any]:
        return handoff.success(session.user_id, session.auth_time, session.sid, list(session.amr), scopes)

    async def live_session(self, request: web.Request, tenant_id: str) -> Session | None:
        session = await self.sessions.get(tenant_id, request.cookies.get(cookie_name(tenant_id)))
        if session is not None and not await self.users.is_active(tenant_id, session.user_id):
            return None                 # a disabled or deleted user's sessions stop working
        return session

    def login_form(self, pending: PendingRequest, binding: str, *, status: int = 200, error: str | None = None,
                   username: str = "", headers: dict[str, str] | None = None) -> web.Response:
        response = self.render("login.html", status=status, headers=headers, request=pending, error=error,
                               csrf=self.csrf(pending.id, binding), username=username or pending.login_hint or "",
                               action=f"/{pending.application_id}/login")
        self._set_cookie(response, BINDING_COOKIE, binding)
        return response

    # Login --------------------------------------------------------------------------------------
    async def login_page(self, request: web.Request) -> web.Response:
        pending = await self.pending(request, request.query.get("request"))
        if isinstance(pending, web.Response):
            return pending
        if await self.hand_off.answered(pending.id):
            return self.resume(pending)
        binding = request.cookies.get(BINDING_COOKIE) or new_secret(32)
        session = await self.live_session(request, pending.tenant_id)
        step = signin.before_login(pending, session, int(time.time()))
        if step == signin.USE_SESSION:
            response = await self.signed_in(pending, session, binding)
            self._set_cookie(response, BINDING_COOKIE, binding)
            return response
        if step == signin.LOGIN_REQUIRED:
            return await self.answer(pending, handoff.error("login_required", "The user is not signed in."))
        return self.login_form(pending, binding)

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        pending = await self.pending(request, form.get("request"))
        if isinstance(pending, web.Response):
            return pending
        binding = request.cookies.get(BINDING_COOKIE)
        account = form.get("username")
        account = account.strip()[:MAX_ACCOUNT] if isinstance(account, str) else ""
        if not self.csrf_ok(pending.id, binding, form.get("csrf")):
            log.info("authn.csrf_refused", application=pending.application_id)
            return self.login_form(pending, binding or new_secret(32), status=403, username=account,
                                   error="This form has expired or was not sent from this page. Please try again.")
        if await self.hand_off.answered(pending.id):
            return self.resume(pending)
        password = form.get("password")
        if not account or not isinstance(password, str) or not password:
            return self.login_form(pending, binding, status=400, username=account,
                                   error="Enter your username or email and your password.")
        ip = client_ip(request)
        wait = await self.limits.wait(pending.tenant_id, account, ip)
        if wait:
            minutes = max(1, -(-wait // 60))
            log.info("authn.sign_in_throttled", tenant=pending.tenant_id, retry_after=wait)
            return self.login_form(pending, binding, status=429, username=account, headers={"Retry-After": str(wait)},
                                   error=f"Too many failed attempts. Try again in {minutes} minute"
                                         f"{'s' if minutes > 1 else ''}.")
        candidate = await self.users.candidate(pending.tenant_id, account)
        usable = candidate is not None and candidate.status == "active"
        verdict = await self.passwords.verify(candidate.phc if usable else None, password[:MAX_LENGTH + 1])
        if not (usable and verdict.ok):
            await self.limits.failed(pending.tenant_id, account, ip)
            log.info("authn.sign_in_failed", tenant=pending.tenant_id, application=pending.application_id)
            return self.login_form(pending, binding, status=401, username=account,
                                   error="Wrong account or password.")
        await self.limits.succeeded(pending.tenant_id, account, ip)
        if verdict.needs_rehash:
            await self.users.rehash(pending.tenant_id, candidate.id, password)
        now = int(time.time())
        sid = new_id()
        await self.users.record_sign_in(session_id=sid, user_id=candidate.id, tenant_id=pending.tenant_id,
                                        application_id=pending.application_id, client_id=pending.client_id,
                                        auth_time=now, amr=AMR)
        cookie, session = await self.sessions.start(pending.tenant_id, candidate.id, now, AMR, sid=sid)
        log.info("authn.signed_in", tenant=pending.tenant_id, application=pending.application_id,
                 user_id=candidate.id, session_id=sid)
        response = await self.signed_in(pending, session, binding)
        self._set_cookie(response, cookie_name(pending.tenant_id), cookie)
        return response

    # Consent ------------------------------------------------------------------------------------
    def consent_form(self, pending: PendingRequest, binding: str, *, status: int = 200,
                     error: str | None = None) -> web.Response:
        scopes = [{"name": s, "text": SCOPE_TEXT.get(s, s)} for s in pending.scopes]
        return self.render("consent.html", status=status, request=pending, scopes=scopes, error=error,
                           csrf=self.csrf(pending.id, binding), action=f"/{pending.application_id}/consent")

    async def _consent_context(self, request: web.Request, request_id: Any
                               ) -> tuple[PendingRequest, Session, str] | web.Response:
        pending = await self.pending(request, request_id)
        if isinstance(pending, web.Response):
            return pending
        if await self.hand_off.answered(pending.id):
            return self.resume(pending)
        binding = request.cookies.get(BINDING_COOKIE)
        session = await self.sessions.recall(pending.id, binding)
        if session is None or not await self.users.is_active(pending.tenant_id, session.user_id):
            return self.redirect(f"{self.public_url}/{quote(pending.application_id)}/login?request={pending.id}")
        return pending, session, binding

    async def consent_page(self, request: web.Request) -> web.Response:
        found = await self._consent_context(request, request.query.get("request"))
        if isinstance(found, web.Response):
            return found
        pending, _session, binding = found
        return self.consent_form(pending, binding)

    async def consent(self, request: web.Request) -> web.Response:
        form = await request.post()
        found = await self._consent_context(request, form.get("request"))
        if isinstance(found, web.Response):
            return found
        pending, session, binding = found
        if not self.csrf_ok(pending.id, binding, form.get("csrf")):
            return self.consent_form(pending, binding, status=403,
                                     error="This form has expired or was not sent from this page. Please try again.")
        decision = form.get("decision")
        if decision == "deny":
            return await self.answer(pending, handoff.error("access_denied", "The user denied the request."))
        if decision != "allow":
            return self.consent_form(pending, binding, status=400, error="Choose Allow or Deny.")
        await self.users.grant_consent(pending.tenant_id, session.user_id, pending.application_id,
                                       pending.client_id, pending.scopes)
        return await self.answer(pending, self.success(pending, session, list(pending.scopes)))


def client_ip(request: web.Request) -> str:
    """The address the nearest proxy saw (the last ``X-Forwarded-For`` entry), else the peer's."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    return last[:64] if last else (request.remote or "-")
