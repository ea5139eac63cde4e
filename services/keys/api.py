"""HTTP routes of the keys service.

Public    ``GET /{application_id}/jwks.json`` (RFC 7517 §5; the issuer's ``jwks_uri``).
Internal  ``GET|POST /internal/applications/{application_id}/signing-keys`` and
          ``POST .../signing-keys/rotate``, for the token service: ``Authorization: Bearer
          <TESSERA_INTERNAL_TOKEN>``, compared in constant time (ADR 0002, "Keys → token").
Admin     ``GET /admin/keys/applications/{application_id}``, ``POST .../rotate``, guarded by
          ``shared.admin_auth.require_admin``; ``GET /admin/keys/openapi.yaml``.

Errors are ``{"error", "error_description"}`` JSON with a 4xx status; bad input never gets a 500.
Private keys leave only through the internal API's answer and are never logged.
"""
from __future__ import annotations

import orjson
from aiohttp import web

from shared.crypto import equal
from shared.http.middleware import json_response
from shared.runtime import Resources

from . import repository
from .jwks import JwksCache
from .keyring import SLUG, ApplicationDeleted, KeyRing, TenantMismatch, UnknownApplication

RESERVED = frozenset({"admin", "internal", "healthz", "readyz", "metrics"})
JWKS_HEADERS = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
_HTTP_ERRORS = {401: "invalid_token", 403: "insufficient_scope", 404: "not_found",
                405: "method_not_allowed", 413: "request_too_large"}


class ApiError(Exception):
    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status, self.error, self.description, self.headers = status, error, description, headers


@web.middleware
async def json_errors(request: web.Request, handler):
    """Turn :class:`ApiError` and plain-text 4xx (aiohttp's own 404, 405, 413) into JSON."""
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response({"error": exc.error, "error_description": exc.description},
                             status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        if not 400 <= exc.status < 500 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return json_response({"error": _HTTP_ERRORS.get(exc.status, "invalid_request"),
                              "error_description": exc.reason}, status=exc.status, headers=headers)


def _application_id(request: web.Request, *, creating: bool = False) -> str:
    application_id = request.match_info["application_id"]
    if not SLUG.fullmatch(application_id) or application_id in RESERVED:
        if creating:
            raise ApiError(400, "invalid_request", "The application id must be an application id slug.")
        raise ApiError(404, "not_found", "No such application.")
    return application_id


async def _tenant_id(request: web.Request) -> str:
    try:
        body = orjson.loads(await request.read() or b"null")
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_request", "The body must be a JSON object.") from None
    tenant_id = body.get("tenant_id") if isinstance(body, dict) else None
    if not isinstance(tenant_id, str) or not SLUG.fullmatch(tenant_id):
        raise ApiError(400, "invalid_request", "tenant_id is required: a tenant id slug.")
    return tenant_id


def _not_found(application_id: str) -> ApiError:
    return ApiError(404, "not_found", f"Application {application_id} has no signing keys.")


class KeysApi:
    def __init__(self, res: Resources, keyring: KeyRing, cache: JwksCache, openapi: bytes) -> None:
        self.res = res
        self.keyring = keyring
        self.cache = cache
        self.openapi_document = openapi

    def routes(self) -> list[web.RouteDef]:
        internal = "/internal/applications/{application_id}/signing-keys"
        admin = "/admin/keys/applications/{application_id}"
        return [
            web.get("/{application_id}/jwks.json", self.jwks),
            web.get(internal, self.internal_keys),
            web.post(internal, self.internal_ensure),
            web.post(internal + "/rotate", self.internal_rotate),
            web.get("/admin/keys/openapi.yaml", self.openapi, allow_head=True),
            web.get(admin, self.admin_list),
            web.post(admin + "/rotate", self.admin_rotate),
        ]

    # -- public ---------------------------------------------------------------------------
    async def jwks(self, request: web.Request) -> web.Response:
        application_id = _application_id(request)
        body = await self.cache.get(application_id)
        if body is None:
            raise _not_found(application_id)
        return web.Response(body=body, content_type="application/json", headers=JWKS_HEADERS)

    # -- internal (token service) ---------------------------------------------------------
    def _require_internal(self, request: web.Request) -> None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not equal(value.strip(), self.res.settings.internal_token):
            raise ApiError(401, "invalid_token", "A valid internal bearer token is required.",
                           {"WWW-Authenticate": 'Bearer realm="tessera-internal"'})

    async def _private_keys(self, application_id: str) -> web.Response:
        keys = await repository.current_private_keys(self.res.pool, self.keyring.kek, application_id)
        if not keys:
            raise _not_found(application_id)
        return json_response({"keys": keys}, headers={"Cache-Control": "no-store"})

    async def internal_keys(self, request: web.Request) -> web.Response:
        self._require_internal(request)
        return await self._private_keys(_application_id(request))

    async def internal_ensure(self, request: web.Request) -> web.Response:
        self._require_internal(request)
        application_id = _application_id(request, creating=True)
        tenant_id = await _tenant_id(request)
        try:
            if await self.keyring.ensure(application_id, tenant_id):
                self.cache.invalidate(application_id)
        except ApplicationDeleted:
            raise ApiError(404, "not_found", f"Application {application_id} was deleted.") from None
        except TenantMismatch:
            raise ApiError(409, "conflict", f"Application {application_id} belongs to another tenant.") from None
        return await self._private_keys(application_id)

    async def internal_rotate(self, request: web.Request) -> web.Response:
        self._require_internal(request)
        return await self._rotate(_application_id(request))

    # -- admin ----------------------------------------------------------------------------
    async def admin_list(self, request: web.Request) -> web.Response:
        await _require_admin(request)
        application_id = _application_id(request)
        keys = await repository.listing(self.res.pool, application_id)
        if not keys:
            raise _not_found(application_id)
        return json_response({"application_id": application_id, "keys": keys})

    async def admin_rotate(self, request: web.Request) -> web.Response:
        await _require_admin(request)
        return await self._rotate(_application_id(request))

    async def openapi(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.openapi_document, content_type="application/yaml")

    async def _rotate(self, application_id: str) -> web.Response:
        try:
            await self.keyring.rotate(application_id)
        except (UnknownApplication, ApplicationDeleted):
            raise _not_found(application_id) from None
        finally:
            self.cache.invalidate(application_id)
        keys = await repository.listing(self.res.pool, application_id)
        return json_response({"application_id": application_id, "keys": keys})


async def _require_admin(request: web.Request) -> None:
    """The suite's admin guard (ADR 0002, "Admin API guard"); closed until it exists."""
    try:
        from shared.admin_auth import require_admin
    except ModuleNotFoundError as exc:
        if exc.name != "shared.admin_auth":
            raise
        raise ApiError(503, "temporarily_unavailable", "Admin authentication is not configured.") from None
    await require_admin(request)
