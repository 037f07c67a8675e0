"""`GET /v1/sandboxes` pages with a cursor and says when there is more: 250 sandboxes of a
real `doppel serve`, listed over loopback by pages, each seen exactly once."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from doppel.cli import app
from doppel.client import Client
from tests.servers import ControlPlane

AGENTS = {"pager-a": 150, "pager-b": 100}
DELETED = 40  # of pager-a's


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, dict[str, Any]]]:
    """The server, and what was made on it: ids by agent and the deleted ones."""
    server = ControlPlane(
        tmp_path_factory.mktemp("pages") / "data",
        port_range="28400-28999",
        env={"DOPPEL_MAX_SANDBOXES_PER_AGENT": "200"},
    ).start()
    try:
        with httpx.Client(base_url=server.url, trust_env=False) as http:
            ids: dict[str, list[str]] = {agent: [] for agent in AGENTS}
            for agent, count in AGENTS.items():
                for _ in range(count):
                    created = http.post(
                        f"/v1/agents/{agent}/sandboxes",
                        json={"required_services": ["figma"], "ttl_minutes": 60},
                    )
                    assert created.status_code == 201, created.text
                    ids[agent].append(created.json()["sandbox_id"])
            deleted = ids["pager-a"][::3][:DELETED]
            for sandbox_id in deleted:
                assert http.delete(f"/v1/sandboxes/{sandbox_id}").status_code == 200
        yield server, {"ids": ids, "deleted": deleted}
    finally:
        server.stop()


def _pages(url: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of `path`, following `next_cursor` until `has_more` is false."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(base_url=url, trust_env=False) as http:
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            answer = http.get(path, params=query)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            pages.append(page)
            assert (page["next_cursor"] is not None) == page["has_more"]
            if not page["has_more"]:
                return pages
            cursor = page["next_cursor"]


def _cursor(raw: bytes) -> str:
    """A cursor-shaped forgery: valid base64 around a position the API never wrote."""
    return base64.urlsafe_b64encode(raw).decode()


def _ids(pages: list[dict[str, Any]]) -> list[str]:
    return [s["sandbox_id"] for page in pages for s in page["sandboxes"]]


def test_250_sandboxes_by_pages_of_100_each_once_newest_first(
    made: tuple[ControlPlane, dict[str, Any]],
) -> None:
    server, what = made
    pages = _pages(server.url, "/v1/sandboxes", limit=100)
    assert [len(p["sandboxes"]) for p in pages] == [100, 100, 50]
    assert [p["has_more"] for p in pages] == [True, True, False]
    listed = _ids(pages)
    assert len(listed) == len(set(listed)) == 250
    assert set(listed) == {i for ids in what["ids"].values() for i in ids}
    order = [(s["created_at"], s["sandbox_id"]) for p in pages for s in p["sandboxes"]]
    assert order == sorted(order, reverse=True)  # newest first


def test_the_default_page_is_100_and_says_there_is_more(
    made: tuple[ControlPlane, dict[str, Any]],
) -> None:
    server, _ = made
    page = httpx.get(f"{server.url}/v1/sandboxes", trust_env=False).json()
    assert len(page["sandboxes"]) == 100 and page["has_more"] is True
    everything = httpx.get(f"{server.url}/v1/sandboxes?limit=1000", trust_env=False).json()
    assert len(everything["sandboxes"]) == 250
    assert everything["has_more"] is False and everything["next_cursor"] is None


def test_filters_hold_across_pages(made: tuple[ControlPlane, dict[str, Any]]) -> None:
    server, what = made
    ids, deleted = what["ids"], what["deleted"]
    mine = _ids(_pages(server.url, "/v1/sandboxes", agent_id="pager-a", limit=40))
    assert sorted(mine) == sorted(ids["pager-a"]) and len(mine) == 150
    gone = _ids(_pages(server.url, "/v1/sandboxes", status="deleted", limit=7))
    assert sorted(gone) == sorted(deleted)
    running = _ids(_pages(server.url, "/v1/agents/pager-a/sandboxes", status="running", limit=33))
    assert sorted(running) == sorted(set(ids["pager-a"]) - set(deleted))
    theirs = _ids(_pages(server.url, "/v1/agents/pager-b/sandboxes", limit=30))
    assert sorted(theirs) == sorted(ids["pager-b"])


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"cursor": "not-a-cursor"}, "/query/cursor"),
        ({"cursor": ""}, "/query/cursor"),
        ({"cursor": _cursor(b'{"a": 1}')}, "/query/cursor"),
        ({"cursor": _cursor(b'["yesterday", "x"]')}, "/query/cursor"),
        ({"cursor": _cursor(b'["2026-01-01T00:00:00", "x"]')}, "/query/cursor"),  # naive
        ({"cursor": _cursor(b'["2026-01-01T00:00:00+00:00", 7]')}, "/query/cursor"),
        ({"cursor": "x" * 600}, "/query/cursor"),
        ({"limit": 0}, "/query/limit"),
        ({"limit": 1001}, "/query/limit"),
        ({"limit": "many"}, "/query/limit"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/sandboxes", "/v1/agents/pager-a/sandboxes"])
def test_a_bad_cursor_or_limit_is_a_422_naming_it(
    made: tuple[ControlPlane, dict[str, Any]], path: str, params: dict[str, Any], pointer: str
) -> None:
    server, _ = made
    answer = httpx.get(f"{server.url}{path}", params=params, trust_env=False)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert pointer in [e["pointer"] for e in answer.json()["errors"]]


def test_the_client_iterates_every_page_or_hands_one(
    made: tuple[ControlPlane, dict[str, Any]],
) -> None:
    server, _ = made
    with Client(server.url) as client:
        streamed = [s.id for s in client.iter_sandboxes(page_size=100)]
        assert len(streamed) == len(set(streamed)) == 250
        assert len(client.list_sandboxes(agent_id="pager-b")) == 100
        first = client.sandboxes_page(agent_id="pager-a", limit=60)
        second = client.sandboxes_page(agent_id="pager-a", limit=60, cursor=first.next_cursor)
        assert first.has_more and len(first.sandboxes) == len(second.sandboxes) == 60
        assert {s.id for s in first.sandboxes}.isdisjoint(s.id for s in second.sandboxes)
        small_pages = [s.id for s in client.iter_sandboxes(agent_id="pager-a", page_size=7)]
        assert [s.id for s in first.sandboxes + second.sandboxes] == small_pages[:120]


def test_sandbox_ls_lists_every_page_or_the_first_limit(
    made: tuple[ControlPlane, dict[str, Any]],
) -> None:
    server, _ = made
    runner = CliRunner(env={"DOPPEL_URL": server.url})
    everything = runner.invoke(app, ["sandbox", "ls", "--json"])
    assert everything.exit_code == 0, everything.output
    assert len(json.loads(everything.output)["sandboxes"]) == 250
    some = runner.invoke(app, ["sandbox", "ls", "--agent", "pager-b", "--limit", "5", "--json"])
    assert some.exit_code == 0, some.output
    assert len(json.loads(some.output)["sandboxes"]) == 5
