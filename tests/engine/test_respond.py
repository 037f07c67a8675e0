from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from doppel.engine import (
    CompiledSpec,
    MockContext,
    MockRequest,
    StubIndex,
    compile_spec,
    respond,
    stubs_from_fixtures,
    stubs_from_mock_responses,
)

NOW = datetime(2026, 5, 1, 12, 0, 0)
UPSTREAM = "https://api.tracker.example/v1"
ISSUE = {
    "type": "object",
    "required": ["number", "title", "state", "url"],
    "properties": {
        "number": {"type": "integer"},
        "title": {"type": "string"},
        "state": {"type": "string", "enum": ["open", "closed"]},
        "url": {"type": "string"},
    },
}
SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Tracker", "version": "1"},
    "servers": [{"url": "https://api.tracker.example/v1"}],
    "paths": {
        "/me": {
            "get": {
                "operationId": "me",
                "responses": {
                    "200": {
                        "description": "me",
                        "content": {
                            "application/json": {
                                "schema": {"type": "object"},
                                "example": {"login": "octo"},
                            }
                        },
                    }
                },
            }
        },
        "/issues": {
            "get": {
                "operationId": "listIssues",
                "responses": {
                    "200": {
                        "description": "issues",
                        "headers": {
                            "Link": {
                                "schema": {"type": "string"},
                                "example": f'<{UPSTREAM}/issues?page=2>; rel="next"',
                            }
                        },
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Issue"},
                                },
                                "examples": {
                                    "one": {
                                        "value": [
                                            {
                                                "number": 1,
                                                "title": "t",
                                                "state": "open",
                                                "url": "https://api.tracker.example/v1/issues/1",
                                            }
                                        ]
                                    },
                                    "none": {"value": []},
                                },
                            }
                        },
                    },
                    "404": {
                        "description": "missing",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["message"],
                                    "properties": {"message": {"type": "string"}},
                                }
                            }
                        },
                    },
                },
            },
            "post": {
                "operationId": "createIssue",
                "responses": {
                    "201": {
                        "description": "created",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Issue"}}
                        },
                    }
                },
            },
        },
        "/issues/{number}": {
            "parameters": [
                {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "get": {
                "operationId": "getIssue",
                "responses": {
                    "200": {
                        "description": "issue",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Issue"}}
                        },
                    }
                },
            },
            "delete": {"operationId": "deleteIssue", "responses": {"204": {"description": "gone"}}},
        },
    },
    "components": {"schemas": {"Issue": ISSUE}},
}
PROVIDER = {
    **SPEC,
    "x-doppel": {
        "errors": {
            "not_found": {
                "status": 404,
                "body": {"message": "Not Found", "documentation_url": "https://docs"},
            },
            "method_not_allowed": {"status": 200, "body": {"ok": False, "error": "{detail}"}},
        }
    },
}


@pytest.fixture(scope="module")
def spec() -> CompiledSpec:
    return compile_spec(SPEC)


def _ask(
    spec: CompiledSpec,
    method: str,
    path: str,
    *,
    stubs: StubIndex | None = None,
    seed: int = 0,
    body: Any = None,
    **headers: str,
) -> tuple[int, dict[str, str], Any, str]:
    request = MockRequest(
        method,
        path,
        headers={k.replace("_", "-"): v for k, v in headers.items()}
        | ({"content-type": "application/json"} if body is not None else {}),
        body=json.dumps(body).encode() if body is not None else b"",
    )
    context = MockContext("http://127.0.0.1:9", stubs or StubIndex((), spec.prefixes), seed, NOW)
    response, report = respond(spec, request, context)
    payload = json.loads(response.body) if response.body else None
    return response.status, dict(response.headers), payload, report.source


@pytest.mark.parametrize(
    ("method", "path", "status", "source"),
    [
        pytest.param("GET", "/me", 200, "example", id="spec-path"),
        pytest.param("GET", "/v1/me", 200, "example", id="server-prefix"),
        pytest.param("GET", "/issues/7", 200, "generated", id="path-level-parameters"),
        pytest.param("POST", "/v1/issues", 201, "world", id="first-success-status"),
        pytest.param("DELETE", "/issues/7", 204, "world", id="no-content"),
        pytest.param("HEAD", "/me", 200, "example", id="head-as-get"),
        pytest.param("GET", "/nothing", 404, "error", id="unknown-path"),
        pytest.param("PUT", "/issues", 405, "error", id="wrong-method"),
    ],
)
def test_route_status_and_source(
    spec: CompiledSpec, method: str, path: str, status: int, source: str
) -> None:
    got_status, _, _, got_source = _ask(spec, method, path)
    assert (got_status, got_source) == (status, source)


