"""Triage through PyGithub: list and filter issues, file them, label, assign, comment, close.

Judged by what api.github.com answers (notes/provider-facts.md, GitHub sections 3, 6 and 7).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import github
import httpx
import pytest
from github.Repository import Repository

from tests.workflows.conftest import (
    FULL_NAME,
    HELPER,
    LISTED_WORLD,
    ME,
    pygithub,
    raw_http,
    serving,
)


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repository]:
    """The listed world, only read from."""
    with serving(tmp_path_factory.mktemp("listed"), LISTED_WORLD) as url, pygithub(url) as gh:
        yield gh.get_repo(FULL_NAME)


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The default world, which the triage tests below change as they go."""
    with serving(tmp_path_factory.mktemp("sandbox"), {}) as url:
        yield url


@pytest.fixture
def gh(sandbox_url: str) -> Iterator[github.Github]:
    with pygithub(sandbox_url) as client:
        yield client


@pytest.fixture
def repo(gh: github.Github) -> Repository:
    return gh.get_repo(FULL_NAME)


@pytest.fixture
def http(sandbox_url: str) -> Iterator[httpx.Client]:
    with raw_http(sandbox_url) as client:
        yield client


def numbers(issues: object) -> list[int]:
    return [issue.number for issue in issues]  # type: ignore[attr-defined]


# -- listing and filtering ---------------------------------------------------------------


def test_listing_issues_shows_the_open_ones_and_pull_requests_newest_first(
    listed: Repository,
) -> None:
    issues = list(listed.get_issues())
    assert numbers(issues) == [4, 2, 1]
    assert {issue.state for issue in issues} == {"open"}
    assert issues[0].pull_request is not None and issues[0].pull_request.html_url.endswith(
        "/pull/4"
    )
    assert issues[1].pull_request is None and issues[2].pull_request is None


def test_state_closed_lists_only_the_closed_issue(listed: Repository) -> None:
    closed = list(listed.get_issues(state="closed"))
    assert numbers(closed) == [3]
    assert closed[0].state == "closed" and closed[0].closed_at is not None
    assert closed[0].state_reason == "completed"


def test_state_all_lists_every_issue_and_pull_request(listed: Repository) -> None:
    assert numbers(listed.get_issues(state="all")) == [4, 3, 2, 1]


def test_a_label_filter_keeps_the_open_issues_carrying_every_label_named(
    listed: Repository,
) -> None:
    assert numbers(listed.get_issues(labels=["bug"])) == [1]
    assert numbers(listed.get_issues(labels=["documentation", "good first issue"])) == [2]
    assert numbers(listed.get_issues(labels=["bug", "documentation"])) == []
    assert sorted(numbers(listed.get_issues(labels=[listed.get_label("bug")], state="all"))) == [
        1,
        3,
    ]


def test_an_assignee_filter_takes_a_login_none_or_any(listed: Repository) -> None:
    assert numbers(listed.get_issues(assignee=HELPER)) == [1]
    assert sorted(numbers(listed.get_issues(assignee="none"))) == [2, 4]
    assert numbers(listed.get_issues(assignee="*")) == [1]


def test_a_creator_filter_keeps_the_issues_that_user_opened(listed: Repository) -> None:
    helper, me = listed.get_issue(1).user, listed.owner
    assert (helper.login, me.login) == (HELPER, ME)
    assert sorted(numbers(listed.get_issues(creator=helper))) == [1, 4]
    assert numbers(listed.get_issues(creator=me, state="all")) == [2]


# -- filing issues -----------------------------------------------------------------------


def test_creating_an_issue_turns_label_names_and_logins_into_objects(repo: Repository) -> None:
    issue = repo.create_issue(
        title="Dark mode ignores the OS setting",
        body="It stays light.",
        labels=["bug", "needs-triage"],
        assignees=[HELPER],
    )
    assert issue.number > 3 and issue.state == "open" and issue.user.login == ME
    assert issue.title == "Dark mode ignores the OS setting" and issue.body == "It stays light."
    labels = {label.name: label for label in issue.labels}
    assert set(labels) == {"bug", "needs-triage"}
    assert labels["bug"].color == "d73a4a"
    assert labels["needs-triage"].color == "ededed"
    assert labels["needs-triage"].default is False
    assert labels["needs-triage"].description is None
    assert [user.login for user in issue.assignees] == [HELPER]
    assert issue.comments == 0 and issue.closed_at is None
    created = repo.get_label("needs-triage")
    assert (created.name, created.color) == ("needs-triage", "ededed")
    again = repo.get_issue(issue.number)
    assert [label.name for label in again.labels] == [label.name for label in issue.labels]


