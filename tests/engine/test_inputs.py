"""A request's named inputs: path, query, form and JSON merged, typed as the spec declares."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from doppel.engine import CompiledSpec, MockContext, MockRequest, compile_spec, respond
from doppel.engine.inputs import request_inputs
from doppel.engine.world import SEQUENCES

FORM = "application/x-www-form-urlencoded"


def _query(name: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, **extra}


FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer"},
        "amount": {"type": "number"},
        "inclusive": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
        "labels": {"type": "array", "items": {"type": "string"}},
        "expand": {"type": "array", "items": {"type": "string"}},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "limits": {
            "type": "object",
            "properties": {"max": {"type": "integer"}, "strict": {"type": "boolean"}},
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"price": {"type": "string"}, "quantity": {"type": "integer"}},
            },
        },
        "account": {"type": "string"},
        "channel": {"type": "string"},
    },
}
DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "inputs", "version": "1"},
    "paths": {
        "/accounts/{account}/things": {
            "parameters": [
                {"name": "account", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "post": {
                "operationId": "createThing",
                "parameters": [
                    _query("limit", {"type": "integer"}),
                    _query("ratio", {"type": "number"}),
                    _query("exact", {"type": "boolean"}),
                    _query("tags", {"type": "array", "items": {"type": "string"}}),
                    _query(
                        "ids",
                        {"type": "array", "items": {"type": "integer"}},
                        explode=False,
                    ),
                    _query("name", {"type": "string"}),
                ],
                "requestBody": {
                    "content": {
                        FORM: {"schema": FORM_SCHEMA},
                        "application/json": {"schema": {"type": "object"}},
                    }
                },
                "responses": {"200": {"description": "ok"}},
            },
        },
        "/things.list": {
            "get": {
                "operationId": "listThings",
                "parameters": [
                    _query("exclude_archived", {"type": "boolean"}),
                    _query("limit", {"type": "integer"}),
                    _query("oldest", {"type": "number"}),
                    _query("cursor", {"type": "string"}),
                ],
                "responses": {"200": {"description": "ok"}},
            },
        },
        "/issues/{number}": {
            "parameters": [
                {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "post": {
                "operationId": "untyped",
                "responses": {"200": {"description": "ok"}},
            },
        },
    },
}


@pytest.fixture(scope="module")
def spec() -> CompiledSpec:
    return compile_spec(DOCUMENT)


def _inputs(
    spec: CompiledSpec,
    *,
    query: str = "",
    form: str | None = None,
    body: Any = None,
    operation: str = "createThing",
) -> dict[str, Any]:
    headers: dict[str, str] = {}
    raw = b""
    if form is not None:
        headers["content-type"] = FORM
        raw = form.encode()
    elif body is not None:
        headers["content-type"] = "application/json"
        raw = json.dumps(body).encode()
    op = spec.operation(operation)
    path = "/accounts/acct_1/things" if operation == "createThing" else "/issues/7"
    params = {"account": "acct_1"} if operation == "createThing" else {"number": "7"}
    request = MockRequest("POST", path, query, headers, raw)
    inputs = request_inputs(spec, op, request, params)
    inputs.pop("account" if operation == "createThing" else "number")
    return inputs


# -- bracketed names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        pytest.param(
            "metadata[plan]=pro&metadata[seats]=3",
            {"metadata": {"plan": "pro", "seats": "3"}},
            id="an-object-member",
        ),
        pytest.param(
            "items[0][price]=p1&items[1][price]=p2",
            {"items": [{"price": "p1"}, {"price": "p2"}]},
            id="a-list-of-objects",
        ),
        pytest.param(
            "items[1][price]=p2&items[0][price]=p1&items[0][quantity]=3",
            {"items": [{"price": "p1", "quantity": 3}, {"price": "p2"}]},
            id="a-list-of-objects-in-index-order-with-types",
        ),
        pytest.param(
            "items[10][price]=p10&items[2][price]=p2",
            {"items": [{"price": "p2"}, {"price": "p10"}]},
            id="indexes-ordered-as-numbers",
        ),
        pytest.param("expand[]=a&expand[]=b", {"expand": ["a", "b"]}, id="a-list"),
        pytest.param(
            "limits[max]=5&limits[strict]=true",
            {"limits": {"max": 5, "strict": True}},
            id="nested-members-typed",
        ),
        pytest.param("a[b=c", {"a[b": "c"}, id="a-malformed-name-kept-as-sent"),
        pytest.param("a]b=c", {"a]b": "c"}, id="a-closing-bracket-kept-as-sent"),
        pytest.param("[x]=1", {"[x]": "1"}, id="no-name-before-the-bracket"),
        pytest.param("a[b]c=1", {"a[b]c": "1"}, id="text-after-the-bracket"),
    ],
)
def test_bracketed_form_names_nest(spec: CompiledSpec, form: str, expected: Any) -> None:
    assert _inputs(spec, form=form) == expected


def test_bracketed_query_names_nest_where_the_operation_declares_them(
    spec: CompiledSpec,
) -> None:
    assert _inputs(spec, query="tags[]=a&tags[]=b") == {"tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("where", "sent"),
    [
        pytest.param("query", "expand[]=a&expand[]=b&metadata[plan]=pro", id="query"),
        pytest.param("form", "expand[]=a&expand[]=b&metadata[plan]=pro", id="untyped-form"),
    ],
)
def test_undeclared_bracketed_names_nest_too(spec: CompiledSpec, where: str, sent: str) -> None:
    if where == "query":
        inputs = _inputs(spec, query=sent)
    else:
        inputs = _inputs(spec, form=sent, operation="untyped")
    assert inputs == {"expand": ["a", "b"], "metadata": {"plan": "pro"}}


# -- typed values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("limit=5", {"limit": 5}, id="integer"),
        pytest.param("ratio=0.5", {"ratio": 0.5}, id="number"),
        pytest.param("exact=true", {"exact": True}, id="boolean-true"),
        pytest.param("exact=false", {"exact": False}, id="boolean-false"),
        pytest.param("exact=1", {"exact": True}, id="slack-boolean-1"),
        pytest.param("exact=0", {"exact": False}, id="slack-boolean-0"),
        pytest.param("tags=a&tags=b", {"tags": ["a", "b"]}, id="exploded-array"),
        pytest.param("ids=1,2,3", {"ids": [1, 2, 3]}, id="comma-separated-array-typed"),
        pytest.param("limit=many", {"limit": "many"}, id="what-does-not-parse-stays"),
        pytest.param("name=007", {"name": "007"}, id="a-string-stays-a-string"),
        pytest.param("limit=1&limit=2", {"limit": 2}, id="the-last-of-a-repeated-scalar"),
        pytest.param("other=x&other=y", {"other": "y"}, id="undeclared-last-value"),
    ],
)
def test_query_values_take_the_declared_types(
    spec: CompiledSpec, query: str, expected: Any
) -> None:
    assert _inputs(spec, query=query) == expected


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        pytest.param("count=3", {"count": 3}, id="integer"),
        pytest.param("amount=2.5", {"amount": 2.5}, id="number"),
        pytest.param("inclusive=true", {"inclusive": True}, id="boolean"),
        pytest.param("inclusive=1", {"inclusive": True}, id="slack-boolean-1"),
        pytest.param("inclusive=0", {"inclusive": False}, id="slack-boolean-0"),
        pytest.param("note=", {"note": None}, id="empty-nullable-is-null"),
        pytest.param("labels=x,y", {"labels": ["x", "y"]}, id="comma-separated-array"),
        pytest.param("labels=x&labels=y", {"labels": ["x", "y"]}, id="repeated-array"),
        pytest.param("count=three", {"count": "three"}, id="what-does-not-parse-stays"),
        pytest.param("channel=C1&channel=C2", {"channel": "C2"}, id="the-last-of-a-repeat"),
    ],
)
def test_form_values_take_the_declared_types(spec: CompiledSpec, form: str, expected: Any) -> None:
    assert _inputs(spec, form=form) == expected


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        pytest.param("exclude_archived=1", {"exclude_archived": True}, id="slack-boolean-1"),
        pytest.param("exclude_archived=0", {"exclude_archived": False}, id="slack-boolean-0"),
        pytest.param("exclude_archived=true", {"exclude_archived": True}, id="boolean-true"),
        pytest.param("limit=2", {"limit": 2}, id="integer"),
        pytest.param(
            "oldest=1700000060.000100", {"oldest": "1700000060.000100"}, id="a-ts-stays-as-sent"
        ),
        pytest.param("cursor=bmV4dDox", {"cursor": "bmV4dDox"}, id="a-string-stays"),
        pytest.param("other=x&other=y", {"other": "y"}, id="undeclared-last-value"),
    ],
)
def test_a_form_sent_to_a_query_method_takes_the_query_types(
    spec: CompiledSpec, form: str, expected: Any
) -> None:
    """RPC clients POST every method as a form (slack-sdk): an operation that declares its
    inputs as query parameters types them alike from either place."""
    op = spec.operation("listThings")
    request = MockRequest("POST", "/things.list", "", {"content-type": FORM}, form.encode())
    assert request_inputs(spec, op, request, {}) == expected


def test_json_values_arrive_as_sent(spec: CompiledSpec) -> None:
    body = {"count": "3", "inclusive": 1, "nested": {"a": [1, None]}}
    assert _inputs(spec, body=body) == body


def test_query_form_and_json_merge_with_the_body_last(spec: CompiledSpec) -> None:
    assert _inputs(spec, query="limit=5&name=q", form="count=3&name=f") == {
        "limit": 5,
        "name": "f",
        "count": 3,
    }
    assert _inputs(spec, query="name=q", body={"name": "j"}) == {"name": "j"}


# -- path parameters and bodies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "kind", "sent", "expected"),
    [
        pytest.param("createThing", "form", "account=other", "acct_1", id="form"),
        pytest.param("createThing", "json", {"account": "other"}, "acct_1", id="json"),
        pytest.param("createThing", "query", "account=other", "acct_1", id="query"),
        pytest.param("untyped", "json", {"number": 99}, 7, id="json-typed-path"),
        pytest.param("untyped", "form", "number=99", 7, id="form-typed-path"),
    ],
)
def test_path_parameters_win_over_inputs_of_the_same_name(
    spec: CompiledSpec, operation: str, kind: str, sent: Any, expected: Any
) -> None:
    op = spec.operation(operation)
    name = op.path_names[0]
    path = "/accounts/acct_1/things" if operation == "createThing" else "/issues/7"
    headers = {"content-type": FORM if kind == "form" else "application/json"}
    body = (
        b"" if kind == "query" else (sent.encode() if kind == "form" else json.dumps(sent).encode())
    )
    request = MockRequest("POST", path, sent if kind == "query" else "", headers, body)
    captured = {name: path.split("/")[2]}
    assert request_inputs(spec, op, request, captured)[name] == expected


def test_a_json_array_body_is_the_whole_body(spec: CompiledSpec) -> None:
    assert _inputs(spec, body=["bug", "ui"], operation="untyped") == {"@body": ["bug", "ui"]}


def test_a_body_that_is_not_json_adds_nothing(spec: CompiledSpec) -> None:
    op = spec.operation("untyped")
    request = MockRequest("POST", "/issues/7", "", {"content-type": "application/json"}, b"{")
    assert request_inputs(spec, op, request, {"number": "7"}) == {"number": 7}


# -- through the pipeline -----------------------------------------------------------------

ITEMS: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "stored", "version": "1"},
    "paths": {
        "/accounts/{account}/charges": {
            "parameters": [
                {"name": "account", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "post": {
                "operationId": "createCharge",
                "requestBody": {"content": {FORM: {"schema": {"$ref": "#/components/schemas/In"}}}},
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Charge"}}
                        },
                    }
                },
            },
        }
    },
    "components": {
        "schemas": {
            "In": {
                "type": "object",
                "properties": {
                    "amount": {"type": "integer"},
                    "capture": {"type": "boolean"},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    "account": {"type": "string"},
                },
            },
            "Charge": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "account": {"type": "string"},
                    "amount": {"type": "integer"},
                    "capture": {"type": "boolean"},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        }
    },
    "x-doppel": {
        "resources": {
            "charge": {
                "key": "id",
                "scope": ["account"],
                "schema": "createCharge",
                "create": {"id": "ch_{alnum:14}", "account": "{scope.account}"},
            }
        },
        "operations": {"createCharge": {"kind": "charge", "action": "create"}},
    },
}


def test_a_stored_item_takes_typed_form_values_and_its_path_scope() -> None:
    spec = compile_spec(ITEMS)
    form = urlencode(
        {"amount": "500", "capture": "0", "metadata[order]": "42", "account": "acct_evil"}
    )
    request = MockRequest(
        "POST", "/accounts/acct_1/charges", "", {"content-type": FORM}, form.encode()
    )
    response, report = respond(spec, request, MockContext())
    charge = response.json()
    assert (charge["amount"], charge["capture"], charge["metadata"]) == (
        500,
        False,
        {"order": "42"},
    )
    assert charge["account"] == "acct_1"
    assert [c.collection for c in report.changes if c.collection != SEQUENCES] == ["charge:acct_1"]
