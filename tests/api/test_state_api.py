"""Usage, state diffs, checkpoints, restore and fork, end to end: a real `doppel serve`, the
bundled templates and a user's spec, real HTTP on loopback."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest

from tests.servers import ControlPlane, credentials

REPO = "doppel/sandbox"  # the github template's default repository


def _create(server: ControlPlane, *services: str, agent: str | None = None) -> dict[str, Any]:
    agent = agent or f"diff-{secrets.token_hex(3)}"
    response = httpx.post(
        f"{server.url}/v1/agents/{agent}/sandboxes",
        json={"required_services": list(services)},
        trust_env=False,
        timeout=60,
    )
    assert response.status_code == 201, response.text
    sandbox: dict[str, Any] = response.json()
    return sandbox


def _api(server: ControlPlane, sandbox: dict[str, Any]) -> str:
    return f"{server.url}/v1/sandboxes/{sandbox['sandbox_id']}"


class GitHub:
    """The sandbox's GitHub, with the token it was issued."""

    def __init__(self, sandbox: dict[str, Any]) -> None:
        service = sandbox["services"]["github"]
        self.url = f"{service['url']}/repos/{REPO}"
        self.headers = credentials("github", service["token"])

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, headers=self.headers, trust_env=False, **kw)


def _entries(diff: dict[str, Any], service: str) -> dict[str, list[tuple[str, str]]]:
    found = diff["services"][service]
    return {what: [(e["resource"], e["key"]) for e in items] for what, items in found.items()}


def _get(url: str, **params: str) -> httpx.Response:
    return httpx.get(url, params=params, trust_env=False, timeout=30)


def _post(url: str, body: Any = None) -> httpx.Response:
    return httpx.post(url, json=body, trust_env=False, timeout=60)


def test_the_diff_says_exactly_what_the_agent_did_to_github_and_slack(
    control_plane: ControlPlane,
) -> None:
    sandbox = _create(control_plane, "github", "slack")
    github = GitHub(sandbox)
    created = github.call("POST", "/issues", json={"title": "Crash on start", "labels": ["bug"]})
    assert created.status_code == 201, created.text
    assert github.call("PATCH", "/issues/2", json={"state": "closed"}).status_code == 200
    assert github.call("DELETE", "/labels/wontfix").status_code == 204
    assert github.call("GET", "/issues/1").status_code == 200  # reads change nothing
    slack = sandbox["services"]["slack"]
    slack_auth = credentials("slack", slack["token"])
    channels = httpx.post(
        f"{slack['url']}/api/conversations.list", headers=slack_auth, trust_env=False
    ).json()["channels"]
    posted = httpx.post(
        f"{slack['url']}/api/chat.postMessage",
        json={"channel": channels[0]["id"], "text": "shipped"},
        headers=slack_auth,
        trust_env=False,
    ).json()
    assert posted["ok"] is True

    diff = _get(f"{_api(control_plane, sandbox)}/diff").json()

    number = created.json()["number"]
    assert diff["sandbox_id"] == sandbox["sandbox_id"] and diff["since"] == "creation"
    assert diff["summary"] == {"created": 2, "changed": 1, "deleted": 1}
    assert _entries(diff, "github") == {
        "created": [("issues", f"{REPO}#{number}")],
        "changed": [("issues", f"{REPO}#2")],
        "deleted": [("labels", f"{REPO}#wontfix")],
    }
    assert _entries(diff, "slack") == {
        "created": [("messages", f"{channels[0]['id']}#{posted['ts']}")],
        "changed": [],
        "deleted": [],
    }
    services = diff["services"]
    # items as stored (as GET …/state shows them): what the API computes when it answers
    # (counters, links) is not part of them
    after = services["github"]["created"][0]["after"]
    assert {k: after[k] for k in ("number", "title", "state")} == {
        "number": number,
        "title": "Crash on start",
        "state": "open",
    }
    assert [label["name"] for label in after["labels"]] == ["bug"]
    assert services["github"]["deleted"][0]["before"]["name"] == "wontfix"
    closed = services["github"]["changed"][0]
    assert closed["before"]["state"] == "open" and closed["after"]["state"] == "closed"
    assert {"op": "replace", "path": "/state", "value": "closed"} in closed["patch"]
    assert jsonpatch.apply_patch(closed["before"], closed["patch"]) == closed["after"]
    assert closed["after"]["closed_at"] == github.call("GET", "/issues/2").json()["closed_at"]
    assert services["slack"]["created"][0]["after"]["text"] == "shipped"


