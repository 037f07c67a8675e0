"""The control plane end to end: a real `doppel serve` process and real HTTP on loopback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import github
import httpx
import pytest
from slack_sdk import WebClient

from tests.servers import ControlPlane, port_is_closed

FIGMA_ONLY = {
    "required_services": ["figma"],
    "ttl_minutes": 60,
    "custom_configs": {
        "figma": {
            "workspace_name": "Test Workspace",
            "mock_responses": {
                "/me": {"id": "user123", "email": "agent@test.com", "handle": "Test Agent"},
                "/files/ABC123": {
                    "name": "Test Design File",
                    "lastModified": "2024-01-01T00:00:00Z",
                },
            },
        }
    },
}
FIGMA_AND_SLACK = {"required_services": ["figma", "slack"], "ttl_minutes": 60}
THREE_SERVICES = {
    "required_services": ["figma", "slack", "github"],
    "ttl_minutes": 60,
    "custom_configs": {
        "figma": {"workspace_name": "Design Team"},
        "slack": {"team_name": "Test Team", "channels": ["#general", "#dev", "#design"]},
        "github": {"repo": "test-org/test-repo", "branch": "main"},
    },
}


def _create(server: ControlPlane, body: Any, agent: str = "agent-1", **kw: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/agents/{agent}/sandboxes/dynamic",
        json=body,
        trust_env=False,
        timeout=30,
        **kw,
    )


def test_the_figma_design_body_serves_its_overrides_with_and_without_prefix(
    control_plane: ControlPlane,
) -> None:
    response = _create(control_plane, FIGMA_ONLY)
    assert response.status_code == 201, response.text
    sandbox = response.json()
    figma = sandbox["services"]["figma"]
    assert figma["status"] == "running" and figma["url"] == f"http://127.0.0.1:{figma['port']}"
    me = FIGMA_ONLY["custom_configs"]["figma"]["mock_responses"]["/me"]  # type: ignore[index]
    for path in ("/me", "/v1/me"):
        assert httpx.get(figma["url"] + path, trust_env=False).json() == me
    file = httpx.get(figma["url"] + "/v1/files/ABC123", trust_env=False).json()
    assert file["name"] == "Test Design File"
    assert set(sandbox) >= {
        "sandbox_id",
        "agent_id",
        "status",
        "created_at",
        "expires_at",
        "ttl_minutes",
        "services",
    }


def test_only_the_requested_services_start_each_on_its_own_port(
    control_plane: ControlPlane,
) -> None:
    sandbox = _create(control_plane, FIGMA_AND_SLACK).json()
    assert set(sandbox["services"]) == {"figma", "slack"}
    ports = {s["port"] for s in sandbox["services"].values()}
    assert len(ports) == 2
    slack = sandbox["services"]["slack"]["url"]
    auth = httpx.post(
        f"{slack}/api/auth.test", headers={"Authorization": "Bearer xoxb-1"}, trust_env=False
    ).json()
    assert auth["ok"] is True


def test_the_three_service_body_shows_every_customisation(control_plane: ControlPlane) -> None:
    response = _create(control_plane, THREE_SERVICES)
    assert response.status_code == 201, response.text
    urls = {name: s["url"] for name, s in response.json()["services"].items()}
    channels = httpx.post(f"{urls['slack']}/api/conversations.list", trust_env=False).json()
    assert [c["name"] for c in channels["channels"]] == ["general", "dev", "design"]
    assert (
        httpx.post(f"{urls['slack']}/api/auth.test", trust_env=False).json()["team"] == "Test Team"
    )
    repo = httpx.get(f"{urls['github']}/repos/test-org/test-repo", trust_env=False).json()
    assert repo["full_name"] == "test-org/test-repo" and repo["default_branch"] == "main"
    projects = httpx.get(f"{urls['figma']}/v1/teams/1/projects", trust_env=False)
    assert "Design Team" in projects.text


def test_post_sandboxes_is_the_same_call(control_plane: ControlPlane) -> None:
    response = httpx.post(
        f"{control_plane.url}/v1/agents/a/sandboxes", json=FIGMA_AND_SLACK, trust_env=False
    )
    assert response.status_code == 201
    assert set(response.json()["services"]) == {"figma", "slack"}


def test_the_gateway_serves_every_service_under_the_control_plane_port(
    control_plane: ControlPlane,
) -> None:
    sandbox = _create(control_plane, FIGMA_ONLY).json()
    base = f"{control_plane.url}/sandboxes/{sandbox['sandbox_id']}/figma"
    assert httpx.get(f"{base}/v1/me", trust_env=False).json()["id"] == "user123"
    missing = httpx.get(
        f"{control_plane.url}/sandboxes/{sandbox['sandbox_id']}/slack/api/x", trust_env=False
    )
    assert missing.status_code == 404 and "figma" in missing.json()["detail"]


def test_list_filter_extend_and_delete(control_plane: ControlPlane) -> None:
    first = _create(control_plane, FIGMA_AND_SLACK, agent="lister").json()
    _create(control_plane, FIGMA_AND_SLACK, agent="other")
    url = control_plane.url
    listed = httpx.get(f"{url}/v1/sandboxes", params={"agent_id": "lister"}, trust_env=False)
    assert [s["sandbox_id"] for s in listed.json()["sandboxes"]] == [first["sandbox_id"]]
    by_agent = httpx.get(f"{url}/v1/agents/lister/sandboxes", trust_env=False).json()
    assert len(by_agent["sandboxes"]) == 1
    extended = httpx.post(
        f"{url}/v1/sandboxes/{first['sandbox_id']}/extend",
        json={"ttl_minutes": 30},
        trust_env=False,
    ).json()
    assert extended["ttl_minutes"] == pytest.approx(90, abs=0.01)
    deleted = httpx.delete(f"{url}/v1/sandboxes/{first['sandbox_id']}", trust_env=False)
    assert deleted.json()["status"] == "deleted"
    for service in first["services"].values():
        assert port_is_closed(service["port"])
    gone = httpx.get(f"{url}/v1/sandboxes/{first['sandbox_id']}", trust_env=False)
    assert gone.status_code == 410 and gone.json()["reason"] == "deleted"
    running = httpx.get(f"{url}/v1/sandboxes", params={"status": "running"}, trust_env=False)
    assert first["sandbox_id"] not in {s["sandbox_id"] for s in running.json()["sandboxes"]}


def test_a_short_ttl_expires_for_real_and_closes_the_port(control_plane: ControlPlane) -> None:
    sandbox = _create(control_plane, {"required_services": ["figma"], "ttl_minutes": 0.02}).json()
    port = sandbox["services"]["figma"]["port"]
    assert not port_is_closed(port)
    deadline = time.monotonic() + 10
    status = 200
    while time.monotonic() < deadline and status != 410:
        time.sleep(0.1)
        status = httpx.get(
            f"{control_plane.url}/v1/sandboxes/{sandbox['sandbox_id']}", trust_env=False
        ).status_code
    assert status == 410
    assert port_is_closed(port)


def test_restart_after_kill_9_brings_sandboxes_back_on_the_same_urls(tmp_path: Path) -> None:
    server = ControlPlane(tmp_path / "data").start()
    try:
        kept = _create(server, THREE_SERVICES).json()
        short = _create(server, {"required_services": ["figma"], "ttl_minutes": 0.03}).json()
        github = kept["services"]["github"]["url"]
        created = httpx.post(
            f"{github}/repos/test-org/test-repo/issues",
            json={"title": "Survives kill -9"},
            trust_env=False,
        ).json()
        journal_url = f"{server.url}/v1/sandboxes/{kept['sandbox_id']}/requests"
        before = httpx.get(journal_url, trust_env=False).json()["services"]["github"]
        server.kill()
        for service in kept["services"].values():
            assert port_is_closed(service["port"])
        time.sleep(2)  # the short one expires while the control plane is down
        server.start()
        again = httpx.get(f"{server.url}/v1/sandboxes/{kept['sandbox_id']}", trust_env=False).json()
        assert again["status"] == "running"
        assert {n: s["url"] for n, s in again["services"].items()} == {
            n: s["url"] for n, s in kept["services"].items()
        }
        slack = again["services"]["slack"]["url"]
        assert httpx.post(f"{slack}/api/auth.test", trust_env=False).json()["team"] == "Test Team"
        issue = httpx.get(
            f"{github}/repos/test-org/test-repo/issues/{created['number']}", trust_env=False
        ).json()
        assert issue["title"] == "Survives kill -9"  # what the agent stored came back too
        after = httpx.get(journal_url, trust_env=False).json()["services"]["github"]
        assert before[0]["method"] == "POST" and after[: len(before)] == before  # the journal too
        expired = httpx.get(f"{server.url}/v1/sandboxes/{short['sandbox_id']}", trust_env=False)
        assert expired.status_code == 410 and expired.json()["reason"] == "expired"
        assert port_is_closed(short["services"]["figma"]["port"])
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("raw", "status", "pointer"),
    [
        pytest.param(b"{not json", 400, "", id="malformed-json"),
        pytest.param(b"[]", 422, "", id="not-an-object"),
        pytest.param(b'{"ttl_minutes": 5}', 422, "/required_services", id="missing-services"),
        pytest.param(b'{"required_services": []}', 422, "/required_services", id="no-services"),
        pytest.param(
            b'{"required_services": ["figma"], "ttl_minutes": 0}',
            422,
            "/ttl_minutes",
            id="zero-ttl",
        ),
        pytest.param(
            b'{"required_services": ["figma"], "ttl_minutes": "soon"}',
            422,
            "/ttl_minutes",
            id="string-ttl",
        ),
        pytest.param(
            b'{"required_services": ["figma", "figma"]}',
            422,
            "/required_services",
            id="repeated-service",
        ),
        pytest.param(
            b'{"required_services": ["figma"], "extra": 1}', 422, "/extra", id="unknown-field"
        ),
        pytest.param(
            b'{"required_services": ["github"], "custom_configs": {"github": '
            b'{"repo": "no-slash"}}}',
            422,
            "/custom_configs/github/repo",
            id="config-schema",
        ),
        pytest.param(
            b'{"required_services": ["figma"], "ttl_minutes": 100000}',
            422,
            "/ttl_minutes",
            id="ttl-above-max",
        ),
    ],
)
def test_bad_input_is_a_problem_naming_the_field_and_harms_nothing(
    control_plane: ControlPlane, raw: bytes, status: int, pointer: str
) -> None:
    alive = _create(control_plane, FIGMA_ONLY).json()["services"]["figma"]["url"]
    response = httpx.post(
        f"{control_plane.url}/v1/agents/a/sandboxes/dynamic",
        content=raw,
        headers={"content-type": "application/json"},
        trust_env=False,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["detail"]
    if pointer:
        assert pointer in [e["pointer"] for e in problem["errors"]]
    assert httpx.get(f"{alive}/v1/me", trust_env=False).status_code == 200


def test_a_body_over_the_limit_is_413(control_plane: ControlPlane) -> None:
    huge = {
        "required_services": ["figma"],
        "custom_configs": {"figma": {"workspace_name": "x" * 2_000_000}},
    }
    response = _create(control_plane, huge)
    assert response.status_code == 413 and "max_body_bytes" in response.json()["detail"]


def test_too_many_services_or_overrides_name_the_limit(control_plane: ControlPlane) -> None:
    many = {
        "required_services": ["figma"],
        "custom_configs": {"figma": {"mock_responses": {f"/x/{i}": {} for i in range(201)}}},
    }
    response = _create(control_plane, many)
    assert response.status_code == 422 and "max_overrides=200" in response.json()["detail"]


def test_invalid_agent_id_is_rejected(control_plane: ControlPlane) -> None:
    response = _create(control_plane, FIGMA_ONLY, agent="bad agent!")
    assert response.status_code in (404, 422)


def test_quota_is_429_naming_the_limit(tmp_path: Path) -> None:
    server = ControlPlane(tmp_path / "q", env={"DOPPEL_MAX_SANDBOXES_PER_AGENT": "2"}).start()
    try:
        codes = [_create(server, {"required_services": ["figma"]}).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        refused = _create(server, {"required_services": ["figma"]}).json()
        assert "max_sandboxes_per_agent=2" in refused["detail"]
    finally:
        server.stop()


def test_templates_health_metrics_and_the_openapi_document(control_plane: ControlPlane) -> None:
    url = control_plane.url
    names = [t["name"] for t in httpx.get(f"{url}/v1/templates", trust_env=False).json()]
    assert {"figma", "github", "slack"} <= set(names)
    slack = httpx.get(f"{url}/v1/templates/slack", trust_env=False).json()
    assert "team_name" in slack["config_schema"]["properties"]
    assert any(op["path"] == "/chat.postMessage" for op in slack["operations"])
    missing = httpx.get(f"{url}/v1/templates/nope", trust_env=False)
    assert missing.status_code == 404 and "figma" in missing.json()["detail"]
    assert httpx.get(f"{url}/healthz", trust_env=False).status_code == 200
    assert httpx.get(f"{url}/readyz", trust_env=False).json()["status"] == "ready"
    assert "doppel_sandboxes_live" in httpx.get(f"{url}/metrics", trust_env=False).text
    paths = httpx.get(f"{url}/openapi.json", trust_env=False).json()["paths"]
    assert "/v1/agents/{agent_id}/sandboxes/dynamic" in paths


def test_the_journal_records_every_request(control_plane: ControlPlane) -> None:
    sandbox = _create(control_plane, FIGMA_ONLY).json()
    figma = sandbox["services"]["figma"]["url"]
    httpx.get(f"{figma}/v1/me", trust_env=False)
    httpx.get(f"{figma}/v1/nothing-here", trust_env=False)
    journal = httpx.get(
        f"{control_plane.url}/v1/sandboxes/{sandbox['sandbox_id']}/requests", trust_env=False
    ).json()
    events = journal["services"]["figma"]
    assert events[0]["path_template"] == "/me"
    assert events[1]["near_misses"] and events[1]["path_template"] is None
    assert [(e["path"], e["status"], e["source"]) for e in events] == [
        ("/v1/me", 200, "override"),
        ("/v1/nothing-here", 404, "error"),
    ]


def test_the_vendors_sdks_see_the_customisation_through_a_sandbox(
    control_plane: ControlPlane,
) -> None:
    sandbox = _create(control_plane, THREE_SERVICES).json()
    urls = {name: s["url"] for name, s in sandbox["services"].items()}
    slack = WebClient(token="xoxb-test", base_url=f"{urls['slack']}/api/")
    assert slack.auth_test()["team"] == "Test Team"
    names = [c["name"] for c in slack.conversations_list()["channels"]]
    assert names == ["general", "dev", "design"]
    gh = github.Github(
        auth=github.Auth.Token("t"), base_url=urls["github"], retry=None,
        seconds_between_requests=None, seconds_between_writes=None,
    )  # fmt: skip
    repo = gh.get_repo("test-org/test-repo")
    assert repo.default_branch == "main" and repo.owner.login == "test-org"
    assert repo.create_issue(title="From the agent").title == "From the agent"


def test_pygithub_works_through_the_one_port_gateway(control_plane: ControlPlane) -> None:
    sandbox = _create(control_plane, THREE_SERVICES).json()
    base = f"{control_plane.url}/sandboxes/{sandbox['sandbox_id']}/github"
    gh = github.Github(
        auth=github.Auth.Token("t"), base_url=base, retry=None,
        seconds_between_requests=None, seconds_between_writes=None,
    )  # fmt: skip
    repo = gh.get_repo("test-org/test-repo")
    assert repo.url == f"{base}/repos/test-org/test-repo"  # links lead back through the gateway
    assert next(b.name for b in repo.get_branches()) == "main"
    assert all(p.base.ref == "main" for p in repo.get_pulls())


def test_state_shows_what_the_agent_changed_and_reset_forgets_it(
    control_plane: ControlPlane,
) -> None:
    sandbox = _create(control_plane, THREE_SERVICES).json()
    url = f"{control_plane.url}/v1/sandboxes/{sandbox['sandbox_id']}"
    slack = sandbox["services"]["slack"]["url"]
    channel = httpx.post(f"{slack}/api/conversations.list", trust_env=False).json()["channels"][0]
    httpx.post(
        f"{slack}/api/chat.postMessage",
        json={"channel": channel["id"], "text": "hi"},
        trust_env=False,
    )
    state = httpx.get(f"{url}/state", trust_env=False).json()["services"]
    stored = list(state["slack"][f"/conversations.history/{channel['id']}"].values())
    assert [m["text"] for m in stored] == ["hi"]
    journal = httpx.get(f"{url}/requests", trust_env=False).json()["services"]["slack"]
    assert journal[-1]["changes"][0]["collection"] == f"/conversations.history/{channel['id']}"
    reset = httpx.post(f"{url}/reset", trust_env=False)
    assert reset.status_code == 200 and reset.json()["status"] == "running"
    assert httpx.get(f"{url}/state", trust_env=False).json()["services"]["slack"] == {}
    history = httpx.post(
        f"{slack}/api/conversations.history", data={"channel": channel["id"]}, trust_env=False
    ).json()["messages"]
    assert "hi" not in [m["text"] for m in history]
