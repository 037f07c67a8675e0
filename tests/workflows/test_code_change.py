"""A code change from branch to merge through PyGithub: refs, contents, pull requests,
review requests, reviews and the merge, each judged by its consequences on later reads.

Every test gets a fresh default world: doppel/sandbox on `main` with README.md and
docs/guide.md, issues #1 and #2, and PR #3 from feature/update-readme changing README.md.
Statuses and bodies follow notes/provider-facts.md (GitHub sections 3, 5 and 6).
"""

from __future__ import annotations

import base64

import github
import httpx
import pytest
from github.ContentFile import ContentFile
from github.Repository import Repository

from tests.workflows.conftest import FULL_NAME, HELPER, ME, blob_sha

SEEDED_PR = 3
SEEDED_HEAD = "feature/update-readme"
README_ON_MAIN = (
    "# sandbox\n\nSandbox repository served by Doppel\n\n## Getting started\n\nRun `make test`.\n"
)
README_ON_FEATURE = "# sandbox\n\nUpdated by the feature branch.\n"

CONTENTS_PUT_500 = (
    "PUT /repos/{owner}/{repo}/contents/{path} answers 500 'Mock engine error' "
    "(TypeError: Object of type datetime is not JSON serializable, in the answer's commit dates) "
    "instead of 201 on create / 200 on update"
)


@pytest.fixture
def repo(fresh_gh: github.Github) -> Repository:
    return fresh_gh.get_repo(FULL_NAME)


def main_sha(repo: Repository) -> str:
    return repo.get_branch(repo.default_branch).commit.sha


def branch_with_a_commit(repo: Repository, name: str) -> str:
    """A new branch at the seeded feature branch's commit, one commit ahead of main, made
    without the contents API: a pull request from it is one real GitHub accepts."""
    sha = repo.get_branch(SEEDED_HEAD).commit.sha
    repo.create_git_ref(f"refs/heads/{name}", sha)
    return sha


def text(repo: Repository, path: str, ref: str) -> str:
    content = repo.get_contents(path, ref=ref)
    assert not isinstance(content, list)
    return content.decoded_content.decode()


# -- branches ----------------------------------------------------------------------------


def test_a_new_branch_points_at_the_default_branch_head(repo: Repository) -> None:
    assert repo.default_branch == "main"
    sha = main_sha(repo)
    assert len(sha) == 40
    ref = repo.create_git_ref("refs/heads/fix", sha)
    assert (ref.ref, ref.object.sha, ref.object.type) == ("refs/heads/fix", sha, "commit")
    assert ref.url.endswith(f"/repos/{FULL_NAME}/git/refs/heads/fix")
    assert repo.get_git_ref("heads/fix").object.sha == sha
    assert repo.get_branch("fix").commit.sha == sha
    assert "fix" in [branch.name for branch in repo.get_branches()]


def test_creating_a_ref_that_exists_is_422_reference_already_exists(repo: Repository) -> None:
    sha = main_sha(repo)
    repo.create_git_ref("refs/heads/fix", sha)
    with pytest.raises(github.GithubException) as caught:
        repo.create_git_ref("refs/heads/fix", sha)
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Reference already exists"
    assert "errors" not in caught.value.data
    with pytest.raises(github.GithubException) as again:
        repo.create_git_ref(f"refs/heads/{repo.default_branch}", sha)
    assert again.value.status == 422
    assert again.value.data["message"] == "Reference already exists"


def test_a_ref_to_an_unknown_commit_is_422_object_does_not_exist(repo: Repository) -> None:
    with pytest.raises(github.GithubException) as caught:
        repo.create_git_ref("refs/heads/nowhere", "f" * 40)
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Object does not exist"
    with pytest.raises(github.UnknownObjectException):
        repo.get_git_ref("heads/nowhere")


