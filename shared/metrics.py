"""Prometheus metrics of one service process."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, CONTENT_TYPE_LATEST
from prometheus_client import gc_collector, platform_collector, process_collector


class Metrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        self.requests = Counter("tessera_http_requests_total", "HTTP requests answered",
                                ["service", "route", "method", "status"], registry=self.registry)
        self.latency = Histogram("tessera_http_request_seconds", "HTTP request latency",
                                 ["service", "route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.batches = Counter("tessera_event_batches_total", "Group-committed event batches written",
                               ["service", "log"], registry=self.registry)
        self.batched = Counter("tessera_event_batched_total", "Events written in group-committed batches",
                               ["service", "log"], registry=self.registry)
        self.service = service

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
