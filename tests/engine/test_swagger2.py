"""Swagger 2.0 → OpenAPI 3.0.3 conversion, rule by rule and on Slack's real spec."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest

from doppel.engine.swagger2 import convert
from tests.conftest import SPECS

SLACK_SPEC = SPECS["slack"]  # the bundled copy of Slack's description (gzipped)
ABSENT = object()
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"


def _doc(**fields: Any) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}, **fields}


def _op(*params: Any, **fields: Any) -> dict[str, Any]:
    """A document with one `POST /p` operation."""
    op = {"parameters": list(params), "responses": {"200": {"description": "ok"}}, **fields}
    return _doc(paths={"/p": {"post": op}})


def _at(node: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return ABSENT
    return node


def _form_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {FORM: {"schema": schema}}}


Q_TAGS = {"name": "tags", "in": "query", "type": "array", "items": {"type": "string"}}
Q_TAGS_OUT = {
    "name": "tags",
    "in": "query",
    "style": "form",
    "explode": False,
    "schema": {"type": "array", "items": {"type": "string"}},
}
BODY = {"name": "pet", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Pet"}}
FIELD = {"name": "name", "in": "formData", "type": "string", "required": True}
FILE = {"name": "data", "in": "formData", "type": "file", "description": "the file"}
PET_REF_CONTENT = {"schema": {"$ref": "#/components/schemas/Pet"}}


@pytest.mark.parametrize(
    ("document", "keys", "expected"),
    [
        pytest.param(_doc(), ("openapi",), "3.0.3", id="version"),
        pytest.param(_doc(), ("swagger",), ABSENT, id="swagger-key-dropped"),
        pytest.param(
            _doc(host="api.x.com", basePath="/v1", schemes=["http", "https"]),
            ("servers",),
            [{"url": "http://api.x.com/v1"}],
            id="servers-first-scheme",
        ),
        pytest.param(
            _doc(host="api.x.com", basePath="/v1"),
            ("servers",),
            [{"url": "https://api.x.com/v1"}],
            id="servers-default-https",
        ),
        pytest.param(
            _doc(host="api.x.com", basePath="/"),
            ("servers",),
            [{"url": "https://api.x.com"}],
            id="servers-root-base-path",
        ),
        pytest.param(_doc(basePath="/v2"), ("servers",), [{"url": "/v2"}], id="servers-no-host"),
        pytest.param(_doc(), ("servers",), [{"url": "/"}], id="servers-nothing"),
        pytest.param(
            _doc(info={"title": "T", "version": "9", "x-logo": "l"}),
            ("info",),
            {"title": "T", "version": "9", "x-logo": "l"},
            id="info",
        ),
        pytest.param(_doc(tags=[{"name": "a"}]), ("tags",), [{"name": "a"}], id="tags"),
        pytest.param(
            _doc(externalDocs={"url": "https://d"}),
            ("externalDocs",),
            {"url": "https://d"},
            id="external-docs",
        ),
        pytest.param(_doc(security=[{"k": []}]), ("security",), [{"k": []}], id="security"),
        pytest.param(_doc(consumes=[JSON]), ("consumes",), ABSENT, id="consumes-dropped"),
        pytest.param(_doc(produces=[JSON]), ("produces",), ABSENT, id="produces-dropped"),
        pytest.param(_doc(**{"x-top": {"a": 1}}), ("x-top",), {"a": 1}, id="top-extension"),
        pytest.param(
            _op(schemes=["http"]) | {"host": "h"},
            ("paths", "/p", "post", "servers"),
            [{"url": "http://h"}],
            id="operation-schemes",
        ),
        pytest.param(
            _op(consumes=[JSON], produces=[JSON]),
            ("paths", "/p", "post", "consumes"),
            ABSENT,
            id="operation-consumes-dropped",
        ),
    ],
)
def test_document_level(document: dict[str, Any], keys: tuple[Any, ...], expected: Any) -> None:
    assert _at(convert(document), *keys) == expected


@pytest.mark.parametrize(
    ("document", "keys", "expected"),
    [
        pytest.param(
            _doc(definitions={"Pet": {"type": "object"}}),
            ("components", "schemas", "Pet"),
            {"type": "object"},
            id="definitions",
        ),
        pytest.param(
            _doc(parameters={"limit": {"name": "limit", "in": "query", "type": "integer"}}),
            ("components", "parameters", "limit"),
            {"name": "limit", "in": "query", "schema": {"type": "integer"}},
            id="parameters",
        ),
        pytest.param(
            _doc(parameters={"pet": BODY, "field": FIELD}),
            ("components",),
            ABSENT,
            id="payload-parameters-not-components",
        ),
        pytest.param(
            _doc(responses={"Err": {"description": "e", "schema": {"type": "string"}}}),
            ("components", "responses", "Err"),
            {"description": "e", "content": {JSON: {"schema": {"type": "string"}}}},
            id="responses",
        ),
        pytest.param(
            _doc(
                produces=["text/plain"],
                responses={"Err": {"description": "e", "schema": {"type": "string"}}},
            ),
            ("components", "responses", "Err", "content"),
            {"text/plain": {"schema": {"type": "string"}}},
            id="responses-global-produces",
        ),
        pytest.param(
            _doc(securityDefinitions={"b": {"type": "basic", "description": "d"}}),
            ("components", "securitySchemes", "b"),
            {"type": "http", "scheme": "basic", "description": "d"},
            id="security-basic",
        ),
        pytest.param(
            _doc(securityDefinitions={"k": {"type": "apiKey", "name": "X-Key", "in": "header"}}),
            ("components", "securitySchemes", "k"),
            {"type": "apiKey", "name": "X-Key", "in": "header"},
            id="security-api-key",
        ),
        pytest.param(
            _doc(
                securityDefinitions={
                    "o": {
                        "type": "oauth2",
                        "flow": "implicit",
                        "authorizationUrl": "https://a",
                        "scopes": {"r": "read"},
                    }
                }
            ),
            ("components", "securitySchemes", "o"),
            {
                "type": "oauth2",
                "flows": {"implicit": {"authorizationUrl": "https://a", "scopes": {"r": "read"}}},
            },
            id="security-oauth2-implicit",
        ),
        pytest.param(
            _doc(
                securityDefinitions={
                    "o": {"type": "oauth2", "flow": "password", "tokenUrl": "https://t"}
                }
            ),
            ("components", "securitySchemes", "o", "flows"),
            {"password": {"tokenUrl": "https://t", "scopes": {}}},
            id="security-oauth2-password",
        ),
        pytest.param(
            _doc(
                securityDefinitions={
                    "o": {"type": "oauth2", "flow": "application", "tokenUrl": "https://t"}
                }
            ),
            ("components", "securitySchemes", "o", "flows"),
            {"clientCredentials": {"tokenUrl": "https://t", "scopes": {}}},
            id="security-oauth2-application",
        ),
        pytest.param(
            _doc(
                securityDefinitions={
                    "o": {
                        "type": "oauth2",
                        "flow": "accessCode",
                        "authorizationUrl": "https://a",
                        "tokenUrl": "https://t",
                        "scopes": {},
                        "x-ext": 1,
                    }
                }
            ),
            ("components", "securitySchemes", "o"),
            {
                "type": "oauth2",
                "x-ext": 1,
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": "https://a",
                        "tokenUrl": "https://t",
                        "scopes": {},
                    }
                },
            },
            id="security-oauth2-access-code",
        ),
    ],
)
def test_components(document: dict[str, Any], keys: tuple[Any, ...], expected: Any) -> None:
    assert _at(convert(document), *keys) == expected


@pytest.mark.parametrize(
    ("document", "keys", "expected"),
    [
        pytest.param(
            _doc(definitions={"A": {"properties": {"b": {"$ref": "#/definitions/B"}}}}),
            ("components", "schemas", "A", "properties", "b", "$ref"),
            "#/components/schemas/B",
            id="definition-in-properties",
        ),
        pytest.param(
            _doc(definitions={"A": {"type": "array", "items": {"$ref": "#/definitions/B"}}}),
            ("components", "schemas", "A", "items", "$ref"),
            "#/components/schemas/B",
            id="definition-in-items",
        ),
        pytest.param(
            _doc(definitions={"A": {"allOf": [{"$ref": "#/definitions/B"}]}}),
            ("components", "schemas", "A", "allOf", 0, "$ref"),
            "#/components/schemas/B",
            id="definition-in-all-of",
        ),
        pytest.param(
            _doc(definitions={"A": {"$ref": "#/definitions/B/properties/c"}}),
            ("components", "schemas", "A", "$ref"),
            "#/components/schemas/B/properties/c",
            id="deep-definition-pointer",
        ),
        pytest.param(
            _op({"$ref": "#/parameters/limit"})
            | {"parameters": {"limit": {"name": "limit", "in": "query", "type": "integer"}}},
            ("paths", "/p", "post", "parameters"),
            [{"$ref": "#/components/parameters/limit"}],
            id="parameter-ref",
        ),
        pytest.param(
            _op(responses={"404": {"$ref": "#/responses/NotFound"}}),
            ("paths", "/p", "post", "responses", "404"),
            {"$ref": "#/components/responses/NotFound"},
            id="response-ref",
        ),
        pytest.param(
            _doc(**{"x-refs": [{"$ref": "#/definitions/A"}]}),
            ("x-refs",),
            [{"$ref": "#/components/schemas/A"}],
            id="ref-in-extension",
        ),
        pytest.param(
            _doc(definitions={"A": {"$ref": "https://example.com/s.json#/A"}}),
            ("components", "schemas", "A", "$ref"),
            "https://example.com/s.json#/A",
            id="external-ref-untouched",
        ),
    ],
)
def test_refs(document: dict[str, Any], keys: tuple[Any, ...], expected: Any) -> None:
    assert _at(convert(document), *keys) == expected


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        pytest.param(
            {
                "name": "limit",
                "in": "query",
                "description": "d",
                "required": True,
                "type": "integer",
                "format": "int32",
                "minimum": 1,
                "maximum": 100,
                "default": 10,
            },
            {
                "name": "limit",
                "in": "query",
                "description": "d",
                "required": True,
                "schema": {
                    "type": "integer",
                    "format": "int32",
                    "minimum": 1,
                    "maximum": 100,
                    "default": 10,
                },
            },
            id="scalar-into-schema",
        ),
        pytest.param(
            {"name": "s", "in": "query", "type": "string", "enum": ["a"], "pattern": "^a$"},
            {
                "name": "s",
                "in": "query",
                "schema": {"type": "string", "enum": ["a"], "pattern": "^a$"},
            },
            id="enum-and-pattern",
        ),
        pytest.param(Q_TAGS, Q_TAGS_OUT, id="array-default-csv"),
        pytest.param(
            Q_TAGS | {"collectionFormat": "csv"},
            Q_TAGS_OUT,
            id="csv",
        ),
        pytest.param(
            Q_TAGS | {"collectionFormat": "multi"},
            Q_TAGS_OUT | {"explode": True},
            id="multi",
        ),
        pytest.param(
            Q_TAGS | {"collectionFormat": "pipes"},
            Q_TAGS_OUT | {"style": "pipeDelimited"},
            id="pipes",
        ),
        pytest.param(
            Q_TAGS | {"collectionFormat": "ssv"},
            Q_TAGS_OUT | {"style": "spaceDelimited"},
            id="ssv",
        ),
        pytest.param(
            {"name": "ids", "in": "path", "required": True, "type": "array", "items": {}},
            {
                "name": "ids",
                "in": "path",
                "required": True,
                "schema": {"type": "array", "items": {}},
            },
            id="csv-in-path-is-simple",
        ),
        pytest.param(
            {
                "name": "m",
                "in": "header",
                "type": "array",
                "items": {
                    "type": "array",
                    "collectionFormat": "pipes",
                    "items": {"type": "string"},
                },
            },
            {
                "name": "m",
                "in": "header",
                "schema": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "string"}},
                },
            },
            id="nested-items",
        ),
        pytest.param(
            {"name": "q", "in": "query", "type": "string", "x-nullable": True, "x-other": 1},
            {
                "name": "q",
                "in": "query",
                "x-other": 1,
                "schema": {"type": "string", "nullable": True},
            },
            id="x-nullable-and-extension",
        ),
    ],
)
def test_parameter(param: dict[str, Any], expected: dict[str, Any]) -> None:
    assert convert(_op(param))["paths"]["/p"]["post"]["parameters"] == [expected]


def test_path_level_parameters_stay_on_the_path_item() -> None:
    document = _doc(
        paths={
            "/p/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"}],
                "get": {"responses": {"200": {"description": "ok"}}},
            }
        }
    )
    item = convert(document)["paths"]["/p/{id}"]
    assert item["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert "parameters" not in item["get"]


NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            _op(BODY | {"description": "a pet"}, consumes=[JSON, "application/xml"]),
            {
                "description": "a pet",
                "content": {JSON: PET_REF_CONTENT, "application/xml": PET_REF_CONTENT},
                "required": True,
            },
            id="body-operation-consumes",
        ),
        pytest.param(
            _op(BODY) | {"consumes": ["text/plain"]},
            {"content": {"text/plain": PET_REF_CONTENT}, "required": True},
            id="body-global-consumes",
        ),
        pytest.param(
            _op({"name": "b", "in": "body", "schema": {"type": "string"}}),
            {"content": {JSON: {"schema": {"type": "string"}}}},
            id="body-default-json",
        ),
        pytest.param(
            _op(FIELD),
            {"content": {FORM: {"schema": NAME_SCHEMA}}, "required": True},
            id="form-default-urlencoded",
        ),
        pytest.param(
            _op(FIELD, FILE),
            {
                "content": {
                    MULTIPART: {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "data": {
                                    "type": "string",
                                    "format": "binary",
                                    "description": "the file",
                                },
                            },
                            "required": ["name"],
                        }
                    }
                },
                "required": True,
            },
            id="form-file-defaults-multipart",
        ),
        pytest.param(
            _op(FIELD, consumes=[MULTIPART, "text/csv"]),
            {"content": {MULTIPART: {"schema": NAME_SCHEMA}}, "required": True},
            id="form-consumes-form-types-only",
        ),
        pytest.param(
            _op(FIELD, consumes=[FORM, JSON]),
            {
                "content": {FORM: {"schema": NAME_SCHEMA}, JSON: {"schema": NAME_SCHEMA}},
                "required": True,
            },
            id="form-also-json",
        ),
        pytest.param(
            _op({"name": "o", "in": "formData", "type": "string"}),
            {
                "content": {
                    FORM: {"schema": {"type": "object", "properties": {"o": {"type": "string"}}}}
                }
            },
            id="form-nothing-required",
        ),
        pytest.param(
            _op(Q_TAGS | {"in": "formData", "collectionFormat": "multi"}),
            {
                "content": {
                    FORM: {
                        "schema": {
                            "type": "object",
                            "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
                        },
                        "encoding": {"tags": {"style": "form", "explode": True}},
                    }
                }
            },
            id="form-array-encoding",
        ),
        pytest.param(
            _op({"$ref": "#/parameters/pet"}) | {"parameters": {"pet": BODY}},
            {"content": {JSON: PET_REF_CONTENT}, "required": True},
            id="body-ref-inlined",
        ),
        pytest.param(
            _op({"$ref": "#/parameters/name"}) | {"parameters": {"name": FIELD}},
            _form_body(NAME_SCHEMA) | {"required": True},
            id="form-ref-inlined",
        ),
        pytest.param(
            _doc(
                paths={
                    "/p": {
                        "parameters": [
                            FIELD,
                            {"name": "extra", "in": "formData", "type": "integer"},
                        ],
                        "post": {
                            "parameters": [FIELD | {"required": False}],
                            "responses": {"200": {"description": "ok"}},
                        },
                    }
                }
            ),
            _form_body(
                {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "extra": {"type": "integer"}},
                }
            ),
            id="path-level-form-merged-and-overridden",
        ),
        pytest.param(
            _doc(
                paths={
                    "/p": {
                        "parameters": [BODY],
                        "post": {"responses": {"200": {"description": "ok"}}},
                    }
                }
            ),
            {"content": {JSON: PET_REF_CONTENT}, "required": True},
            id="path-level-body",
        ),
    ],
)
def test_request_body(document: dict[str, Any], expected: dict[str, Any]) -> None:
    converted = convert(document)
    op = converted["paths"]["/p"]["post"]
    assert op["requestBody"] == expected
    assert "parameters" not in op
    assert "parameters" not in converted["paths"]["/p"]


@pytest.mark.parametrize(
    ("response", "op_fields", "expected"),
    [
        pytest.param(
            {"description": "ok", "schema": {"$ref": "#/definitions/Pet"}},
            {},
            {"description": "ok", "content": {JSON: PET_REF_CONTENT}},
            id="schema-default-json",
        ),
        pytest.param(
            {"description": "ok", "schema": {"type": "string"}},
            {"produces": ["text/plain", "text/csv"]},
            {
                "description": "ok",
                "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            id="schema-per-produces",
        ),
        pytest.param(
            {"description": "ok", "schema": {"type": "object"}, "examples": {JSON: {"ok": True}}},
            {},
            {
                "description": "ok",
                "content": {JSON: {"schema": {"type": "object"}, "example": {"ok": True}}},
            },
            id="examples-to-example",
        ),
        pytest.param(
            {"description": "ok", "headers": {"X-Rate": {"type": "integer", "description": "r"}}},
            {},
            {
                "description": "ok",
                "headers": {"X-Rate": {"description": "r", "schema": {"type": "integer"}}},
            },
            id="headers",
        ),
        pytest.param({"description": "gone"}, {}, {"description": "gone"}, id="no-schema"),
        pytest.param({}, {}, {"description": ""}, id="description-ensured"),
        pytest.param(
            {"description": "ok", "x-note": [1]},
            {},
            {"description": "ok", "x-note": [1]},
            id="extension-kept",
        ),
        pytest.param(
            {"description": "ok", "schema": {"type": "file"}},
            {"produces": ["application/octet-stream"]},
            {
                "description": "ok",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            id="file-response",
        ),
    ],
)
def test_response(
    response: dict[str, Any], op_fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    document = _op(responses={"200": response}, **op_fields)
    assert convert(document)["paths"]["/p"]["post"]["responses"]["200"] == expected


def test_integer_status_codes_become_strings() -> None:
    document = _op(responses={200: {"description": "ok"}})
    assert convert(document)["paths"]["/p"]["post"]["responses"] == {"200": {"description": "ok"}}


A_REF = {"$ref": "#/definitions/A"}
B_REF = {"$ref": "#/definitions/B"}
A_OUT = {"$ref": "#/components/schemas/A"}
B_OUT = {"$ref": "#/components/schemas/B"}
NULL = {"type": "null"}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(
            {"type": "array", "items": [A_REF, B_REF]},
            {"type": "array", "items": {"oneOf": [A_OUT, B_OUT]}},
            id="array-tuple-items",
        ),
        pytest.param(
            {"type": "array", "items": [{"type": "string"}, NULL]},
            {"type": "array", "items": {"type": "string", "nullable": True}},
            id="array-tuple-items-with-null",
        ),
        pytest.param(
            {"description": "d", "items": [A_REF, B_REF]},
            {"description": "d", "oneOf": [A_OUT, B_OUT]},
            id="untyped-tuple-items-is-one-of",
        ),
        pytest.param(
            {"items": [{"type": "integer"}, NULL]},
            {"type": "integer", "nullable": True},
            id="untyped-scalar-or-null-inlined",
        ),
        pytest.param(
            {"items": [NULL, A_REF]},
            {"nullable": True, "allOf": [A_OUT]},
            id="untyped-ref-or-null",
        ),
        pytest.param(
            {"items": [A_REF, B_REF, NULL]},
            {"nullable": True, "oneOf": [A_OUT, B_OUT]},
            id="untyped-two-or-null",
        ),
        pytest.param(
            {"type": "object", "items": [{"title": "a"}, {"title": "b"}]},
            {"type": "object", "oneOf": [{"title": "a"}, {"title": "b"}]},
            id="object-tuple-items-is-one-of",
        ),
        pytest.param(
            {"oneOf": [A_REF, NULL]},
            {"nullable": True, "allOf": [A_OUT]},
            id="one-of-null-member",
        ),
        pytest.param(
            {"type": "string", "x-nullable": True},
            {"type": "string", "nullable": True},
            id="x-nullable",
        ),
        pytest.param(
            A_REF | {"x-nullable": True}, {"allOf": [A_OUT], "nullable": True}, id="ref-x-nullable"
        ),
        pytest.param({"type": "file"}, {"type": "string", "format": "binary"}, id="file"),
        pytest.param(
            {"type": "object", "discriminator": "kind"},
            {"type": "object", "discriminator": {"propertyName": "kind"}},
            id="discriminator",
        ),
        pytest.param(
            {"type": ["null", "string"]},
            {"type": "string", "nullable": True},
            id="type-list-with-null",
        ),
        pytest.param(
            {"type": ["object", "null", "array"], "items": {"type": "object"}},
            {
                "items": {"type": "object"},
                "anyOf": [
                    {"type": "object", "nullable": True},
                    {"type": "array", "nullable": True},
                ],
            },
            id="type-list-several",
        ),
        pytest.param(NULL, {"nullable": True, "enum": [None]}, id="bare-null-type"),
        pytest.param(
            {
                "type": "object",
                "properties": {"items": {"type": "string"}, "type": {"type": "integer"}},
            },
            {
                "type": "object",
                "properties": {"items": {"type": "string"}, "type": {"type": "integer"}},
            },
            id="property-names-are-not-keywords",
        ),
        pytest.param(
            {"type": "object", "additionalProperties": {"items": [A_REF, NULL]}},
            {"type": "object", "additionalProperties": {"nullable": True, "allOf": [A_OUT]}},
            id="nested-in-additional-properties",
        ),
        pytest.param(
            {"type": "string", "x-examples": ["a", "b"], "example": "a"},
            {"type": "string", "x-examples": ["a", "b"], "example": "a"},
            id="examples-kept",
        ),
        pytest.param({"type": "object", "required": []}, {"type": "object"}, id="empty-required"),
    ],
)
def test_schema(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert convert(_doc(definitions={"S": schema}))["components"]["schemas"]["S"] == expected


def test_input_is_not_mutated_and_output_shares_nothing() -> None:
    document = _doc(
        host="h",
        parameters={"pet": BODY, "limit": {"name": "limit", "in": "query", "type": "integer"}},
        definitions={"A": {"items": [A_REF, NULL]}, "Pet": {"type": "array", "items": [A_REF]}},
        paths={
            "/p": {
                "parameters": [FIELD],
                "post": {
                    "parameters": [{"$ref": "#/parameters/limit"}, Q_TAGS, FILE],
                    "responses": {"200": {"description": "ok", "schema": A_REF}},
                },
            }
        },
    )
    before = copy.deepcopy(document)
    converted = convert(document)
    assert document == before
    json.loads(json.dumps(converted))  # plain JSON data all the way down

    def mutate(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                mutate(value)
            node["poison"] = 1
        elif isinstance(node, list):
            for value in node:
                mutate(value)
            node.append("poison")

    mutate(converted)
    assert document == before


# --- Slack's real Swagger 2.0 spec ---------------------------------------------------------------


@pytest.fixture(scope="module")
def slack() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(the spec as loaded, an untouched deep copy of it, its conversion)."""
    source = json.loads(gzip.decompress(SLACK_SPEC.read_bytes()))
    pristine = copy.deepcopy(source)
    return source, pristine, convert(source)


