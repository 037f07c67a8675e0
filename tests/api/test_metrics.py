"""`/metrics` and the logs of a real `doppel serve`, read the way Prometheus and a log
shipper read them, and the Grafana dashboard held to what `/metrics` exposes."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from doppel.api.metrics import Metrics, reason_class
from doppel.errors import (
    DoppelError,
    InvalidRequestError,
    QuotaExceededError,
    SandboxFailedError,
)
from doppel.runtimes.base import RuntimeReadyError
from doppel.store import SandboxStatus
from tests.servers import ControlPlane

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "doppel-dashboard.json"
FIGMA = {
    "required_services": ["figma"],
    "ttl_minutes": 60,
    "custom_configs": {
        "figma": {
            "mock_responses": {
                "/me": {"id": "user123", "handle": "Test Agent"},
                "/files/BROKEN": {"status": 503, "body": {"status": 503, "err": "down"}},
            }
        }
    },
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: ControlPlane) -> Samples:
    response = httpx.get(f"{server.url}/metrics", trust_env=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return _parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for sample, labels in samples if sample == name]


def create(server: ControlPlane, body: Any, agent: str = "metrics") -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/agents/{agent}/sandboxes", json=body, trust_env=False, timeout=30
    )


def test_mock_requests_are_counted_by_template_operation_and_status_class(
    control_plane: ControlPlane,
) -> None:
    sandbox = create(control_plane, FIGMA).json()
    url = sandbox["services"]["figma"]["url"]
    gateway = f"{control_plane.url}/sandboxes/{sandbox['sandbox_id']}/figma"
    before = scrape(control_plane)
    calls = [
        (f"{url}/v1/me", 200),
        (f"{url}/v1/me", 200),
        (f"{url}/me", 200),  # the override alone: the spec has no /me, so no operation
        (f"{gateway}/v1/me", 200),  # the path gateway is the same mock traffic
        (f"{url}/v1/files/BROKEN", 503),
        (f"{url}/v1/files/BROKEN", 503),
        (f"{url}/v1/nothing-here", 404),
        (f"{url}/v1/nothing-here", 404),
        (f"{url}/v1/nothing-here", 404),
        (f"{url}/v1/nothing-here", 404),
    ]
    with httpx.Client(trust_env=False) as client:
        for call, status in calls:
            assert client.get(call).status_code == status, call
    after = scrape(control_plane)

    def counted(samples: Samples, operation: str, status: str) -> float:
        labels = {"template": "figma", "operation": operation, "status": status}
        return value(samples, "doppel_mock_requests_total", **labels)

    assert counted(after, "getMe", "2xx") - counted(before, "getMe", "2xx") == 3
    assert counted(after, "none", "2xx") - counted(before, "none", "2xx") == 1
    assert counted(after, "getFile", "5xx") - counted(before, "getFile", "5xx") == 2
    assert counted(after, "none", "4xx") - counted(before, "none", "4xx") == 4
    figma = [s for s in series(after, "doppel_mock_requests_total") if s["template"] == "figma"]
    total = sum(value(after, "doppel_mock_requests_total", **s) for s in figma)
    total_before = sum(value(before, "doppel_mock_requests_total", **s) for s in figma)
    assert total - total_before == len(calls)  # nothing counted twice, or elsewhere
    assert all(set(s) == {"template", "operation", "status"} for s in figma)  # no sandbox id
    answered = "doppel_mock_request_seconds_count"
    assert value(after, answered, template="figma") - value(before, answered, template="figma") == (
        len(calls)
    )
    assert value(after, "doppel_mock_request_seconds_sum", template="figma") > 0


def test_the_lifecycle_is_counted_and_live_gauges_are_read_at_scrape(
    control_plane: ControlPlane,
) -> None:
    before = scrape(control_plane)
    refused = create(control_plane, {"required_services": ["nope"]})
    assert refused.status_code == 422
    kept = create(control_plane, FIGMA).json()
    short = create(control_plane, {**FIGMA, "ttl_minutes": 0.005}).json()  # 0.3 s
    live = scrape(control_plane)
    assert value(live, "doppel_sandboxes_live") == value(before, "doppel_sandboxes_live") + 2
    figma_live = value(live, "doppel_services_live", template="figma")
    assert figma_live == value(before, "doppel_services_live", template="figma") + 2
    deleted = httpx.delete(f"{control_plane.url}/v1/sandboxes/{kept['sandbox_id']}")
    assert deleted.status_code == 200
    deadline = time.monotonic() + 10
    while httpx.get(f"{control_plane.url}/v1/sandboxes/{short['sandbox_id']}").status_code != 410:
        assert time.monotonic() < deadline, "the short sandbox did not expire"
        time.sleep(0.05)
    after = scrape(control_plane)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("doppel_sandboxes_created_total") == 2
    assert grew("doppel_sandbox_create_failures_total", reason="invalid-request") == 1
    assert grew("doppel_sandboxes_ended_total", reason="deleted") == 1
    assert grew("doppel_sandboxes_ended_total", reason="expired") == 1
    assert value(after, "doppel_sandboxes_live") == value(before, "doppel_sandboxes_live")
    assert grew("doppel_sandbox_create_seconds_count") == 2
    assert 0 <= value(after, "doppel_reaper_lag_seconds") < 2  # the reaper runs every 0.2 s
    assert grew("doppel_reaper_pass_seconds_count") > 0
    assert grew("doppel_store_operation_seconds_count", operation="reserve") == 2
    assert ("doppel_journal_backlog_events", frozenset()) in after
    # The API's latency is labelled by route template: no sandbox id in any label value.
    routes = series(after, "doppel_api_request_seconds_count")
    assert {"method": "DELETE", "route": "/v1/sandboxes/{sandbox_id}", "status": "2xx"} in routes
    assert {"method": "POST", "route": "/v1/agents/{agent_id}/sandboxes", "status": "4xx"} in routes
    ids = {kept["sandbox_id"], short["sandbox_id"]}
    labels = {v for (_, pairs) in after for _, v in pairs}
    assert not any(i in v for i in ids for v in labels)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        pytest.param(InvalidRequestError("bad"), "invalid-request", id="refused"),
        pytest.param(QuotaExceededError("full"), "quota-exceeded", id="quota"),
        pytest.param(ValueError("bug"), "internal-error", id="not-ours"),
        pytest.param(SandboxFailedError("x"), "sandbox-failed", id="failed-without-cause"),
    ],
)
def test_a_failed_create_is_classed_by_its_slug(error: BaseException, reason: str) -> None:
    assert reason_class(error) == reason


def test_a_sandbox_that_failed_to_start_is_classed_by_its_cause() -> None:
    try:
        try:
            raise RuntimeReadyError("port 1: no answer")
        except DoppelError as cause:
            raise SandboxFailedError("failed") from cause
    except SandboxFailedError as exc:
        assert reason_class(exc) == "runtime-not-ready"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane with sandbox labels on, logging JSON because its environment says so."""
    env = {"DOPPEL_METRICS_SANDBOX_LABELS": "true", "DOPPEL_LOG_FORMAT": "json"}
    server = ControlPlane(tmp_path_factory.mktemp("labelled") / "data", env=env).start()
    try:
        yield server
    finally:
        server.stop()


