"""Lists as providers serve them: filtered, sorted, and cut into pages a client can walk."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from doppel.engine import (
    CompiledSpec,
    MockContext,
    MockRequest,
    MockResponse,
    compile_spec,
    respond,
)
from doppel.engine.world import World

BASE = "http://127.0.0.1:9/sandboxes/sb_1/tasks"
TASK = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "state": {"type": "string"},
        "labels": {"type": "array", "items": {"type": "string"}},
        "assignee": {"type": ["string", "null"]},
        "points": {"type": ["integer", "null"]},
        "ts": {"type": "string"},
        "private": {"type": "boolean"},
        "archived": {"type": "boolean"},
    },
}
TASKS_OF = {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}


def _list(operation_id: str, schema: Any, *params: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "parameters": [
                {"name": p, "in": "query", "schema": {"type": "string"}} for p in params
            ],
            "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": schema}}}
            },
        }
    }


def _object(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


FILTERED = (
    "state",
    "labels",
    "any_label",
    "assignee",
    "min_points",
    "types",
    "archived",
    "oldest",
    "latest",
    "inclusive",
    "q",
    "sort",
    "direction",
)
DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "tasks", "version": "1"},
    "servers": [{"url": "https://api.tasks.example/v1"}],
    "paths": {
        "/tasks": _list("listTasks", TASKS_OF, *FILTERED),
        "/github/tasks": _list("githubTasks", TASKS_OF, "per_page", "page"),
        "/twilio/tasks.json": _list(
            "twilioTasks",
            _object(
                tasks=TASKS_OF,
                page={"type": "integer"},
                page_size={"type": "integer"},
                start={"type": "integer"},
                end={"type": "integer"},
                first_page_uri={"type": "string"},
                next_page_uri={"type": ["string", "null"]},
                previous_page_uri={"type": ["string", "null"]},
            ),
            "PageSize",
            "Page",
        ),
        "/slack/tasks": _list(
            "slackTasks",
            _object(
                ok={"type": "boolean"},
                tasks=TASKS_OF,
                response_metadata=_object(next_cursor={"type": "string"}),
            ),
            "limit",
            "cursor",
        ),
        # Slack's history: the description has no place for the cursor it sends.
        "/slack/history": _list(
            "slackHistory",
            {
                **_object(
                    ok={"type": "boolean"},
                    tasks=TASKS_OF,
                    has_more={"type": "boolean"},
                    pin_count={"type": "integer"},
                ),
                "additionalProperties": False,
            },
            "limit",
            "cursor",
        ),
        "/slack/quiet": _list(
            "slackQuiet",
            {
                **_object(tasks=TASKS_OF, has_more={"type": "boolean"}),
                "additionalProperties": False,
            },
            "limit",
            "cursor",
        ),
        "/slack/members": _list(
            "slackMembers",
            _object(
                members={"type": "array", "items": {"type": "string"}},
                response_metadata=_object(next_cursor={"type": "string"}),
            ),
            "limit",
            "cursor",
        ),
        "/stripe/tasks": _list(
            "stripeTasks",
            _object(
                object={"type": "string"},
                data=TASKS_OF,
                has_more={"type": "boolean"},
                url={"type": "string"},
            ),
            "limit",
            "starting_after",
            "ending_before",
        ),
        "/offset/tasks": _list("offsetTasks", TASKS_OF, "limit", "offset"),
    },
    "components": {"schemas": {"Task": TASK}},
    "x-doppel": {
        "closed_world": True,
        "pagination": {
            "github": {
                "style": "page",
                "size": "per_page",
                "page": "page",
                "default_size": 30,
                "link": True,
            },
            "twilio": {
                "style": "page",
                "size": "PageSize",
                "page": "Page",
                "first_page": 0,
                "default_size": 50,
                "uris": {
                    "next": "next_page_uri",
                    "previous": "previous_page_uri",
                    "first": "first_page_uri",
                },
                "meta": {"page": "page", "page_size": "page_size", "start": "start", "end": "end"},
            },
            "slack": {
                "style": "cursor",
                "size": "limit",
                "cursor": "cursor",
                "default_size": 100,
                "next_cursor": "response_metadata.next_cursor",
                "cursor_prefix": "next:",
            },
            "history": {
                "style": "cursor",
                "size": "limit",
                "cursor": "cursor",
                "next_cursor": "response_metadata.next_cursor",
                "last_cursor": "omit",
                "undeclared": True,
                "has_more": "has_more",
            },
            "quiet": {
                "style": "cursor",
                "size": "limit",
                "cursor": "cursor",
                "next_cursor": "response_metadata.next_cursor",
                "has_more": "has_more",
            },
            "stripe": {
                "style": "after",
                "size": "limit",
                "after": "starting_after",
                "before": "ending_before",
                "default_size": 10,
                "has_more": "has_more",
                "meta": {"url": "url"},
            },
            "offset": {"style": "offset", "size": "limit", "offset": "offset", "default_size": 4},
        },
        "resources": {
            "task": {
                "key": "id",
                "schema": "#/components/schemas/Task",
                "filters": {
                    "state": {"field": ["state"], "default": "open", "all": "all"},
                    "labels": {"field": ["labels[]"], "split": ",", "match": "all"},
                    "any_label": {"field": ["labels[]"], "split": ","},
                    "assignee": {"field": ["assignee"], "none": "none", "any": "*"},
                    "min_points": {"field": ["points"], "op": "ge"},
                    "types": {
                        "split": ",",
                        "values": {"public": {"private": False}, "private": {"private": True}},
                    },
                    "archived": {"when": "false", "condition": {"archived": False}},
                    "oldest": {"field": ["ts"], "op": "gt", "inclusive": "inclusive"},
                    "latest": {"field": ["ts"], "op": "lt", "inclusive": "inclusive"},
                    "q": {"field": ["title"], "op": "contains"},
                },
                "sort": {
                    "param": "sort",
                    "direction": "direction",
                    "fields": {"points": "points", "title": "title"},
                    "default_direction": "desc",
                },
            }
        },
        "operations": {
            "listTasks": {"kind": "task", "action": "list"},
            "githubTasks": {
                "kind": "task",
                "action": "list",
                "pagination": "github",
                "filters": {},
            },
            "twilioTasks": {
                "kind": "task",
                "action": "list",
                "pagination": "twilio",
                "envelope": "tasks",
                "filters": {},
            },
            "slackTasks": {
                "kind": "task",
                "action": "list",
                "pagination": "slack",
                "envelope": "tasks",
                "filters": {},
                "answer": {"ok": True},
            },
            "slackHistory": {
                "kind": "task",
                "action": "list",
                "pagination": "history",
                "envelope": "tasks",
                "filters": {},
                "answer": {"ok": True, "pin_count": 0},
            },
            "slackQuiet": {
                "kind": "task",
                "action": "list",
                "pagination": "quiet",
                "envelope": "tasks",
                "filters": {},
            },
            "slackMembers": {
                "kind": "task",
                "action": "list",
                "pagination": "slack",
                "envelope": "members",
                "wrap": "{item.id}",
                "filters": {},
            },
            "stripeTasks": {
                "kind": "task",
                "action": "list",
                "pagination": "stripe",
                "envelope": "data",
                "filters": {},
                "answer": {"object": "list"},
            },
            "offsetTasks": {
                "kind": "task",
                "action": "list",
                "pagination": "offset",
                "filters": {},
            },
        },
    },
}
TASKS: list[dict[str, Any]] = [
    {
        "id": "t1",
        "title": "Fix crash",
        "state": "open",
        "labels": ["bug", "ui"],
        "assignee": "ana",
        "points": 3,
        "ts": "1700000000.000100",
        "private": False,
        "archived": False,
    },
    {
        "id": "t2",
        "title": "Write docs",
        "state": "closed",
        "labels": ["docs"],
        "assignee": None,
        "points": 1,
        "ts": "1700000000.000200",
        "private": True,
        "archived": True,
    },
    {
        "id": "t3",
        "title": "Crash on save",
        "state": "open",
        "labels": ["bug"],
        "assignee": "bo",
        "points": None,
        "ts": "1700000000.000300",
        "private": False,
        "archived": False,
    },
    {
        "id": "t4",
        "title": "Polish the UI",
        "state": "open",
        "labels": ["ui"],
        "assignee": None,
        "points": 5,
        "ts": "1700000000.000400",
        "private": True,
        "archived": False,
    },
    {
        "id": "t5",
        "title": "Release",
        "state": "open",
        "labels": [],
        "assignee": "ana",
        "points": 2,
        "ts": "1700000000.000500",
        "private": False,
        "archived": True,
    },
]


@pytest.fixture(scope="module")
def spec() -> CompiledSpec:
    return compile_spec(DOCUMENT)


def _world(count: int) -> World:
    tasks = TASKS if count == len(TASKS) else [{"id": f"t{n:03d}"} for n in range(1, count + 1)]
    return World.of({"task": {task["id"]: task for task in tasks}})


def _get(spec: CompiledSpec, world: World, path: str, query: str = "") -> MockResponse:
    context = MockContext(base_url=BASE, world=world, closed_world=True)
    response, _ = respond(spec, MockRequest("GET", path, query), context)
    return response


def _ids(spec: CompiledSpec, query: str) -> list[str]:
    response = _get(spec, _world(len(TASKS)), "/tasks", query)
    assert response.status == 200, response.body
    return [task["id"] for task in response.json()]


# -- filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        pytest.param("", ["t1", "t3", "t4", "t5"], id="a-default-applies-when-absent"),
        pytest.param("state=closed", ["t2"], id="equal"),
        pytest.param(
            "state=all", ["t1", "t2", "t3", "t4", "t5"], id="the-all-value-filters-nothing"
        ),
        pytest.param("state=", ["t1", "t3", "t4", "t5"], id="an-empty-value-takes-the-default"),
        pytest.param("labels=bug", ["t1", "t3"], id="a-member-of-a-list"),
        pytest.param("labels=bug,ui", ["t1"], id="split-match-all"),
        pytest.param("labels=bug, ui", ["t1"], id="split-trims-each-value"),
        pytest.param("any_label=docs,ui&state=all", ["t1", "t2", "t4"], id="split-match-any"),
        pytest.param("state=all&assignee=none", ["t2", "t4"], id="the-none-sentinel"),
        pytest.param("state=all&assignee=*", ["t1", "t3", "t5"], id="the-any-sentinel"),
        pytest.param("state=all&assignee=ana", ["t1", "t5"], id="a-value"),
        pytest.param("state=all&min_points=3", ["t1", "t4"], id="an-operator"),
        pytest.param("state=all&types=private", ["t2", "t4"], id="a-named-condition"),
        pytest.param(
            "state=all&types=public,private", ["t1", "t2", "t3", "t4", "t5"], id="any-named"
        ),
        pytest.param("state=all&types=bogus", ["t1", "t2", "t3", "t4", "t5"], id="unknown-names"),
        pytest.param("state=all&archived=false", ["t1", "t3", "t4"], id="when-the-value-matches"),
        pytest.param("state=all&archived=true", ["t1", "t2", "t3", "t4", "t5"], id="when-not"),
        pytest.param("state=all&oldest=1700000000.000200", ["t3", "t4", "t5"], id="gt-on-ts"),
        pytest.param(
            "state=all&oldest=1700000000.000200&inclusive=1",
            ["t2", "t3", "t4", "t5"],
            id="inclusive-turns-gt-into-ge",
        ),
        pytest.param(
            "state=all&latest=1700000000.000300&inclusive=true",
            ["t1", "t2", "t3"],
            id="inclusive-turns-lt-into-le",
        ),
        pytest.param(
            "state=all&latest=1700000000.000300&inclusive=0", ["t1", "t2"], id="not-inclusive"
        ),
        pytest.param("state=all&q=CRASH", ["t1", "t3"], id="contains-ignoring-case"),
        pytest.param("labels=bug&assignee=bo", ["t3"], id="filters-combine"),
    ],
)
def test_filters(spec: CompiledSpec, query: str, ids: list[str]) -> None:
    assert _ids(spec, query) == ids


# -- sorting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        pytest.param("sort=points", ["t4", "t1", "t5", "t2", "t3"], id="the-default-direction"),
        pytest.param("sort=points&direction=desc", ["t4", "t1", "t5", "t2", "t3"], id="desc"),
        pytest.param("sort=points&direction=asc", ["t2", "t5", "t1", "t4", "t3"], id="asc"),
        pytest.param("sort=points&direction=ASC", ["t2", "t5", "t1", "t4", "t3"], id="any-case"),
        pytest.param("sort=title&direction=asc", ["t3", "t1", "t4", "t5", "t2"], id="by-text"),
        pytest.param("sort=bogus", ["t1", "t2", "t3", "t4", "t5"], id="unknown-keeps-the-order"),
        pytest.param("", ["t1", "t2", "t3", "t4", "t5"], id="none-keeps-the-order"),
    ],
)
def test_sort_with_direction_and_missing_values_last(
    spec: CompiledSpec, query: str, ids: list[str]
) -> None:
    assert _ids(spec, "state=all&" + query) == ids


# -- GitHub: page numbers and a Link header -------------------------------------------------


def _links(response: MockResponse) -> dict[str, str]:
    header = response.header("link") or ""
    return {rel: url for url, rel in re.findall(r'<([^>]*)>; rel="(\w+)"', header)}


def test_a_first_page_links_to_the_next_and_the_last(spec: CompiledSpec) -> None:
    response = _get(spec, _world(5), "/github/tasks", "per_page=2")
    assert [t["id"] for t in response.json()] == ["t1", "t2"]
    assert response.header("link") == (
        f'<{BASE}/github/tasks?per_page=2&page=2>; rel="next", '
        f'<{BASE}/github/tasks?per_page=2&page=3>; rel="last"'
    )


def test_a_middle_page_links_every_way(spec: CompiledSpec) -> None:
    response = _get(spec, _world(5), "/github/tasks", "per_page=2&page=2")
    assert _links(response) == {
        "next": f"{BASE}/github/tasks?per_page=2&page=3",
        "last": f"{BASE}/github/tasks?per_page=2&page=3",
        "prev": f"{BASE}/github/tasks?per_page=2&page=1",
        "first": f"{BASE}/github/tasks?per_page=2&page=1",
    }


def test_a_last_page_links_back_to_the_previous_and_the_first(spec: CompiledSpec) -> None:
    response = _get(spec, _world(5), "/github/tasks", "per_page=2&page=3")
    assert [t["id"] for t in response.json()] == ["t5"]
    assert response.header("link") == (
        f'<{BASE}/github/tasks?per_page=2&page=2>; rel="prev", '
        f'<{BASE}/github/tasks?per_page=2&page=1>; rel="first"'
    )


@pytest.mark.parametrize("query", ["", "per_page=5", "per_page=100"])
def test_a_single_page_has_no_link_header(spec: CompiledSpec, query: str) -> None:
    response = _get(spec, _world(5), "/github/tasks", query)
    assert len(response.json()) == 5 and response.header("link") is None


def test_links_keep_the_other_parameters_and_the_server_prefix(spec: CompiledSpec) -> None:
    response = _get(spec, _world(5), "/v1/github/tasks", "page=1&per_page=2&state=x")
    assert _links(response)["next"] == f"{BASE}/v1/github/tasks?per_page=2&state=x&page=2"


def test_a_page_past_the_end_is_empty_and_links_back(spec: CompiledSpec) -> None:
    response = _get(spec, _world(5), "/github/tasks", "per_page=2&page=9")
    assert response.json() == []
    assert set(_links(response)) == {"prev", "first"}
    assert _links(response)["prev"].endswith("page=3")


# -- Twilio: page numbers from zero and page URIs ----------------------------------------


def test_twilio_pages_say_where_they_are_and_end_with_a_null_next(spec: CompiledSpec) -> None:
    first = _get(spec, _world(5), "/twilio/tasks.json", "PageSize=2").json()
    assert {k: v for k, v in first.items() if k != "tasks"} == {
        "page": 0,
        "page_size": 2,
        "start": 0,
        "end": 1,
        "first_page_uri": "/twilio/tasks.json?PageSize=2&Page=0",
        "next_page_uri": "/twilio/tasks.json?PageSize=2&Page=1",
        "previous_page_uri": None,
    }
    last = _get(spec, _world(5), "/twilio/tasks.json", "PageSize=2&Page=2").json()
    assert [t["id"] for t in last["tasks"]] == ["t5"]
    assert (last["page"], last["start"], last["end"]) == (2, 4, 4)
    assert last["next_page_uri"] is None
    assert last["previous_page_uri"] == "/twilio/tasks.json?PageSize=2&Page=1"


@pytest.mark.parametrize(
    ("query", "uri"),
    [
        pytest.param("", "/twilio/tasks.json?PageSize=50&Page=0", id="defaults-spelled-out"),
        pytest.param("PageSize=2", "/twilio/tasks.json?PageSize=2&Page=0", id="the-first-page"),
        pytest.param("Page=1&PageSize=2", "/twilio/tasks.json?PageSize=2&Page=1", id="a-page"),
        pytest.param(
            "PageSize=2&Page=9", "/twilio/tasks.json?PageSize=2&Page=9", id="past-the-end"
        ),
    ],
)
def test_a_twilio_page_names_its_own_address(query: str, uri: str) -> None:
    document = json.loads(json.dumps(DOCUMENT))
    document["x-doppel"]["pagination"]["twilio"]["meta"]["uri"] = "uri"
    schema = document["paths"]["/twilio/tasks.json"]["get"]["responses"]["200"]["content"]
    schema["application/json"]["schema"]["properties"]["uri"] = {"type": "string"}
    assert _get(compile_spec(document), _world(5), "/twilio/tasks.json", query).json()["uri"] == uri


# -- Slack: cursors --------------------------------------------------------------------------


def test_slack_cursors_are_empty_at_the_end(spec: CompiledSpec) -> None:
    first = _get(spec, _world(5), "/slack/tasks", "limit=3").json()
    assert first["ok"] is True and [t["id"] for t in first["tasks"]] == ["t1", "t2", "t3"]
    cursor = first["response_metadata"]["next_cursor"]
    assert cursor
    rest = _get(spec, _world(5), "/slack/tasks", urlencode({"limit": 3, "cursor": cursor})).json()
    assert [t["id"] for t in rest["tasks"]] == ["t4", "t5"]
    assert rest["response_metadata"]["next_cursor"] == ""


@pytest.mark.parametrize("cursor", ["bm9wZQ==", "not base64!", "bmV4dDp0OTk="])
def test_an_unknown_cursor_is_an_error(spec: CompiledSpec, cursor: str) -> None:
    response = _get(spec, _world(5), "/slack/tasks", urlencode({"cursor": cursor}))
    assert response.status == 422
    assert "invalid_cursor" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        pytest.param(
            "/slack/history",
            "limit=3",
            {
                "ok": True,
                "pin_count": 0,
                "has_more": True,
                "response_metadata": {"next_cursor": ""},
            },
            id="a-cursor-the-description-forgot-follows-the-answers-members",
        ),
        pytest.param(
            "/slack/history",
            "limit=5",
            {"ok": True, "pin_count": 0, "has_more": False},
            id="the-last-page-has-no-cursor-at-all",
        ),
        pytest.param(
            "/slack/quiet",
            "limit=3",
            {"has_more": True},
            id="a-member-the-schema-lacks-is-left-out-unless-declared-undeclared",
        ),
    ],
)
def test_where_a_cursor_goes(
    spec: CompiledSpec, path: str, query: str, expected: dict[str, Any]
) -> None:
    page = _get(spec, _world(5), path, query).json()
    meta = {k: v for k, v in page.items() if k != "tasks"}
    if "response_metadata" in meta:  # the cursor itself is opaque: only its presence counts
        meta["response_metadata"] = {"next_cursor": ""}
        assert page["response_metadata"]["next_cursor"]
    assert meta == expected


def test_each_listed_item_may_be_shown_as_an_entry(spec: CompiledSpec) -> None:
    first = _get(spec, _world(5), "/slack/members", "limit=2").json()
    assert first["members"] == ["t1", "t2"]
    cursor = first["response_metadata"]["next_cursor"]
    rest = _get(spec, _world(5), "/slack/members", urlencode({"limit": 9, "cursor": cursor}))
    assert rest.json() == {"members": ["t3", "t4", "t5"], "response_metadata": {"next_cursor": ""}}


def _with_provider_errors(default_error: dict[str, Any]) -> CompiledSpec:
    """Slack's history (whose 200 schema takes no `error`) with a `default` error schema and
    the provider's HTTP-200 refusals."""
    document = json.loads(json.dumps(DOCUMENT))
    document["paths"]["/slack/history"]["get"]["responses"]["default"] = {
        "description": "error",
        "content": {"application/json": {"schema": default_error}},
    }
    document["x-doppel"]["errors"] = {
        "refused": {"status": 200, "body": {"ok": False, "error": "{code}"}}
    }
    return compile_spec(document)


