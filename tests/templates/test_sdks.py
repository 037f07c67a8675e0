"""The vendors' own SDKs against the bundled templates, served by a real `doppel mock`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import github
import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.servers import MockProcess

# `doppel mock` checks credentials as the provider does ("auth": "any" by default): any
# well-formed token passes, none or a malformed one is the provider's own refusal.
SLACK_TOKEN = "xoxb-1234567890123-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GITHUB_TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"


def _serve(tmp_path: Path, template: str, config: dict[str, object]) -> Iterator[str]:
    path = tmp_path / f"{template}.json"
    path.write_text(json.dumps(config))
    mock = MockProcess([template, "--config", str(path)])
    try:
        yield mock.url
    finally:
        mock.stop()


@pytest.fixture(scope="module")
def slack_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = {"team_name": "Acme Robotics", "channels": ["#general", "eng-agents", "#alerts"]}
    yield from _serve(tmp_path_factory.mktemp("slack"), "slack", config)


@pytest.fixture(scope="module")
def github_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = {"repo": "acme/rocket", "branch": "trunk"}
    yield from _serve(tmp_path_factory.mktemp("github"), "github", config)


@pytest.fixture
def slack(slack_url: str) -> WebClient:
    return WebClient(token=SLACK_TOKEN, base_url=f"{slack_url}/api/")


@pytest.fixture
def gh(github_url: str) -> github.Github:
    return github.Github(
        auth=github.Auth.Token(GITHUB_TOKEN),
        base_url=github_url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_slack_auth_test_names_the_configured_team(slack: WebClient) -> None:
    auth = slack.auth_test()
    assert auth["ok"] is True and auth["team"] == "Acme Robotics"
    assert auth["url"] == "https://acme-robotics.slack.com/"
    assert auth["user_id"].startswith("U") and auth["team_id"].startswith("T")


def test_slack_conversations_list_info_and_history(slack: WebClient) -> None:
    channels = slack.conversations_list(limit=100, types="public_channel")["channels"]
    assert [c["name"] for c in channels] == ["general", "eng-agents", "alerts"]
    for channel in channels:
        info = slack.conversations_info(channel=channel["id"])["channel"]
        assert (info["id"], info["name"]) == (channel["id"], channel["name"])
        history = slack.conversations_history(channel=channel["id"], limit=5)
        assert history["has_more"] is False
        assert all({"ts", "text", "type"} <= set(m) for m in history["messages"])


def test_slack_pagination_stops_on_an_empty_cursor(slack: WebClient) -> None:
    assert len(list(slack.conversations_list(limit=100))) == 1  # all three fit on one page
    # One channel a page: the SDK follows next_cursor through the three, and stops on "".
    pages = [
        ([c["name"] for c in page["channels"]], page["response_metadata"]["next_cursor"])
        for page in slack.conversations_list(limit=1)
    ]
    assert [names for names, _ in pages] == [["general"], ["eng-agents"], ["alerts"]]
    assert [bool(cursor) for _, cursor in pages] == [True, True, False]


def test_slack_post_message_echoes_the_channel(slack: WebClient) -> None:
    channel = slack.conversations_list()["channels"][1]["id"]
    posted = slack.chat_postMessage(channel=channel, text="hello <b>&", blocks=[])
    assert posted["ok"] is True and posted["channel"] == channel
    assert posted["ts"] and posted["message"]["text"]


def test_slack_users_list_and_info(slack: WebClient) -> None:
    users = slack.users_list()["members"]
    assert users
    for user in users:
        info = slack.users_info(user=user["id"])["user"]
        assert (info["id"], info["name"]) == (user["id"], user["name"])


def test_slack_unknown_method_is_an_ok_false_error(slack: WebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        slack.api_call("nonexistent.method")
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == "unknown_method"


def test_slack_accepts_get_with_a_query_string(slack_url: str) -> None:
    url = f"{slack_url}/api/conversations.list"
    response = httpx.get(url, params={"limit": 2, "token": SLACK_TOKEN}, trust_env=False)
    assert response.status_code == 200 and response.json()["ok"] is True
    assert len(response.json()["channels"]) == 2
    anonymous = httpx.get(url, params={"limit": 2}, trust_env=False)  # Slack's own refusal
    assert anonymous.status_code == 200
    assert anonymous.json() == {"ok": False, "error": "not_authed"}


def test_github_user_and_repos(gh: github.Github) -> None:
    me = gh.get_user()
    assert me.login == "acme"
    repos = list(me.get_repos())
    assert "acme/rocket" in [r.full_name for r in repos]


def test_github_repo_and_branches_reflect_the_config(gh: github.Github) -> None:
    repo = gh.get_repo("acme/rocket")
    assert (repo.full_name, repo.name, repo.owner.login) == ("acme/rocket", "rocket", "acme")
    assert repo.default_branch == "trunk"
    branches = [b.name for b in repo.get_branches()]
    assert branches[0] == "trunk"


def test_github_issues_created_and_listed(gh: github.Github) -> None:
    repo = gh.get_repo("acme/rocket")
    issue = repo.create_issue(title="Agent found a bug", body="details", labels=["bug"])
    assert issue.title == "Agent found a bug" and issue.number > 0
    assert "acme/rocket" in issue.repository_url
    issues = list(repo.get_issues())
    assert issues and all("acme/rocket" in i.repository_url for i in issues)


def test_github_pulls_target_the_configured_branch(gh: github.Github) -> None:
    pulls = list(gh.get_repo("acme/rocket").get_pulls())
    assert pulls and all(p.base.ref == "trunk" for p in pulls)


def test_github_urls_point_back_at_the_mock(gh: github.Github, github_url: str) -> None:
    repo = gh.get_repo("acme/rocket")
    assert repo.url.startswith(github_url)
    issues = httpx.get(
        f"{github_url}/repos/acme/rocket/issues",
        headers={"Authorization": f"token {GITHUB_TOKEN}"},
        trust_env=False,
    )
    assert issues.status_code == 200 and issues.json()  # the world's issues, with their URLs
    assert "api.github.com" not in issues.text


def test_github_unknown_path_is_githubs_not_found(github_url: str, gh: github.Github) -> None:
    response = httpx.get(f"{github_url}/nothing/here", trust_env=False)
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found" and "documentation_url" in response.json()
    with pytest.raises(github.UnknownObjectException):
        gh.get_organization("acme").get_repo("x").get_branch("y")


def test_slack_sdk_works_against_slacks_own_swagger_spec(spec_path: dict[str, Path]) -> None:
    """The vendor's Swagger 2.0 file declares GET for auth.test and friends; slack-sdk POSTs
    everything. An RPC-style spec answers both."""
    mock = MockProcess([str(spec_path["slack"])])
    try:
        client = WebClient(token=SLACK_TOKEN, base_url=f"{mock.url}/api/")
        assert client.auth_test()["ok"] is True
        assert client.conversations_list(limit=2)["channels"]
        assert client.users_info(user="U1")["user"]["id"]
        assert "messages" in client.conversations_history(channel="C1").data
        assert client.chat_postMessage(channel="C1", text="hi")["ts"]
    finally:
        mock.stop()


def test_pygithub_works_against_githubs_own_description(spec_path: dict[str, Path]) -> None:
    """The full 12.4 MB description, not the template: URLs rewritten to the mock, no Link
    header copied from the spec's examples (PyGithub would page off the API)."""
    mock = MockProcess([str(spec_path["github"])])
    try:
        gh = github.Github(
            auth=github.Auth.Token(GITHUB_TOKEN), base_url=mock.url, retry=None,
            seconds_between_requests=None, seconds_between_writes=None,
        )  # fmt: skip
        me = gh.get_user()
        assert me.login and list(me.get_repos())
        repo = gh.get_repo("o/r")
        assert repo.url.startswith(mock.url)
        assert list(repo.get_branches()) and list(repo.get_issues()) and list(repo.get_pulls())
        assert repo.create_issue(title="Bug").title == "Bug"
    finally:
        mock.stop()


