"""Shared pieces of the GitHub workflow tests: a real `doppel mock github`, PyGithub and raw
HTTP clients pointed at it, and what real GitHub would compute (git blob shas)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import github
import httpx
import pytest

from tests.servers import MockProcess

TOKEN = "ghp_" + "T3stT0ken" * 4  # shaped like a classic personal access token
OWNER, NAME = "doppel", "sandbox"
FULL_NAME = f"{OWNER}/{NAME}"
ME, HELPER = "doppel", "doppel-dev"

# A world with a closed issue and a pull request besides the open issues: #1-#3, PR #4.
LISTED_WORLD = {
    "issues": [
        {
            "title": "Login fails with a 500 after password reset",
            "body": "Steps to reproduce: reset the password, then log in.",
            "labels": ["bug"],
            "assignees": [HELPER],
            "author": HELPER,
        },
        {
            "title": "Document the configuration options",
            "body": "The README should list every option.",
            "labels": ["documentation", "good first issue"],
            "author": ME,
        },
        {
            "title": "Crash when the cache directory is missing",
            "state": "closed",
            "labels": ["bug"],
            "author": HELPER,
        },
    ],
    "pulls": [
        {
            "title": "Update the README",
            "head": "feature/update-readme",
            "files": {"README.md": "# sandbox\n\nUpdated.\n"},
            "author": HELPER,
        }
    ],
}


@contextmanager
def serving(directory: Path, config: dict[str, Any]) -> Iterator[str]:
    """A `doppel mock github` with this config, stopped on exit; yields its base URL."""
    path = directory / "github.json"
    path.write_text(json.dumps(config))
    mock = MockProcess(["github", "--config", str(path)])
    try:
        yield mock.url
    finally:
        mock.stop()


@contextmanager
def pygithub(url: str, *, token: str | None = TOKEN, per_page: int = 30) -> Iterator[github.Github]:
    """PyGithub as an agent would configure it, against the mock; no retries, no throttling."""
    auth = github.Auth.Token(token) if token is not None else None
    gh = github.Github(
        auth=auth,
        base_url=url,
        per_page=per_page,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    try:
        yield gh
    finally:
        gh.close()


@contextmanager
def raw_http(url: str, *, token: str | None = TOKEN) -> Iterator[httpx.Client]:
    """Plain HTTP with only the token header, for what PyGithub hides (statuses, headers)."""
    headers = {"Accept": "application/vnd.github+json"}
    if token is not None:
        headers["Authorization"] = f"token {token}"
    with httpx.Client(base_url=url, headers=headers, trust_env=False, timeout=10.0) as client:
        yield client


def blob_sha(text: str) -> str:
    """The git blob sha GitHub reports for a file with this text."""
    data = text.encode()
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    """A mock with the default world, for one test alone."""
    with serving(tmp_path, {}) as url:
        yield url


@pytest.fixture
def fresh_gh(fresh_url: str) -> Iterator[github.Github]:
    with pygithub(fresh_url) as gh:
        yield gh


@pytest.fixture
def fresh_http(fresh_url: str) -> Iterator[httpx.Client]:
    with raw_http(fresh_url) as client:
        yield client
