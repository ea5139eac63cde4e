"""Authorization server metadata per issuer (RFC 8414, OpenID Connect Discovery 1.0)."""
from __future__ import annotations

from aiohttp import web

from ..model import Application
from ..oauth.discovery import metadata
from ..lookup import RegistryCache
from .common import json_response, not_found, request_origin

CACHE = {"Cache-Control": "public, max-age=60"}
# Features switched on as later issues land (see services/token/oauth/discovery.py).
CAPABILITIES: tuple[str, ...] = ("authorization_code", "pkce", "iss_parameter", "refresh_token", "public_clients",
                                 "openid", "userinfo")


def endpoints_of(app: Application, public_url: str) -> dict[str, str]:
    """Endpoints under the issuer; the JWKS is served by the keys service under the public URL."""
    return {
        "authorization": f"{app.issuer}/authorize",
        "userinfo": f"{app.issuer}/userinfo",
        "token": f"{app.issuer}/token",
        "jwks": f"{public_url}/{app.id}/jwks.json",
        "introspection": f"{app.issuer}/introspect",
        "revocation": f"{app.issuer}/revoke",
    }


class Discovery:
    def __init__(self, registry: RegistryCache, public_url: str) -> None:
        self.registry = registry
        self.public_url = public_url

    async def __call__(self, request: web.Request) -> web.Response:
        app = await self.registry.for_request(request.match_info.get("application"), *request_origin(request))
        if app is None or not app.active:
            return not_found()
        return json_response(metadata(app, endpoints=endpoints_of(app, self.public_url),
                                      capabilities=CAPABILITIES), headers=CACHE)
