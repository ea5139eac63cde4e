"""Internal routes of the token service, for the suite's own tools (never routed publicly).

``POST /internal/bootstrap`` (``Authorization: Bearer $TESSERA_INTERNAL_TOKEN``) sets up the
suite's administration: tenant ``system``, its application ``system`` (JWT access tokens,
offering the scope ``tessera:admin``), and an admin client — a confidential client with the
client_credentials grant and the scope ``tessera:admin`` — whose secret is answered once:
``{"issuer", "token_endpoint", "client_id", "client_secret"}``. The first admin client is the
system application's default client (``client_id`` ``system``). Once an admin client exists,
another is made only when the body says ``{"new_client": true}``; otherwise 409 ``conflict``.
Every step is idempotent, so a bootstrap cut short can simply be run again.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from shared.crypto import equal
from shared.http.middleware import json_response

from shared.admin_api import error_response, json_body, only
from shared.domain_errors import STATUS
from .domain import CONFLICT, DomainError
from .domain.application import ADMIN_SCOPE, SYSTEM_APPLICATION
from .domain.tenant import SYSTEM_TENANT
from .repository import Registry

SYSTEM_SETTINGS = {"access_token_format": "jwt"}


def _authorized(request: web.Request, expected: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and equal(token.strip(), expected)


class Bootstrap:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._lock = asyncio.Lock()   # one bootstrap at a time in this process

    async def handle(self, request: web.Request) -> web.Response:
        if not _authorized(request, self.registry.settings.internal_token):
            return json_response({"error": "invalid_token", "error_description": "The internal token is required."},
                                 status=401, headers={"WWW-Authenticate": 'Bearer realm="tessera-internal"'})
        try:
            body = only(await json_body(request, required=False), ("new_client",), "bootstrap")
            new_client = body.get("new_client", False)
            if not isinstance(new_client, bool):
                return error_response(400, "invalid_request", "new_client must be true or false")
            async with self._lock:
                return await self._bootstrap(new_client)
        except DomainError as exc:
            return error_response(STATUS[exc.code], exc.code, exc.message)

    async def _bootstrap(self, new_client: bool) -> web.Response:
        registry = self.registry
        if await registry.tenant(SYSTEM_TENANT) is None:
            await _tolerating_conflict(registry.create_tenant(SYSTEM_TENANT, "Tessera system", system=True))
        app = await registry.application(SYSTEM_APPLICATION)
        if app is None:
            try:
                created = await registry.create_application(
                    SYSTEM_TENANT, SYSTEM_APPLICATION, "Tessera administration", settings=SYSTEM_SETTINGS,
                    scopes=[ADMIN_SCOPE], grant_types=["client_credentials"], system=True)
            except DomainError as exc:
                if exc.code != CONFLICT:     # another replica bootstrapped meanwhile: go on below
                    raise
            else:
                return _credentials(created.application.issuer, created.default_client.client_id,
                                    created.client_secret)
            app = await registry.application(SYSTEM_APPLICATION)
        if await registry.admin_client_ids() and not new_client:
            return error_response(STATUS[CONFLICT], CONFLICT, "already bootstrapped: an admin client exists "
                                            "(ask for another with new_client)")
        created_client = await registry.create_client(
            SYSTEM_APPLICATION, name="Tessera admin", tenant_id=SYSTEM_TENANT,
            token_endpoint_auth_method="client_secret_basic", grant_types=["client_credentials"],
            scopes=[ADMIN_SCOPE])
        return _credentials(app.issuer, created_client.client.client_id, created_client.client_secret)


async def _tolerating_conflict(awaitable) -> None:
    try:
        await awaitable
    except DomainError as exc:
        if exc.code != CONFLICT:
            raise


def _credentials(issuer: str, client_id: str, client_secret: str | None) -> web.Response:
    return json_response({"issuer": issuer, "token_endpoint": f"{issuer}/token", "client_id": client_id,
                          "client_secret": client_secret},
                         status=201, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def add_routes(app: web.Application, registry: Registry) -> None:
    app.router.add_post("/internal/bootstrap", Bootstrap(registry).handle)
