"""The dashboard's pages and fragments over real HTTP from a real `doppel serve`: redirects,
paging and filters at scale, the journal's live updates, ended sandboxes, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.servers import ControlPlane

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    server = ControlPlane(tmp_path_factory.mktemp("control-plane") / "data").start(timeout=90)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def http(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=control_plane.url, trust_env=False, timeout=30) as client:
        yield client


def _create(http: httpx.Client, agent: str, configs: dict[str, Any] | None = None) -> Any:
    answer = http.post(
        f"/v1/agents/{agent}/sandboxes",
        json={"required_services": ["figma"], "custom_configs": configs or {}},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_the_root_and_bare_ui_lead_to_the_list(http: httpx.Client) -> None:
    for path in ("/", "/ui"):
        answer = http.get(path)
        assert answer.status_code == 307 and answer.headers["location"].endswith("/ui/")
    page = http.get("/ui/")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/ui/static/htmx.min.js"' in page.text
    assert "htmx" in http.get("/ui/static/htmx.min.js").text


def test_the_list_pages_and_filters_many_sandboxes(http: httpx.Client) -> None:
    made = [_create(http, f"pager-{i % 3}")["sandbox_id"] for i in range(51)]
    first = http.get("/ui/", params={"service": "figma"}).text
    assert "51 sandboxes, 1–50 shown (page 1 of 2)" in first
    assert sum(f'data-sandbox="{s}"' in first for s in made) == 50
    assert f'data-sandbox="{made[0]}"' not in first  # newest first: the oldest is on page 2
    assert 'href="/ui/?service=figma&amp;page=2"' in first

    second = http.get("/ui/sandboxes/rows", params={"service": "figma", "page": 2}).text
    assert f'data-sandbox="{made[0]}"' in second and "<html" not in second
    assert 'hx-get="/ui/sandboxes/rows?service=figma&amp;page=2"' in second  # polls its own page

    one_agent = http.get("/ui/", params={"agent": "pager-1"}).text
    assert "17 sandboxes" in one_agent
    assert "0 sandboxes" in http.get("/ui/", params={"service": "slack"}).text
    assert "0 sandboxes" in http.get("/ui/", params={"status": "deleted", "agent": "pager-0"}).text
    refused = http.get("/ui/", params={"page": 0})
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/query/page"
    for sandbox_id in made:
        http.delete(f"/v1/sandboxes/{sandbox_id}")


def test_the_journal_fragment_adds_only_new_entries(http: httpx.Client) -> None:
    sandbox = _create(http, "journal-agent", {"figma": {"mock_responses": {"/hello": {"hi": 1}}}})
    sandbox_id, figma = sandbox["sandbox_id"], sandbox["services"]["figma"]["url"]
    path = f"/ui/sandboxes/{sandbox_id}/journal"

    quiet = http.get(path, params={"after": 0})
    assert "HX-Trigger" not in quiet.headers and "hx-swap-oob" not in quiet.text
    assert f'hx-get="{path}?after=0"' in quiet.text

    httpx.get(f"{figma}/v1/hello", trust_env=False)
    first = http.get(path, params={"after": 0})
    assert first.headers["HX-Trigger"] == "journal-changed"
    [seen] = re.findall(r'id="entry-(\d+)"', first.text)
    assert f"after={seen}" in first.text  # the next poll asks past it

    httpx.get(f"{figma}/v1/nothing-here", trust_env=False)
    added = http.get(path, params={"after": seen})
    assert 'hx-swap-oob="afterbegin:#journal"' in added.text
    [new] = re.findall(r'id="entry-(\d+)"', added.text)
    assert int(new) > int(seen) and 'data-path="/v1/nothing-here"' in added.text
    assert "Near misses" in added.text
    assert "hx-swap-oob" not in http.get(path, params={"after": new}).text

    http.post(f"/v1/sandboxes/{sandbox_id}/reset")
    cleared = http.get(path, params={"after": new})
    assert cleared.headers["HX-Trigger"] == "journal-changed"
    assert '<div id="journal" hx-swap-oob="true">' in cleared.text
    assert "No requests yet" in cleared.text
    refused = http.get(path, params={"after": "figma:1"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/query/after"
    http.delete(f"/v1/sandboxes/{sandbox_id}")


def test_user_text_is_escaped(http: httpx.Client) -> None:
    evil = "<script>alert(1)</script>"
    sandbox = _create(http, "escape-agent", {"figma": {"mock_responses": {"/evil": {"x": evil}}}})
    httpx.get(f"{sandbox['services']['figma']['url']}/v1/evil", trust_env=False)
    page = http.get(f"/ui/sandboxes/{sandbox['sandbox_id']}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert evil not in page
    http.delete(f"/v1/sandboxes/{sandbox['sandbox_id']}")


def test_ended_and_unknown_sandboxes_get_pages_that_say_so(http: httpx.Client) -> None:
    sandbox_id = _create(http, "ending-agent")["sandbox_id"]
    summary = http.get(f"/ui/sandboxes/{sandbox_id}/summary").text
    assert 'class="ttl"' in summary and "health-up" in summary
    http.delete(f"/v1/sandboxes/{sandbox_id}")
    ended = http.get(f"/ui/sandboxes/{sandbox_id}")
    assert ended.status_code == 410 and "deleted" in ended.text
    assert 'id="ended"' in http.get(f"/ui/sandboxes/{sandbox_id}/summary").text
    assert "not running" in http.get(f"/ui/sandboxes/{sandbox_id}/state").text
    unknown = http.get("/ui/sandboxes/nope")
    assert unknown.status_code == 404 and "no sandbox &#39;nope&#39;" in unknown.text
    assert http.get("/ui/templates/nope").status_code == 404


def test_sections_of_the_pending_contract_say_they_are_unavailable(
    http: httpx.Client,
) -> None:
    """Until the diff and checkpoint endpoints are served, their sections say so."""
    paths = http.get("/openapi.json").json()["paths"]
    sandbox_id = _create(http, "contract-agent")["sandbox_id"]
    page = http.get(f"/ui/sandboxes/{sandbox_id}").text
    has_diff = "/v1/sandboxes/{sandbox_id}/diff" in paths
    assert ('id="diff-unavailable"' in page) is not has_diff
    assert ('data-diff-url="' in page) is has_diff
    has_checkpoints = "post" in paths.get("/v1/sandboxes/{sandbox_id}/checkpoints", {})
    assert ("Checkpoint (unavailable)" in page) is not has_checkpoints
    lists_checkpoints = "get" in paths.get("/v1/sandboxes/{sandbox_id}/checkpoints", {})
    assert ('id="checkpoints-unavailable"' in page) is not lists_checkpoints
    has_restore = "/v1/sandboxes/{sandbox_id}/restore" in paths
    assert ("data-restore-url=" in page) is (has_restore and lists_checkpoints)
    has_fork = "/v1/sandboxes/{sandbox_id}/fork" in paths
    assert ("Fork (unavailable)" in page) is not has_fork
    http.delete(f"/v1/sandboxes/{sandbox_id}")


def test_the_summary_and_the_list_show_the_apis_usage(http: httpx.Client) -> None:
    sandbox = _create(http, "usage-agent", {"figma": {"mock_responses": {"/hello": {"hi": 1}}}})
    sandbox_id, figma = sandbox["sandbox_id"], sandbox["services"]["figma"]["url"]
    httpx.get(f"{figma}/v1/hello", trust_env=False)
    httpx.get(f"{figma}/v1/nothing-here", trust_env=False)

    summary = http.get(f"/ui/sandboxes/{sandbox_id}/summary").text

    assert re.search(r'id="usage">\s*2, 1 errors', summary), summary
    assert "full usage unavailable" not in summary
    assert '<td class="service-usage">2 <span class="muted">(1 errors)</span></td>' in summary
    page = http.get(f"/ui/sandboxes/{sandbox_id}").text
    assert re.search(r'id="usage">\s*2, 1 errors', page)
    http.delete(f"/v1/sandboxes/{sandbox_id}")