def test_a_users_spec_diffs_its_inferred_collections(
    control_plane: ControlPlane, spec_path: dict[str, Path]
) -> None:
    registered = httpx.put(
        f"{control_plane.url}/v1/templates/petstore",
        content=spec_path["petstore-expanded"].read_bytes(),
        headers={"content-type": "application/yaml"},
        trust_env=False,
        timeout=60,
    )
    assert registered.status_code in (200, 201), registered.text
    sandbox = _create(control_plane, "petstore")
    pets = f"{sandbox['services']['petstore']['url']}/pets"
    kept = httpx.post(pets, json={"name": "Rex", "tag": "dog"}, trust_env=False).json()
    gone = httpx.post(pets, json={"name": "Tom"}, trust_env=False).json()
    assert httpx.delete(f"{pets}/{gone['id']}", trust_env=False).status_code == 204
    assert httpx.get(f"{pets}/{gone['id']}", trust_env=False).status_code == 404

    diff = _get(f"{_api(control_plane, sandbox)}/diff").json()

    assert diff["summary"] == {"created": 1, "changed": 0, "deleted": 0}
    (pet,) = diff["services"]["petstore"]["created"]
    assert (pet["resource"], pet["key"]) == ("/pets", str(kept["id"]))
    assert pet["after"] == kept


def test_usage_counts_answers_errors_and_bytes_per_sandbox_and_service(
    control_plane: ControlPlane,
) -> None:
    sandbox = _create(control_plane, "github", "slack")
    fresh = sandbox["usage"]
    assert (fresh["requests"], fresh["errors"], fresh["last_activity"]) == (0, 0, None)
    assert fresh["bytes"]["state"] == 0 and fresh["bytes"]["journal"] == 0
    assert fresh["bytes"]["overlays"] > 1000  # GitHub's rendered world and Slack's
    github = GitHub(sandbox)
    assert github.call("GET", "/issues/1").status_code == 200
    assert github.call("GET", "/issues/999").status_code == 404
    assert github.call("POST", "/issues", json={"title": "x"}).status_code == 201

    shown = _get(_api(control_plane, sandbox)).json()

    usage = shown["usage"]
    assert (usage["requests"], usage["errors"]) == (3, 1)
    assert usage["last_activity"] is not None
    assert shown["services"]["github"]["usage"]["requests"] == 3
    assert shown["services"]["slack"]["usage"] == {
        "requests": 0,
        "errors": 0,
        "last_activity": None,
    }
    assert usage["bytes"]["state"] > 0 and usage["bytes"]["journal"] > 0
    assert usage["bytes"]["overlays"] == fresh["bytes"]["overlays"]
    listed = _get(f"{control_plane.url}/v1/sandboxes", agent_id=shown["agent_id"]).json()
    assert listed["sandboxes"][0]["usage"] == usage


