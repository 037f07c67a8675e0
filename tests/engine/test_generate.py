from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from doppel.engine.generate import generate
from doppel.engine.refs import normalize

NOW = datetime(2026, 5, 1, 12, 0, 0)
DOCUMENT: dict[str, Any] = {
    "components": {
        "schemas": {
            "Node": {
                "type": "object",
                "required": ["id", "children"],
                "properties": {
                    "id": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            },
            "Cat": {
                "type": "object",
                "required": ["kind", "meow"],
                "properties": {"kind": {"type": "string"}, "meow": {"type": "boolean"}},
            },
            "Dog": {
                "type": "object",
                "required": ["kind", "bark"],
                "properties": {"kind": {"type": "string"}, "bark": {"type": "integer"}},
            },
            "Linked": {
                "type": "object",
                "required": ["next"],
                "properties": {
                    "next": {"anyOf": [{"$ref": "#/components/schemas/Linked"}, {"type": "null"}]}
                },
            },
        }
    }
}


def _valid(schema: Any, value: Any) -> list[str]:
    document = {**DOCUMENT, "$defs": {"target": schema}}
    registry: Registry[Any] = Registry().with_resource(
        "urn:doc", Resource(contents=document, specification=DRAFT202012)
    )
    validator = Draft202012Validator({"$ref": "urn:doc#/$defs/target"}, registry=registry)
    return [e.message for e in validator.iter_errors(value)]


SCHEMAS = [
    pytest.param({"type": "string", "format": "date-time"}, id="date-time"),
    pytest.param({"type": "string", "format": "email"}, id="email"),
    pytest.param({"type": "string", "format": "uuid"}, id="uuid"),
    pytest.param({"type": "string", "minLength": 30, "maxLength": 40}, id="string-bounds"),
    pytest.param({"type": "string", "maxLength": 3}, id="short-string"),
    pytest.param({"type": "string", "pattern": "^[A-Z]{2}[0-9a-f]{32}$"}, id="pattern"),
    pytest.param({"type": "integer", "minimum": 5, "maximum": 7}, id="integer-range"),
    pytest.param({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3}, id="exclusive"),
    pytest.param({"type": "number", "minimum": 0.5, "maximum": 0.6}, id="number-range"),
    pytest.param({"type": "integer", "multipleOf": 7, "minimum": 10}, id="multiple-of"),
    pytest.param({"enum": ["open", "closed"]}, id="enum"),
    pytest.param({"const": "fixed"}, id="const"),
    pytest.param({"type": ["string", "null"]}, id="nullable-3.1"),
    pytest.param(normalize({"type": "string", "nullable": True, "enum": ["a"]}), id="nullable-3.0"),
    pytest.param(
        {"type": "array", "minItems": 3, "uniqueItems": True, "items": {"type": "integer"}},
        id="array-min-unique",
    ),
    pytest.param({"type": "array", "maxItems": 0, "items": {"type": "string"}}, id="empty-array"),
    pytest.param(
        {
            "type": "object",
            "required": ["a"],
            "properties": {"a": {"type": "string"}},
            "additionalProperties": False,
        },
        id="closed-object",
    ),
    pytest.param(
        {
            "allOf": [
                {"$ref": "#/components/schemas/Cat"},
                {"required": ["name"], "properties": {"name": {"type": "string"}}},
            ]
        },
        id="all-of",
    ),
    pytest.param(
        {
            "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
            "discriminator": {
                "propertyName": "kind",
                "mapping": {"cat": "#/components/schemas/Cat"},
            },
        },
        id="one-of-discriminator",
    ),
    pytest.param({"anyOf": [{"type": "integer"}, {"type": "string"}]}, id="any-of"),
    pytest.param({"$ref": "#/components/schemas/Node"}, id="recursive-required-array"),
    pytest.param({"$ref": "#/components/schemas/Linked"}, id="recursive-nullable"),
    pytest.param({"type": "object", "additionalProperties": {"type": "integer"}}, id="map"),
    pytest.param({"type": "string", "example": 42}, id="ill-typed-example-ignored"),
]


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_generated_data_is_valid_against_its_schema(schema: Any, dynamic: bool) -> None:
    for seed in range(5):
        value = generate(schema, DOCUMENT, random.Random(seed), NOW, use_examples=not dynamic)
        assert _valid(schema, value) == [], (seed, value)


def test_same_seed_same_value_and_other_seeds_differ() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}}
    first = generate(schema, DOCUMENT, random.Random(7), NOW)
    assert first == generate(schema, DOCUMENT, random.Random(7), NOW)
    assert any(generate(schema, DOCUMENT, random.Random(s), NOW) != first for s in range(8, 12))


def test_schema_examples_are_preferred_unless_dynamic() -> None:
    schema = {"type": "string", "example": "octocat"}
    assert generate(schema, DOCUMENT, random.Random(1), NOW) == "octocat"
    assert generate(schema, DOCUMENT, random.Random(1), NOW, use_examples=False) != "octocat"


def test_discriminator_tag_names_the_chosen_branch() -> None:
    schema = {
        "oneOf": [{"$ref": "#/components/schemas/Cat"}],
        "discriminator": {"propertyName": "kind", "mapping": {"cat": "#/components/schemas/Cat"}},
    }
    assert generate(schema, DOCUMENT, random.Random(1), NOW)["kind"] == "cat"


def test_write_only_fields_stay_out_of_responses() -> None:
    schema = {
        "type": "object",
        "properties": {
            "password": {"type": "string", "writeOnly": True},
            "name": {"type": "string"},
        },
    }
    assert set(generate(schema, DOCUMENT, random.Random(1), NOW)) == {"name"}
