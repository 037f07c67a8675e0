"""The Python client against a real `doppel serve` on loopback."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from doppel import (
    CheckpointExistsError,
    CheckpointNotFoundError,
    Client,
    ClientError,
    ConnectionFailedError,
    DoppelError,
    InvalidRequestError,
    LimitExceededError,
    SandboxGoneError,
    SandboxNotFoundError,
    TemplateNotFoundError,
    Usage,
)
from tests.servers import ControlPlane, credentials, free_port, port_is_closed


@pytest.fixture(scope="module")
def server(control_plane: ControlPlane) -> ControlPlane:
    """This module's own `doppel serve` (see tests/conftest.py)."""
    return control_plane


@pytest.fixture
def client(server: ControlPlane) -> Iterator[Client]:
    with Client(server.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def agent() -> str:
    """An agent of its own for each test, so quotas and listings never collide."""
    return f"agent-{secrets.token_hex(4)}"


def test_a_created_sandbox_runs_every_service_it_asked_for(client: Client, agent: str) -> None:
    sandbox = client.create_sandbox(agent, ["figma", "slack"], ttl_minutes=30)

    assert sandbox.agent_id == agent
    assert sandbox.status == "running"
    assert sandbox.reason is None
    assert sandbox.ttl_minutes == 30
    assert sandbox.expires_at - sandbox.created_at == timedelta(minutes=30)
    assert sandbox.created_at.tzinfo is not None
    assert set(sandbox.services) == {"figma", "slack"}
    figma = sandbox.services["figma"]
    assert (figma.template, figma.status) == ("figma", "running")
    assert figma.url == f"http://127.0.0.1:{figma.port}"
    sandbox.delete()


def test_get_answers_the_sandbox_that_create_made(client: Client, agent: str) -> None:
    with client.create_sandbox(agent, "figma") as created:
        found = client.get_sandbox(created.id)

        assert (found.id, found.agent_id, found.status) == (created.id, agent, "running")
        assert found.expires_at == created.expires_at
        assert found.url("figma") == created.url("figma")


def test_the_figma_url_answers_get_me(client: Client, agent: str) -> None:
    with client.create_sandbox(agent, ["figma"]) as sandbox:
        me = f"{sandbox.url('figma')}/v1/me"
        anonymous = httpx.get(me, trust_env=False)
        response = httpx.get(me, headers={"X-Figma-Token": sandbox.token("figma")}, trust_env=False)

        assert (anonymous.status_code, anonymous.json()) == (
            403,
            {"status": 403, "err": "Invalid token"},
        )  # Figma's own refusal of a request without a token
        assert response.status_code == 200
        assert "email" in response.json()
        served = client.requests(sandbox.id)["figma"]
        assert [(e["method"], e["path"], e["status"]) for e in served] == [
            ("GET", "/v1/me", 403),
            ("GET", "/v1/me", 200),
        ]


def test_each_service_carries_the_token_issued_to_the_sandbox(client: Client, agent: str) -> None:
    formats = {
        "github": r"ghp_[A-Za-z0-9]{36}",
        "slack": r"xoxb-[0-9]{13}-[0-9]{13}-[A-Za-z0-9]{24}",
        "figma": r"figd_[A-Za-z0-9]{40}",
    }
    issued = {name: {"auth": "issued"} for name in formats}
    with (
        client.create_sandbox(agent, list(formats), custom_configs=issued) as sandbox,
        client.create_sandbox(
            agent, ["github"], custom_configs={"github": issued["github"]}
        ) as other,
    ):
        for name, pattern in formats.items():
            assert re.fullmatch(pattern, sandbox.token(name)), sandbox.token(name)
            assert sandbox.services[name].token == sandbox.token(name)
        assert client.get_sandbox(sandbox.id).token("github") == sandbox.token("github")
        assert other.token("github") != sandbox.token("github")
        with pytest.raises(KeyError, match="no token for 'jira'"):
            sandbox.token("jira")

        user = f"{sandbox.url('github')}/user"
        own = httpx.get(
            user, headers=credentials("github", sandbox.token("github")), trust_env=False
        )
        foreign = httpx.get(
            user, headers=credentials("github", other.token("github")), trust_env=False
        )
        assert own.status_code == 200 and own.json()["login"] == "doppel"
        assert foreign.status_code == 401 and foreign.json()["message"] == "Bad credentials"
        slack = f"{sandbox.url('slack')}/api/auth.test"
        said = httpx.post(
            slack, headers=credentials("slack", sandbox.token("slack")), trust_env=False
        ).json()
        assert said["ok"] is True and said["team"] == "Doppel"
        figma = f"{sandbox.url('figma')}/v1/me"
        headers = credentials("figma", sandbox.token("figma"))
        assert httpx.get(figma, headers=headers, trust_env=False).is_success


def test_list_filters_by_agent_and_by_status(client: Client, agent: str) -> None:
    ended = client.create_sandbox(agent, ["slack"])
    ended.delete()
    with client.create_sandbox(agent, ["slack"]) as live:
        everything = client.list_sandboxes(agent_id=agent)
        running = client.list_sandboxes(agent_id=agent, status="running")

        assert [s.id for s in everything] == [live.id, ended.id]  # newest first
        assert [s.id for s in running] == [live.id]
        assert all(s.agent_id == agent for s in client.list_sandboxes(agent_id=agent))


def test_extend_adds_minutes_to_the_expiry(client: Client, agent: str) -> None:
    with client.create_sandbox(agent, ["figma"], ttl_minutes=30) as sandbox:
        first = sandbox.expires_at

        extended = client.extend_sandbox(sandbox.id, 15)
        sandbox.extend(5)

        assert extended.expires_at == first + timedelta(minutes=15)
        assert sandbox.expires_at == first + timedelta(minutes=20)
        assert sandbox.ttl_minutes == 50


def test_refresh_reads_what_the_server_now_holds(client: Client, agent: str) -> None:
    with client.create_sandbox(agent, ["figma"]) as sandbox:
        client.extend_sandbox(sandbox.id, 10)

        sandbox.refresh()

        assert sandbox.expires_at == sandbox.created_at + timedelta(minutes=70)


def test_delete_stops_the_services_and_deleting_again_is_harmless(
    client: Client, agent: str
) -> None:
    sandbox = client.create_sandbox(agent, ["figma"])
    port = sandbox.services["figma"].port
    assert port is not None

    sandbox.delete()
    sandbox.delete()

    assert sandbox.status == "deleted"
    assert sandbox.ended_at is not None
    assert port_is_closed(port)
    with pytest.raises(SandboxGoneError):
        client.delete_sandbox(sandbox.id)


def test_a_sandbox_used_as_a_context_manager_is_deleted_on_exit(client: Client, agent: str) -> None:
    with client.create_sandbox(agent, ["figma", "slack"]) as sandbox:
        assert sandbox.status == "running"

    assert sandbox.status == "deleted"
    with pytest.raises(SandboxGoneError) as gone:
        client.get_sandbox(sandbox.id)
    assert gone.value.status == 410
    assert gone.value.extra["reason"] == "deleted"
    assert gone.value.extra["sandbox_id"] == sandbox.id


def test_url_of_a_service_the_sandbox_lacks_names_the_ones_it_has(
    client: Client, agent: str
) -> None:
    sandbox = client.create_sandbox(agent, ["figma", "slack"])

    with sandbox, pytest.raises(KeyError) as missing:
        sandbox.url("github-enterprise")

    assert "'github-enterprise'" in str(missing.value)
    assert "figma, slack" in str(missing.value)


@pytest.mark.parametrize(
    ("create", "error", "pointer"),
    [
        pytest.param(
            lambda c, a: c.create_sandbox(a, ["figma", "no-such-service"]),
            InvalidRequestError,
            "/required_services/1",
            id="unknown service",
        ),
        pytest.param(
            lambda c, a: c.create_sandbox(a, ["figma"], custom_configs={"figma": {"x": 1}}),
            InvalidRequestError,
            "/custom_configs/figma/x",
            id="config the template rejects",
        ),
        pytest.param(
            lambda c, a: c.create_sandbox(a, ["figma"], ttl_minutes=10**6),
            LimitExceededError,
            "/ttl_minutes",
            id="ttl above the limit",
        ),
        pytest.param(
            lambda c, a: c.create_sandbox("not an agent id", ["figma"]),
            InvalidRequestError,
            "/path/agent_id",
            id="agent id with spaces",
        ),
    ],
)
def test_a_rejected_request_raises_the_servers_error_class_with_pointers(
    client: Client,
    agent: str,
    create: Callable[[Client, str], Any],
    error: type[Exception],
    pointer: str,
) -> None:
    with pytest.raises(error) as raised:
        create(client, agent)

    assert type(raised.value) is error
    assert pointer in [item.pointer for item in raised.value.errors]  # type: ignore[attr-defined]
    assert client.list_sandboxes(agent_id=agent, status="running") == []


def test_an_unknown_service_is_invalid_at_its_index(client: Client, agent: str) -> None:
    with pytest.raises(InvalidRequestError) as invalid:
        client.create_sandbox(agent, ["nope"])

    assert invalid.value.status == 422
    assert [e.pointer for e in invalid.value.errors] == ["/required_services/0"]
    assert "available templates" in invalid.value.errors[0].detail


def test_an_unknown_sandbox_raises_sandbox_not_found_error(client: Client) -> None:
    with pytest.raises(SandboxNotFoundError) as missing:
        client.get_sandbox("0000000000000000")

    assert missing.value.status == 404
    assert "0000000000000000" in missing.value.detail


def test_an_id_with_a_slash_never_reaches_another_route(client: Client) -> None:
    # Sent as one segment (..%2Ftemplates); Starlette decodes it before routing, so the answer
    # is the router's 404 rather than sandbox-not-found, but never the template list.
    with pytest.raises(DoppelError) as missing:
        client.get_sandbox("../templates")

    assert missing.value.status == 404


def test_a_dead_url_raises_connection_failed_error_naming_it() -> None:
    dead = f"http://127.0.0.1:{free_port()}"

    with Client(dead, timeout=2.0) as client, pytest.raises(ConnectionFailedError) as failed:
        client.templates()

    assert failed.value.url == f"{dead}/v1/templates"
    assert dead in failed.value.detail


def test_a_problem_of_an_unknown_type_raises_client_error_with_its_status(
    server: ControlPlane,
) -> None:
    with Client(f"{server.url}/wrong-prefix") as client, pytest.raises(ClientError) as raised:
        client.templates()

    assert (raised.value.status, raised.value.slug) == (404, "http-404")
    assert raised.value.title == "Not Found"


def test_an_answer_that_is_not_a_problem_raises_client_error_with_its_status() -> None:
    # What a proxy in front of the control plane may answer; nothing Doppel would send.
    proxy = httpx.MockTransport(
        lambda request: httpx.Response(502, text="<html><h1>Bad Gateway</h1></html>")
    )

    with Client(transport=proxy) as client, pytest.raises(ClientError) as raised:
        client.get_sandbox("abc")

    assert raised.value.status == 502
    assert "Bad Gateway" in raised.value.detail


def test_templates_lists_the_bundled_ones_and_describes_each(client: Client) -> None:
    names = {t.name for t in client.templates()}
    figma = client.template("figma")

    assert {"figma", "slack"} <= names
    assert figma["name"] == "figma"
    assert "workspace_name" in figma["config_schema"]["properties"]
    # Figma's own description, in its order, on Figma's paths
    assert figma["operation_count"] == len(figma["operations"])
    get_file = {"method": "GET", "path": "/v1/files/{file_key}", "operation_id": "getFile"}
    assert get_file.items() <= figma["operations"][0].items()
    get_me = {"method": "GET", "path": "/v1/me", "operation_id": "getMe"}
    assert any(get_me.items() <= op.items() for op in figma["operations"])


def test_an_unknown_template_raises_template_not_found_error(client: Client) -> None:
    with pytest.raises(TemplateNotFoundError):
        client.template("no-such-template")


def test_the_client_ignores_proxies_in_the_environment(
    server: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "")

    with Client(server.url) as client:
        assert client.templates()


def test_a_registered_template_serves_new_sandboxes_until_it_is_removed(
    client: Client, agent: str, spec_path: dict[str, Path]
) -> None:
    name = f"twilio-{secrets.token_hex(2)}"
    raw = spec_path["twilio"].read_bytes()  # gzip, registered as it is
    registered = client.register_template(name, raw)
    assert registered["operation_count"] == 197 and registered["origin"] == "registered"
    with client.create_sandbox(agent, [name]) as sandbox:
        calls = httpx.get(
            f"{sandbox.url(name)}/2010-04-01/Accounts/AC1/Calls.json", trust_env=False
        )
        assert calls.status_code == 200 and "calls" in calls.json()
    client.delete_template(name)
    with pytest.raises(InvalidRequestError) as caught:
        client.create_sandbox(agent, [name])
    assert caught.value.errors[0].pointer == "/required_services/0"


def test_registering_with_a_config_schema_and_fixtures(client: Client, agent: str) -> None:
    name = f"tiny-{secrets.token_hex(2)}"
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "Tiny", "version": "1"},
        "paths": {"/hello": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }
    schema = {"type": "object", "properties": {"who": {"type": "string", "default": "world"}}}
    fixtures = '[{"request": {"path": "/hello"}, "response": {"body": {"hi": {{ who|tojson }}}}}]'
    client.register_template(name, json.dumps(spec), config_schema=schema, fixtures=fixtures)
    with client.create_sandbox(agent, [name], custom_configs={name: {"who": "agent"}}) as box:
        assert httpx.get(f"{box.url(name)}/hello", trust_env=False).json() == {"hi": "agent"}
    client.delete_template(name)


