"""Middlewares every service shares: request ids, access log, metrics, and no 500 on bad input."""
from __future__ import annotations

import asyncio
import re
import time
import uuid

import orjson
import structlog
from aiohttp import web

from .. import context
from ..logging import get_logger
from ..metrics import Metrics

log = get_logger("tessera.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REQUEST_ID_HEADER = "X-Request-Id"


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")


class InFlight:
    """Counts requests being handled, so shutdown can wait for them to finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


def request_id_middleware(metrics: Metrics, inflight: InFlight):
    @web.middleware
    async def middleware(request: web.Request, handler):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=rid)
        token = context.request_id.set(rid)
        started = time.perf_counter()
        status = 500
        inflight.enter()
        try:
            response = await handler(request)
            status = response.status
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = rid
            raise
        except ConnectionResetError:
            # The client went away mid-request: nothing to answer, nothing wrong with the server.
            status = 499
            log.info("http.client_disconnected", method=request.method, path=request.path)
            raise
        except Exception:  # noqa: BLE001 - the one place an unexpected error becomes server_error
            log.exception("http.unhandled_error", method=request.method, path=request.path)
            response = json_response({"error": "server_error",
                                      "error_description": "The server met an unexpected condition.",
                                      "request_id": rid}, status=500)
        finally:
            inflight.leave()
            elapsed = time.perf_counter() - started
            route = request.match_info.route.resource.canonical if request.match_info.route.resource else "-"
            metrics.requests.labels(metrics.service, route, request.method, str(status)).inc()
            metrics.latency.labels(metrics.service, route).observe(elapsed)
            log.info("http.request", method=request.method, path=request.path, status=status,
                     duration_ms=round(elapsed * 1000, 2))
            context.request_id.reset(token)
            structlog.contextvars.unbind_contextvars("request_id")
        response.headers[REQUEST_ID_HEADER] = rid
        return response

    return middleware