@pytest.mark.parametrize(
    ("error_schema", "status", "body"),
    [
        pytest.param(
            {"type": "object", "properties": {"ok": {"type": "boolean"}, "error": {}}},
            200,
            {"ok": False, "error": "invalid_cursor"},
            id="in-the-providers-words",
        ),
        pytest.param(
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {"ok": {"enum": [False]}, "error": {"enum": ["not_authed"]}},
            },
            200,
            {"ok": False, "error": "invalid_cursor"},
            id="a-code-the-descriptions-enum-lacks-is-no-other-shape",
        ),
        pytest.param(
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["message"],
                "properties": {"message": {"type": "string"}},
            },
            422,
            None,
            id="a-shape-the-description-declares-otherwise-answers-as-declared",
        ),
    ],
)
def test_an_unknown_cursor_is_the_providers_own_refusal(
    error_schema: dict[str, Any], status: int, body: Any
) -> None:
    spec = _with_provider_errors(error_schema)
    response = _get(spec, _world(5), "/slack/history", urlencode({"cursor": "bm9wZQ=="}))
    assert response.status == status
    if body is not None:
        assert response.json() == body
    else:
        assert set(response.json()) == {"message"}


# -- Stripe: ids to start after or end before ----------------------------------------------


@pytest.mark.parametrize(
    ("query", "ids", "has_more"),
    [
        pytest.param("limit=2", ["t1", "t2"], True, id="the-first-page"),
        pytest.param("limit=2&starting_after=t2", ["t3", "t4"], True, id="after-an-id"),
        pytest.param("limit=2&starting_after=t4", ["t5"], False, id="the-last-page"),
        pytest.param("limit=2&starting_after=t5", [], False, id="after-the-last"),
        pytest.param("limit=5", ["t1", "t2", "t3", "t4", "t5"], False, id="all-at-once"),
        pytest.param("limit=2&ending_before=t5", ["t3", "t4"], True, id="before-an-id"),
        pytest.param("limit=2&ending_before=t3", ["t1", "t2"], False, id="back-to-the-start"),
    ],
)
def test_stripe_pages_have_a_truthful_has_more(
    spec: CompiledSpec, query: str, ids: list[str], has_more: bool
) -> None:
    page = _get(spec, _world(5), "/stripe/tasks", query).json()
    assert [t["id"] for t in page["data"]] == ids
    assert (page["object"], page["has_more"], page["url"]) == ("list", has_more, "/stripe/tasks")


