"""The middleware every service shares: request ids, metrics, and no 500 leaking details."""
from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared import context
from shared.http.middleware import InFlight, request_id_middleware
from shared.metrics import Metrics


def _app(metrics: Metrics) -> web.Application:
    app = web.Application(middlewares=[request_id_middleware(metrics, InFlight())])

    async def echo(_request: web.Request) -> web.Response:
        return web.json_response({"request_id": context.request_id.get()})

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/broken", broken)
    return app


async def _client(metrics: Metrics) -> TestClient:
    client = TestClient(TestServer(_app(metrics)))
    await client.start_server()
    return client


async def test_a_well_formed_request_id_is_kept_and_any_other_replaced():
    client = await _client(Metrics("test"))
    try:
        kept = await client.get("/echo", headers={"X-Request-Id": "abc-123"})
        assert kept.headers["X-Request-Id"] == "abc-123" == (await kept.json())["request_id"]
        replaced = await client.get("/echo", headers={"X-Request-Id": "bad id\twith spaces"})
        rid = replaced.headers["X-Request-Id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid) and (await replaced.json())["request_id"] == rid
        fresh = await client.get("/echo")
        assert fresh.headers["X-Request-Id"] not in (rid, "abc-123")
    finally:
        await client.close()
    assert context.request_id.get() is None   # nothing leaks out of the request


async def test_an_unexpected_error_is_a_500_server_error_naming_the_request_only():
    client = await _client(Metrics("test"))
    try:
        resp = await client.get("/broken")
        body = await resp.json()
        assert resp.status == 500
        assert body == {"error": "server_error", "error_description": "The server met an unexpected condition.",
                        "request_id": resp.headers["X-Request-Id"]}
    finally:
        await client.close()


async def test_requests_are_counted_by_route_method_and_status_with_client_chosen_methods_bounded():
    metrics = Metrics("test")
    client = await _client(metrics)
    try:
        for method in ("GET", "GET", "POST", "PROPFIND", "PURGE"):
            await client.request(method, "/echo")
        await client.get("/broken")
    finally:
        await client.close()
    text = metrics.render()[0].decode()

    def count(method: str, status: str, route: str = "/echo") -> float:
        pattern = (rf'tessera_http_requests_total\{{method="{method}",route="{route}",service="test",'
                   rf'status="{status}"\}} (\S+)')
        found = re.search(pattern, text)
        return float(found.group(1)) if found else 0.0

    assert count("GET", "200") == 2 and count("POST", "200") == 1
    assert count("other", "200") == 2 and 'method="PURGE"' not in text
    assert count("GET", "500", "/broken") == 1
