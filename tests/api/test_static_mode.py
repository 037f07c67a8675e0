"""Static mode (the old contract behind the feature flag) and dynamic mode, each in a real
`doppel serve` on loopback, with real HTTP to the control plane and to the fixed ports."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from doppel.cli import app
from doppel.client import Client
from doppel.errors import StaticSandboxError
from tests.servers import BIN, ControlPlane, _env, free_port

SLACK_TOKEN = {"Authorization": "Bearer xoxb-1-2-static"}


@pytest.fixture(scope="module")
def static_ports() -> dict[str, int]:
    return {"figma": free_port(), "slack": free_port()}


@pytest.fixture(scope="module")
def static(
    tmp_path_factory: pytest.TempPathFactory, static_ports: dict[str, int]
) -> Iterator[ControlPlane]:
    """Static mode switched on by the design's own flag, with ports named one by one."""
    env = {
        "USE_DYNAMIC_SANDBOXES": "false",
        "DOPPEL_STATIC_SERVICES": "figma,slack",
        "DOPPEL_STATIC_PORTS": ",".join(f"{n}={p}" for n, p in static_ports.items()),
    }
    server = ControlPlane(tmp_path_factory.mktemp("static") / "data", env=env).start(timeout=90)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dynamic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """Dynamic mode with both flags set, agreeing."""
    env = {"DOPPEL_MODE": "dynamic", "USE_DYNAMIC_SANDBOXES": "true"}
    server = ControlPlane(tmp_path_factory.mktemp("dynamic") / "data", env=env).start(timeout=90)
    try:
        yield server
    finally:
        server.stop()


def _http(server: ControlPlane) -> httpx.Client:
    return httpx.Client(base_url=server.url, trust_env=False, timeout=10)


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    return body


# -- static mode ---------------------------------------------------------------------------


def test_readyz_reports_static_mode_and_its_ports(
    static: ControlPlane, static_ports: dict[str, int]
) -> None:
    with _http(static) as http:
        ready = http.get("/readyz").json()
    assert ready["mode"] == "static"
    assert ready["static_services"] == static_ports


def test_create_answers_the_static_urls_and_says_the_mode_is_static(
    static: ControlPlane, static_ports: dict[str, int]
) -> None:
    with _http(static) as http:
        response = http.post(
            "/v1/agents/agent-7/sandboxes/dynamic", json={"required_services": ["figma", "slack"]}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "static"
    assert body["shared"] is True
    assert body["sandbox_id"] == "static"
    assert body["expires_at"] is None
    assert {n: s["url"] for n, s in body["services"].items()} == {
        name: f"http://127.0.0.1:{port}" for name, port in static_ports.items()
    }
    assert {s["status"] for s in body["services"].values()} == {"running"}
    assert body["services"]["slack"]["path_url"] == f"{static.url}/sandbox/agent-7/slack"


def test_every_agent_gets_the_same_instances(static: ControlPlane) -> None:
    with _http(static) as http:
        answers = [
            http.post(f"/v1/agents/{agent}/sandboxes", json={"required_services": ["slack"]})
            for agent in ("agent-a", "agent-b")
        ]
    urls = [a.json()["services"]["slack"]["url"] for a in answers]
    assert urls[0] == urls[1]


def test_custom_configs_are_accepted_but_said_to_be_ignored(static: ControlPlane) -> None:
    with _http(static) as http:
        response = http.post(
            "/v1/agents/agent-7/sandboxes/dynamic",
            json={"required_services": ["slack"], "custom_configs": {"slack": {"team_name": "X"}}},
        )
    assert response.status_code == 200
    assert any("custom_configs are ignored" in note for note in response.json()["notes"])


def test_the_old_path_routes_and_the_fixed_port_answer_alike_for_every_agent(
    static: ControlPlane, static_ports: dict[str, int]
) -> None:
    with _http(static) as http:
        by_path = [
            http.get(f"/sandbox/{agent}/slack/api/auth.test", headers=SLACK_TOKEN)
            for agent in ("agent-a", "agent-b", "agent%20c", "bot@example.com")
        ]
    direct = httpx.get(
        f"http://127.0.0.1:{static_ports['slack']}/api/auth.test",
        headers=SLACK_TOKEN,
        trust_env=False,
    )
    assert [r.status_code for r in by_path] == [200, 200, 200, 200]
    assert by_path[0].json()["ok"] is True
    assert all(r.json() == direct.json() for r in by_path)


def test_the_old_route_to_a_service_static_mode_does_not_serve_is_a_problem(
    static: ControlPlane,
) -> None:
    with _http(static) as http:
        problem = _problem(http.get("/sandbox/agent-7/github/repos/a/b"), 404)
    assert "no service 'github'" in str(problem["detail"])
    assert "figma, slack" in str(problem["detail"])


def test_asking_for_a_service_static_mode_does_not_serve_points_at_it(
    static: ControlPlane,
) -> None:
    with _http(static) as http:
        response = http.post(
            "/v1/agents/agent-7/sandboxes/dynamic", json={"required_services": ["slack", "github"]}
        )
    problem = _problem(response, 422)
    assert problem["errors"] == [
        {
            "pointer": "/required_services/1",
            "detail": "static mode does not serve 'github'; it serves: figma, slack",
        }
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "action"),
    [
        ("DELETE", "/v1/sandboxes/static", None, "deleted"),
        ("POST", "/v1/sandboxes/static/extend", {"ttl_minutes": 5}, "extended"),
        ("POST", "/v1/sandboxes/static/reset", None, "reset"),
    ],
)
def test_the_static_sandbox_is_shared_and_never_deleted_or_extended(
    static: ControlPlane, method: str, path: str, body: object, action: str
) -> None:
    with _http(static) as http:
        problem = _problem(http.request(method, path, json=body), 409)
        still = http.get("/sandbox/agent-7/slack/api/auth.test", headers=SLACK_TOKEN)
    assert problem["type"] == "https://doppel.dev/problems/static-sandbox"
    assert f"cannot be {action}" in str(problem["detail"])
    assert "shares one always-on instance" in str(problem["detail"])
    assert still.status_code == 200


