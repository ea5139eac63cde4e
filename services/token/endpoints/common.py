"""What every OAuth endpoint of the token service shares: form reading, errors, the issuer."""
from __future__ import annotations

from aiohttp import web

from shared.http.middleware import json_response

from ..oauth.errors import InvalidRequest, OAuthError
from ..oauth.params import decode_form

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"


def oauth_error(err: OAuthError) -> web.Response:
    """RFC 6749 §5.2 error response: JSON, the RFC status, never cached."""
    return json_response(err.to_body(), status=err.status, headers={**NO_STORE, **err.headers})


def request_origin(request: web.Request) -> tuple[str, str]:
    """The scheme and host the client used (as the gateway or ingress forwarded them)."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    return scheme, host


def not_found(what: str = "issuer") -> web.Response:
    return json_response({"error": "not_found", "error_description": f"No such {what}."}, status=404)


async def read_form(request: web.Request) -> list[tuple[str, str]]:
    """The ``application/x-www-form-urlencoded`` body as ordered pairs (RFC 6749 Appendix B)."""
    if request.content_type != FORM:
        raise InvalidRequest(f"the request body must be {FORM}")
    return decode_form(await request.read())
