"""Stateful resources, pure: the state is passed in and the changes come back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from doppel.engine import CompiledSpec, MockContext, MockRequest, compile_spec, respond

ISSUE = {
    "type": "object",
    "required": ["number", "title", "url"],
    "properties": {
        "number": {"type": "integer"},
        "title": {"type": "string"},
        "state": {"type": "string", "enum": ["open", "closed"]},
        "url": {"type": "string"},
    },
}


def _json(schema: Any, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"description": "ok", "content": {"application/json": media}}


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Tracker", "version": "1"},
    "servers": [{"url": "https://api.tracker.example"}],
    "paths": {
        "/repos/{repo}/issues": {
            "get": {
                "operationId": "list",
                "responses": {
                    "200": _json(
                        {"type": "array", "items": ISSUE},
                        [
                            {
                                "number": 1,
                                "title": "Old",
                                "url": "https://api.tracker.example/r/issues/1",
                            }
                        ],
                    )
                },
            },
            "post": {
                "operationId": "create",
                "responses": {
                    "201": _json(
                        ISSUE,
                        {
                            "number": 7,
                            "title": "t",
                            "state": "open",
                            "url": "https://api.tracker.example/repos/r/issues/7",
                        },
                    )
                },
            },
        },
        "/repos/{repo}/issues/{issue_number}": {
            "get": {
                "operationId": "read",
                "responses": {
                    "200": _json(ISSUE),
                    "404": _json(
                        {
                            "type": "object",
                            "required": ["message"],
                            "properties": {"message": {"type": "string"}},
                        }
                    ),
                },
            },
            "patch": {"operationId": "update", "responses": {"200": _json(ISSUE)}},
            "delete": {"operationId": "delete", "responses": {"204": {"description": "gone"}}},
        },
    },
}
Call = tuple[int, Any, str]


class Session:
    """One sandbox's worth of state, kept as the dataplane keeps it."""

    def __init__(self, spec: CompiledSpec) -> None:
        self.spec = spec
        self.state: dict[str, dict[str, Any]] = {}
        self.changes: list[Any] = []

    def __call__(self, method: str, path: str, body: Any = None) -> Call:
        headers = {"content-type": "application/json"} if body is not None else {}
        raw = json.dumps(body).encode() if body is not None else b""
        context = MockContext("http://mock", state=self.state)
        response, report = respond(self.spec, MockRequest(method, path, "", headers, raw), context)
        for change in report.changes:
            self.state.setdefault(change.collection, {})[change.key] = change.value
        self.changes += report.changes
        payload = json.loads(response.body) if response.body else None
        return response.status, payload, report.source


@pytest.fixture
def session() -> Session:
    return Session(compile_spec(SPEC))


def test_created_resources_are_listed_first_and_read_back(session: Session) -> None:
    status, created, _ = session("POST", "/repos/r/issues", {"title": "Bug"})
    assert (status, created["number"], created["title"]) == (201, 7, "Bug")
    assert session.state == {"/repos/r/issues": {"7": created}}
    status, listed, source = session("GET", "/repos/r/issues")
    assert [i["number"] for i in listed] == [7, 1] and source == "state"
    assert session("GET", "/repos/r/issues/7")[1]["title"] == "Bug"


def test_a_second_create_gets_a_fresh_key_and_self_link(session: Session) -> None:
    session("POST", "/repos/r/issues", {"title": "One"})
    _, second, _ = session("POST", "/repos/r/issues", {"title": "Two"})
    assert second["number"] == 8 and second["url"] == "http://mock/repos/r/issues/8"
    assert [i["title"] for i in session("GET", "/repos/r/issues")[1]] == ["Two", "One", "Old"]


def test_updates_merge_and_deletes_answer_not_found_afterwards(session: Session) -> None:
    session("POST", "/repos/r/issues", {"title": "Bug"})
    _, patched, _ = session("PATCH", "/repos/r/issues/7", {"state": "closed", "number": 99})
    assert (patched["state"], patched["number"], patched["title"]) == ("closed", 7, "Bug")
    assert session("DELETE", "/repos/r/issues/7")[0] == 204
    status, body, source = session("GET", "/repos/r/issues/7")
    assert (status, source) == (404, "error") and "deleted" in body["message"]
    assert [i["number"] for i in session("GET", "/repos/r/issues")[1]] == [1]
    assert session("DELETE", "/repos/r/issues/7")[0] == 404


def test_collections_are_per_concrete_path(session: Session) -> None:
    session("POST", "/repos/a/issues", {"title": "In a"})
    assert [i["title"] for i in session("GET", "/repos/b/issues")[1]] == ["Old"]


def test_a_stored_resource_that_breaks_the_schema_is_not_shown() -> None:
    spec = compile_spec(
        {
            **SPEC,
            "paths": {
                **SPEC["paths"],
                "/repos/{repo}/issues": {
                    **SPEC["paths"]["/repos/{repo}/issues"],
                    "get": {
                        "operationId": "list",
                        "responses": {
                            "200": _json(
                                {
                                    "type": "array",
                                    "items": {"type": "object", "required": ["slug"]},
                                },
                                [{"slug": "x"}],
                            )
                        },
                    },
                },
            },
        }
    )
    session = Session(spec)
    session("POST", "/repos/r/issues", {"title": "Bug"})
    assert session("GET", "/repos/r/issues")[1] == [{"slug": "x"}]


RPC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "chat", "version": "1"},
    "x-doppel": {
        "state": [
            {
                "path": "/chat.post",
                "store": {
                    "collection": "/history/{channel}",
                    "field": "/message",
                    "set": {"text": "text"},
                    "key": "ts",
                },
            },
            {
                "path": "/chat.history",
                "list": {"collection": "/history/{channel}", "field": "/messages"},
            },
        ]
    },
    "paths": {
        "/chat.post": {
            "post": {
                "responses": {
                    "200": _json(
                        {"type": "object"},
                        {
                            "ok": True,
                            "ts": "1.000100",
                            "message": {"text": "fixture", "ts": "1.000100"},
                        },
                    )
                }
            }
        },
        "/chat.history": {
            "post": {
                "responses": {
                    "200": _json(
                        {"type": "object"},
                        {"ok": True, "messages": [{"text": "seed", "ts": "0.1"}]},
                    )
                }
            }
        },
    },
}


def test_declared_rules_store_and_list_per_channel() -> None:
    session = Session(compile_spec(RPC))
    _, first, _ = session("POST", "/chat.post", {"channel": "C1", "text": "hello"})
    _, second, _ = session("POST", "/chat.post", {"channel": "C1", "text": "again"})
    assert first["message"]["text"] == "hello"
    assert (second["ts"], second["message"]["ts"]) == ("1.000101", "1.000101")
    history = session("POST", "/chat.history", {"channel": "C1"})[1]["messages"]
    assert [m["text"] for m in history] == ["again", "hello", "seed"]
    other = session("POST", "/chat.history", {"channel": "C2"})[1]["messages"]
    assert [m["text"] for m in other] == ["seed"]


def test_state_can_be_switched_off() -> None:
    spec = compile_spec({**SPEC, "x-doppel": {"state": False}})
    assert spec.resources == {}
    session = Session(spec)
    session("POST", "/repos/r/issues", {"title": "Bug"})
    assert session.state == {}
