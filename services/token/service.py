"""The token service: tenants, applications, clients, grants; the OAuth 2.0 endpoints."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.runtime import Resources, ServiceSpec

from . import admin, events, internal  # noqa: F401 - events registers the event types
from .endpoints.discovery import Discovery
from .endpoints.oauth import OAuthEndpoints
from .issuer import Issuer
from .keyring import KeyRing
from .projections import PROJECTIONS
from .repository import Registry
from .tokens import TokenStore


async def setup(app: web.Application, res: Resources) -> None:
    settings = res.settings
    registry = Registry(res.pool, res.store, settings)
    keyring = KeyRing(res.http, settings.keys_service_url, settings.internal_token)
    issuer = Issuer(keyring, TokenStore(res.redis, settings.secret_pepper), res.store)
    oauth = OAuthEndpoints(registry, issuer, settings.secret_pepper)
    discovery = Discovery(registry)

    # Key changes reach every replica at once; after a NATS outage, forget everything.
    await res.nc.subscribe("tessera.keys.>", cb=keyring.on_key_event)
    res.on_reconnect.append(keyring.forget)

    admin.add_routes(app, registry)
    internal.add_routes(app, registry)
    r = app.router
    r.add_post("/{application}/token", oauth.endpoint(oauth.token))
    r.add_post("/{application}/introspect", oauth.endpoint(oauth.introspect))
    r.add_post("/{application}/revoke", oauth.endpoint(oauth.revoke))
    r.add_get("/{application}/.well-known/openid-configuration", discovery)
    r.add_get("/{application}/.well-known/oauth-authorization-server", discovery)
    r.add_get("/.well-known/oauth-authorization-server/{application}", discovery)  # RFC 8414 §3.1


SPEC = ServiceSpec(name="token", migrations=Path(__file__).parent / "migrations",
                   projections=PROJECTIONS, setup=setup)
