"""Prometheus metrics of the control plane, in a registry of its own per app.

Label sets are bounded: templates, operationIds of their specs, status classes, route
templates, store operations and error slugs. A sandbox id label is opt-in
(`DOPPEL_METRICS_SANDBOX_LABELS`): every sandbox would otherwise add series that outlive it
in Prometheus, and its own counts are in its `usage`.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from doppel.dataplane import ServedHook
from doppel.dataplane.app import Receive, Scope, Send
from doppel.errors import DoppelError, SandboxFailedError
from doppel.sandboxes import SandboxService
from doppel.store import SandboxStatus

NO_OPERATION = "none"  # no operation of the spec answered: an override of its own, or a 404
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = ("1xx", "1xx", "2xx", "3xx", "4xx", "5xx")  # by status // 100, 0 and 1 alike
# A mock answer takes tens of microseconds to a few milliseconds; the control plane's calls,
# a millisecond to seconds (a create probes every service, a template upload compiles).
MOCK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1)


class Metrics:
    """Every metric the control plane exposes; it is also the sandbox service's observer."""

    def __init__(self, *, sandbox_labels: bool = False) -> None:
        self.registry = CollectorRegistry()
        self.sandbox_labels = sandbox_labels
        self.traffic = _Traffic(sandbox_labels)
        self.registry.register(self.traffic)
        self.api_seconds = Histogram(
            "doppel_api_request_seconds",
            "Control-plane API calls, by method, route template and status class",
            ("method", "route", "status"),
            registry=self.registry,
            buckets=API_BUCKETS,
        )
        self.created = Counter(
            "doppel_sandboxes_created", "Sandboxes created", registry=self.registry
        )
        self.create_failures = Counter(
            "doppel_sandbox_create_failures",
            "Creates refused or failed, by reason class (the error's slug; for a sandbox that "
            "failed to start, the slug of the cause)",
            ("reason",),
            registry=self.registry,
        )
        self.create_seconds = Histogram(
            "doppel_sandbox_create_seconds",
            "Create-to-ready latency",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        self.ends = Counter(
            "doppel_sandboxes_ended",
            "Running sandboxes ended, by reason: expired or deleted",
            ("reason",),
            registry=self.registry,
        )
        for reason in (SandboxStatus.EXPIRED, SandboxStatus.DELETED):
            self.ends.labels(reason.value)  # both series exist from the start, at 0
        self.reaper_lag = Gauge(
            "doppel_reaper_lag_seconds",
            "How late the last sandbox the reaper expired was, past its expires_at",
            registry=self.registry,
        )
        self.reaper_seconds = Histogram(
            "doppel_reaper_pass_seconds",
            "Duration of one reaper pass (expiries, journal flush, purge)",
            registry=self.registry,
            buckets=STORE_BUCKETS,
        )
        self.store_seconds = Histogram(
            "doppel_store_operation_seconds",
            "Store calls, by operation",
            ("operation",),
            registry=self.registry,
            buckets=STORE_BUCKETS,
        )

    def watch(self, service: SandboxService) -> None:
        """Expose `service`'s live sandboxes, services and journal backlog, read at scrape."""
        self.registry.register(_Live(service))

    # -- the sandbox service's observer -----------------------------------------------------

    def served(self, template: str, sandbox_id: str) -> ServedHook:
        return self.traffic.served(template, sandbox_id)

    def ended(self, sandbox_id: str, status: SandboxStatus) -> None:
        self.ends.labels(status.value).inc()
        self.traffic.retire(sandbox_id)

    def reaped(self, lag_seconds: float) -> None:
        self.reaper_lag.set(lag_seconds)

    # -- what the API and the store report --------------------------------------------------

    def create_failed(self, exc: BaseException) -> None:
        self.create_failures.labels(reason_class(exc)).inc()

    def store_call(self, operation: str, seconds: float) -> None:
        self.store_seconds.labels(operation).observe(seconds)


def reason_class(exc: BaseException) -> str:
    """A bounded name for why a create did not succeed: the error's slug, or its cause's."""
    if isinstance(exc, SandboxFailedError) and isinstance(exc.__cause__, DoppelError):
        return exc.__cause__.slug
    return exc.slug if isinstance(exc, DoppelError) else DoppelError.slug


class _Latency:
    """One template's mock answer latencies, as histogram buckets (not cumulative)."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(MOCK_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0


class _Served:
    """Counts the answers of one template (of one sandbox, with sandbox labels) in plain ints.

    The mock path is the hot one, and it runs on the event loop's one thread, as `/metrics`
    does: no lock is needed, so an answer costs two lookups, a bisect and three additions,
    not the locked increments of prometheus_client's children. `_Traffic` exposes them.
    """

    __slots__ = ("by_operation", "latency")

    def __init__(self, latency: _Latency) -> None:
        self.latency = latency
        self.by_operation: dict[str | None, list[int]] = {}  # per status class

    def __call__(self, operation: str | None, status: int, seconds: float) -> None:
        counts = self.by_operation.get(operation)
        if counts is None:
            counts = self.by_operation[operation] = [0] * len(STATUS_CLASSES)
        counts[min(status // 100, len(STATUS_CLASSES) - 1)] += 1
        latency = self.latency
        latency.buckets[bisect.bisect_left(MOCK_BUCKETS, seconds)] += 1  # le: bound >= value
        latency.total += seconds


class _Traffic(Collector):
    """`doppel_mock_requests_total` and `doppel_mock_request_seconds`, from the `_Served`
    counts, read at scrape."""

    def __init__(self, sandbox_labels: bool) -> None:
        self.sandbox_labels = sandbox_labels
        self._served: dict[tuple[str, str], _Served] = {}  # (template, sandbox id or "")
        self._latency: dict[str, _Latency] = {}  # by template, kept when a sandbox ends

    def served(self, template: str, sandbox_id: str) -> _Served:
        key = (template, sandbox_id if self.sandbox_labels else "")
        served = self._served.get(key)
        if served is None:
            latency = self._latency.setdefault(template, _Latency())
            served = self._served[key] = _Served(latency)
        return served

    def retire(self, sandbox_id: str) -> None:
        """With sandbox labels, an ended sandbox's series go: else they would stay forever."""
        if self.sandbox_labels:
            for key in [k for k in self._served if k[1] == sandbox_id]:
                del self._served[key]

    def collect(self) -> Iterator[Metric]:
        labels = ["template", "operation", "status"]
        if self.sandbox_labels:
            labels.append("sandbox_id")
        requests = CounterMetricFamily(
            "doppel_mock_requests",
            "Mock requests answered, by template, operationId and status class",
            labels=labels,
        )
        for (template, sandbox_id), served in self._served.items():
            extra = (sandbox_id,) if self.sandbox_labels else ()
            for operation, counts in served.by_operation.items():
                for status_class, count in _classes(counts):
                    requests.add_metric(
                        (template, operation or NO_OPERATION, status_class, *extra), count
                    )
        yield requests
        seconds = HistogramMetricFamily(
            "doppel_mock_request_seconds",
            "Time to answer a mock request (engine and state, before the bytes are sent)",
            labels=["template"],
        )
        for template, latency in self._latency.items():
            cumulative, buckets = 0, []
            for bound, count in zip((*MOCK_BUCKETS, float("inf")), latency.buckets, strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            seconds.add_metric([template], buckets, latency.total)
        yield seconds


def _classes(counts: list[int]) -> Iterable[tuple[str, int]]:
    # Index 0 (a status below 100) is folded into 1xx; an unused class has no series.
    merged = [counts[0] + counts[1], *counts[2:]]
    return ((f"{i + 1}xx", n) for i, n in enumerate(merged) if n)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class _Live(Collector):
    """Gauges computed at scrape from what the service runs: nothing to keep in step."""

    def __init__(self, service: SandboxService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        running = self.service.running
        yield GaugeMetricFamily("doppel_sandboxes_live", "Live sandboxes", value=len(running))
        services = GaugeMetricFamily(
            "doppel_services_live", "Live service instances, by template", labels=("template",)
        )
        by_template: dict[str, int] = {}
        for sandbox in running.values():
            for instance in sandbox.instances.values():
                by_template[instance.name] = by_template.get(instance.name, 0) + 1
        for template, count in sorted(by_template.items()):
            services.add_metric((template,), count)
        yield services
        yield GaugeMetricFamily(
            "doppel_journal_backlog_events",
            "Journal events served but not yet written to the store",
            value=self.service.journal_backlog,
        )


class TimedRoutes:
    """ASGI middleware: the latency of every control-plane call, labelled by the route
    template the router matched (`/v1/sandboxes/{sandbox_id}`), never by the raw path."""

    def __init__(self, app: object, metrics: Metrics) -> None:
        self.app = app
        self.histogram = metrics.api_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[operator]
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def sent(message: dict[str, object]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])  # type: ignore[call-overload]
            await send(message)

        try:
            await self.app(scope, receive, sent)  # type: ignore[operator]
        finally:
            route = scope.get("route")  # set on this scope by the router that matched it
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.histogram.labels(method, template, STATUS_CLASSES[min(status // 100, 5)]).observe(
                time.perf_counter() - started
            )
