"""`doppel migrate static-to-dynamic` run for real against a real `doppel serve` on loopback,
on the realistic compose file and nginx configuration kept beside this file."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from doppel.cli import app
from doppel.migration.migrate import read_spec
from tests.servers import ControlPlane

HERE = Path(__file__).parent
COMPOSE = HERE / "docker-compose.sandbox.yml"
NGINX = HERE / "nginx.conf"
AGENTS = HERE / "agents.yaml"
EXPECTED_SANDBOXES = {
    "agent-ci": ["figma-static", "slack-static", "github-static"],
    "agent-docs": ["figma-static"],
    "agent-ops": ["figma-static", "slack-static", "github-static"],
    "agent-qa": ["figma-static", "slack-static", "github-static"],
    "agent-release": ["slack-static", "github-static", "petstore"],
    "agent-triage": ["figma-static", "slack-static"],
}


def migrate(server: ControlPlane, *args: str) -> Result:
    runner = CliRunner(env={"DOPPEL_URL": None, "COLUMNS": "200"})
    return runner.invoke(
        app, ["migrate", "static-to-dynamic", *args, "--url", server.url], catch_exceptions=False
    )


def full(server: ControlPlane, *extra: str) -> Result:
    return migrate(
        server, "--compose", str(COMPOSE), "--nginx", str(NGINX), "--agents", str(AGENTS), *extra
    )


def _get(server: ControlPlane, path: str) -> Any:
    response = httpx.get(f"{server.url}{path}", trust_env=False, timeout=10)
    response.raise_for_status()
    return response.json()


def _registered(server: ControlPlane) -> list[str]:
    return sorted(t["name"] for t in _get(server, "/v1/templates") if t["origin"] == "registered")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("migrate") / "data").start(timeout=90)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def first_run(server: ControlPlane) -> dict[str, Any]:
    result = full(server, "--json")
    assert result.exit_code == 1, result.output  # the broken Jira spec, and only it
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_a_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    fresh = ControlPlane(tmp_path / "data").start(timeout=90)
    try:
        result = full(fresh, "--dry-run", "--json")
        plan = json.loads(result.stdout)
        assert _registered(fresh) == []
        assert _get(fresh, "/v1/sandboxes")["sandboxes"] == []
    finally:
        fresh.stop()
    assert plan["dry_run"] is True
    assert {t["template"]: t["outcome"] for t in plan["templates"]} == {
        "figma-static": "would register",
        "slack-static": "would register",
        "github-static": "would register",
        "petstore": "would register",
        "jira": "failed",
    }
    assert {s["agent"]: s["outcome"] for s in plan["sandboxes"]} == dict.fromkeys(
        EXPECTED_SANDBOXES, "would create"
    )
    assert result.exit_code == 1  # the plan already knows the Jira spec is broken


def test_each_spec_becomes_a_template_named_from_its_compose_service(
    server: ControlPlane, first_run: dict[str, Any]
) -> None:
    steps = {t["service"]: t for t in first_run["templates"]}
    assert {s: t["outcome"] for s, t in steps.items()} == {
        "figma": "registered",
        "slack": "registered",
        "github": "registered",
        "petstore": "registered",
        "jira": "failed",
    }
    assert "'figma' is a bundled template" in steps["figma"]["detail"]
    assert _registered(server) == ["figma-static", "github-static", "petstore", "slack-static"]
    held = {t["name"]: t["digest"] for t in _get(server, "/v1/templates")}
    spec = (HERE / "specs" / "petstore.yaml").read_bytes()
    assert held["petstore"] == hashlib.sha256(spec).hexdigest()


def test_a_broken_spec_is_reported_by_name_and_the_rest_proceed(
    first_run: dict[str, Any],
) -> None:
    jira = next(t for t in first_run["templates"] if t["service"] == "jira")
    assert jira["ok"] is False
    assert jira["detail"].startswith("jira-broken.yaml: invalid YAML")
    triage = next(s for s in first_run["sandboxes"] if s["agent"] == "agent-triage")
    assert triage["services"] == ["figma-static", "slack-static"]
    assert "left out (spec unreadable): jira" in triage["detail"]
    assert triage["outcome"].startswith("created ")
    assert first_run["ok"] is False


def test_one_sandbox_per_agent_serves_the_old_specs(
    server: ControlPlane, first_run: dict[str, Any]
) -> None:
    created = {s["agent"]: s for s in first_run["sandboxes"]}
    assert {a: s["services"] for a, s in created.items()} == EXPECTED_SANDBOXES
    for agent, services in EXPECTED_SANDBOXES.items():
        live = _get(server, f"/v1/agents/{agent}/sandboxes?status=running")["sandboxes"]
        assert [sorted(s["services"]) for s in live] == [sorted(services)]
        assert live[0]["sandbox_id"] == created[agent]["sandbox_id"]
    release = _get(server, f"/v1/sandboxes/{created['agent-release']['sandbox_id']}")
    pets = httpx.get(f"{release['services']['petstore']['url']}/v1/pets", trust_env=False)
    assert pets.status_code == 200 and isinstance(pets.json(), list)
    docs = _get(server, f"/v1/sandboxes/{created['agent-docs']['sandbox_id']}")
    me = httpx.get(f"{docs['services']['figma-static']['url']}/v1/me", trust_env=False)
    assert me.json() == {"id": "1234", "handle": "Design Bot", "email": "bot@example.com"}


def test_a_second_run_registers_nothing_and_creates_no_second_sandbox(
    server: ControlPlane, first_run: dict[str, Any]
) -> None:
    before = _get(server, "/v1/sandboxes")["sandboxes"]
    result = full(server)
    after = _get(server, "/v1/sandboxes")["sandboxes"]
    assert result.exit_code == 1
    assert sorted(s["sandbox_id"] for s in after) == sorted(s["sandbox_id"] for s in before)
    for name in ("figma-static", "slack-static", "github-static", "petstore"):
        assert f"│ {name}" in result.stdout
    assert result.stdout.count("unchanged") >= 4
    assert "registered" not in result.stdout.replace("is a bundled", "")
    for step in first_run["sandboxes"]:
        assert f"exists: {step['sandbox_id']}" in result.stdout
    assert "already runs these services" in result.stdout
    assert "jira-broken.yaml: invalid YAML" in result.stdout


def test_a_changed_spec_replaces_its_template(
    server: ControlPlane, first_run: dict[str, Any], tmp_path: Path
) -> None:
    shutil.copytree(HERE, tmp_path / "setup")
    spec = tmp_path / "setup" / "specs" / "petstore.yaml"
    spec.write_text(spec.read_text().replace("Swagger Petstore", "Swagger Petstore v2"))
    (tmp_path / "setup" / "agents.yaml").write_text("{}")
    result = migrate(server, "--compose", str(tmp_path / "setup" / COMPOSE.name), "--json")
    steps = {t["service"]: t["outcome"] for t in json.loads(result.stdout)["templates"]}
    assert steps["petstore"] == "replaced"
    assert steps["figma"] == "unchanged"
    assert _get(server, "/v1/templates/petstore")["title"] == "Swagger Petstore v2"


def test_a_clean_set_up_exits_0_and_prints_tables(server: ControlPlane, tmp_path: Path) -> None:
    compose = tmp_path / "docker-compose.yml"
    (tmp_path / "specs").mkdir()
    shutil.copy(HERE / "specs" / "slack.yaml", tmp_path / "specs" / "chat.yaml")
    compose.write_text(
        "services:\n  chat:\n    image: stoplight/prism:4\n"
        "    command: mock -h 0.0.0.0 /specs/chat.yaml\n"
        "    volumes: ['./specs:/specs:ro']\n    ports: ['4010:4010']\n"
    )
    agents = tmp_path / "agents.json"
    agents.write_text(json.dumps({"agent-clean": ["chat"]}))
    result = migrate(server, "--compose", str(compose), "--agents", str(agents))
    assert result.exit_code == 0, result.output
    assert "│ chat" in result.stdout and "registered" in result.stdout
    assert "agent-clean" in result.stdout and "created " in result.stdout


def test_an_unreadable_compose_file_is_an_error_naming_it(
    server: ControlPlane, tmp_path: Path
) -> None:
    result = migrate(server, "--compose", str(tmp_path / "missing.yml"))
    assert result.exit_code == 1
    assert "missing.yml: cannot read the compose file" in result.stderr


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(None, "cannot read", id="missing"),
        pytest.param("openapi: 3.0.0\npaths: {a: [\n", "invalid YAML", id="invalid-yaml"),
        pytest.param("- just\n- a list\n", "is not an OpenAPI description", id="a-list"),
        pytest.param("title: x\npaths: {}\n", "is not an OpenAPI description", id="no-openapi"),
        pytest.param('{"openapi": "3.1.0", "paths": {}}', None, id="json-is-fine"),
    ],
)
def test_read_spec_tells_why_a_spec_is_unusable(
    tmp_path: Path, content: str | None, problem: str | None
) -> None:
    path = tmp_path / "spec.yaml"
    if content is not None:
        path.write_text(content)
    _, found = read_spec(path)
    assert (found is None) if problem is None else (problem in (found or ""))