def test_a_new_branch_reads_its_files_through_to_the_base_branch(repo: Repository) -> None:
    repo.create_git_ref("refs/heads/fix", main_sha(repo))
    on_fix = repo.get_contents("README.md", ref="fix")
    on_main = repo.get_contents("README.md", ref="main")
    assert not isinstance(on_fix, list) and not isinstance(on_main, list)
    assert on_fix.decoded_content.decode() == README_ON_MAIN
    assert on_fix.sha == on_main.sha == blob_sha(README_ON_MAIN)
    assert text(repo, "docs/guide.md", "fix") == "# Guide\n\nHow to work on sandbox.\n"
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("nope.md", ref="fix")


def test_a_branch_made_from_another_branchs_commit_has_that_commits_files(
    repo: Repository,
) -> None:
    branch_with_a_commit(repo, "copy-of-feature")
    assert text(repo, "README.md", "copy-of-feature") == README_ON_FEATURE


# -- contents ----------------------------------------------------------------------------


def test_creating_a_file_on_a_branch_puts_it_there_only(
    repo: Repository, fresh_http: httpx.Client
) -> None:
    sha = main_sha(repo)
    repo.create_git_ref("refs/heads/fix", sha)
    result = repo.create_file("docs/new.md", "Add docs/new.md", "# New\n", branch="fix")
    content, commit = result["content"], result["commit"]
    assert isinstance(content, ContentFile)
    assert (content.path, content.name) == ("docs/new.md", "new.md")
    assert content.sha == blob_sha("# New\n")
    assert len(commit.sha) == 40 and commit.sha != sha
    assert text(repo, "docs/new.md", "fix") == "# New\n"
    assert repo.get_branch("fix").commit.sha == commit.sha
    assert repo.get_branch("main").commit.sha == sha
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("docs/new.md", ref="main")
    raw = fresh_http.put(
        f"/repos/{FULL_NAME}/contents/second.md",
        json={
            "message": "Add second.md",
            "content": base64.b64encode(b"2\n").decode(),
            "branch": "fix",
        },
    )
    assert raw.status_code == 201
    assert set(raw.json()) == {"content", "commit"}
    assert raw.json()["content"]["sha"] == blob_sha("2\n")