@pytest.mark.parametrize("query", ["starting_after=t99", "ending_before=t99"])
def test_an_unknown_starting_id_is_an_error(spec: CompiledSpec, query: str) -> None:
    assert _get(spec, _world(5), "/stripe/tasks", query).status >= 400


# -- offsets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        pytest.param("", ["t1", "t2", "t3", "t4"], id="the-default-size"),
        pytest.param("limit=2&offset=2", ["t3", "t4"], id="an-offset"),
        pytest.param("limit=2&offset=4", ["t5"], id="the-end"),
        pytest.param("limit=2&offset=9", [], id="past-the-end"),
        pytest.param("limit=2&offset=-1", ["t1", "t2"], id="a-negative-offset-is-zero"),
        pytest.param("limit=0", ["t1"], id="a-size-of-at-least-one"),
        pytest.param("limit=x", ["t1", "t2", "t3", "t4"], id="a-size-that-is-no-number"),
    ],
)
def test_offset_pages(spec: CompiledSpec, query: str, ids: list[str]) -> None:
    assert [t["id"] for t in _get(spec, _world(5), "/offset/tasks", query).json()] == ids


# -- walking every page like a client ----------------------------------------------------

MAX_PAGES = 200


def _split(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path, parts.query


def _walk_github(spec: CompiledSpec, world: World, size: int) -> list[str]:
    seen: list[str] = []
    path, query = "/github/tasks", f"per_page={size}"
    for _ in range(MAX_PAGES):
        response = _get(spec, world, path, query)
        seen += [t["id"] for t in response.json()]
        following = _links(response).get("next")
        if following is None:
            return seen
        assert following.startswith(BASE)
        path, query = _split(following[len(BASE) :])
    raise AssertionError("the Link header never ends")


def _walk_github_backwards(spec: CompiledSpec, world: World, size: int) -> list[str]:
    seen: list[str] = []
    response = _get(spec, world, "/github/tasks", f"per_page={size}")
    last = _links(response).get("last")
    if last is None:
        return [t["id"] for t in response.json()]
    path, query = _split(last[len(BASE) :])
    for _ in range(MAX_PAGES):
        response = _get(spec, world, path, query)
        seen = [t["id"] for t in response.json()] + seen
        previous = _links(response).get("prev")
        if previous is None:
            return seen
        path, query = _split(previous[len(BASE) :])
    raise AssertionError("the Link header never ends")


def _walk_twilio(spec: CompiledSpec, world: World, size: int) -> list[str]:
    seen: list[str] = []
    path, query = "/twilio/tasks.json", f"PageSize={size}"
    for _ in range(MAX_PAGES):
        page = _get(spec, world, path, query).json()
        seen += [t["id"] for t in page["tasks"]]
        if page["next_page_uri"] is None:
            return seen
        path, query = _split(page["next_page_uri"])
    raise AssertionError("next_page_uri never ends")


def _walk_slack(spec: CompiledSpec, world: World, size: int) -> list[str]:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": size}
    for _ in range(MAX_PAGES):
        page = _get(spec, world, "/slack/tasks", urlencode(params)).json()
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            return seen
        params["cursor"] = cursor
    raise AssertionError("next_cursor never empties")


def _walk_slack_history(spec: CompiledSpec, world: World, size: int) -> list[str]:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": size}
    for _ in range(MAX_PAGES):
        page = _get(spec, world, "/slack/history", urlencode(params)).json()
        seen += [t["id"] for t in page["tasks"]]
        if "response_metadata" not in page:
            assert page["has_more"] is False
            return seen
        assert page["has_more"] is True
        params["cursor"] = page["response_metadata"]["next_cursor"]
    raise AssertionError("the cursors never end")


def _walk_stripe(spec: CompiledSpec, world: World, size: int) -> list[str]:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": size}
    for _ in range(MAX_PAGES):
        page = _get(spec, world, "/stripe/tasks", urlencode(params)).json()
        seen += [t["id"] for t in page["data"]]
        if not page["has_more"]:
            return seen
        params["starting_after"] = seen[-1]
    raise AssertionError("has_more never turns false")


def _walk_stripe_backwards(spec: CompiledSpec, world: World, size: int) -> list[str]:
    everything = [f"t{n:03d}" for n in range(1, len(world.items["task"]) + 1)]
    seen = [everything[-1]]
    params: dict[str, Any] = {"limit": size, "ending_before": everything[-1]}
    for _ in range(MAX_PAGES):
        page = _get(spec, world, "/stripe/tasks", urlencode(params)).json()
        ids = [t["id"] for t in page["data"]]
        seen = ids + seen
        if not page["has_more"]:
            return seen
        params["ending_before"] = ids[0]
    raise AssertionError("has_more never turns false")


def _walk_offset(spec: CompiledSpec, world: World, size: int) -> list[str]:
    seen: list[str] = []
    offset = 0
    for _ in range(MAX_PAGES):
        page = _get(spec, world, "/offset/tasks", f"limit={size}&offset={offset}").json()
        seen += [t["id"] for t in page]
        if len(page) < size:
            return seen
        offset += size
    raise AssertionError("the offsets never end")


Walk = Callable[[CompiledSpec, World, int], list[str]]
FORWARD = [
    pytest.param(_walk_github, id="github-link-next"),
    pytest.param(_walk_twilio, id="twilio-next-page-uri"),
    pytest.param(_walk_slack, id="slack-cursor"),
    pytest.param(_walk_slack_history, id="slack-history-cursor"),
    pytest.param(_walk_stripe, id="stripe-starting-after"),
    pytest.param(_walk_offset, id="offset"),
]
WALKS = [
    *FORWARD,
    pytest.param(_walk_github_backwards, id="github-link-prev-from-last"),
    pytest.param(_walk_stripe_backwards, id="stripe-ending-before"),
]


@pytest.mark.parametrize("walk", WALKS)
@pytest.mark.parametrize(("count", "size"), [(23, 1), (23, 5), (23, 7), (23, 23), (23, 30), (1, 3)])
def test_a_client_following_the_pages_sees_every_item_exactly_once(
    spec: CompiledSpec, walk: Walk, count: int, size: int
) -> None:
    expected = [f"t{n:03d}" for n in range(1, count + 1)]
    assert walk(spec, _world(count), size) == expected


@pytest.mark.parametrize("walk", FORWARD)
def test_a_client_walking_an_empty_list_stops_at_once(spec: CompiledSpec, walk: Walk) -> None:
    assert walk(spec, World.of({}), 3) == []


# -- inferred styles -----------------------------------------------------------------------


def _inferred(names: tuple[str, ...]) -> dict[str, Any]:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "inferred", "version": "1"},
        "paths": {
            "/things": _list("listThings", {"type": "array", "items": {"type": "object"}}, *names),
            "/things/{id}": {
                "get": {
                    "operationId": "getThing",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"id": {"type": "string"}},
                                    }
                                }
                            },
                        }
                    },
                }
            },
        },
    }
    spec = compile_spec(document)
    op = spec.operation("listThings")
    style = spec.resources.pagination[op.pointer]
    return style.model_dump(exclude_defaults=True)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(
            ("per_page", "page"),
            {"style": "page", "size": "per_page", "page": "page", "link": True},
            id="github",
        ),
        pytest.param(
            ("PageSize", "Page"),
            {"style": "page", "size": "PageSize", "page": "Page", "first_page": 0},
            id="twilio",
        ),
        pytest.param(("limit", "cursor"), {"style": "cursor", "size": "limit"}, id="slack"),
        pytest.param(
            ("limit", "starting_after", "ending_before"),
            {"style": "after", "after": "starting_after", "before": "ending_before"},
            id="stripe",
        ),
        pytest.param(("limit", "offset"), {"style": "offset", "offset": "offset"}, id="offset"),
    ],
)
def test_pagination_styles_are_recognised_from_parameter_names(
    names: tuple[str, ...], expected: dict[str, Any]
) -> None:
    found = _inferred(names)
    assert {k: found.get(k) for k in expected} == expected


def test_an_inferred_list_pages_the_same_way(spec: CompiledSpec) -> None:
    document = json.loads(json.dumps(DOCUMENT))
    del document["x-doppel"]
    document["paths"]["/github/tasks/{id}"] = {
        "get": {
            "operationId": "getTask",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Task"}}
                    },
                },
                "404": {"description": "no"},
            },
        }
    }
    inferred = compile_spec(document)
    world = World.of({"/github/tasks": {f"t{n}": {"id": f"t{n}"} for n in range(1, 6)}})
    response = _get(inferred, world, "/github/tasks", "per_page=2")
    assert [t["id"] for t in response.json()] == ["t1", "t2"]
    assert _links(response)["last"] == f"{BASE}/github/tasks?per_page=2&page=3"
