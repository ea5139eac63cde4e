"""Prometheus metrics of one service process."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, CONTENT_TYPE_LATEST
from prometheus_client import gc_collector, platform_collector, process_collector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


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
        self.batch_seconds = Histogram("tessera_batch_seconds", "Time of one batched round trip "
                                       "(a group commit, a batched read), from sending it to its answer",
                                       ["service", "log"], registry=self.registry,
                                       buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
        self.service = service

    def watch_outbox(self, fast_path, relay) -> None:
        """Export the outbox's counters (read at scrape time: nothing on the publishing path)."""
        self.registry.register(_OutboxCollector(self.service, fast_path, relay))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _OutboxCollector:
    """How events leave this process for NATS: by its fast path or its sweep (ADR 0004)."""

    def __init__(self, service: str, fast_path, relay) -> None:
        self.service, self.fast_path, self.relay = service, fast_path, relay

    def collect(self):
        published = CounterMetricFamily("tessera_outbox_published", "Events published to JetStream and acknowledged",
                                        labels=["service", "path"])
        published.add_metric([self.service, "fast"], self.fast_path.published)
        published.add_metric([self.service, "sweep"], self.relay.published)
        left = CounterMetricFamily("tessera_outbox_left_to_sweep", "Events the fast path left to the sweep "
                                   "(NATS down, no ack, queue full)", labels=["service"])
        left.add_metric([self.service], self.fast_path.left)
        dead = CounterMetricFamily("tessera_outbox_dead_letters", "Outbox rows set aside as unpublishable",
                                   labels=["service"])
        dead.add_metric([self.service], self.relay.dead)
        queued = GaugeMetricFamily("tessera_outbox_fast_path_queued", "Committed events waiting for the fast path",
                                   labels=["service"])
        queued.add_metric([self.service], self.fast_path.queued)
        leading = GaugeMetricFamily("tessera_outbox_sweep_leader", "1 when this process is its service's sweep",
                                    labels=["service"])
        leading.add_metric([self.service], 1 if self.relay.leading else 0)
        return [published, left, dead, queued, leading]