def test_creating_an_issue_answers_201_with_the_issue(http: httpx.Client) -> None:
    response = http.post(f"/repos/{FULL_NAME}/issues", json={"title": "Raw issue"})
    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Raw issue" and body["state"] == "open"
    assert body["url"].endswith(f"/repos/{FULL_NAME}/issues/{body['number']}")
    assert body["labels"] == [] and body["assignees"] == [] and body["assignee"] is None


def test_an_unknown_assignee_is_refused_with_422_invalid_assignees(repo: Repository) -> None:
    before = repo.get_issues(state="all").totalCount
    with pytest.raises(github.GithubException) as caught:
        repo.create_issue(title="Nobody can take this", assignees=["no-such-user-4242"])
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Validation Failed"
    errors = caught.value.data["errors"]
    assert len(errors) == 1
    assert {k: errors[0][k] for k in ("resource", "field", "code")} == {
        "resource": "Issue",
        "field": "assignees",
        "code": "invalid",
    }
    assert repo.get_issues(state="all").totalCount == before


def test_the_unknown_assignee_error_echoes_the_value_sent(http: httpx.Client) -> None:
    response = http.post(
        f"/repos/{FULL_NAME}/issues",
        json={"title": "Nobody can take this", "assignees": ["no-such-user-4242"]},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "value": ["no-such-user-4242"],
            "resource": "Issue",
            "field": "assignees",
            "code": "invalid",
        }
    ]


def test_an_issue_without_a_title_is_refused_with_missing_field(http: httpx.Client) -> None:
    response = http.post(f"/repos/{FULL_NAME}/issues", json={"body": "no title"})
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "Validation Failed"
    assert body["errors"] == [{"resource": "Issue", "code": "missing_field", "field": "title"}]


# -- labels ------------------------------------------------------------------------------


def test_adding_labels_keeps_the_old_ones_and_creates_unknown_names(repo: Repository) -> None:
    issue = repo.create_issue(title="Label me", labels=["bug"])
    issue.add_to_labels("enhancement", "Needs-Design")
    names = [label.name for label in repo.get_issue(issue.number).labels]
    assert sorted(names) == ["Needs-Design", "bug", "enhancement"]
    assert repo.get_label("Needs-Design").color == "ededed"
    on_issue = [label.name for label in repo.get_issue(issue.number).get_labels()]
    assert sorted(on_issue) == ["Needs-Design", "bug", "enhancement"]


def test_adding_labels_answers_200_with_every_label_on_the_issue(
    repo: Repository, http: httpx.Client
) -> None:
    issue = repo.create_issue(title="Raw labels", labels=["bug"])
    response = http.post(
        f"/repos/{FULL_NAME}/issues/{issue.number}/labels", json={"labels": ["question"]}
    )
    assert response.status_code == 200
    assert sorted(label["name"] for label in response.json()) == ["bug", "question"]
    assert {"id", "node_id", "url", "name", "color", "default", "description"} <= set(
        response.json()[0]
    )


def test_removing_a_label_takes_it_off_the_issue(repo: Repository, http: httpx.Client) -> None:
    issue = repo.create_issue(title="Too many labels", labels=["bug", "question"])
    response = http.delete(f"/repos/{FULL_NAME}/issues/{issue.number}/labels/bug")
    assert response.status_code == 200
    assert [label["name"] for label in response.json()] == ["question"]
    issue.remove_from_labels("question")
    assert repo.get_issue(issue.number).labels == []
    assert repo.get_label("bug").name == "bug"  # the repository keeps the label


def test_removing_a_label_the_issue_lacks_is_404_label_does_not_exist(repo: Repository) -> None:
    issue = repo.get_issue(2)
    with pytest.raises(github.GithubException) as caught:
        issue.remove_from_labels("bug")
    assert caught.value.status == 404
    assert caught.value.data["message"] == "Label does not exist"
    assert sorted(label.name for label in repo.get_issue(2).labels) == [
        "documentation",
        "good first issue",
    ]