def test_unknown_path_is_problem_json_naming_the_cause(spec: CompiledSpec) -> None:
    status, headers, body, _ = _ask(spec, "GET", "/isues")
    assert status == 404
    assert headers["content-type"] == "application/problem+json"
    assert "GET /isues" in body["detail"] and "/issues" in body["detail"]


def test_wrong_method_lists_the_allowed_ones(spec: CompiledSpec) -> None:
    status, headers, body, _ = _ask(spec, "PATCH", "/issues/3")
    assert status == 405
    assert headers["allow"] == "GET, DELETE"
    assert "PATCH" in body["detail"]


def test_errors_take_the_providers_shape() -> None:
    provider = compile_spec(PROVIDER)
    assert _ask(provider, "GET", "/nope")[::2] == (
        404,
        {"message": "Not Found", "documentation_url": "https://docs"},
    )
    status, _, body, _ = _ask(provider, "PUT", "/me")
    assert status == 200 and body["ok"] is False and "PUT is not allowed" in body["error"]


def test_upstream_urls_are_rewritten_in_bodies_and_link_headers(spec: CompiledSpec) -> None:
    _, headers, body, _ = _ask(spec, "GET", "/issues")
    assert body[0]["url"] == "http://127.0.0.1:9/v1/issues/1"
    assert "link" not in headers  # the spec's example Link leads to pages the mock lacks
    link = f'<{UPSTREAM}/issues?page=2>; rel="next"'
    stubs = StubIndex(
        stubs_from_mock_responses({"/issues": {"headers": {"Link": link}, "body": []}}),
        spec.prefixes,
    )
    _, headers, _, _ = _ask(spec, "GET", "/issues", stubs=stubs)
    assert headers["link"] == '<http://127.0.0.1:9/v1/issues?page=2>; rel="next"'


@pytest.mark.parametrize(
    ("prefer", "status", "expected"),
    [
        pytest.param("example=none", 200, [], id="example-by-name"),
        pytest.param("code=404", 404, None, id="code"),
        pytest.param("code=404, dynamic=true", 404, None, id="code-and-dynamic"),
    ],
)
def test_prefer_header(spec: CompiledSpec, prefer: str, status: int, expected: Any) -> None:
    got_status, _, body, _ = _ask(spec, "GET", "/issues", prefer=prefer)
    assert got_status == status
    if expected is not None:
        assert body == expected
    else:
        assert isinstance(body["message"], str)


def test_prefer_dynamic_ignores_examples(spec: CompiledSpec) -> None:
    _, _, body, source = _ask(spec, "GET", "/issues", prefer="dynamic=true")
    assert (
        source == "generated" and body != [] and body[0]["url"] != "http://127.0.0.1:9/v1/issues/1"
    )


def test_prefer_code_the_operation_lacks_names_the_declared_ones(spec: CompiledSpec) -> None:
    status, _, body, _ = _ask(spec, "GET", "/me", prefer="code=418")
    assert status == 422 and "418" in body["detail"] and "200" in body["detail"]


def test_same_seed_same_bytes_and_another_seed_differs(spec: CompiledSpec) -> None:
    runs = {
        seed: [_ask(spec, "GET", f"/issues/{n}", seed=seed)[2] for n in (1, 2)]
        for seed in (1, 1, 2)
    }
    assert runs[1] == [_ask(spec, "GET", f"/issues/{n}", seed=1)[2] for n in (1, 2)]
    assert runs[1] != runs[2]


def test_write_requests_echo_their_fields_within_the_schema(spec: CompiledSpec) -> None:
    _, _, body, _ = _ask(spec, "POST", "/issues", body={"title": "Bug", "state": "weird", "x": 1})
    assert body["title"] == "Bug"
    assert body["state"] in ("open", "closed")
    assert "x" not in body


