"""Authorization server metadata per issuer (RFC 8414, OpenID Connect Discovery 1.0)."""
from __future__ import annotations

from aiohttp import web

from ..model import Application
from ..oauth.discovery import metadata
from ..lookup import RegistryCache
from .common import json_response, not_found

CACHE = {"Cache-Control": "public, max-age=60"}
# Features switched on as later issues land (see services/token/oauth/discovery.py).
CAPABILITIES: tuple[str, ...] = ()


def endpoints_of(app: Application) -> dict[str, str]:
    return {
        "token": f"{app.issuer}/token",
        "jwks": f"{app.issuer}/jwks.json",
        "introspection": f"{app.issuer}/introspect",
        "revocation": f"{app.issuer}/revoke",
    }


class Discovery:
    def __init__(self, registry: RegistryCache) -> None:
        self.registry = registry

    async def __call__(self, request: web.Request) -> web.Response:
        app = await self.registry.application(request.match_info["application"])
        if app is None or not app.active:
            return not_found()
        return json_response(metadata(app, endpoints=endpoints_of(app), capabilities=CAPABILITIES),
                             headers=CACHE)
