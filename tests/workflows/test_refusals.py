"""What GitHub refuses: things the world lacks answer 404 "Not Found", a missing token 401
"Requires authentication", a malformed one 401 "Bad credentials" (notes/provider-facts.md,
GitHub sections 1 and 2, and the common response traits)."""

from __future__ import annotations

from collections.abc import Iterator

import github
import httpx
import pytest
from github.Repository import Repository

from tests.workflows.conftest import FULL_NAME, ME, pygithub, raw_http, serving


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("refusals"), {}) as base:
        yield base


@pytest.fixture
def gh(url: str) -> Iterator[github.Github]:
    with pygithub(url) as client:
        yield client


@pytest.fixture
def repo(gh: github.Github) -> Repository:
    return gh.get_repo(FULL_NAME)


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with raw_http(url) as client:
        yield client


def assert_not_found(caught: pytest.ExceptionInfo[github.UnknownObjectException]) -> None:
    assert caught.value.status == 404
    assert caught.value.data["message"] == "Not Found"


# -- 404 ---------------------------------------------------------------------------------


def test_an_unknown_repository_is_not_found(gh: github.Github) -> None:
    with pytest.raises(github.UnknownObjectException) as caught:
        gh.get_repo(f"{ME}/no-such-repo")
    assert_not_found(caught)
    with pytest.raises(github.UnknownObjectException) as other_owner:
        gh.get_repo("someone-else/sandbox")
    assert_not_found(other_owner)


def test_writing_to_an_unknown_repository_is_not_found(http: httpx.Client) -> None:
    response = http.post(f"/repos/{ME}/no-such-repo/issues", json={"title": "lost"})
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"


def test_an_unknown_issue_is_not_found(repo: Repository) -> None:
    with pytest.raises(github.UnknownObjectException) as caught:
        repo.get_issue(999)
    assert_not_found(caught)
    with pytest.raises(github.UnknownObjectException) as commenting:
        repo.get_issue(1).get_comment(123456)
    assert_not_found(commenting)


def test_an_unknown_pull_request_is_not_found_and_an_issue_is_no_pull_request(
    repo: Repository,
) -> None:
    with pytest.raises(github.UnknownObjectException) as caught:
        repo.get_pull(999)
    assert_not_found(caught)
    with pytest.raises(github.UnknownObjectException) as plain_issue:
        repo.get_pull(1)
    assert_not_found(plain_issue)
    assert repo.get_pull(3).number == 3


def test_an_unknown_user_is_not_found(gh: github.Github) -> None:
    with pytest.raises(github.UnknownObjectException) as caught:
        gh.get_user("no-such-user-4242")
    assert_not_found(caught)
    assert gh.get_user("doppel-dev").login == "doppel-dev"


def test_an_unknown_label_is_not_found(repo: Repository) -> None:
    with pytest.raises(github.UnknownObjectException) as caught:
        repo.get_label("no-such-label")
    assert_not_found(caught)


def test_an_unknown_file_or_ref_is_not_found(repo: Repository) -> None:
    with pytest.raises(github.UnknownObjectException) as missing_file:
        repo.get_contents("no/such/file.md")
    assert_not_found(missing_file)
    with pytest.raises(github.UnknownObjectException) as missing_ref:
        repo.get_git_ref("heads/no-such-branch")
    assert_not_found(missing_ref)


def test_an_unknown_branch_is_404_branch_not_found(repo: Repository) -> None:
    with pytest.raises(github.UnknownObjectException) as caught:
        repo.get_branch("no-such-branch")
    assert caught.value.status == 404
    assert caught.value.data["message"] == "Branch not found"


def test_a_404_names_the_operations_documentation(http: httpx.Client) -> None:
    repo = http.get(f"/repos/{ME}/no-such-repo").json()
    assert repo == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository",
        "status": "404",
    }
    issue = http.get(f"/repos/{FULL_NAME}/issues/999").json()
    assert issue["documentation_url"] == "https://docs.github.com/rest/issues/issues#get-an-issue"


# -- 401 ---------------------------------------------------------------------------------


def test_no_token_is_401_requires_authentication(url: str) -> None:
    with pygithub(url, token=None) as anonymous, pytest.raises(github.GithubException) as caught:
        _ = anonymous.get_user().login
    assert caught.value.status == 401
    assert caught.value.data["message"] == "Requires authentication"
    with raw_http(url, token=None) as http:
        response = http.post(f"/repos/{FULL_NAME}/issues", json={"title": "anonymous"})
    assert response.status_code == 401
    assert response.json()["message"] == "Requires authentication"


def test_a_malformed_token_is_bad_credentials(url: str) -> None:
    with (
        pygithub(url, token="not-a-github-token") as wrong,
        pytest.raises(github.BadCredentialsException) as caught,
    ):
        wrong.get_repo(FULL_NAME)
    assert caught.value.status == 401
    assert caught.value.data == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }


def test_a_bearer_token_works_like_a_token_one(url: str) -> None:
    response = httpx.get(
        f"{url}/user", headers={"Authorization": "Bearer ghp_" + "b" * 36}, trust_env=False
    )
    assert response.status_code == 200 and response.json()["login"] == ME


def test_requires_authentication_names_the_endpoints_documentation(url: str) -> None:
    response = httpx.get(f"{url}/user", trust_env=False)
    assert response.status_code == 401
    assert response.json() == {
        "message": "Requires authentication",
        "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
        "status": "401",
    }


def test_a_public_repository_can_be_read_without_a_token(url: str) -> None:
    with pygithub(url, token=None) as anonymous:
        repo = anonymous.get_repo(FULL_NAME)
        assert repo.private is False
        assert [issue.number for issue in repo.get_issues()][-1] == 1
        assert anonymous.get_user("doppel-dev").login == "doppel-dev"


# -- transport ---------------------------------------------------------------------------


def test_json_answers_are_utf8_labelled(http: httpx.Client) -> None:
    for path in ("/user", f"/repos/{FULL_NAME}", f"/repos/{ME}/no-such-repo"):
        assert http.get(path).headers["content-type"] == "application/json; charset=utf-8"


def test_a_json_body_is_read_whatever_the_content_type(http: httpx.Client) -> None:
    response = http.post(
        f"/repos/{FULL_NAME}/issues",
        content=b'{"title":"Sent like curl -d"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201
    assert response.json()["title"] == "Sent like curl -d"