# -- assignees ---------------------------------------------------------------------------


def test_adding_and_removing_assignees_updates_the_issue(repo: Repository) -> None:
    issue = repo.create_issue(title="Who takes this?")
    issue.add_to_assignees(HELPER, ME)
    assert sorted(user.login for user in issue.assignees) == [ME, HELPER]
    reread = repo.get_issue(issue.number)
    assert sorted(user.login for user in reread.assignees) == [ME, HELPER]
    issue.remove_from_assignees(HELPER)
    assert [user.login for user in issue.assignees] == [ME]
    reread = repo.get_issue(issue.number)
    assert [user.login for user in reread.assignees] == [ME]


def test_adding_assignees_answers_201_and_removing_200_with_the_issue(
    repo: Repository, http: httpx.Client
) -> None:
    number = repo.create_issue(title="Raw assignees").number
    path = f"/repos/{FULL_NAME}/issues/{number}/assignees"
    added = http.post(path, json={"assignees": [HELPER]})
    assert added.status_code == 201
    assert added.json()["number"] == number
    assert [user["login"] for user in added.json()["assignees"]] == [HELPER]
    assert added.json()["assignee"]["login"] == HELPER
    removed = http.request("DELETE", path, json={"assignees": [HELPER]})
    assert removed.status_code == 200
    assert removed.json()["assignees"] == [] and removed.json()["assignee"] is None


def test_the_assignee_filter_sees_a_new_assignment(repo: Repository) -> None:
    issue = repo.create_issue(title="Assign me later")
    assert issue.number not in numbers(repo.get_issues(assignee=ME))
    issue.add_to_assignees(ME)
    assert issue.number in numbers(repo.get_issues(assignee=ME))


# -- comments ----------------------------------------------------------------------------


def test_commenting_counts_on_the_issue_and_lists_the_comment(repo: Repository) -> None:
    issue = repo.create_issue(title="Discuss me")
    comment = issue.create_comment("I can reproduce this.")
    assert comment.body == "I can reproduce this." and comment.user.login == ME
    assert comment.issue_url == issue.url
    assert comment.html_url.endswith(f"/issues/{issue.number}#issuecomment-{comment.id}")
    second = issue.create_comment("Fixed on main.")
    assert repo.get_issue(issue.number).comments == 2
    listed = list(repo.get_issue(issue.number).get_comments())
    assert [(c.id, c.body) for c in listed] == [
        (comment.id, "I can reproduce this."),
        (second.id, "Fixed on main."),
    ]
    assert issue.get_comment(comment.id).body == "I can reproduce this."


def test_comments_belong_to_their_own_issue_only(repo: Repository) -> None:
    first = repo.create_issue(title="First thread")
    second = repo.create_issue(title="Second thread")
    first.create_comment("on the first")
    assert list(second.get_comments()) == []
    assert repo.get_issue(second.number).comments == 0


# -- closing, reopening, editing ---------------------------------------------------------


def test_closing_an_issue_moves_it_to_the_closed_list(repo: Repository) -> None:
    issue = repo.create_issue(title="Close me")
    issue.edit(state="closed")
    assert issue.state == "closed" and issue.closed_at is not None
    assert issue.closed_by is not None and issue.closed_by.login == ME
    assert issue.state_reason == "completed"
    reread = repo.get_issue(issue.number)
    assert reread.state == "closed"
    assert reread.closed_by is not None and reread.closed_by.login == ME
    assert issue.number in numbers(repo.get_issues(state="closed"))
    assert issue.number not in numbers(repo.get_issues())


def test_closing_lowers_the_repositorys_open_issues_count(gh: github.Github) -> None:
    repo = gh.get_repo(FULL_NAME)
    issue = repo.create_issue(title="Count me")
    before = gh.get_repo(FULL_NAME).open_issues_count
    issue.edit(state="closed")
    assert gh.get_repo(FULL_NAME).open_issues_count == before - 1


def test_closing_as_not_planned_keeps_that_reason(repo: Repository) -> None:
    issue = repo.create_issue(title="Won't do")
    issue.edit(state="closed", state_reason="not_planned")
    assert repo.get_issue(issue.number).state_reason == "not_planned"


