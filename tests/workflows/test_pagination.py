"""Paging through issues: PyGithub with per_page=5 walks every page and stops, and the Link
header reads as GitHub's (notes/provider-facts.md, GitHub section 4: prev, next, last, first;
none on the first page's prev/first or the last page's next/last; absent when one page holds
everything)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice

import httpx
import pytest

from tests.workflows.conftest import FULL_NAME, pygithub, raw_http, serving

COUNT = 12  # three pages of five: 5, 5, 2
WORLD = {"issues": [{"title": f"Issue number {n}"} for n in range(1, COUNT + 1)], "pulls": []}
LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("pages"), WORLD) as base:
        yield base


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with raw_http(url) as client:
        yield client


def links(response: httpx.Response) -> list[tuple[str, str]]:
    """The Link header as (rel, url) pairs, in the order sent."""
    return [(rel, target) for target, rel in LINK.findall(response.headers.get("link", ""))]


def page_of(target: str) -> int:
    found = re.search(r"[?&]page=(\d+)", target)
    assert found is not None, target
    return int(found.group(1))


def test_iterating_with_per_page_5_yields_every_issue_exactly_once(url: str) -> None:
    with pygithub(url, per_page=5) as gh:
        repo = gh.get_repo(FULL_NAME)
        seen = [issue.number for issue in islice(repo.get_issues(), 100)]
        oldest_first = [issue.number for issue in islice(repo.get_issues(direction="asc"), 100)]
        total = repo.get_issues().totalCount
    assert sorted(seen) == list(range(1, COUNT + 1))
    assert len(seen) == len(set(seen)) == COUNT
    assert oldest_first == list(range(1, COUNT + 1))
    assert total == COUNT


def test_iterating_with_per_page_5_lists_newest_first_across_pages(url: str) -> None:
    with pygithub(url, per_page=5) as gh:
        seen = [issue.number for issue in islice(gh.get_repo(FULL_NAME).get_issues(), 100)]
    assert seen == list(range(COUNT, 0, -1))


def test_the_first_page_links_next_and_last(http: httpx.Client) -> None:
    response = http.get(f"/repos/{FULL_NAME}/issues", params={"per_page": 5})
    assert response.status_code == 200 and len(response.json()) == 5
    pairs = links(response)
    assert [rel for rel, _ in pairs] == ["next", "last"]
    assert [page_of(target) for _, target in pairs] == [2, 3]
    assert all("per_page=5" in target for _, target in pairs)


def test_a_middle_page_links_prev_next_last_and_first(http: httpx.Client) -> None:
    response = http.get(f"/repos/{FULL_NAME}/issues", params={"per_page": 5, "page": 2})
    assert len(response.json()) == 5
    pages = {rel: page_of(target) for rel, target in links(response)}
    assert pages == {"prev": 1, "next": 3, "last": 3, "first": 1}
    assert len(links(response)) == 4


def test_a_middle_pages_links_come_in_githubs_order(http: httpx.Client) -> None:
    response = http.get(f"/repos/{FULL_NAME}/issues", params={"per_page": 5, "page": 2})
    assert [rel for rel, _ in links(response)] == ["prev", "next", "last", "first"]


def test_the_last_page_links_prev_and_first_only(http: httpx.Client) -> None:
    response = http.get(f"/repos/{FULL_NAME}/issues", params={"per_page": 5, "page": 3})
    assert len(response.json()) == COUNT - 10
    pairs = links(response)
    assert [rel for rel, _ in pairs] == ["prev", "first"]
    assert [page_of(target) for _, target in pairs] == [2, 1]


def test_following_next_links_visits_every_issue_once(http: httpx.Client) -> None:
    response = http.get(f"/repos/{FULL_NAME}/issues", params={"per_page": 5})
    seen = [issue["number"] for issue in response.json()]
    for _ in range(10):
        following = dict(links(response)).get("next")
        if following is None:
            break
        response = http.get(following)
        assert response.status_code == 200
        seen += [issue["number"] for issue in response.json()]
    assert sorted(seen) == list(range(1, COUNT + 1))


def test_no_link_header_when_everything_fits_on_one_page(http: httpx.Client) -> None:
    everything = http.get(f"/repos/{FULL_NAME}/issues", params={"per_page": 100})
    assert len(everything.json()) == COUNT and "link" not in everything.headers
    default = http.get(f"/repos/{FULL_NAME}/issues")
    assert len(default.json()) == COUNT and "link" not in default.headers


def test_a_page_past_the_end_is_empty(http: httpx.Client) -> None:
    response = http.get(f"/repos/{FULL_NAME}/issues", params={"per_page": 5, "page": 9})
    assert response.status_code == 200 and response.json() == []


def test_new_issues_lengthen_the_pages(url: str, http: httpx.Client) -> None:
    with pygithub(url, per_page=5) as gh:
        repo = gh.get_repo(FULL_NAME)
        made = [repo.create_issue(title=f"Extra {n}").number for n in range(4)]
        assert made == list(range(COUNT + 1, COUNT + 5))
        seen = [issue.number for issue in islice(repo.get_issues(), 100)]
        assert sorted(seen) == list(range(1, COUNT + 5))
        for number in made:
            repo.get_issue(number).edit(state="closed")
    first = http.get(f"/repos/{FULL_NAME}/issues", params={"per_page": 5})
    assert page_of(dict(links(first))["last"]) == 3


def test_link_urls_name_the_repository_by_id(http: httpx.Client) -> None:
    response = http.get(f"/repos/{FULL_NAME}/issues", params={"per_page": 5})
    repository_id = http.get(f"/repos/{FULL_NAME}").json()["id"]
    following = dict(links(response))["next"]
    assert following.endswith(f"/repositories/{repository_id}/issues?per_page=5&page=2")
    assert http.get(following).status_code == 200