def test_a_created_issue_is_listed_and_read_back(gh: github.Github) -> None:
    repo = gh.get_repo("acme/rocket")
    before = [i.number for i in repo.get_issues()]
    created = repo.create_issue(title="Agent wrote this")
    assert created.number not in before
    assert next(i.number for i in repo.get_issues()) == created.number
    assert repo.get_issue(created.number).title == "Agent wrote this"


def test_a_posted_message_is_in_the_channel_history(slack: WebClient) -> None:
    channels = slack.conversations_list()["channels"]
    target, other = channels[0]["id"], channels[1]["id"]
    posted = slack.chat_postMessage(channel=target, text="deploy finished")
    assert posted["message"]["text"] == "deploy finished"
    history = slack.conversations_history(channel=target)["messages"]
    assert (history[0]["text"], history[0]["ts"]) == ("deploy finished", posted["ts"])
    assert "deploy finished" not in [
        m["text"] for m in slack.conversations_history(channel=other)["messages"]
    ]


def test_same_second_issues_list_newest_first(github_url: str) -> None:
    """Issues made in one second (created_at has second resolution) still list newest
    first under GitHub's default sort=created&direction=desc."""
    listed = httpx.get(
        f"{github_url}/repos/acme/rocket/issues",
        params={"state": "all", "per_page": 100},
        headers={"Authorization": f"token {GITHUB_TOKEN}"},
        trust_env=False,
    ).json()
    seeded = [i for i in listed if i["number"] <= 3]  # the world's: two issues and a PR
    assert len({i["created_at"] for i in seeded}) == 1  # the tie this test is about
    assert [i["number"] for i in seeded] == [3, 2, 1]
