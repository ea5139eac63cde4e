"""The token service: tenants, applications, clients, grants; the OAuth 2.0 endpoints."""
from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from aiohttp import web

from shared.runtime import Resources, ServiceSpec

from . import admin, events, internal  # noqa: F401 - events registers the event types
from .codes import SignInStore
from .endpoints.authorize import AuthorizeEndpoints
from .endpoints.discovery import Discovery
from .endpoints.oauth import OAuthEndpoints
from .endpoints.user_grants import UserGrantEndpoints
from .grant_log import GrantLog
from .issuer import Issuer
from .keyring import KeyRing
from .lookup import INVALIDATE_SUBJECT, RegistryCache
from .projections import PROJECTIONS
from .refresh_sweep import FIRST_AFTER_S, RefreshTokenSweep, SweepCollector
from .refresh_tokens import RefreshTokens, TokenLog
from .repository import Registry
from .tokens import TokenStore
from .user_tokens import UserTokens


async def setup(app: web.Application, res: Resources) -> None:
    settings = res.settings
    cache = RegistryCache(res.pool)

    async def registry_changed(scope: dict) -> None:
        """This process changed the registry: drop its cached copies, tell the replicas now."""
        cache.on_change(scope)
        await res.nc.publish(INVALIDATE_SUBJECT, orjson.dumps(scope))
        await res.nc.flush(timeout=2)

    registry = Registry(res.pool, res.store, settings, on_change=registry_changed)
    keyring = KeyRing(res.http, settings.keys_service_url, settings.internal_token)
    token_store = TokenStore(res.redis, settings.secret_pepper)
    issuer = Issuer(keyring, token_store, res.store, GrantLog(res.store, metrics=res.metrics))
    res.on_close.extend([issuer.grants.close, token_store.redis.close])
    # The code flow and refresh tokens (docs/oauth.md).
    sign_ins = SignInStore(res.redis, token_store.redis, settings.secret_pepper)   # one pipelined connection
    refresh = RefreshTokens(res.pool, metrics=res.metrics)
    token_log = TokenLog(res.store, metrics=res.metrics)
    res.on_close.extend([refresh.close, token_log.close])
    sweep = RefreshTokenSweep(res.pool, retention=settings.refresh_token_retention,
                              interval=settings.refresh_token_sweep_interval,
                              first_after=min(FIRST_AFTER_S, settings.refresh_token_sweep_interval))
    res.metrics.registry.register(SweepCollector(settings.service, sweep))

    async def sweeping(_app: web.Application):
        task = asyncio.create_task(sweep.run(), name="refresh-token-sweep")
        yield
        sweep.stop()
        await task

    app.cleanup_ctx.append(sweeping)
    users = UserGrantEndpoints(cache, sign_ins, UserTokens(keyring, token_store, res.store, token_log, refresh),
                               refresh)
    authorize = AuthorizeEndpoints(cache, sign_ins, issuer.grants, settings.public_url)
    oauth = OAuthEndpoints(cache, issuer, settings.secret_pepper, users)
    discovery = Discovery(cache, settings.public_url)

    await res.nc.subscribe(INVALIDATE_SUBJECT, cb=cache.on_broadcast)
    for aggregate in ("tenant", "application", "client"):
        await res.nc.subscribe(f"tessera.token.*.{aggregate}.>", cb=cache.on_event)
    res.on_reconnect.append(cache.clear)

    # Key changes reach every replica at once; after a NATS outage, forget everything.
    await res.nc.subscribe("tessera.keys.>", cb=keyring.on_key_event)
    res.on_reconnect.append(keyring.forget)

    admin.add_routes(app, registry, on_application_created=lambda a: keyring.prepare(a.id, a.tenant_id))
    internal.add_routes(app, registry)
    r = app.router
    r.add_route("GET", "/{application}/authorize", authorize.authorize)
    r.add_route("POST", "/{application}/authorize", authorize.authorize)
    r.add_get("/{application}/authorize/resume", authorize.resume)
    r.add_post("/{application}/token", oauth.endpoint(oauth.token))
    r.add_post("/{application}/introspect", oauth.endpoint(oauth.introspect))
    r.add_post("/{application}/revoke", oauth.endpoint(oauth.revoke))
    r.add_get("/{application}/.well-known/openid-configuration", discovery)
    r.add_get("/{application}/.well-known/oauth-authorization-server", discovery)
    r.add_get("/.well-known/oauth-authorization-server/{application}", discovery)  # RFC 8414 §3.1
    # An application with a custom-host issuer (https://login.example.com) is found by the host.
    r.add_route("GET", "/authorize", authorize.authorize)
    r.add_route("POST", "/authorize", authorize.authorize)
    r.add_get("/authorize/resume", authorize.resume)
    r.add_post("/token", oauth.endpoint(oauth.token))
    r.add_post("/introspect", oauth.endpoint(oauth.introspect))
    r.add_post("/revoke", oauth.endpoint(oauth.revoke))
    r.add_get("/.well-known/openid-configuration", discovery)
    r.add_get("/.well-known/oauth-authorization-server", discovery)


SPEC = ServiceSpec(name="token", migrations=Path(__file__).parent / "migrations",
                   projections=PROJECTIONS, setup=setup)
