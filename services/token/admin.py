"""The admin JSON API of tenants, applications and clients (``/admin/...``; ``openapi.yaml``).

Every route but the OpenAPI document first admits the caller with
:func:`shared.admin_auth.require_admin` (an access token of the system application with the
scope ``tessera:admin``). Errors are one stable object, ``{"error", "error_description"}``:
400 ``invalid_request``, 404 ``not_found``, 409 ``conflict``, 410 ``gone``. Responses never
carry a secret hash; a client's secrets are listed by digest and deadline, and a new secret is
in the create or rotate response only, once.

Application and client routes take an optional ``?tenant=`` that scopes the request to one
tenant: a resource of another tenant is then ``not_found``, as if it did not exist.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web

from shared.admin_api import Handler, guarded, json_body, only
from shared.crypto import digest
from shared.http.middleware import json_response

from .domain import INVALID_REQUEST, DomainError
from .domain.application import settings_to_data
from .domain.client import format_time
from .model import Application, Client, Tenant
from .repository import DEFAULT_PAGE, Page, Registry

OPENAPI = Path(__file__).with_name("openapi.yaml")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}   # responses that carry a secret


# Representations ------------------------------------------------------------------------------
def tenant_json(t: Tenant) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "status": t.status, "version": t.version}


def application_json(a: Application) -> dict[str, Any]:
    return {"id": a.id, "tenant_id": a.tenant_id, "name": a.name, "issuer": a.issuer, "status": a.status,
            "settings": settings_to_data(a.settings), "scopes": list(a.scopes), "version": a.version}


def client_json(c: Client) -> dict[str, Any]:
    return {
        "application_id": c.application_id, "client_id": c.client_id, "tenant_id": c.tenant_id,
        "name": c.name, "status": c.status, "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "grant_types": list(c.grant_types), "redirect_uris": list(c.redirect_uris), "scopes": list(c.scopes),
        "access_token_format": c.access_token_format, "skip_consent": c.skip_consent,
        "secrets": [{"digest": digest(h.hash),
                     "expires_at": None if h.expires_at is None else format_time(h.expires_at)}
                    for h in c.secret_hashes],
        "version": c.version,
    }


def page_json(page: Page, render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return {"items": [render(item) for item in page.items], "next": page.next}


# Request parsing ------------------------------------------------------------------------------
def page_query(request: web.Request) -> dict[str, Any]:
    raw = request.query.get("limit")
    try:
        limit = DEFAULT_PAGE if raw is None else int(raw)
    except ValueError:
        raise DomainError(INVALID_REQUEST, "limit must be an integer") from None
    return {"limit": limit, "after": request.query.get("after") or None}


def tenant_scope(request: web.Request) -> str | None:
    """The tenant the caller scopes an application or client request to (``?tenant=``)."""
    return request.query.get("tenant") or None


class AdminAPI:
    def __init__(self, registry: Registry,
                 on_application_created: Callable[[Application], Awaitable[None]] | None = None) -> None:
        self.registry = registry
        self.on_application_created = on_application_created

    # Tenants ----------------------------------------------------------------------------------
    async def list_tenants(self, request: web.Request) -> web.Response:
        return json_response(page_json(await self.registry.list_tenants(**page_query(request)), tenant_json))

    async def create_tenant(self, request: web.Request) -> web.Response:
        body = only(await json_body(request), ("id", "name"), "tenant")
        tenant = await self.registry.create_tenant(body.get("id"), body.get("name"))
        return json_response(tenant_json(tenant), status=201, headers={"Location": f"/admin/tenants/{tenant.id}"})

    async def show_tenant(self, request: web.Request) -> web.Response:
        return json_response(tenant_json(await self.registry.show_tenant(request.match_info["tenant"])))

    async def update_tenant(self, request: web.Request) -> web.Response:
        tenant = await self.registry.update_tenant(request.match_info["tenant"], await json_body(request))
        return json_response(tenant_json(tenant))

    async def disable_tenant(self, request: web.Request) -> web.Response:
        return json_response(tenant_json(await self.registry.disable_tenant(request.match_info["tenant"])))

    async def enable_tenant(self, request: web.Request) -> web.Response:
        return json_response(tenant_json(await self.registry.enable_tenant(request.match_info["tenant"])))

    async def delete_tenant(self, request: web.Request) -> web.Response:
        await self.registry.delete_tenant(request.match_info["tenant"])
        return web.Response(status=204)

    # Applications -----------------------------------------------------------------------------
    async def list_applications(self, request: web.Request) -> web.Response:
        page = await self.registry.list_applications(request.match_info["tenant"], **page_query(request))
        return json_response(page_json(page, application_json))

    async def create_application(self, request: web.Request) -> web.Response:
        body = only(await json_body(request),
                    ("id", "name", "issuer", "settings", "scopes", "grant_types", "redirect_uris"), "application")
        created = await self.registry.create_application(
            request.match_info["tenant"], body.get("id"), body.get("name"), issuer=body.get("issuer"),
            settings=body.get("settings"), scopes=body.get("scopes"), grant_types=body.get("grant_types"),
            redirect_uris=body.get("redirect_uris"))
        app = created.application
        if self.on_application_created is not None:
            await self.on_application_created(app)
        return json_response(
            {**application_json(app),
             "default_client": {**client_json(created.default_client), "client_secret": created.client_secret}},
            status=201, headers={"Location": f"/admin/applications/{app.id}", **NO_STORE})

    async def show_application(self, request: web.Request) -> web.Response:
        app = await self.registry.show_application(request.match_info["application"],
                                                   tenant_id=tenant_scope(request))
        return json_response(application_json(app))

    async def update_application(self, request: web.Request) -> web.Response:
        app = await self.registry.update_application(request.match_info["application"], await json_body(request),
                                                     tenant_id=tenant_scope(request))
        return json_response(application_json(app))

    async def disable_application(self, request: web.Request) -> web.Response:
        app = await self.registry.disable_application(request.match_info["application"],
                                                      tenant_id=tenant_scope(request))
        return json_response(application_json(app))

    async def enable_application(self, request: web.Request) -> web.Response:
        app = await self.registry.enable_application(request.match_info["application"],
                                                     tenant_id=tenant_scope(request))
        return json_response(application_json(app))

    async def delete_application(self, request: web.Request) -> web.Response:
        await self.registry.delete_application(request.match_info["application"], tenant_id=tenant_scope(request))
        return web.Response(status=204)

    # Clients ----------------------------------------------------------------------------------
    async def list_clients(self, request: web.Request) -> web.Response:
        page = await self.registry.list_clients(request.match_info["application"], tenant_id=tenant_scope(request),
                                                **page_query(request))
        return json_response(page_json(page, client_json))

    async def create_client(self, request: web.Request) -> web.Response:
        fields = ("name", "token_endpoint_auth_method", "grant_types", "redirect_uris", "scopes",
                  "access_token_format", "skip_consent")
        body = only(await json_body(request), fields, "client")
        options = {k: v for k, v in body.items() if k != "name" and v is not None}   # null: the default
        created = await self.registry.create_client(
            request.match_info["application"], name=body.get("name"), tenant_id=tenant_scope(request), **options)
        client = created.client
        out = client_json(client)
        if created.client_secret is not None:
            out["client_secret"] = created.client_secret
        return json_response(out, status=201, headers={
            "Location": f"/admin/applications/{client.application_id}/clients/{client.client_id}", **NO_STORE})

    def _client_ids(self, request: web.Request) -> tuple[str, str]:
        return request.match_info["application"], request.match_info["client"]

    async def show_client(self, request: web.Request) -> web.Response:
        client = await self.registry.show_client(*self._client_ids(request), tenant_id=tenant_scope(request))
        return json_response(client_json(client))

    async def update_client(self, request: web.Request) -> web.Response:
        client = await self.registry.update_client(*self._client_ids(request), await json_body(request),
                                                   tenant_id=tenant_scope(request))
        return json_response(client_json(client))

    async def rotate_client_secret(self, request: web.Request) -> web.Response:
        body = only(await json_body(request, required=False), ("grace_seconds",), "rotation")
        rotated = await self.registry.rotate_client_secret(
            *self._client_ids(request), grace_seconds=body.get("grace_seconds", 0), tenant_id=tenant_scope(request))
        return json_response({**client_json(rotated.client), "client_secret": rotated.client_secret},
                             headers=NO_STORE)

    async def disable_client(self, request: web.Request) -> web.Response:
        client = await self.registry.disable_client(*self._client_ids(request), tenant_id=tenant_scope(request))
        return json_response(client_json(client))

    async def enable_client(self, request: web.Request) -> web.Response:
        client = await self.registry.enable_client(*self._client_ids(request), tenant_id=tenant_scope(request))
        return json_response(client_json(client))

    async def delete_client(self, request: web.Request) -> web.Response:
        await self.registry.delete_client(*self._client_ids(request), tenant_id=tenant_scope(request))
        return web.Response(status=204)


async def openapi(_request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API (public: it holds no data)."""
    return web.Response(body=OPENAPI.read_bytes(), content_type="application/yaml",
                        headers={"Cache-Control": "public, max-age=300"})


