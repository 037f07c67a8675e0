from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from doppel.engine import CompiledSpec, MockContext, MockRequest, compile_spec, respond

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Shop", "version": "1"},
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic"},
            "key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            "qkey": {"type": "apiKey", "in": "query", "name": "api_key"},
        },
        "schemas": {
            "NewItem": {
                "type": "object",
                "required": ["name", "price"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "price": {"type": "number", "minimum": 0},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            }
        },
    },
    "security": [{"bearer": []}, {"key": []}],
    "paths": {
        "/items/{id}": {
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            ],
            "get": {
                "operationId": "getItem",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 10}},
                    {
                        "name": "ids",
                        "in": "query",
                        "explode": False,
                        "schema": {"type": "array", "items": {"type": "integer"}},
                    },
                    {
                        "name": "X-Trace",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            },
        },
        "/items": {
            "post": {
                "operationId": "createItem",
                "security": [{"basic": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/NewItem"}},
                        "application/x-www-form-urlencoded": {
                            "schema": {"$ref": "#/components/schemas/NewItem"}
                        },
                    },
                },
                "responses": {"201": {"description": "created"}},
            },
            "get": {
                "operationId": "listItems",
                "security": [{}, {"qkey": []}],
                "responses": {"200": {"description": "ok"}},
            },
        },
    },
}
GOOD_HEADERS = {"authorization": "Bearer t", "x-trace": "1"}
BASIC = "Basic " + base64.b64encode(b"user:pw").decode()


@pytest.fixture(scope="module")
def spec() -> CompiledSpec:
    return compile_spec(SPEC)


def _call(
    spec: CompiledSpec,
    method: str,
    path: str,
    *,
    query: str = "",
    body: Any = None,
    headers: dict[str, str] | None = None,
    form: str | None = None,
) -> tuple[int, Any]:
    sent = dict(headers or {})
    raw = b""
    if form is not None:
        sent["content-type"] = "application/x-www-form-urlencoded"
        raw = form.encode()
    elif body is not None:
        sent["content-type"] = "application/json"
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    context = MockContext(validate_requests=True, auth="any")
    response, _ = respond(spec, MockRequest(method, path, query, sent, raw), context)
    return response.status, json.loads(response.body) if response.body else None


@pytest.mark.parametrize(
    ("path", "query", "headers", "pointers"),
    [
        pytest.param("/items/3", "limit=5&ids=1,2", GOOD_HEADERS, [], id="valid"),
        pytest.param("/items/0", "", GOOD_HEADERS, ["/path/id"], id="path-minimum"),
        pytest.param("/items/x", "", GOOD_HEADERS, ["/path/id"], id="path-type"),
        pytest.param("/items/3", "limit=50", GOOD_HEADERS, ["/query/limit"], id="query-maximum"),
        pytest.param("/items/3", "ids=1,b", GOOD_HEADERS, ["/query/ids/1"], id="array-item"),
        pytest.param(
            "/items/3", "", {"authorization": "Bearer t"}, ["/header/X-Trace"], id="missing-header"
        ),
    ],
)
def test_parameters_are_validated_with_pointers(
    spec: CompiledSpec, path: str, query: str, headers: dict[str, str], pointers: list[str]
) -> None:
    status, body = _call(spec, "GET", path, query=query, headers=headers)
    if not pointers:
        assert status == 200
    else:
        assert status == 422
        assert [e["pointer"] for e in body["errors"]] == pointers


