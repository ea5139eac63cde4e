"""What the admin JSON APIs of every service share: the guard, the error object, JSON bodies.

A command of a service's domain raises :class:`shared.domain_errors.DomainError`; a guarded
route answers it as ``{"error", "error_description"}`` with the status of its code.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web

from .admin_auth import require_admin
from .domain_errors import STATUS, DomainError, fail
from .http.middleware import json_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, description: str) -> web.Response:
    return json_response({"error": code, "error_description": description}, status=status)


def guarded(handler: Handler) -> Handler:
    """Admit the caller first (:func:`shared.admin_auth.require_admin`); turn a domain refusal
    into the stable error object."""
    async def wrapper(request: web.Request) -> web.StreamResponse:
        await require_admin(request)
        try:
            return await handler(request)
        except DomainError as exc:
            return error_response(STATUS[exc.code], exc.code, exc.message)
    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


async def json_body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when it is empty and not ``required``)."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise fail("a JSON object body is required")
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise fail("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise fail("the body must be a JSON object")
    return body


def only(body: dict[str, Any], allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    """``body``, refused when it has a field outside ``allowed``."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise fail(f"unknown {what} field(s): {', '.join(unknown)}")
    return body
