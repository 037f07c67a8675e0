"""Searching issues and pull requests through PyGithub's search_issues.

The world: #1 open bug (password reset, assigned to doppel-dev, by doppel-dev), #2 open
documentation issue (mentions the README, by doppel), #3 closed bug (cache directory, by
doppel-dev), PR #4 "Update the README" (by doppel-dev). Shape per notes/provider-facts.md
GitHub section 8: {total_count, incomplete_results, items}, each item an issue plus `score`.
"""

from __future__ import annotations

from collections.abc import Iterator

import github
import httpx
import pytest

from tests.workflows.conftest import FULL_NAME, LISTED_WORLD, pygithub, raw_http, serving

REPO = f"repo:{FULL_NAME}"


@pytest.fixture(scope="module")
def search_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("search"), LISTED_WORLD) as url:
        yield url


@pytest.fixture
def gh(search_url: str) -> Iterator[github.Github]:
    with pygithub(search_url) as client:
        yield client


def found(gh: github.Github, query: str) -> list[int]:
    return sorted(issue.number for issue in gh.search_issues(query))


def test_open_bugs_are_found_by_state_and_label(gh: github.Github) -> None:
    results = gh.search_issues(f"{REPO} is:open label:bug")
    assert results.totalCount == 1
    assert [issue.number for issue in results] == [1]
    assert results[0].title == "Login fails with a 500 after password reset"


CLOSED_UNSEARCHABLE = (
    "search/issues never returns closed issues, even for is:closed or state:closed (it "
    "applies the issue list's default state=open): 'label:bug' finds [1] not [1, 3], "
    "'is:closed' finds nothing"
)


def test_words_match_the_title_or_the_body(gh: github.Github) -> None:
    assert found(gh, f"{REPO} password") == [1]
    assert found(gh, f"{REPO} README") == [2, 4]
    assert found(gh, f"{REPO} README configuration") == [2]
    assert found(gh, f"{REPO} password README") == []


def test_is_pr_and_is_issue_split_pull_requests_from_issues(
    gh: github.Github, search_url: str
) -> None:
    prs = list(gh.search_issues(f"{REPO} is:pr"))
    assert [issue.number for issue in prs] == [4]
    assert prs[0].pull_request is not None
    issues = gh.search_issues(f"{REPO} is:issue is:open")
    assert issues.totalCount == 2
    assert sorted(issue.number for issue in issues) == [1, 2]
    with raw_http(search_url) as http:
        items = http.get("/search/issues", params={"q": f"{REPO} is:issue"}).json()["items"]
    assert items and all("pull_request" not in item for item in items)
    assert found(gh, f"{REPO} type:pr") == [4]


def test_author_and_assignee_qualifiers_name_users(gh: github.Github) -> None:
    assert found(gh, f"{REPO} author:doppel-dev is:open") == [1, 4]
    assert found(gh, f"{REPO} author:doppel") == [2]
    assert found(gh, f"{REPO} author:doppel-dev is:issue is:open") == [1]
    assert found(gh, f"{REPO} assignee:doppel-dev") == [1]


def test_search_hits_carry_the_issues_own_urls(gh: github.Github) -> None:
    hit = gh.search_issues(f"{REPO} password")[0]
    issue = gh.get_repo(FULL_NAME).get_issue(1)
    for field in ("url", "repository_url", "comments_url", "events_url", "html_url", "labels_url"):
        assert hit.raw_data[field] == issue.raw_data[field], field
    assert hit.pull_request is None  # PyGithub completes the hit from its url for this
    assert hit.repository.full_name == FULL_NAME


def test_closed_issues_are_searchable_too(gh: github.Github) -> None:
    results = gh.search_issues(f"{REPO} label:bug")
    assert results.totalCount == 2
    assert sorted(issue.number for issue in results) == [1, 3]
    assert found(gh, f"{REPO} is:closed") == [3]
    assert found(gh, f"{REPO} state:closed label:bug") == [3]
    assert found(gh, f"{REPO} cache directory") == [3]
    assert found(gh, f"{REPO} author:doppel-dev") == [1, 3, 4]
    assert gh.search_issues(f"{REPO} is:issue").totalCount == 3


def test_a_search_without_hits_has_total_count_zero(gh: github.Github) -> None:
    results = gh.search_issues(f"{REPO} label:wontfix")
    assert results.totalCount == 0
    assert list(results) == []


def test_the_search_body_is_total_count_incomplete_results_and_scored_items(
    search_url: str,
) -> None:
    with raw_http(search_url) as http:
        response = http.get("/search/issues", params={"q": f"{REPO} is:open label:bug"})
    assert response.status_code == 200
    body = response.json()
    assert {"total_count", "incomplete_results", "items"} <= set(body)
    assert body["total_count"] == 1 and body["incomplete_results"] is False
    item = body["items"][0]
    assert isinstance(item["score"], float)
    assert item["number"] == 1 and [label["name"] for label in item["labels"]] == ["bug"]
    assert {"url", "repository_url", "html_url", "user", "state", "comments", "body"} <= set(item)


def test_search_sees_issues_as_they_are_created_and_closed(fresh_gh: github.Github) -> None:
    repo = fresh_gh.get_repo(FULL_NAME)
    assert fresh_gh.search_issues(f"{REPO} zebra").totalCount == 0
    issue = repo.create_issue(title="The zebra stripes render blurry", labels=["bug"])
    assert found(fresh_gh, f"{REPO} zebra is:open label:bug") == [issue.number]
    issue.edit(state="closed")
    assert found(fresh_gh, f"{REPO} zebra is:open") == []
    assert found(fresh_gh, f"{REPO} zebra is:closed") == [issue.number]


def test_searching_needs_a_query(search_url: str) -> None:
    with raw_http(search_url) as http:
        response = http.get("/search/issues")
    assert response.status_code == 422
    assert response.json()["message"] == "Validation Failed"
    assert response.json()["errors"] == [{"resource": "Search", "field": "q", "code": "missing"}]


def test_search_answers_with_a_plain_http_client_too(search_url: str) -> None:
    response = httpx.get(
        f"{search_url}/search/issues",
        params={"q": f"{REPO} is:pr"},
        headers={"Authorization": "Bearer ghp_" + "x" * 36},
        trust_env=False,
    )
    assert response.status_code == 200 and response.json()["total_count"] == 1
