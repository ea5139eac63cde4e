"""The users admin API (``/admin/users...``; ``openapi.yaml``), guarded like every admin API.

Every route but the OpenAPI document first admits the caller with
:func:`shared.admin_auth.require_admin`. Errors are one stable object, ``{"error",
"error_description"}``: 400 ``invalid_request``, 404 ``not_found``, 409 ``conflict``, 410
``gone``, 413 ``request_too_large``. No response or log line carries a password or its hash.
User routes take an optional ``?tenant=``: a user of another tenant is then ``not_found``.
"""
from __future__ import annotations

from pathlib import Path
from aiohttp import web

from shared.admin_api import Handler, error_response, guarded, json_body, only
from shared.http.middleware import json_response

from .domain import INVALID_REQUEST, DomainError
from .repository import DEFAULT_PAGE, MAX_IMPORT, Users

OPENAPI = Path(__file__).with_name("openapi.yaml")
IMPORT_MAX_BYTES = 8 * 1024 * 1024
_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


@web.middleware
async def admin_json_errors(request: web.Request, handler):
    """aiohttp's own plain-text 4xx (404, 405, 413) on admin paths become the JSON error object."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if not request.path.startswith("/admin/") or not 400 <= exc.status < 500 \
                or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return json_response({"error": _HTTP_ERRORS.get(exc.status, "invalid_request"),
                              "error_description": exc.reason}, status=exc.status, headers=headers)


def _tenant_scope(request: web.Request) -> str | None:
    return request.query.get("tenant") or None


class UsersAdmin:
    def __init__(self, users: Users) -> None:
        self.users = users

    async def create(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        tenant_id = body.pop("tenant_id", None)
        user = await self.users.create(tenant_id, body)
        return json_response(user, status=201, headers={"Location": f"/admin/users/{user['id']}"})

    async def list(self, request: web.Request) -> web.Response:
        raw = request.query.get("limit")
        try:
            limit = DEFAULT_PAGE if raw is None else int(raw)
        except ValueError:
            raise DomainError(INVALID_REQUEST, "limit must be an integer") from None
        tenant_id = request.query.get("tenant")
        if not tenant_id:
            raise DomainError(INVALID_REQUEST, "tenant is required: /admin/users?tenant=<tenant id>")
        page = await self.users.list(tenant_id, limit=limit, after=request.query.get("after") or None)
        return json_response({"items": page.items, "next": page.next})

    async def show(self, request: web.Request) -> web.Response:
        return json_response(await self.users.get(request.match_info["user"], _tenant_scope(request)))

    async def update(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        if "password" in body:
            raise DomainError(INVALID_REQUEST, "set a password with POST /admin/users/{id}/password")
        return json_response(await self.users.update(request.match_info["user"], body, _tenant_scope(request)))

    async def set_password(self, request: web.Request) -> web.Response:
        body = only(await json_body(request), ("password",), "password")
        if "password" not in body:
            raise DomainError(INVALID_REQUEST, "password is required")
        await self.users.set_password(request.match_info["user"], body["password"], _tenant_scope(request))
        return web.Response(status=204)

    async def disable(self, request: web.Request) -> web.Response:
        return json_response(await self.users.disable(request.match_info["user"], _tenant_scope(request)))

    async def enable(self, request: web.Request) -> web.Response:
        return json_response(await self.users.enable(request.match_info["user"], _tenant_scope(request)))

    async def delete(self, request: web.Request) -> web.Response:
        await self.users.delete(request.match_info["user"], _tenant_scope(request))
        return web.Response(status=204)

    async def import_users(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > IMPORT_MAX_BYTES:
            return error_response(413, "request_too_large", f"an import body may be at most {IMPORT_MAX_BYTES} bytes")
        body = only(await json_body(request.clone(client_max_size=IMPORT_MAX_BYTES)), ("tenant_id", "users"),
                    "import")
        imported = await self.users.import_users(body.get("tenant_id"), body.get("users"))
        return json_response({"tenant_id": body["tenant_id"], "imported": len(imported), "users": imported},
                             status=201)

    async def consents(self, request: web.Request) -> web.Response:
        items = await self.users.list_consents(request.match_info["user"], _tenant_scope(request))
        return json_response({"items": items})

    async def revoke_consent(self, request: web.Request) -> web.Response:
        await self.users.revoke_consent(request.match_info["user"], request.match_info["application"],
                                        request.match_info["client"], _tenant_scope(request))
        return web.Response(status=204)


async def openapi(_request: web.Request) -> web.Response:
    return web.Response(body=OPENAPI.read_bytes(), content_type="application/yaml",
                        headers={"Cache-Control": "public, max-age=300"})


def add_routes(app: web.Application, users: Users) -> None:
    api = UsersAdmin(users)
    r = app.router
    r.add_get("/admin/users/openapi.yaml", openapi)
    user = "/admin/users/{user}"
    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/admin/users/import", api.import_users),
        ("GET", "/admin/users", api.list),
        ("POST", "/admin/users", api.create),
        ("GET", user, api.show),
        ("PATCH", user, api.update),
        ("DELETE", user, api.delete),
        ("POST", user + "/password", api.set_password),
        ("POST", user + "/disable", api.disable),
        ("POST", user + "/enable", api.enable),
        ("GET", user + "/consents", api.consents),
        ("DELETE", user + "/consents/{application}/{client}", api.revoke_consent),
    ]
    for method, path, handler in routes:
        r.add_route(method, path, guarded(handler))


__all__ = ["add_routes", "admin_json_errors", "MAX_IMPORT"]
