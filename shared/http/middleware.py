"""Middlewares every service shares: request ids, access log, metrics, and no 500 on bad input."""
from __future__ import annotations

import asyncio
import logging
import re
import time

import orjson
from aiohttp import web

from .. import context, crypto
from ..logging import enabled, get_logger
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


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _RequestMetrics:
    """The request counter and latency histogram, their labelled children kept per route.

    ``labels()`` takes a lock and validates its arguments on every call; a service answers a
    handful of (route, method, status) combinations, so each child is looked up once.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._counters: dict[tuple[str, str, int], object] = {}
        self._histograms: dict[str, object] = {}

    def observe(self, route: str, method: str, status: int, elapsed: float) -> None:
        if method not in _METHODS:
            method = "other"     # a client chooses the method: keep the label set bounded
        counter = self._counters.get((route, method, status))
        if counter is None:
            m = self.metrics
            counter = self._counters[(route, method, status)] = m.requests.labels(m.service, route, method,
                                                                                   str(status))
        counter.inc()
        histogram = self._histograms.get(route)
        if histogram is None:
            histogram = self._histograms[route] = self.metrics.latency.labels(self.metrics.service, route)
        histogram.observe(elapsed)


def request_id_middleware(metrics: Metrics, inflight: InFlight):
    """Request id (the caller's ``X-Request-Id`` when well formed, else 128 random bits), access
    log line, metrics, and the one place an unexpected error becomes a 500 ``server_error``.

    Log lines pick the request id up from :data:`shared.context.request_id` (see
    ``shared.logging``); events record it too.
    """
    observed = _RequestMetrics(metrics)

    @web.middleware
    async def middleware(request: web.Request, handler):
        incoming = request.headers.get(REQUEST_ID_HEADER)
        rid = incoming if incoming and _REQUEST_ID.match(incoming) else crypto.new_request_id()
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
            resource = request.match_info.route.resource
            observed.observe(resource.canonical if resource is not None else "-", request.method, status, elapsed)
            if enabled(logging.INFO):
                log.info("http.request", method=request.method, path=request.path, status=status,
                         duration_ms=round(elapsed * 1000, 2))
            context.request_id.reset(token)
        response.headers[REQUEST_ID_HEADER] = rid
        return response

    return middleware