def add_routes(app: web.Application, registry: Registry,
               on_application_created: Callable[[Application], Awaitable[None]] | None = None) -> None:
    api = AdminAPI(registry, on_application_created)
    r = app.router
    r.add_get("/admin/openapi.yaml", openapi)
    tenant = "/admin/tenants/{tenant}"
    application = "/admin/applications/{application}"
    client = application + "/clients/{client}"
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/admin/tenants", api.list_tenants),
        ("POST", "/admin/tenants", api.create_tenant),
        ("GET", tenant, api.show_tenant),
        ("PATCH", tenant, api.update_tenant),
        ("DELETE", tenant, api.delete_tenant),
        ("POST", tenant + "/disable", api.disable_tenant),
        ("POST", tenant + "/enable", api.enable_tenant),
        ("GET", tenant + "/applications", api.list_applications),
        ("POST", tenant + "/applications", api.create_application),
        ("GET", application, api.show_application),
        ("PATCH", application, api.update_application),
        ("DELETE", application, api.delete_application),
        ("POST", application + "/disable", api.disable_application),
        ("POST", application + "/enable", api.enable_application),
        ("GET", application + "/clients", api.list_clients),
        ("POST", application + "/clients", api.create_client),
        ("GET", client, api.show_client),
        ("PATCH", client, api.update_client),
        ("DELETE", client, api.delete_client),
        ("POST", client + "/rotate-secret", api.rotate_client_secret),
        ("POST", client + "/disable", api.disable_client),
        ("POST", client + "/enable", api.enable_client),
    ]
    for method, path, handler in routes:
        r.add_route(method, path, guarded(handler))