@pytest.mark.parametrize(
    ("payload", "form", "pointers"),
    [
        pytest.param({"name": "hat", "price": 3}, None, [], id="json-valid"),
        pytest.param(None, "name=hat&price=3.5&tags=a", [], id="form-valid"),
        pytest.param(
            {"name": "", "price": -1}, None, ["/body/name", "/body/price"], id="json-bounds"
        ),
        pytest.param({"name": "hat"}, None, ["/body/price"], id="json-required"),
        pytest.param(
            {"name": "hat", "price": 1, "colour": "red"}, None, ["/body"], id="json-additional"
        ),
        pytest.param(b"{oops", None, ["/body"], id="json-malformed"),
        pytest.param(None, "name=hat&price=cheap", ["/body/price"], id="form-type"),
    ],
)
def test_bodies_are_validated_with_pointers(
    spec: CompiledSpec, payload: Any, form: str | None, pointers: list[str]
) -> None:
    status, body = _call(
        spec, "POST", "/items", body=payload, form=form, headers={"authorization": BASIC}
    )
    if not pointers:
        assert status == 201
    else:
        # A body that does not parse is malformed (400); one that parses but breaks the
        # schema is unprocessable (422). Both name the pointer.
        assert status == (400 if payload == b"{oops" else 422)
        assert sorted(e["pointer"] for e in body["errors"]) == pointers


def test_a_missing_body_is_named(spec: CompiledSpec) -> None:
    status, body = _call(spec, "POST", "/items", headers={"authorization": BASIC})
    assert status == 422 and body["errors"][0]["pointer"] == "/body"


def test_an_undeclared_content_type_is_named(spec: CompiledSpec) -> None:
    request = MockRequest(
        "POST", "/items", headers={"authorization": BASIC, "content-type": "text/plain"}, body=b"x"
    )
    response, _ = respond(spec, request, MockContext(validate_requests=True))
    assert response.status == 422
    assert json.loads(response.body)["errors"][0]["pointer"] == "/header/content-type"


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "status", "needs"),
    [
        pytest.param("GET", "/items/1", "", {"x-trace": "1"}, 401, "Bearer", id="no-credentials"),
        pytest.param(
            "GET",
            "/items/1",
            "",
            {"x-trace": "1", "authorization": "Basic abc"},
            401,
            "X-Api-Key",
            id="wrong-scheme",
        ),
        pytest.param(
            "GET",
            "/items/1",
            "",
            {"x-trace": "1", "x-api-key": "k"},
            200,
            "",
            id="api-key-alternative",
        ),
        pytest.param(
            "POST",
            "/items",
            "",
            {"authorization": "Basic !!!"},
            401,
            "base64",
            id="basic-malformed",
        ),
        pytest.param("GET", "/items", "", {}, 200, "", id="anonymous-allowed"),
    ],
)
def test_security_requirements_are_enforced_with_the_real_reason(
    spec: CompiledSpec,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    status: int,
    needs: str,
) -> None:
    request = MockRequest(method, path, query, headers)
    response, report = respond(spec, request, MockContext(auth="any"))
    assert response.status == status
    if needs:
        assert needs in json.loads(response.body)["detail"] and report.source == "error"


def test_nothing_is_enforced_unless_asked(spec: CompiledSpec) -> None:
    response, _ = respond(spec, MockRequest("GET", "/items/0"), MockContext())
    assert response.status == 200


def test_invalid_spec_examples_are_replaced_by_valid_generated_data() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/price": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["amount"],
                                        "properties": {"amount": {"type": "number"}},
                                    },
                                    "example": {"amount": "-0.0025"},
                                }
                            },
                        }
                    }
                }
            }
        },
    }
    response, report = respond(compile_spec(document), MockRequest("GET", "/price"), MockContext())
    assert isinstance(json.loads(response.body)["amount"], (int, float))
    assert report.source == "generated"
    assert "example does not match its schema at /amount" in report.notes[0]


# -- an RPC service (Slack's shape): arguments wherever they travel, its own refusals ---------

_RPC_OK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ok"],
    "properties": {"ok": {"type": "boolean", "enum": [True]}},
}
_RPC_ERROR = {
    "type": "object",
    "additionalProperties": False,  # as Slack's 2020 error schemas: no response_metadata
    "properties": {"ok": {"type": "boolean"}, "error": {"type": "string"}},
}


def _rpc_method(operation_id: str, method: str, **extra: Any) -> dict[str, Any]:
    token = {"name": "token", "in": "header", "required": True, "schema": {"type": "string"}}
    return {
        method: {
            "operationId": operation_id,
            "parameters": [token, *extra.pop("parameters", [])],
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {"application/json": {"schema": _RPC_OK}},
                },
                "default": {
                    "description": "refused",
                    "content": {"application/json": {"schema": _RPC_ERROR}},
                },
            },
            **extra,
        }
    }


