"""The control plane end to end: a real `doppel serve` process and real HTTP on loopback."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import github
import httpx
import pytest
from slack_sdk import WebClient

from tests.servers import ControlPlane, credentials, port_is_closed

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


def _auth(sandbox: dict[str, Any], name: str) -> dict[str, str]:
    """The credentials for the sandbox's `name` service: the token it was issued."""
    service = sandbox["services"][name]
    return credentials(service["template"], service["token"])


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
    sandbox = response.json()
    urls = {name: s["url"] for name, s in sandbox["services"].items()}
    slack, gh, figma = (_auth(sandbox, name) for name in ("slack", "github", "figma"))
    channels = httpx.post(
        f"{urls['slack']}/api/conversations.list", headers=slack, trust_env=False
    ).json()
    assert [c["name"] for c in channels["channels"]] == ["general", "dev", "design"]
    auth = httpx.post(f"{urls['slack']}/api/auth.test", headers=slack, trust_env=False).json()
    assert auth["team"] == "Test Team"
    repo = httpx.get(
        f"{urls['github']}/repos/test-org/test-repo", headers=gh, trust_env=False
    ).json()
    assert repo["full_name"] == "test-org/test-repo" and repo["default_branch"] == "main"
    team = "1100000000000000101"  # the template's default team_id
    projects = httpx.get(
        f"{urls['figma']}/v1/teams/{team}/projects", headers=figma, trust_env=False
    )
    assert "Design Team" in projects.text and projects.json()["name"] == "Design Team"
    other = httpx.get(f"{urls['figma']}/v1/teams/1/projects", headers=figma, trust_env=False)
    assert (other.status_code, other.json()) == (404, {"status": 404, "err": "Not found"})


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
            headers=_auth(kept, "github"),
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
        auth = httpx.post(f"{slack}/api/auth.test", headers=_auth(again, "slack"), trust_env=False)
        assert auth.json()["team"] == "Test Team"
        issue = httpx.get(
            f"{github}/repos/test-org/test-repo/issues/{created['number']}",
            headers=_auth(again, "github"),
            trust_env=False,
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
    assert events[0]["path_template"] == "/v1/me"  # the override "/me" answered Figma's path
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
    tokens = {name: s["token"] for name, s in sandbox["services"].items()}
    slack = WebClient(token=tokens["slack"], base_url=f"{urls['slack']}/api/")
    assert slack.auth_test()["team"] == "Test Team"
    names = [c["name"] for c in slack.conversations_list()["channels"]]
    assert names == ["general", "dev", "design"]
    gh = github.Github(
        auth=github.Auth.Token(tokens["github"]), base_url=urls["github"], retry=None,
        seconds_between_requests=None, seconds_between_writes=None,
    )  # fmt: skip
    repo = gh.get_repo("test-org/test-repo")
    assert repo.default_branch == "main" and repo.owner.login == "test-org"
    assert repo.create_issue(title="From the agent").title == "From the agent"


def test_pygithub_works_through_the_one_port_gateway(control_plane: ControlPlane) -> None:
    sandbox = _create(control_plane, THREE_SERVICES).json()
    base = f"{control_plane.url}/sandboxes/{sandbox['sandbox_id']}/github"
    gh = github.Github(
        auth=github.Auth.Token(sandbox["services"]["github"]["token"]), base_url=base, retry=None,
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
    slack, auth = sandbox["services"]["slack"]["url"], _auth(sandbox, "slack")
    listed = httpx.post(f"{slack}/api/conversations.list", headers=auth, trust_env=False)
    channel = listed.json()["channels"][0]
    posted = httpx.post(
        f"{slack}/api/chat.postMessage",
        json={"channel": channel["id"], "text": "hi"},
        headers=auth,
        trust_env=False,
    )
    assert posted.json()["ok"] is True
    messages = f"message:{channel['id']}"  # the channel's messages (kind:scope)
    state = httpx.get(f"{url}/state", trust_env=False).json()["services"]
    stored = list(state["slack"][messages].values())
    assert [m["text"] for m in stored] == ["hi"]
    journal = httpx.get(f"{url}/requests", trust_env=False).json()["services"]["slack"]
    assert messages in [change["collection"] for change in journal[-1]["changes"]]
    reset = httpx.post(f"{url}/reset", trust_env=False)
    assert reset.status_code == 200 and reset.json()["status"] == "running"
    assert httpx.get(f"{url}/state", trust_env=False).json()["services"]["slack"] == {}
    history = httpx.post(
        f"{slack}/api/conversations.history",
        data={"channel": channel["id"]},
        headers=auth,
        trust_env=False,
    ).json()
    assert history["ok"] is True and "hi" not in [m["text"] for m in history["messages"]]


# -- credentials as the provider takes them, and the tokens each sandbox is issued ----------

TOKEN_FORMATS = {
    "github": r"ghp_[A-Za-z0-9]{36}",
    "slack": r"xoxb-[0-9]{13}-[0-9]{13}-[A-Za-z0-9]{24}",
    "figma": r"figd_[A-Za-z0-9]{40}",
}
ALL_THREE: dict[str, Any] = {"required_services": ["github", "slack", "figma"], "ttl_minutes": 60}


def _with_auth(mode: str) -> dict[str, Any]:
    """ALL_THREE with every service's `auth` switch set to `mode`."""
    return {
        **ALL_THREE,
        "custom_configs": {n: {"auth": mode} for n in ALL_THREE["required_services"]},
    }


def _whoami(sandbox: dict[str, Any], name: str, headers: dict[str, str]) -> httpx.Response:
    """The one everyday call per service that needs credentials: who the token belongs to."""
    url = sandbox["services"][name]["url"]
    if name == "github":
        return httpx.get(f"{url}/user", headers=headers, trust_env=False)
    if name == "slack":
        return httpx.post(f"{url}/api/auth.test", headers=headers, trust_env=False)
    return httpx.get(f"{url}/v1/me", headers=headers, trust_env=False)


def _sandbox(server: ControlPlane, body: Any, agent: str) -> dict[str, Any]:
    response = _create(server, body, agent=agent)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _accepted(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json().get("ok", True) is True


BAD_CREDENTIALS: dict[str, tuple[int, dict[str, Any]]] = {
    "github": (401, {"message": "Bad credentials"}),
    "slack": (200, {"ok": False, "error": "invalid_auth"}),
    "figma": (403, {"status": 403, "err": "Invalid token"}),
}
NO_CREDENTIALS: dict[str, tuple[int, dict[str, Any]]] = {
    "github": (401, {"message": "Requires authentication"}),
    "slack": (200, {"ok": False, "error": "not_authed"}),
    "figma": (403, {"status": 403, "err": "Invalid token"}),
}


def _refused(response: httpx.Response, expected: tuple[int, dict[str, Any]]) -> bool:
    status, body = expected
    return response.status_code == status and body.items() <= response.json().items()


def test_each_service_is_issued_a_token_in_its_providers_format(
    control_plane: ControlPlane,
) -> None:
    first = _sandbox(control_plane, ALL_THREE, "auth-1")
    second = _sandbox(control_plane, ALL_THREE, "auth-2")

    for name, pattern in TOKEN_FORMATS.items():
        token = first["services"][name]["token"]
        assert re.fullmatch(pattern, token), (name, token)
        assert re.fullmatch(pattern, second["services"][name]["token"])
        assert token != second["services"][name]["token"]  # issued per sandbox
        assert _accepted(_whoami(first, name, _auth(first, name)))
    shown = httpx.get(f"{control_plane.url}/v1/sandboxes/{first['sandbox_id']}", trust_env=False)
    assert {n: s["token"] for n, s in shown.json()["services"].items()} == {
        n: s["token"] for n, s in first["services"].items()
    }
    assert len({s["token"] for s in first["services"].values()}) == 3


def test_each_provider_refuses_missing_or_malformed_credentials_in_its_own_words(
    control_plane: ControlPlane,
) -> None:
    sandbox = _sandbox(control_plane, ALL_THREE, "auth-3")
    malformed = {
        "github": {"Authorization": "token not-a-github-token"},
        "slack": {"Authorization": "Bearer not-a-slack-token"},
        "figma": {"X-Figma-Token": "not-a-figma-token"},
    }
    for name in TOKEN_FORMATS:
        missing = _whoami(sandbox, name, {})
        assert _refused(missing, NO_CREDENTIALS[name]), (name, missing.text)
        bad = _whoami(sandbox, name, malformed[name])
        assert _refused(bad, BAD_CREDENTIALS[name]), (name, bad.text)

    # Every way each provider takes a token; by default any well-formed one passes.
    github_url, slack_url, figma_url = (sandbox["services"][n]["url"] for n in TOKEN_FORMATS)
    tokens = {n: s["token"] for n, s in sandbox["services"].items()}
    for scheme in ("token", "Bearer"):
        headers = {"Authorization": f"{scheme} {tokens['github']}"}
        me = httpx.get(f"{github_url}/user", headers=headers, trust_env=False)
        assert me.status_code == 200 and me.json()["login"] == "doppel"
    other = {"Authorization": "token ghp_16C7e42F292c6912E7710c838347Ae178B4a"}
    assert httpx.get(f"{github_url}/user", headers=other, trust_env=False).status_code == 200
    assert httpx.get(f"{github_url}/zen", trust_env=False).status_code == 200  # anonymous
    by_param = httpx.post(
        f"{slack_url}/api/auth.test", data={"token": tokens["slack"]}, trust_env=False
    )
    assert by_param.json()["ok"] is True and by_param.json()["user"] == "doppelbot"
    bearer = {"Authorization": f"Bearer {tokens['figma']}"}
    assert httpx.get(f"{figma_url}/v1/me", headers=bearer, trust_env=False).status_code == 200


def test_with_auth_issued_only_the_sandboxs_own_token_passes(
    control_plane: ControlPlane,
) -> None:
    mine = _sandbox(control_plane, _with_auth("issued"), "auth-4")
    theirs = _sandbox(control_plane, _with_auth("issued"), "auth-5")

    for name in TOKEN_FORMATS:
        assert _accepted(_whoami(mine, name, _auth(mine, name))), name
        foreign = _whoami(mine, name, _auth(theirs, name))  # well-formed, issued elsewhere
        assert _refused(foreign, BAD_CREDENTIALS[name]), (name, foreign.text)
        assert _refused(_whoami(mine, name, {}), NO_CREDENTIALS[name]), name
        assert _accepted(_whoami(theirs, name, _auth(theirs, name))), name


def test_with_auth_off_no_token_is_needed(control_plane: ControlPlane) -> None:
    sandbox = _sandbox(control_plane, _with_auth("off"), "auth-6")

    for name in TOKEN_FORMATS:
        answer = _whoami(sandbox, name, {})
        assert _accepted(answer), (name, answer.text)
    repo = httpx.get(
        f"{sandbox['services']['github']['url']}/repos/doppel/sandbox", trust_env=False
    )
    assert repo.status_code == 200 and repo.json()["full_name"] == "doppel/sandbox"


def test_a_restart_after_kill_9_keeps_the_issued_tokens_working(tmp_path: Path) -> None:
    server = ControlPlane(tmp_path / "data").start()
    try:
        sandbox = _sandbox(server, _with_auth("issued"), "auth-7")
        other = _sandbox(server, _with_auth("issued"), "auth-8")
        for name in TOKEN_FORMATS:
            assert _accepted(_whoami(sandbox, name, _auth(sandbox, name)))
        server.kill()
        server.start()

        again = httpx.get(f"{server.url}/v1/sandboxes/{sandbox['sandbox_id']}", trust_env=False)
        assert again.json()["status"] == "running"
        assert {n: s["token"] for n, s in again.json()["services"].items()} == {
            n: s["token"] for n, s in sandbox["services"].items()
        }
        for name in TOKEN_FORMATS:
            answer = _whoami(sandbox, name, _auth(sandbox, name))
            assert _accepted(answer), (name, answer.text)
            foreign = _whoami(sandbox, name, _auth(other, name))  # still only its own
            assert _refused(foreign, BAD_CREDENTIALS[name]), (name, foreign.text)
    finally:
        server.stop()


# -- closed worlds: what the config puts there, and the provider's not-found for the rest --


def test_the_default_worlds_and_the_providers_not_found(control_plane: ControlPlane) -> None:
    sandbox = _sandbox(control_plane, ALL_THREE, "auth-9")
    github_url, slack_url, figma_url = (sandbox["services"][n]["url"] for n in TOKEN_FORMATS)
    gh, slack, figma = (_auth(sandbox, n) for n in TOKEN_FORMATS)

    def get(url: str, headers: dict[str, str], **params: Any) -> httpx.Response:
        return httpx.get(url, headers=headers, params=params, trust_env=False)

    def call(method: str, **data: Any) -> dict[str, Any]:
        answer = httpx.post(f"{slack_url}/api/{method}", data=data, headers=slack, trust_env=False)
        assert answer.status_code == 200
        return dict(answer.json())

    issues = get(f"{github_url}/repos/doppel/sandbox/issues", gh, state="all").json()
    assert sorted((i["number"], "pull_request" in i) for i in issues) == [
        (1, False), (2, False), (3, True),
    ]  # fmt: skip
    assert [p["number"] for p in get(f"{github_url}/repos/doppel/sandbox/pulls", gh).json()] == [3]
    for path in ("/repos/doppel/other", "/repos/doppel/sandbox/issues/99", "/users/nobody",
                 "/repos/doppel/sandbox/pulls/1"):  # fmt: skip
        missing = get(f"{github_url}{path}", gh)
        assert (missing.status_code, missing.json()["message"]) == (404, "Not Found"), path
        assert missing.json()["documentation_url"].startswith("https://docs.github.com/rest")

    assert call("auth.test")["team"] == "Doppel"
    assert [c["name"] for c in call("conversations.list")["channels"]] == ["general", "random"]
    assert [u["name"] for u in call("users.list")["members"]] == ["doppelbot", "ada", "grace"]
    assert call("conversations.info", channel="C99999999") == {
        "ok": False, "error": "channel_not_found",
    }  # fmt: skip
    assert call("users.info", user="U99999999") == {"ok": False, "error": "user_not_found"}
    assert call("chat.postMessage", channel="nowhere", text="x")["error"] == "channel_not_found"

    team = get(f"{figma_url}/v1/teams/1100000000000000101/projects", figma).json()
    assert team["name"] == "Doppel Workspace"
    assert [p["id"] for p in team["projects"]] == ["10000001", "10000002"]
    keys = [
        f["key"]
        for project in ("10000001", "10000002")
        for f in get(f"{figma_url}/v1/projects/{project}/files", figma).json()["files"]
    ]
    assert keys == ["Dp1xK7mQ2vR9sT4wY6zA3b", "Dp2cN8hJ5kL1mP3qW7eR9t", "Dp3fG6hU2iO8pA4sD1fZ5x"]
    assert get(f"{figma_url}/v1/files/{keys[2]}", figma).json()["name"] == "Onboarding Flow"
    for path in ("/v1/files/NoSuchFile123", "/v1/projects/10000009/files", "/v1/teams/1/projects"):
        missing = get(f"{figma_url}{path}", figma)
        assert (missing.status_code, missing.json()) == (404, {"status": 404, "err": "Not found"})