def _operations(paths: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in paths.items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete", "head", "options"}:
                yield path, method, op


def _items_values(node: Any) -> Iterator[Any]:
    """Every schema `items` value, skipping example data (Slack's examples contain `items`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"example", "x-examples", "default", "enum"}:
                continue
            if key == "items":
                yield value
            yield from _items_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _items_values(value)


@pytest.mark.slow
def test_slack_structure(slack: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]) -> None:
    source, pristine, converted = slack
    assert source == pristine
    assert converted["openapi"] == "3.0.3"
    assert converted["servers"][0]["url"] == "https://slack.com/api"
    assert len(converted["paths"]) == 174
    text = json.dumps(converted)
    assert "#/definitions/" not in text
    assert '"consumes"' not in text and '"produces"' not in text
    assert not [v for v in _items_values(converted) if isinstance(v, list)]
    flows = converted["components"]["securitySchemes"]["slackAuth"]["flows"]
    assert set(flows) == {"authorizationCode"}


@pytest.mark.slow
def test_slack_form_bodies(slack: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]) -> None:
    source, _, converted = slack
    checked = 0
    for path, method, op in _operations(source["paths"]):
        fields = {p["name"] for p in op.get("parameters", []) if p.get("in") == "formData"}
        new = converted["paths"][path][method]
        assert all(p["in"] != "formData" for p in new.get("parameters", []))
        if not fields:
            continue
        content = new["requestBody"]["content"]
        assert set(content[FORM]["schema"]["properties"]) == fields, path
        assert (JSON in content) == (JSON in op.get("consumes", [])), path
        checked += 1
    assert checked > 0


@pytest.mark.slow
def test_slack_post_message(slack: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]) -> None:
    _, _, converted = slack
    op = converted["paths"]["/chat.postMessage"]["post"]
    ok = op["responses"]["200"]["content"][JSON]
    assert ok["example"]["ok"] is True
    assert ok["schema"]["properties"]["message"] == {"$ref": "#/components/schemas/objs_message"}
    assert op["parameters"][0]["name"] == "token"
    assert op["requestBody"]["content"][JSON]["schema"]["required"] == ["channel"]
