"""Prometheus metrics of the control plane, in a registry of its own per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.created = Counter(
            "doppel_sandboxes_created", "Sandboxes created", registry=self.registry
        )
        self.failed = Counter(
            "doppel_sandboxes_failed", "Sandboxes that failed to start", registry=self.registry
        )
        self.create_seconds = Histogram(
            "doppel_sandbox_create_seconds",
            "Create-to-ready latency",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        self.live = Gauge("doppel_sandboxes_live", "Live sandboxes", registry=self.registry)
        self.requests = Gauge(
            "doppel_mock_requests", "Mock requests served by live instances", registry=self.registry
        )
