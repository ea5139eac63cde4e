"""The dev gateway: one public URL in front of the services, routing by path.

In production an ingress does this job (``deploy/``), by the same table
(:mod:`shared.routing`). The gateway streams bodies and passes every header through, adding
``X-Forwarded-*`` so services see the public URL.
"""
from __future__ import annotations

import aiohttp
from aiohttp import web

from shared.routing import PRIVATE, service_for

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "host", "content-length"}
UPSTREAMS = web.AppKey("upstreams", dict)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def _proxy(request: web.Request) -> web.StreamResponse:
    if PRIVATE.match(request.path):
        return web.json_response({"error": "not_found", "error_description": "No such resource."}, status=404)
    upstream = request.app[UPSTREAMS][service_for(request.path)]
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-For"] = request.remote or ""
    body = await request.read()
    try:
        async with request.app[SESSION].request(
            request.method, upstream + request.path_qs, headers=headers, data=body,
            allow_redirects=False,
        ) as upstream_response:
            payload = await upstream_response.read()
            out_headers = [(k, v) for k, v in upstream_response.headers.items()
                           if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"]
            response = web.Response(status=upstream_response.status, body=payload)
            for key, value in out_headers:
                response.headers.add(key, value)
            return response
    except aiohttp.ClientError:
        return web.json_response({"error": "temporarily_unavailable",
                                  "error_description": "The service behind this path is not reachable."},
                                 status=503)


def build_gateway(upstreams: dict[str, str]) -> web.Application:
    app = web.Application(client_max_size=1024 * 256)
    app[UPSTREAMS] = upstreams

    async def session_ctx(app: web.Application):
        app[SESSION] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                             auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", _proxy)
    return app
