"""The userinfo service: read models of users' claims and of applications, built from other
services' events; ``{public_url}/{application}/userinfo``. See docs/userinfo.md.
"""
from __future__ import annotations

from pathlib import Path

import orjson
from aiohttp import web

from shared.jwks_cache import RemoteJwks
from shared.redis_batch import RedisBatch
from shared.runtime import Resources, ServiceSpec

from .access import AccessTokens
from .endpoint import UserinfoEndpoint
from .lookup import Applications, TokenStore, Users
from .read_model import APPLICATION_SUBJECT, CONSUMERS, TENANT_SUBJECT, USER_SUBJECT
from .rebuild import replay_command

KEY_EVENTS = "tessera.keys.*.signing_key.>"


def _on_key_event(jwks: RemoteJwks):
    """Any key change of an application (a revocation above all) drops its cached JWKS."""
    async def handle(msg) -> None:
        try:
            application = orjson.loads(msg.data).get("application")
        except (orjson.JSONDecodeError, AttributeError):
            application = None
        jwks.forget(application if isinstance(application, str) else None)
    return handle


async def setup(app: web.Application, res: Resources) -> None:
    """Routes and workers of the service."""
    for name, subject, handler in CONSUMERS:
        res.consume(name, subject, handler)
    settings = res.settings
    jwks = RemoteJwks(res.http, settings.keys_service_url)
    batch = RedisBatch(res.redis)
    res.on_close.append(batch.close)
    tokens = TokenStore(batch, settings.secret_pepper)
    applications = Applications(res.pool)
    users = Users(res.pool)
    endpoint = UserinfoEndpoint(applications, AccessTokens(jwks.keys, tokens.is_revoked, tokens.opaque), users)

    await res.nc.subscribe(KEY_EVENTS, cb=_on_key_event(jwks))
    await res.nc.subscribe(APPLICATION_SUBJECT, cb=applications.on_event)
    await res.nc.subscribe(TENANT_SUBJECT, cb=applications.on_event)
    await res.nc.subscribe(USER_SUBJECT, cb=users.on_event)
    # What was missed while NATS was away: forget it all.
    res.on_reconnect.append(jwks.forget)
    res.on_reconnect.append(applications.forget)
    res.on_reconnect.append(users.forget)
    app.router.add_routes(endpoint.routes())


SPEC = ServiceSpec(name="userinfo", migrations=Path(__file__).parent / "migrations", projections=(), setup=setup,
                   rebuild=replay_command)