def test_reopening_an_issue_clears_closed_at(repo: Repository) -> None:
    issue = repo.create_issue(title="Reopen me")
    issue.edit(state="closed")
    issue.edit(state="open")
    reread = repo.get_issue(issue.number)
    assert reread.state == "open" and reread.closed_at is None
    assert reread.state_reason == "reopened"
    assert issue.number in numbers(repo.get_issues())


def test_editing_the_title_and_body_shows_on_later_reads(repo: Repository) -> None:
    issue = repo.create_issue(title="Tpyo in title", body="old body")
    issue.edit(title="Typo in title", body="new body")
    assert (issue.title, issue.body) == ("Typo in title", "new body")
    reread = repo.get_issue(issue.number)
    assert (reread.title, reread.body) == ("Typo in title", "new body")
    assert reread.updated_at >= reread.created_at


def test_since_keeps_only_issues_updated_at_or_after_the_time(repo: Repository) -> None:
    older = repo.create_issue(title="Updated long ago")
    time.sleep(1.2)
    since = datetime.now(UTC).replace(microsecond=0)
    newer = repo.create_issue(title="Updated just now")
    recent = numbers(repo.get_issues(since=since))
    assert newer.number in recent and older.number not in recent
    older.edit(body="touched again")
    assert older.number in numbers(repo.get_issues(since=since))


def test_issues_created_in_the_same_second_still_list_newest_first(repo: Repository) -> None:
    made = [repo.create_issue(title=f"Burst {i}").number for i in range(3)]
    listed = [n for n in numbers(repo.get_issues()) if n in made]
    assert listed == sorted(made, reverse=True)


# -- numbering ---------------------------------------------------------------------------


def test_issue_and_pull_request_numbers_share_one_increasing_sequence(repo: Repository) -> None:
    existing = numbers(repo.get_issues(state="all"))
    first = repo.create_issue(title="Numbered one")
    assert first.number == max(existing) + 1
    feature_sha = repo.get_branch("feature/update-readme").commit.sha  # a commit ahead of main
    repo.create_git_ref("refs/heads/numbering", feature_sha)
    pull = repo.create_pull(base=repo.default_branch, head="numbering", title="Numbered PR")
    assert pull.number == first.number + 1
    second = repo.create_issue(title="Numbered two")
    assert second.number == pull.number + 1
    every = numbers(repo.get_issues(state="all"))
    assert len(every) == len(set(every))
    assert repo.get_issue(pull.number).pull_request is not None


# -- what the objects say about themselves -----------------------------------------------

DEFAULT_LABELS = {
    "bug": "d73a4a",
    "documentation": "0075ca",
    "duplicate": "cfd3d7",
    "enhancement": "a2eeef",
    "good first issue": "7057ff",
    "help wanted": "008672",
    "invalid": "e4e669",
    "question": "d876e3",
    "wontfix": "ffffff",
}


def test_the_repository_has_githubs_nine_default_labels(repo: Repository) -> None:
    labels = {label.name: label.color for label in repo.get_labels()}
    assert {name: labels.get(name) for name in DEFAULT_LABELS} == DEFAULT_LABELS


def test_the_default_labels_are_marked_default(repo: Repository) -> None:
    labels = {label.name: label for label in repo.get_labels()}
    assert [name for name in DEFAULT_LABELS if labels[name].default is not True] == []


def test_label_names_are_case_insensitive(repo: Repository, http: httpx.Client) -> None:
    response = http.post(f"/repos/{FULL_NAME}/labels", json={"name": "BUG"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"resource": "Label", "code": "already_exists", "field": "name"}
    ]
    issue = repo.create_issue(title="Capitalised label", labels=["Bug"])
    assert [label.name for label in issue.labels] == ["bug"]


def test_an_issue_a_collaborator_opened_is_associated_as_collaborator(repo: Repository) -> None:
    issue = repo.get_issue(1)
    assert issue.user.login == HELPER
    assert issue.author_association == "COLLABORATOR"
    assert repo.get_issue(2).author_association == "OWNER"


def test_reactions_point_at_the_objects_reactions(http: httpx.Client) -> None:
    issue = http.get(f"/repos/{FULL_NAME}/issues/1").json()
    assert issue["reactions"]["url"] == f"{issue['url']}/reactions"
    comment = http.post(f"/repos/{FULL_NAME}/issues/1/comments", json={"body": "+1"}).json()
    assert comment["reactions"]["url"] == f"{comment['url']}/reactions"