def test_updating_a_file_with_its_sha_answers_200_and_moves_the_branch(
    repo: Repository, fresh_http: httpx.Client
) -> None:
    repo.create_git_ref("refs/heads/fix", main_sha(repo))
    response = fresh_http.put(
        f"/repos/{FULL_NAME}/contents/README.md",
        json={
            "message": "Reword the README",
            "content": base64.b64encode(b"# sandbox\n\nReworded.\n").decode(),
            "sha": blob_sha(README_ON_MAIN),
            "branch": "fix",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["content"]["sha"] == blob_sha("# sandbox\n\nReworded.\n")
    assert repo.get_branch("fix").commit.sha == body["commit"]["sha"]
    assert text(repo, "README.md", "fix") == "# sandbox\n\nReworded.\n"
    assert text(repo, "README.md", "main") == README_ON_MAIN


def test_updating_a_file_without_its_sha_is_422_sha_wasnt_supplied(
    repo: Repository, fresh_http: httpx.Client
) -> None:
    repo.create_git_ref("refs/heads/fix", main_sha(repo))
    response = fresh_http.put(
        f"/repos/{FULL_NAME}/contents/README.md",
        json={
            "message": "Overwrite",
            "content": base64.b64encode(b"x\n").decode(),
            "branch": "fix",
        },
    )
    assert response.status_code == 422
    assert response.json()["message"] == 'Invalid request.\n\n"sha" wasn\'t supplied.'
    assert text(repo, "README.md", "fix") == README_ON_MAIN


def test_updating_a_file_with_a_stale_sha_is_409_does_not_match(repo: Repository) -> None:
    repo.create_git_ref("refs/heads/fix", main_sha(repo))
    stale = "0" * 40
    with pytest.raises(github.GithubException) as caught:
        repo.update_file("README.md", "Overwrite", "x\n", stale, branch="fix")
    assert caught.value.status == 409
    assert caught.value.data["message"] == f"README.md does not match {stale}"
    assert text(repo, "README.md", "fix") == README_ON_MAIN


# -- pull requests -----------------------------------------------------------------------


def test_a_pull_request_takes_the_number_after_the_issues_and_names_both_branches(
    repo: Repository,
) -> None:
    head_sha = branch_with_a_commit(repo, "fix")
    base_sha = main_sha(repo)
    pr = repo.create_pull(base="main", head="fix", title="Fix it", body="Details.")
    assert pr.number == 4
    assert (pr.title, pr.body, pr.state) == ("Fix it", "Details.", "open")
    assert (pr.head.ref, pr.head.sha, pr.head.label) == ("fix", head_sha, f"{ME}:fix")
    assert (pr.base.ref, pr.base.sha) == ("main", base_sha)
    assert pr.head.repo.full_name == FULL_NAME and pr.base.repo.full_name == FULL_NAME
    assert pr.user.login == ME and pr.merged is False and pr.draft is False
    assert pr.html_url.endswith(f"/{FULL_NAME}/pull/4")
    assert [p.number for p in repo.get_pulls()] == [4, SEEDED_PR]
    as_issue = repo.get_issue(4)
    assert as_issue.pull_request is not None and as_issue.title == "Fix it"
    assert repo.get_pull(4).head.ref == "fix"


def test_creating_a_pull_request_answers_201_with_the_pull_request(
    repo: Repository, fresh_http: httpx.Client
) -> None:
    branch_with_a_commit(repo, "fix")
    response = fresh_http.post(
        f"/repos/{FULL_NAME}/pulls", json={"title": "Raw PR", "head": "fix", "base": "main"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["number"] == 4 and body["state"] == "open" and body["merged"] is False
    assert body["url"].endswith(f"/repos/{FULL_NAME}/pulls/4")
    assert body["issue_url"].endswith(f"/repos/{FULL_NAME}/issues/4")


def test_a_pull_request_whose_head_does_not_exist_is_422_invalid_head(repo: Repository) -> None:
    with pytest.raises(github.GithubException) as caught:
        repo.create_pull(base="main", head="no-such-branch", title="Ghost")
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Validation Failed"
    assert caught.value.data["errors"] == [
        {"resource": "PullRequest", "field": "head", "code": "invalid"}
    ]
    assert [p.number for p in repo.get_pulls(state="all")] == [SEEDED_PR]


def test_a_second_pull_request_for_the_same_head_is_422_already_exists(
    repo: Repository,
) -> None:
    with pytest.raises(github.GithubException) as caught:
        repo.create_pull(base="main", head=SEEDED_HEAD, title="Again")
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Validation Failed"
    assert caught.value.data["errors"] == [
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": f"A pull request already exists for {ME}:{SEEDED_HEAD}.",
        }
    ]


def test_the_seeded_pull_request_lists_its_changed_file(repo: Repository) -> None:
    pr = repo.get_pull(SEEDED_PR)
    files = list(pr.get_files())
    assert [(f.filename, f.status) for f in files] == [("README.md", "modified")]
    assert files[0].sha == blob_sha(README_ON_FEATURE)
    assert pr.changed_files == 1
    assert pr.head.ref == SEEDED_HEAD and pr.base.ref == "main"


def test_requesting_a_review_shows_the_reviewer_on_the_pull_request(repo: Repository) -> None:
    branch_with_a_commit(repo, "fix")
    pr = repo.create_pull(base="main", head="fix", title="Please review")
    pr.create_review_request(reviewers=[HELPER])
    reread = repo.get_pull(pr.number)
    assert [user.login for user in reread.requested_reviewers] == [HELPER]
    users, teams = reread.get_review_requests()
    assert [user.login for user in users] == [HELPER] and list(teams) == []
    pr.delete_review_request(reviewers=[HELPER])
    assert repo.get_pull(pr.number).requested_reviewers == []


def test_requesting_a_review_answers_201_with_the_pull_request(
    repo: Repository, fresh_http: httpx.Client
) -> None:
    branch_with_a_commit(repo, "fix")
    number = repo.create_pull(base="main", head="fix", title="Please review").number
    response = fresh_http.post(
        f"/repos/{FULL_NAME}/pulls/{number}/requested_reviewers", json={"reviewers": [HELPER]}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["number"] == number and body["head"]["ref"] == "fix"
    assert [user["login"] for user in body["requested_reviewers"]] == [HELPER]


def test_approving_a_pull_request_records_an_approved_review(
    repo: Repository, fresh_http: httpx.Client
) -> None:
    pr = repo.get_pull(SEEDED_PR)  # opened by doppel-dev, so the token's user may approve it
    review = pr.create_review(event="APPROVE", body="Looks good.")
    assert review.state == "APPROVED" and review.user.login == ME
    assert review.body == "Looks good." and review.commit_id == pr.head.sha
    assert review.submitted_at is not None
    assert review.html_url.endswith(f"/pull/{SEEDED_PR}#pullrequestreview-{review.id}")
    listed = list(repo.get_pull(SEEDED_PR).get_reviews())
    assert [(r.id, r.state) for r in listed] == [(review.id, "APPROVED")]
    assert repo.get_pull(SEEDED_PR).get_review(review.id).state == "APPROVED"
    raw = fresh_http.post(
        f"/repos/{FULL_NAME}/pulls/{SEEDED_PR}/reviews", json={"event": "COMMENT", "body": "nit"}
    )
    assert raw.status_code == 200 and raw.json()["state"] == "COMMENTED"


def test_approving_your_own_pull_request_is_refused_with_422(repo: Repository) -> None:
    branch_with_a_commit(repo, "fix")
    pr = repo.create_pull(base="main", head="fix", title="Mine")
    with pytest.raises(github.GithubException) as caught:
        pr.create_review(event="APPROVE")
    assert caught.value.status == 422
    assert "Can not approve your own pull request" in str(caught.value.data)
    assert list(repo.get_pull(pr.number).get_reviews()) == []


def test_a_pull_request_is_not_merged_before_the_merge(repo: Repository) -> None:
    pr = repo.get_pull(SEEDED_PR)
    assert pr.is_merged() is False
    assert pr.merged is False and pr.merged_at is None and pr.merged_by is None


def test_merging_a_pull_request_lands_its_changes_on_the_base_branch(
    repo: Repository, fresh_http: httpx.Client
) -> None:
    pr = repo.get_pull(SEEDED_PR)
    base_before, head_sha = main_sha(repo), pr.head.sha
    status = pr.merge()
    assert status.merged is True and status.message == "Pull Request successfully merged"
    assert len(status.sha) == 40
    assert pr.is_merged() is True
    merged = repo.get_pull(SEEDED_PR)
    assert merged.merged is True and merged.state == "closed"
    assert merged.merged_by.login == ME and merged.merged_at is not None
    assert merged.merge_commit_sha == status.sha
    issue = repo.get_issue(SEEDED_PR)
    assert issue.state == "closed"
    assert issue.pull_request is not None and issue.pull_request.merged_at is not None
    assert text(repo, "README.md", "main") == README_ON_FEATURE
    assert main_sha(repo) == status.sha
    commit = repo.get_commit(status.sha)
    assert [parent.sha for parent in commit.parents] == [base_before, head_sha]
    assert [p.number for p in repo.get_pulls(state="closed")] == [SEEDED_PR]
    assert list(repo.get_pulls()) == []
    response = fresh_http.get(f"/repos/{FULL_NAME}/pulls/{SEEDED_PR}/merge")
    assert response.status_code == 204 and response.content == b""


def test_merging_answers_200_with_the_merge_commit(
    repo: Repository, fresh_http: httpx.Client
) -> None:
    response = fresh_http.put(f"/repos/{FULL_NAME}/pulls/{SEEDED_PR}/merge", json={})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"sha", "merged", "message"}
    assert body["merged"] is True and body["message"] == "Pull Request successfully merged"
    assert repo.get_pull(SEEDED_PR).merge_commit_sha == body["sha"]


def test_merging_a_merged_pull_request_again_is_405(repo: Repository) -> None:
    pr = repo.get_pull(SEEDED_PR)
    sha = pr.merge().sha
    with pytest.raises(github.GithubException) as caught:
        pr.merge()
    assert caught.value.status == 405
    assert caught.value.data["message"] == "Pull Request is not mergeable"
    assert repo.get_pull(SEEDED_PR).merge_commit_sha == sha
    assert main_sha(repo) == sha


def test_a_closed_pull_request_cannot_be_merged(repo: Repository) -> None:
    pr = repo.get_pull(SEEDED_PR)
    pr.edit(state="closed")
    with pytest.raises(github.GithubException) as caught:
        pr.merge()
    assert caught.value.status == 405
    assert caught.value.data["message"] == "Pull Request is not mergeable"
    assert repo.get_pull(SEEDED_PR).merged is False
    assert text(repo, "README.md", "main") == README_ON_MAIN


def test_a_change_goes_from_a_new_branch_to_main_through_a_reviewed_pull_request(
    fresh_gh: github.Github,
) -> None:
    repo = fresh_gh.get_repo(FULL_NAME)
    base = repo.get_branch(repo.default_branch)
    repo.create_git_ref("refs/heads/fix", base.commit.sha)
    readme = repo.get_contents("README.md", ref="fix")
    assert not isinstance(readme, list)
    updated = repo.update_file(
        "README.md", "Reword the README", "# sandbox\n\nFixed.\n", readme.sha, branch="fix"
    )
    added = repo.create_file("docs/new.md", "Add a page", "# New page\n", branch="fix")
    assert repo.get_branch("fix").commit.sha == added["commit"].sha != updated["commit"].sha
    pr = repo.create_pull(base="main", head="fix", title="Fix the README", body="Please.")
    assert pr.number == 4 and (pr.head.ref, pr.base.ref) == ("fix", "main")
    assert pr.head.sha == added["commit"].sha
    files = sorted((f.filename, f.status) for f in pr.get_files())
    assert files == [("README.md", "modified"), ("docs/new.md", "added")]
    assert repo.get_pull(4).changed_files == 2
    pr.create_review_request(reviewers=[HELPER])
    assert [u.login for u in repo.get_pull(4).requested_reviewers] == [HELPER]
    status = pr.merge(merge_method="merge")
    assert status.merged is True and repo.get_pull(4).is_merged()
    assert text(repo, "README.md", "main") == "# sandbox\n\nFixed.\n"
    assert text(repo, "docs/new.md", "main") == "# New page\n"
    assert text(repo, "docs/guide.md", "main") == "# Guide\n\nHow to work on sandbox.\n"
    assert repo.get_branch("main").commit.sha == status.sha != base.commit.sha


def test_pull_requests_list_filters_by_head_and_base(repo: Repository) -> None:
    branch_with_a_commit(repo, "fix")
    repo.create_pull(base="main", head="fix", title="Fix")
    assert [p.number for p in repo.get_pulls(head=f"{ME}:fix")] == [4]
    assert [p.number for p in repo.get_pulls(head=f"{ME}:{SEEDED_HEAD}")] == [SEEDED_PR]
    assert [p.number for p in repo.get_pulls(base="main")] == [4, SEEDED_PR]
    assert list(repo.get_pulls(base="other")) == []


def test_the_default_world_has_main_and_the_feature_branch(fresh_gh: github.Github) -> None:
    repo = fresh_gh.get_repo(FULL_NAME)
    names = sorted(branch.name for branch in repo.get_branches())
    assert names == sorted(["main", SEEDED_HEAD])
    assert repo.get_branch(SEEDED_HEAD).commit.sha != repo.get_branch("main").commit.sha