def test_the_client_and_cli_say_the_control_plane_is_static_and_where_to_go(
    static: ControlPlane, static_ports: dict[str, int]
) -> None:
    with Client(static.url) as client, pytest.raises(StaticSandboxError) as raised:
        client.create_sandbox("agent-7", ["slack"])
    assert raised.value.extra["services"] == {"slack": f"http://127.0.0.1:{static_ports['slack']}"}
    result = CliRunner(env={"DOPPEL_URL": None}).invoke(
        app, ["sandbox", "create", "--agent", "agent-7", "--service", "figma", "--url", static.url]
    )
    assert result.exit_code == 1
    assert "runs in static mode" in result.stderr
    assert f"figma http://127.0.0.1:{static_ports['figma']}" in result.stderr


# -- dynamic mode --------------------------------------------------------------------------


def test_dynamic_mode_says_so_in_readyz_and_in_the_create_answer(dynamic: ControlPlane) -> None:
    with _http(dynamic) as http:
        ready = http.get("/readyz").json()
        created = http.post(
            "/v1/agents/agent-7/sandboxes/dynamic", json={"required_services": ["slack"]}
        )
        sandbox = created.json()
        fetched = http.get(f"/v1/sandboxes/{sandbox['sandbox_id']}").json()
        http.delete(f"/v1/sandboxes/{sandbox['sandbox_id']}")
    assert ready["mode"] == "dynamic"
    assert "static_services" not in ready
    assert created.status_code == 201
    assert sandbox["mode"] == fetched["mode"] == "dynamic"
    assert sandbox["sandbox_id"] != "static"


def test_dynamic_mode_explains_that_the_old_routes_need_static_mode(
    dynamic: ControlPlane,
) -> None:
    with _http(dynamic) as http:
        problem = _problem(http.get("/sandbox/agent-7/slack/api/auth.test"), 404)
        gone = _problem(http.delete("/v1/sandboxes/static"), 404)
    assert "static mode only (DOPPEL_MODE=static)" in str(problem["detail"])
    assert gone["type"] == "https://doppel.dev/problems/sandbox-not-found"


# -- start-up errors -------------------------------------------------------------------------


def test_a_taken_fixed_port_stops_the_start_naming_the_port_and_service(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        env = {
            "DOPPEL_MODE": "static",
            "DOPPEL_STATIC_SERVICES": "figma,slack",
            "DOPPEL_STATIC_PORTS": f"figma={free_port()},slack={taken}",
        }
        server = ControlPlane(tmp_path / "data", env=env)
        with pytest.raises(RuntimeError, match="exited"):
            server.start(timeout=60)
    log = (tmp_path / f"serve-{server.port}.log").read_text()
    assert f"static service 'slack' cannot bind its port {taken}" in log


def test_contradicting_flags_stop_the_start_with_a_clear_error(tmp_path: Path) -> None:
    env = _env({"DOPPEL_MODE": "static", "USE_DYNAMIC_SANDBOXES": "true"})
    result = subprocess.run(
        [str(BIN / "doppel"), "serve", "--port", str(free_port()), "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DOPPEL_MODE=static contradicts USE_DYNAMIC_SANDBOXES=true" in result.stderr