def test_state_and_reset_through_the_client(client: Client, agent: str) -> None:
    with client.create_sandbox(
        agent, ["github"], custom_configs={"github": {"repo": "o/r"}}
    ) as sandbox:
        created = httpx.post(
            f"{sandbox.url('github')}/repos/o/r/issues",
            json={"title": "T"},
            headers=credentials("github", sandbox.token("github")),
            trust_env=False,
        )
        assert created.status_code == 201, created.text
        issues = sandbox.state()["github"]["issue:o/r"]  # the repository's issues (kind:scope)
        assert [i["title"] for i in issues.values()] == ["T"]
        sandbox.reset()
        assert sandbox.state()["github"] == {} and sandbox.status == "running"


def test_usage_diff_checkpoints_restore_and_fork_through_the_client(
    client: Client, agent: str
) -> None:
    with client.create_sandbox(agent, ["github"]) as sandbox:
        issues = f"{sandbox.url('github')}/repos/doppel/sandbox/issues"
        auth = credentials("github", sandbox.token("github"))
        saved = sandbox.checkpoint("clean")
        assert saved["name"] == "clean" and saved["sandbox_id"] == sandbox.id
        with pytest.raises(CheckpointExistsError) as taken:
            client.checkpoint(sandbox.id, "clean")
        assert taken.value.errors[0].pointer == "/name"
        made = httpx.post(issues, json={"title": "by the client"}, headers=auth, trust_env=False)
        assert made.status_code == 201
        httpx.get(f"{issues}/999", headers=auth, trust_env=False)

        sandbox.refresh()
        assert isinstance(sandbox.usage, Usage)
        assert (sandbox.usage.requests, sandbox.usage.errors) == (2, 1)
        assert sandbox.usage.last_activity is not None
        assert set(sandbox.usage.bytes) == {"state", "journal", "overlays"}
        assert sandbox.services["github"].usage.requests == 2
        diff = sandbox.diff()
        assert diff["summary"] == {"created": 1, "changed": 0, "deleted": 0}
        assert client.diff(sandbox.id, since="clean")["since"] == "clean"
        with pytest.raises(CheckpointNotFoundError):
            client.diff(sandbox.id, since="nope")
        assert [c["name"] for c in client.checkpoints(sandbox.id)] == ["clean"]

        with sandbox.fork(ttl_minutes=5) as fork:
            assert fork.id != sandbox.id and fork.url("github") != sandbox.url("github")
            assert fork.diff()["services"] == diff["services"]
            sandbox.restore("clean")
            assert sandbox.diff()["summary"]["created"] == 0
            assert fork.diff()["summary"]["created"] == 1  # the fork keeps its own