OVERRIDES = {
    "/me": {"login": "agent-7"},
    "POST /issues": {"status": 201, "headers": {"X-Custom": "yes"}, "body": {"number": 99}},
    "/v1/issues/5": {"status": "active"},
}


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        pytest.param("GET", "/me", 200, {"login": "agent-7"}, id="path-key"),
        pytest.param("GET", "/v1/me", 200, {"login": "agent-7"}, id="path-key-with-prefix"),
        pytest.param("POST", "/issues", 201, {"number": 99}, id="method-key-full-form"),
        pytest.param("GET", "/issues/5", 200, {"status": "active"}, id="body-with-a-status-field"),
        pytest.param("GET", "/override-only", 200, {"x": 1}, id="path-not-in-spec"),
    ],
)
def test_overrides_win(spec: CompiledSpec, method: str, path: str, status: int, body: Any) -> None:
    stubs = StubIndex(
        stubs_from_mock_responses({**OVERRIDES, "/override-only": {"x": 1}}), spec.prefixes
    )
    got_status, headers, got_body, source = _ask(spec, method, path, stubs=stubs)
    assert (got_status, got_body, source) == (status, body, "override")
    if method == "POST":
        assert headers["x-custom"] == "yes"


def test_overrides_beat_fixtures_and_params_pick_a_fixture(spec: CompiledSpec) -> None:
    fixtures = stubs_from_fixtures(
        [
            {"request": {"path": "/issues/1"}, "response": {"body": {"from": "fixture"}}},
            {
                "request": {"path": "/me", "params": {"team": "a"}},
                "response": {"body": {"team": "a"}},
            },
            {"request": {"path": "/me"}, "response": {"body": {"team": "any"}}},
        ]
    )
    stubs = StubIndex(
        [*stubs_from_mock_responses({"/issues/1": {"from": "override"}}), *fixtures], spec.prefixes
    )
    assert _ask(spec, "GET", "/issues/1", stubs=stubs)[2] == {"from": "override"}
    assert _ask(spec, "GET", ["/me", "team=a"][0], stubs=stubs)[2] == {"team": "any"}
    request = MockRequest("GET", "/me", query="team=a")
    response, report = respond(spec, request, MockContext("", stubs, 0, NOW))
    assert json.loads(response.body) == {"team": "a"} and report.source == "fixture"


@pytest.mark.parametrize(
    ("mock_responses", "pointer"),
    [
        pytest.param({"me": {}}, "/me", id="no-leading-slash"),
        pytest.param({"FETCH /me": {}}, "/FETCH ~1me", id="unknown-method"),
        pytest.param({"/me": {"status": 99, "body": {}}}, "/~1me/status", id="bad-status"),
    ],
)
def test_bad_overrides_name_the_key(mock_responses: dict[str, Any], pointer: str) -> None:
    from doppel.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        stubs_from_mock_responses(mock_responses)
    assert [e.pointer for e in caught.value.errors] == [pointer]


def test_fixture_paths_may_template_a_segment(spec: CompiledSpec) -> None:
    fixtures = stubs_from_fixtures(
        [
            {"request": {"path": "/issues/{number}"}, "response": {"body": {"any": True}}},
            {"request": {"path": "/issues/7"}, "response": {"body": {"seven": True}}},
        ]
    )
    stubs = StubIndex(fixtures, spec.prefixes)
    assert _ask(spec, "GET", "/v1/issues/123", stubs=stubs)[2] == {"any": True}
    assert _ask(spec, "GET", "/issues/7", stubs=stubs)[2] == {"seven": True}
    assert _ask(spec, "GET", "/issues/7/comments", stubs=stubs)[0] == 404


def test_an_rpc_style_spec_answers_get_and_post_alike() -> None:
    rpc = compile_spec(
        {
            "openapi": "3.1.0",
            "info": {"title": "rpc", "version": "1"},
            "paths": {
                "/auth.test": {
                    "get": {
                        "operationId": "auth",
                        "responses": {
                            "200": {
                                "description": "ok",
                                "content": {"application/json": {"example": {"ok": True}}},
                            }
                        },
                    }
                }
            },
        }
    )
    assert rpc.rpc
    assert _ask(rpc, "POST", "/auth.test")[::2] == (200, {"ok": True})
    assert _ask(rpc, "PUT", "/auth.test")[0] == 405
    rest = compile_spec({**SPEC})
    assert not rest.rpc and _ask(rest, "POST", "/me")[0] == 405
