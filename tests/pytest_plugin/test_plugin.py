"""The pytest plugin, run by pytester in child pytest processes against real control planes."""

from __future__ import annotations

import json
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

from doppel import Client
from tests.servers import ControlPlane, free_port, port_is_closed

pytest_plugins = ["pytester"]

# Child runs are as strict as this repository's own: any warning fails them.
STRICT_INI = "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"

SLACK_AND_GITHUB = """
from pathlib import Path

import github
from slack_sdk import WebClient


def test_slack(doppel, doppel_sandbox):
    sandbox = doppel_sandbox(["slack"], configs={"slack": {"channels": ["deploys"]}})
    slack = WebClient(token=sandbox.token("slack"), base_url=sandbox.url("slack") + "/api/")
    slack.chat_postMessage(channel="#deploys", text="shipped")
    channels = slack.conversations_list()["channels"]
    deploys = next(c["id"] for c in channels if c["name"] == "deploys")
    history = slack.conversations_history(channel=deploys)
    assert [m["text"] for m in history["messages"]][:1] == ["shipped"]
    record(doppel.base_url, sandbox.id)


def test_github(doppel, doppel_sandbox):
    sandbox = doppel_sandbox("github", configs={"github": {"repo": "acme/rocket"}})
    gh = github.Github(
        auth=github.Auth.Token(sandbox.token("github")), base_url=sandbox.url("github"),
        retry=None, seconds_between_requests=None, seconds_between_writes=None,
    )
    issue = gh.get_repo("acme/rocket").create_issue("Crash on start", labels=["bug"])
    assert [label.name for label in issue.labels] == ["bug"]
    record(doppel.base_url, sandbox.id)


def test_zz_nothing_is_left_running(doppel):
    made = [line.split() for line in Path("made.txt").read_text().splitlines()]
    assert len(made) == 2 and len({url for url, _ in made}) == 1  # one control plane
    statuses = {s.id: s.status for s in doppel.list_sandboxes()}
    assert {statuses[sandbox_id] for _, sandbox_id in made} == {"deleted"}


def record(url, sandbox_id):
    with open("made.txt", "a") as out:
        out.write(f"{url} {sandbox_id}\\n")
"""


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """This module's `doppel serve`, given longer to start than conftest's: the child pytest
    runs beside it load the machine too."""
    server = ControlPlane(tmp_path_factory.mktemp("control-plane") / "data")
    try:
        yield server.start(timeout=60.0)
    finally:
        server.stop()


