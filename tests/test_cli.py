"""The `doppel sandbox` and `doppel templates` commands against a real `doppel serve`."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from doppel.cli import app
from tests.servers import ControlPlane, credentials, free_port


@pytest.fixture(scope="module")
def server(control_plane: ControlPlane) -> ControlPlane:
    """This module's own `doppel serve` (see tests/conftest.py)."""
    return control_plane


Doppel = Callable[..., Result]


@pytest.fixture
def doppel(server: ControlPlane) -> Doppel:
    """Run `doppel ARGS... --url <server>` in-process; the result keeps stdout and stderr apart."""
    runner = CliRunner(env={"DOPPEL_URL": None})

    def run(*args: str, url: str | None = server.url) -> Result:
        return runner.invoke(app, [*args, *(["--url", url] if url else [])])

    return run


@pytest.fixture
def agent() -> str:
    return f"cli-{secrets.token_hex(3)}"


def created(doppel: Doppel, agent: str, *services: str) -> dict[str, Any]:
    args = [a for name in services or ("figma",) for a in ("--service", name)]
    result = doppel("sandbox", "create", "--agent", agent, *args, "--json")
    assert result.exit_code == 0, result.output
    sandbox: dict[str, Any] = json.loads(result.stdout)
    return sandbox


def test_create_with_json_prints_only_the_sandbox(doppel: Doppel, agent: str) -> None:
    result = doppel(
        "sandbox", "create", "--agent", agent, "--service", "figma", "--service", "slack",
        "--ttl", "20", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    sandbox = json.loads(result.stdout)
    assert sandbox["agent_id"] == agent
    assert sandbox["status"] == "running"
    assert sandbox["ttl_minutes"] == 20
    assert set(sandbox["services"]) == {"figma", "slack"}
    assert sandbox["services"]["figma"]["url"].startswith("http://127.0.0.1:")
    # each service's token, in its provider's format, for the agent to send
    assert re.fullmatch(r"figd_[A-Za-z0-9]{40}", sandbox["services"]["figma"]["token"])
    slack_token = sandbox["services"]["slack"]["token"]
    assert re.fullmatch(r"xoxb-[0-9]{13}-[0-9]{13}-[A-Za-z0-9]{24}", slack_token)


def test_create_without_json_shows_each_service_url(doppel: Doppel, agent: str) -> None:
    result = doppel("sandbox", "create", "--agent", agent, "--service", "slack")

    assert result.exit_code == 0, result.output
    assert "running" in result.stdout
    assert "slack" in result.stdout
    assert "http://127.0.0.1:" in result.stdout


def test_create_passes_the_config_file_as_custom_configs(
    doppel: Doppel, agent: str, tmp_path: Path
) -> None:
    config = tmp_path / "configs.json"
    config.write_text(json.dumps({"figma": {"workspace_name": "Acme Design"}}))

    result = doppel(
        "sandbox", "create", "--agent", agent, "--service", "figma", "--config", str(config),
        "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["services"]["figma"]["status"] == "running"


def test_a_config_the_template_rejects_exits_1_and_prints_the_pointer(
    doppel: Doppel, agent: str, tmp_path: Path
) -> None:
    config = tmp_path / "configs.json"
    config.write_text(json.dumps({"figma": {"colour": "red"}}))

    result = doppel(
        "sandbox", "create", "--agent", agent, "--service", "figma", "--config", str(config)
    )

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: a custom_config is invalid"
    assert lines[1].startswith("  /custom_configs/figma/colour: ")


def test_a_config_file_that_is_not_json_is_a_usage_error(
    doppel: Doppel, agent: str, tmp_path: Path
) -> None:
    config = tmp_path / "configs.json"
    config.write_text("{figma: ")

    result = doppel(
        "sandbox", "create", "--agent", agent, "--service", "figma", "--config", str(config)
    )

    assert result.exit_code == 2
    assert "configs.json" in result.stderr


def test_an_unknown_service_exits_1_and_points_at_it(doppel: Doppel, agent: str) -> None:
    result = doppel("sandbox", "create", "--agent", agent, "--service", "nope")

    assert result.exit_code == 1
    assert "  /required_services/0: unknown service 'nope'" in result.stderr


def test_ls_shows_the_new_sandbox_id(doppel: Doppel, agent: str) -> None:
    sandbox = created(doppel, agent, "figma", "slack")

    everything = doppel("sandbox", "ls")
    mine = doppel("sandbox", "ls", "--agent", agent, "--status", "running", "--json")

    assert everything.exit_code == 0, everything.output
    assert sandbox["sandbox_id"] in everything.stdout
    assert sandbox["services"]["figma"]["url"] in everything.stdout
    assert [s["sandbox_id"] for s in json.loads(mine.stdout)["sandboxes"]] == [
        sandbox["sandbox_id"]
    ]


def test_ls_of_an_agent_without_sandboxes_says_so(doppel: Doppel, agent: str) -> None:
    result = doppel("sandbox", "ls", "--agent", agent)

    assert result.exit_code == 0
    assert result.stdout.strip() == "No sandboxes."


def test_show_prints_the_sandbox_and_its_services(doppel: Doppel, agent: str) -> None:
    sandbox = created(doppel, agent, "figma")

    result = doppel("sandbox", "show", sandbox["sandbox_id"])
    raw = doppel("sandbox", "show", sandbox["sandbox_id"], "--json")

    assert result.exit_code == 0, result.output
    assert sandbox["sandbox_id"] in result.stdout
    assert sandbox["services"]["figma"]["url"] in result.stdout
    assert json.loads(raw.stdout) == sandbox


def test_extend_pushes_the_expiry_later(doppel: Doppel, agent: str) -> None:
    sandbox = created(doppel, agent)

    result = doppel("sandbox", "extend", sandbox["sandbox_id"], "--minutes", "30", "--json")
    said = doppel("sandbox", "extend", sandbox["sandbox_id"], "--minutes", "1.5")

    assert result.exit_code == 0, result.output
    before = datetime.fromisoformat(sandbox["expires_at"])
    after = datetime.fromisoformat(json.loads(result.stdout)["expires_at"])
    assert after - before == timedelta(minutes=30)
    assert said.exit_code == 0, said.output
    assert f"Sandbox {sandbox['sandbox_id']} now expires at" in said.stdout


def test_extend_by_a_negative_number_exits_1_with_the_pointer(doppel: Doppel, agent: str) -> None:
    sandbox = created(doppel, agent)

    result = doppel("sandbox", "extend", sandbox["sandbox_id"], "--minutes", "-5")

    assert result.exit_code == 1
    assert "  /ttl_minutes: " in result.stderr


def test_rm_deletes_and_then_show_says_the_sandbox_is_gone(doppel: Doppel, agent: str) -> None:
    sandbox = created(doppel, agent)

    removed = doppel("sandbox", "rm", sandbox["sandbox_id"])
    shown = doppel("sandbox", "show", sandbox["sandbox_id"])
    again = doppel("sandbox", "rm", sandbox["sandbox_id"], "--json")

    assert removed.exit_code == 0, removed.output
    assert removed.stdout.strip() == f"Deleted sandbox {sandbox['sandbox_id']}."
    assert shown.exit_code == 1
    assert shown.stderr.strip() == f"error: sandbox {sandbox['sandbox_id']} was deleted"
    assert again.exit_code == 1
    assert again.stdout == ""


def test_show_of_an_unknown_sandbox_exits_1(doppel: Doppel) -> None:
    result = doppel("sandbox", "show", "0000000000000000")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no sandbox '0000000000000000'"


def test_an_unreachable_control_plane_exits_1_naming_the_url(doppel: Doppel) -> None:
    dead = f"http://127.0.0.1:{free_port()}"

    result = doppel("sandbox", "ls", url=dead)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot reach the Doppel control plane at {dead}/")


def test_the_url_defaults_to_doppel_url_from_the_environment(server: ControlPlane) -> None:
    result = CliRunner().invoke(app, ["templates", "--json"], env={"DOPPEL_URL": server.url})

    assert result.exit_code == 0, result.output
    assert "figma" in {t["name"] for t in json.loads(result.stdout)}


def test_templates_lists_the_bundled_ones(doppel: Doppel) -> None:
    table = doppel("templates")
    raw = doppel("templates", "--json")

    assert table.exit_code == 0, table.output
    assert "figma" in table.stdout
    assert "slack" in table.stdout
    assert {"figma", "slack"} <= {t["name"] for t in json.loads(raw.stdout)}


def test_templates_show_describes_one(doppel: Doppel) -> None:
    table = doppel("templates", "show", "figma")
    raw = doppel("templates", "show", "figma", "--json")

    assert table.exit_code == 0, table.output
    assert "getMe" in table.stdout
    assert "workspace_name" in table.stdout
    assert json.loads(raw.stdout)["name"] == "figma"


def test_options_before_templates_show_apply_to_it(server: ControlPlane) -> None:
    result = CliRunner(env={"DOPPEL_URL": None}).invoke(
        app, ["templates", "--url", server.url, "--json", "show", "slack"]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "slack"


def test_templates_show_of_an_unknown_name_exits_1(doppel: Doppel) -> None:
    result = doppel("templates", "show", "no-such-template")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: no template named 'no-such-template'")


def test_a_missing_required_option_is_a_usage_error(doppel: Doppel) -> None:
    result = doppel("sandbox", "create", "--service", "figma")

    assert result.exit_code == 2
    assert "--agent" in result.stderr


def test_templates_add_registers_a_spec_file_for_new_sandboxes(
    doppel: Doppel, agent: str, spec_path: dict[str, Path]
) -> None:
    name = f"pets-{secrets.token_hex(2)}"
    spec = spec_path["petstore-expanded"]
    added = doppel("templates", "add", str(spec), "--name", name)
    assert added.exit_code == 0, added.output
    assert f"Template {name} registered: 4 operations" in added.stdout
    sandbox = created(doppel, agent, name)
    assert sandbox["services"][name]["status"] == "running"
    listed = doppel("templates", "--json")
    assert name in [t["name"] for t in json.loads(listed.stdout)]
    removed = doppel("templates", "rm", name)
    assert removed.exit_code == 0 and f"Template {name} removed." in removed.stdout


def test_templates_add_of_a_broken_spec_exits_1_naming_the_cause(
    doppel: Doppel, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "openapi: 3.0.0\npaths:\n  /x:\n    get: {responses: {'200': {$ref: 'other.yaml#/R'}}}\n"
    )
    result = doppel("templates", "add", str(broken), "--name", "broken")
    assert result.exit_code == 1
    assert "other.yaml#/R" in result.stderr


def test_requests_state_and_reset(doppel: Doppel, agent: str) -> None:
    sandbox = created(doppel, agent, "github")
    github = sandbox["services"]["github"]
    posted = httpx.post(
        f"{github['url']}/repos/doppel/sandbox/issues",
        json={"title": "T"},
        headers=credentials("github", github["token"]),
        trust_env=False,
    )
    assert posted.status_code == 201, posted.text
    listed = doppel("sandbox", "requests", sandbox["sandbox_id"])
    assert listed.exit_code == 0, listed.output
    assert "POST /repos/doppel/sandbox/issues" in listed.stdout and "201" in listed.stdout
    state = json.loads(doppel("sandbox", "state", sandbox["sandbox_id"]).stdout)
    issues = state["github"]["issue:doppel/sandbox"]  # the repository's issues (kind:scope)
    assert [i["title"] for i in issues.values()] == ["T"]
    reset = doppel("sandbox", "reset", sandbox["sandbox_id"])
    assert reset.exit_code == 0 and "reset" in reset.stdout
    assert json.loads(doppel("sandbox", "state", sandbox["sandbox_id"]).stdout) == {"github": {}}
    quiet = doppel("sandbox", "requests", sandbox["sandbox_id"])
    assert "answered no request yet" in quiet.stdout


def test_show_prints_the_usage(doppel: Doppel, agent: str) -> None:
    sandbox = created(doppel, agent, "github")
    github = sandbox["services"]["github"]
    auth = credentials("github", github["token"])
    for number in (1, 404):
        httpx.get(f"{github['url']}/repos/doppel/sandbox/issues/{number}", headers=auth)

    shown = doppel("sandbox", "show", sandbox["sandbox_id"])

    assert shown.exit_code == 0, shown.output
    assert "Usage: 2 requests, 1 errors" in shown.stdout
    assert "overlays" in shown.stdout and "journal" in shown.stdout
    usage = json.loads(doppel("sandbox", "show", sandbox["sandbox_id"], "--json").stdout)["usage"]
    assert (usage["requests"], usage["errors"]) == (2, 1)


def test_diff_checkpoint_restore_and_fork(doppel: Doppel, agent: str) -> None:
    sandbox = created(doppel, agent, "github")
    sandbox_id, github = sandbox["sandbox_id"], sandbox["services"]["github"]
    issue = f"{github['url']}/repos/doppel/sandbox/issues/2"
    auth = credentials("github", github["token"])
    saved = doppel("sandbox", "checkpoint", sandbox_id, "--name", "start")
    assert saved.exit_code == 0 and "Checkpoint start" in saved.stdout
    closed = httpx.patch(issue, json={"state": "closed"}, headers=auth, trust_env=False)
    assert closed.status_code == 200

    shown = doppel("sandbox", "diff", sandbox_id)

    assert shown.exit_code == 0, shown.output
    assert "0 created, 1 changed, 0 deleted" in shown.stdout
    assert "doppel/sandbox#2" in shown.stdout and "replace /state" in shown.stdout
    as_json = json.loads(doppel("sandbox", "diff", sandbox_id, "--since", "start", "--json").stdout)
    assert as_json["since"] == "start" and as_json["summary"]["changed"] == 1
    unknown = doppel("sandbox", "diff", sandbox_id, "--since", "nope")
    assert unknown.exit_code == 1 and "/since" in unknown.stderr
    listed = doppel("sandbox", "checkpoints", sandbox_id, "--json")
    assert [c["name"] for c in json.loads(listed.stdout)["checkpoints"]] == ["start"]
    assert "start" in doppel("sandbox", "checkpoints", sandbox_id).stdout

    forked = doppel("sandbox", "fork", sandbox_id, "--json")
    assert forked.exit_code == 0, forked.output
    fork = json.loads(forked.stdout)
    assert fork["sandbox_id"] != sandbox_id and fork["agent_id"] == agent
    restored = doppel("sandbox", "restore", sandbox_id, "start")
    assert restored.exit_code == 0 and "restored to checkpoint start" in restored.stdout
    assert httpx.get(issue, headers=auth, trust_env=False).json()["state"] == "open"
    fork_issue = f"{fork['services']['github']['url']}/repos/doppel/sandbox/issues/2"
    fork_auth = credentials("github", fork["services"]["github"]["token"])
    assert httpx.get(fork_issue, headers=fork_auth, trust_env=False).json()["state"] == "closed"