def test_sandbox_labels_are_opt_in_and_leave_with_their_sandbox(labelled: ControlPlane) -> None:
    sandbox = create(labelled, FIGMA).json()
    sandbox_id = sandbox["sandbox_id"]
    for _ in range(3):
        httpx.get(f"{sandbox['services']['figma']['url']}/v1/me", trust_env=False)
    labels = {"template": "figma", "operation": "getMe", "status": "2xx", "sandbox_id": sandbox_id}
    assert value(scrape(labelled), "doppel_mock_requests_total", **labels) == 3
    httpx.delete(f"{labelled.url}/v1/sandboxes/{sandbox_id}", trust_env=False)
    left = series(scrape(labelled), "doppel_mock_requests_total")
    assert not [s for s in left if s.get("sandbox_id") == sandbox_id]
    labelled.stop()
    lines = labelled.log_path.read_text().splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)


def test_json_logs_carry_the_sandbox_and_agent_ids(tmp_path: Path) -> None:
    server = ControlPlane(tmp_path / "data", args=["--log-format", "json", "--access-log"])
    server.start()
    try:
        sandbox = create(server, FIGMA, agent="agent-logs").json()
        sandbox_id = sandbox["sandbox_id"]
        url = f"{server.url}/v1/sandboxes/{sandbox_id}"
        assert httpx.post(f"{url}/extend", json={"ttl_minutes": 5}).status_code == 200
        assert httpx.post(f"{url}/reset").status_code == 200
        assert httpx.delete(url).status_code == 200
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about = [
        line["message"]
        for line in lines
        if line.get("sandbox_id") == sandbox_id and line.get("agent_id") == "agent-logs"
    ]
    assert [m.split(" ", 2)[2].split(" ")[0] for m in about] == [
        "created",
        "extended",
        "reset",
        "deleted",
    ]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert {"method": "DELETE", "path": f"/v1/sandboxes/{sandbox_id}", "status": 200}.items() <= (
        next(line for line in access if line["method"] == "DELETE").items()
    )


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, item in node.items():
            if key == "expr" and isinstance(item, str):
                yield item
            else:
                yield from _exprs(item)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def test_the_grafana_dashboard_uses_only_metrics_the_server_exposes(
    control_plane: ControlPlane,
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert dashboard["title"] and panels
    # Traffic that makes every series exist: answers, a refusal, a delete, an expiry.
    sandbox = create(control_plane, FIGMA).json()
    httpx.get(f"{sandbox['services']['figma']['url']}/v1/me", trust_env=False)
    assert create(control_plane, {"required_services": ["nope"]}).status_code == 422
    httpx.delete(f"{control_plane.url}/v1/sandboxes/{sandbox['sandbox_id']}", trust_env=False)
    exposed = {name for name, _ in scrape(control_plane)}
    used: set[str] = set()
    for panel in panels:
        names = {
            name for expr in _exprs(panel) for name in re.findall(r"\b(doppel_[a-z0-9_]+)", expr)
        }
        assert names, f"panel {panel.get('title')!r} queries no Doppel metric"
        used |= names
    assert used <= exposed, f"not exposed by /metrics: {sorted(used - exposed)}"
    wanted = {
        "doppel_mock_requests_total",
        "doppel_mock_request_seconds_bucket",
        "doppel_api_request_seconds_bucket",
        "doppel_sandboxes_live",
        "doppel_sandboxes_created_total",
        "doppel_sandbox_create_failures_total",
        "doppel_sandboxes_ended_total",
        "doppel_reaper_lag_seconds",
        "doppel_journal_backlog_events",
        "doppel_store_operation_seconds_bucket",
    }
    assert wanted <= used, f"the dashboard does not show {sorted(wanted - used)}"


def test_answer_latencies_fall_in_the_bucket_whose_bound_holds_them() -> None:
    metrics = Metrics()
    hook = metrics.served("figma", "sandbox-a")
    for seconds in (0.0001, 0.0001001, 0.001, 7.0):  # on a bound, just past it, past the last
        hook("getMe", 200, seconds)
    text = generate_latest(metrics.registry).decode()
    buckets = {
        sample.labels["le"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "doppel_mock_request_seconds_bucket"
    }
    assert [buckets[le] for le in ("0.0001", "0.00025", "0.001", "0.5", "+Inf")] == [1, 2, 3, 3, 4]
    assert value(_parse(text), "doppel_mock_request_seconds_sum", template="figma") == (
        pytest.approx(7.0012001)
    )


def test_with_sandbox_labels_an_ended_sandbox_leaves_its_template_latency_behind() -> None:
    metrics = Metrics(sandbox_labels=True)
    metrics.served("figma", "a")("getMe", 200, 0.001)
    metrics.served("figma", "b")("getMe", 404, 0.001)
    metrics.ended("a", SandboxStatus.DELETED)
    samples = _parse(generate_latest(metrics.registry).decode())
    assert series(samples, "doppel_mock_requests_total") == [
        {"template": "figma", "operation": "getMe", "status": "4xx", "sandbox_id": "b"}
    ]
    assert value(samples, "doppel_mock_request_seconds_count", template="figma") == 2


def _parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