@pytest.fixture
def child(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose child runs see no DOPPEL_URL unless a test sets one."""
    monkeypatch.delenv("DOPPEL_URL", raising=False)
    pytester.makeini(STRICT_INI)
    return pytester


def test_the_plugin_is_installed_as_a_pytest11_entry_point() -> None:
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}

    assert plugins.get("doppel") == "doppel.pytest_plugin"


def test_the_readme_example_passes(child: pytest.Pytester, control_plane: ControlPlane) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = readme.split("## In pytest", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    child.makepyfile(test_readme=example)

    result = child.runpytest_subprocess("-p", "no:cacheprovider", "--doppel-url", control_plane.url)

    result.assert_outcomes(passed=1)


def test_an_unused_plugin_starts_nothing_and_imports_no_client(child: pytest.Pytester) -> None:
    child.makepyfile(
        """
        import sys

        def test_plain(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("doppel")
            loaded = [m for m in sys.modules if m.startswith("doppel.")]
            assert loaded == ["doppel.pytest_plugin"]
        """
    )

    result = child.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=1)


def test_the_session_control_plane_serves_every_test_and_stops_after_the_session(
    child: pytest.Pytester,
) -> None:
    child.makepyfile(test_sdks=SLACK_AND_GITHUB)

    result = child.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=3)
    (url, _), _ = [line.split() for line in (child.path / "made.txt").read_text().splitlines()]
    assert url.startswith("http://127.0.0.1:")
    assert port_is_closed(int(url.rpartition(":")[2]))  # stopped with the session


@pytest.mark.parametrize("how", ["environment", "option"])
def test_a_running_control_plane_is_used_and_left_with_nothing_running(
    child: pytest.Pytester, control_plane: ControlPlane, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"test_shared_{how}_{secrets.token_hex(3)}"
    child.makepyfile(
        f"""
        import httpx
        import pytest

        def {name}(doppel, doppel_sandbox):
            assert doppel.base_url == {control_plane.url!r}
            plain = doppel_sandbox(["figma"])
            me = {{"/v1/me": {{"handle": "Agent 7"}}}}
            stubbed = doppel_sandbox(["slack", "figma"], mock_responses={{"figma": me}})
            me = httpx.get(stubbed.url("figma") + "/v1/me", trust_env=False)
            assert me.json() == {{"handle": "Agent 7"}}
            assert plain.ttl_minutes == stubbed.ttl_minutes == 7
            assert plain.agent_id == "pytest-{name}"
            with pytest.raises(ValueError, match="'github', which is not among the services"):
                doppel_sandbox(["slack"], mock_responses={{"github": {{"/user": {{}}}}}})
            with pytest.raises(ValueError, match="configs names 'githb', which is not among"):
                doppel_sandbox(["github"], configs={{"githb": {{"repo": "acme/rocket"}}}})
        """
    )
    args = ["-p", "no:cacheprovider", "--doppel-ttl", "7"]
    if how == "option":
        args += ["--doppel-url", control_plane.url]
    else:
        monkeypatch.setenv("DOPPEL_URL", control_plane.url)

    result = child.runpytest_subprocess(*args)

    result.assert_outcomes(passed=1)
    with Client(control_plane.url) as client:
        made = client.list_sandboxes(agent_id=f"pytest-{name}")
    assert [s.status for s in made] == ["deleted", "deleted"]
    assert all(port_is_closed(s.port) for m in made for s in m.services.values() if s.port)


FAILING = """
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

def {name}(doppel_sandbox):
    sandbox = doppel_sandbox(["slack"], configs={{"slack": {{"channels": ["deploys"]}}}})
    slack = WebClient(token=sandbox.token("slack"), base_url=sandbox.url("slack") + "/api/")
    slack.chat_postMessage(channel="#deploys", text="shipped")
    slack.chat_postMessage(channel="#nowhere", text="lost")

def {name}_passes(doppel_sandbox):
    doppel_sandbox(["figma"])
"""


def test_a_failed_test_shows_its_sandboxes_journal_and_changes(
    child: pytest.Pytester, control_plane: ControlPlane
) -> None:
    name = f"test_fails_{secrets.token_hex(3)}"
    child.makepyfile(FAILING.format(name=name))

    result = child.runpytest_subprocess(
        "-p", "no:cacheprovider", "--doppel-url", control_plane.url, "--junitxml=report.xml"
    )

    result.assert_outcomes(passed=1, failed=1)
    with Client(control_plane.url) as client:
        (sandbox,) = client.list_sandboxes(agent_id=f"pytest-{name}")
    assert sandbox.status == "deleted"  # attached first, then deleted as usual
    result.stdout.fnmatch_lines(
        [
            "*- doppel journal -*",
            f"sandbox {sandbox.id} (agent pytest-{name}): slack http://127.0.0.1:*",
            "* slack POST /api/chat.postMessage -> 200 (chat_postMessage; world: create message)",
            "* slack POST /api/chat.postMessage -> 200 (chat_postMessage; error: *#nowhere*)",
            '*answer: {"ok":false,"error":"channel_not_found"*',
            "*- doppel diff -*" if hasattr(client, "diff") else "*- doppel state -*",
            f"sandbox {sandbox.id} *",
            '*"text":"shipped"*',
            "*short test summary info*",
        ]
    )
    assert "lost" not in result.stdout.str().split("doppel journal")[-1].split("short test")[0]
    properties = {
        p.get("name"): p.get("value")
        for case in ET.parse(child.path / "report.xml").getroot().iter("testcase")
        if case.get("name") == name
        for p in case.iter("property")
    }
    journal = json.loads(properties[f"doppel journal {sandbox.id}"])
    assert [e["status"] for e in journal["slack"]] == [200, 200]
    assert "shipped" in journal["slack"][0]["request_body"]
    assert any(key.startswith(("doppel diff ", "doppel state ")) for key in properties)


def test_doppel_keep_keeps_the_sandboxes_of_failed_tests_only(
    child: pytest.Pytester, control_plane: ControlPlane
) -> None:
    name = f"test_kept_{secrets.token_hex(3)}"
    child.makepyfile(FAILING.format(name=name))

    result = child.runpytest_subprocess(
        "-p", "no:cacheprovider", "--doppel-url", control_plane.url, "--doppel-keep"
    )

    result.assert_outcomes(passed=1, failed=1)
    with Client(control_plane.url) as client:
        (failed,) = client.list_sandboxes(agent_id=f"pytest-{name}")
        (passed,) = client.list_sandboxes(agent_id=f"pytest-{name}_passes")
        try:
            assert (failed.status, passed.status) == ("running", "deleted")
            result.stdout.fnmatch_lines(
                [
                    "*doppel: sandboxes kept (--doppel-keep)*",
                    f"*::{name}: sandbox {failed.id} (agent pytest-{name}): slack http://*",
                ]
            )
        finally:
            failed.delete()


def test_sandboxes_kept_by_the_session_control_plane_come_back_with_its_data_dir(
    child: pytest.Pytester,
) -> None:
    name = f"test_kept_{secrets.token_hex(3)}"
    child.makepyfile(FAILING.format(name=name))

    result = child.runpytest_subprocess("-p", "no:cacheprovider", "--doppel-keep")

    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    hint = re.search(r"`doppel serve --public-host 127.0.0.1 --data-dir (\S+)`", output)
    assert hint is not None, output
    server = ControlPlane(Path(hint[1]))
    try:
        server.start(timeout=60.0)
        with Client(server.url) as client:
            (kept,) = client.list_sandboxes(agent_id=f"pytest-{name}")
            assert kept.status == "running"
            assert f"{name}: sandbox {kept.id} " in output
            answer = httpx.post(
                f"{kept.url('slack')}/api/auth.test",
                headers={"Authorization": f"Bearer {kept.token('slack')}"},
                trust_env=False,
            )
            assert answer.json()["ok"] is True
            kept.delete()
    finally:
        server.stop()


def test_an_unreachable_control_plane_fails_the_tests_that_need_it_by_its_url(
    child: pytest.Pytester,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    child.makepyfile(
        """
        def test_needs_a_sandbox(doppel_sandbox):
            doppel_sandbox(["slack"])

        def test_needs_nothing():
            pass
        """
    )

    result = child.runpytest_subprocess("-p", "no:cacheprovider", "--doppel-url", url)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*the Doppel control plane at {url} is not usable*"])


def test_a_session_control_plane_that_cannot_start_says_why(
    child: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOPPEL_MAX_TTL_MINUTES", "-1")  # an invalid setting: serve refuses it
    child.makepyfile("def test_needs_it(doppel):\n    pass\n")

    result = child.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*could not start the session's Doppel control plane*"])