def _rpc(undeclared: bool = True) -> CompiledSpec:
    email = {"name": "email", "in": "query", "required": True, "schema": {"type": "string"}}
    form = {
        "type": "object",
        "required": ["channel"],
        "properties": {
            "channel": {"type": "string"},
            "blocks": {"type": "string"},
            "view": {"type": "object", "required": ["title"]},
        },
    }
    return compile_spec(
        {
            "openapi": "3.0.3",
            "info": {"title": "rpc", "version": "1"},
            "paths": {
                "/users.lookupByEmail": _rpc_method("lookup", "get", parameters=[email]),
                "/chat.postMessage": _rpc_method(
                    "post",
                    "post",
                    requestBody={
                        "content": {
                            "application/x-www-form-urlencoded": {"schema": form},
                            "application/json": {"schema": form},
                        }
                    },
                ),
            },
            "x-doppel": {
                "auth": {"credentials": [{"header": "authorization"}, {"param": "token"}]},
                "errors": {
                    "invalid_request": {
                        "status": 200,
                        "body": {
                            "ok": False,
                            "error": "{code}",
                            "response_metadata": {"messages": "{messages}"},
                        },
                        "code": "invalid_arguments",
                        "undeclared": undeclared,
                    }
                },
            },
        }
    )


def _rpc_call(spec: CompiledSpec, method: str, *, form: str = "", body: Any = None) -> Any:
    headers = {"authorization": "Bearer t"}
    raw = form.encode()
    if body is not None:
        headers["content-type"] = "application/json"
        raw = json.dumps(body).encode()
    elif form:
        headers["content-type"] = "application/x-www-form-urlencoded"
    request = MockRequest("POST", f"/{method}", "", headers, raw)
    response, _ = respond(spec, request, MockContext(validate_requests=True, auth="any"))
    return response.status, json.loads(response.body)


def _refused(*messages: str) -> tuple[int, Any]:
    metadata = {"messages": list(messages)}
    return 200, {"ok": False, "error": "invalid_arguments", "response_metadata": metadata}


@pytest.mark.parametrize(
    ("method", "form", "body", "refused"),
    [
        pytest.param("users.lookupByEmail", "email=a%40b.c", None, None, id="query-arg-in-form"),
        pytest.param("chat.postMessage", "channel=C1", None, None, id="form-arg"),
        pytest.param(
            "chat.postMessage",
            "",
            {"channel": "C1", "blocks": [{"type": "divider"}]},
            None,
            id="json-value-of-a-text-arg",
        ),
        pytest.param(
            "users.lookupByEmail",
            "",
            None,
            _refused("[ERROR] missing required field: email"),
            id="missing-query-arg",
        ),
        pytest.param(
            "chat.postMessage",
            "",
            None,
            _refused("[ERROR] missing required field: channel"),
            id="missing-form-arg",
        ),
        pytest.param(
            "chat.postMessage",
            "",
            {"channel": "C1", "view": {}},
            _refused("[ERROR] missing required field: title [json-pointer:/view]"),
            id="missing-nested-member",
        ),
    ],
)
def test_an_rpc_methods_arguments_are_checked_wherever_they_travel(
    method: str, form: str, body: Any, refused: tuple[int, Any] | None
) -> None:
    """The `token` parameter its description requires is the credential (here in the
    Authorization header); a refusal is the template's shape though the operation's error
    schema has no place for response_metadata."""
    status, answer = _rpc_call(_rpc(), method, form=form, body=body)
    if refused is None:
        assert status == 200 and answer.get("ok") is not False
    else:
        assert (status, answer) == refused


def test_without_undeclared_a_misfit_error_shape_gives_way_to_the_declared_one() -> None:
    status, answer = _rpc_call(_rpc(undeclared=False), "chat.postMessage")
    assert status == 422 and "response_metadata" not in answer