def test_checkpoints_diff_since_and_restore(control_plane: ControlPlane) -> None:
    sandbox = _create(control_plane, "github")
    api, github = _api(control_plane, sandbox), GitHub(sandbox)
    assert github.call("PATCH", "/issues/1", json={"state": "closed"}).status_code == 200
    made = _post(f"{api}/checkpoints", {"name": "closed-1"})
    assert made.status_code == 201, made.text
    assert made.json()["sandbox_id"] == sandbox["sandbox_id"] and made.json()["name"] == "closed-1"
    taken = _post(f"{api}/checkpoints", {"name": "closed-1"})
    assert taken.status_code == 409 and taken.headers["content-type"] == "application/problem+json"
    assert taken.json()["errors"][0]["pointer"] == "/name"
    unnamed = _post(f"{api}/checkpoints")
    assert unnamed.status_code == 201 and unnamed.json()["name"] == "checkpoint-2"
    new = github.call("POST", "/issues", json={"title": "after the checkpoint"}).json()
    assert github.call("DELETE", "/labels/bug").status_code == 204

    since = _get(f"{api}/diff", since="closed-1").json()

    assert since["since"] == "closed-1"
    assert _entries(since, "github") == {
        "created": [("issues", f"{REPO}#{new['number']}")],
        "changed": [],
        "deleted": [("labels", f"{REPO}#bug")],
    }
    listed = _get(f"{api}/checkpoints").json()["checkpoints"]
    assert [c["name"] for c in listed] == ["closed-1", "checkpoint-2"]
    unknown = _get(f"{api}/diff", since="nope")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["pointer"] == "/since"

    restored = _post(f"{api}/restore", {"checkpoint": "closed-1"})

    assert restored.status_code == 200 and restored.json()["sandbox_id"] == sandbox["sandbox_id"]
    assert github.call("GET", f"/issues/{new['number']}").status_code == 404
    assert github.call("GET", "/labels/bug").status_code == 200
    assert github.call("GET", "/issues/1").json()["state"] == "closed"
    assert _get(f"{api}/diff", since="closed-1").json()["summary"] == {
        "created": 0,
        "changed": 0,
        "deleted": 0,
    }
    journal = _get(f"{api}/requests").json()["services"]["github"]
    told = [e for e in journal if e["source"] == "control-plane"]
    assert len(told) == 1 and "closed-1" in told[0]["reason"]
    assert journal.index(told[0]) == 3  # after the three writes, which are kept
    missing = _post(f"{api}/restore", {"checkpoint": "nope"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["pointer"] == "/checkpoint"
    bad = _post(f"{api}/checkpoints", {"name": "../x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/name"


def test_a_fork_has_new_urls_the_same_state_and_then_its_own(control_plane: ControlPlane) -> None:
    agent = f"fork-{secrets.token_hex(3)}"
    source = _create(control_plane, "github", "slack", agent=agent)
    original = GitHub(source)
    assert original.call("PATCH", "/issues/2", json={"state": "closed"}).status_code == 200
    made = original.call("POST", "/issues", json={"title": "before the fork"})
    assert made.status_code == 201

    response = _post(f"{_api(control_plane, source)}/fork", {"ttl_minutes": 5})

    assert response.status_code == 201, response.text
    fork = response.json()
    assert fork["sandbox_id"] != source["sandbox_id"] and fork["agent_id"] == agent
    assert fork["ttl_minutes"] == 5 and set(fork["services"]) == {"github", "slack"}
    urls = {s["url"] for s in source["services"].values()}
    assert not urls & {s["url"] for s in fork["services"].values()}
    state = _get(f"{_api(control_plane, source)}/state").json()["services"]
    assert _get(f"{_api(control_plane, fork)}/state").json()["services"] == state
    forked = GitHub(fork)
    assert forked.call("GET", "/issues/2").json()["state"] == "closed"
    number = made.json()["number"]
    assert forked.call("GET", f"/issues/{number}").json()["title"] == "before the fork"
    # from now on, each its own
    assert forked.call("DELETE", "/labels/bug").status_code == 204
    assert original.call("PATCH", "/issues/1", json={"state": "closed"}).status_code == 200
    assert original.call("GET", "/labels/bug").status_code == 200
    assert forked.call("GET", "/issues/1").json()["state"] == "open"
    assert _get(f"{_api(control_plane, fork)}/diff").json()["summary"] == {
        "created": 1,
        "changed": 1,
        "deleted": 1,
    }
    other = _post(f"{_api(control_plane, source)}/fork", {"agent_id": "someone-else"}).json()
    assert other["agent_id"] == "someone-else" and other["ttl_minutes"] == source["ttl_minutes"]


def test_fork_respects_the_quota_and_ended_or_unknown_sandboxes_are_refused(
    tmp_path: Path,
) -> None:
    server = ControlPlane(
        tmp_path / "data", port_range="28100-28199", env={"DOPPEL_MAX_SANDBOXES_PER_AGENT": "1"}
    ).start()
    try:
        sandbox = _create(server, "slack", agent="solo")
        api = _api(server, sandbox)
        full = _post(f"{api}/fork")
        assert full.status_code == 429, full.text
        assert _post(f"{api}/fork", {"agent_id": "another"}).status_code == 201
        assert _post(f"{api}/fork", {"ttl_minutes": -1}).status_code == 422
        httpx.delete(api, trust_env=False)
        for gone in (
            _get(f"{api}/diff"),
            _post(f"{api}/fork", {"agent_id": "third"}),
            _post(f"{api}/checkpoints"),
            _post(f"{api}/restore", {"checkpoint": "x"}),
        ):
            assert gone.status_code == 410, gone.text
        assert _get(f"{server.url}/v1/sandboxes/nope/diff").status_code == 404
    finally:
        server.stop()


def test_usage_and_checkpoints_survive_a_kill_9(tmp_path: Path) -> None:
    server = ControlPlane(tmp_path / "data", port_range="28200-28299").start()
    try:
        sandbox = _create(server, "github")
        api, github = _api(server, sandbox), GitHub(sandbox)
        assert github.call("PATCH", "/issues/1", json={"state": "closed"}).status_code == 200
        assert github.call("GET", "/issues/404").status_code == 404
        assert _post(f"{api}/checkpoints", {"name": "closed"}).status_code == 201
        assert github.call("PATCH", "/issues/1", json={"state": "open"}).status_code == 200
        before = _get(api).json()["usage"]  # reading it writes what the journal holds
        assert (before["requests"], before["errors"]) == (3, 1)
        server.kill()
        server.start()

        after = _get(api).json()["usage"]
        assert after == {**before, "bytes": after["bytes"]}
        assert after["bytes"]["journal"] == before["bytes"]["journal"]
        assert after["bytes"]["state"] == before["bytes"]["state"]
        assert [c["name"] for c in _get(f"{api}/checkpoints").json()["checkpoints"]] == ["closed"]
        assert _post(f"{api}/restore", {"checkpoint": "closed"}).status_code == 200
        assert github.call("GET", "/issues/1").json()["state"] == "closed"
        server.kill()
        server.start()
        assert github.call("GET", "/issues/1").json()["state"] == "closed"  # restore persisted
    finally:
        server.stop()


@pytest.mark.parametrize("body", [{"checkpoint": ""}, {"checkpoint": 5}, {"other": "x"}])
def test_a_bad_restore_body_names_the_field(control_plane: ControlPlane, body: Any) -> None:
    sandbox = _create(control_plane, "slack")

    response = _post(f"{_api(control_plane, sandbox)}/restore", body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] in ("/checkpoint", "/other")
