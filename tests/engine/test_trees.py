"""Items held inside other items: read_many finds keys in a tree at any depth (`among`,
`nested`) and shows each found item to `depth` levels; a tree deeper than the shaping
bound is kept as written. Pure: the engine's `respond` against a small description."""

from __future__ import annotations

from typing import Any

import pytest

from doppel.engine import CompiledSpec, compile_spec
from doppel.engine.actions import build_world
from doppel.engine.expressions import MISSING
from doppel.engine.trees import find_in_tree, levels, pruned
from tests.engine.test_world import NOT_FOUND, START, Sandbox, _answer, _path, _ref

NODE = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "children": {"type": "array", "items": _ref("Node")},
    },
}
DOC = {
    "type": "object",
    "required": ["id", "tree"],
    "properties": {"id": {"type": "string"}, "tree": _ref("Node")},
}
IDS = [
    {"name": "ids", "in": "query", "required": True, "schema": {"type": "string"}},
    {"name": "depth", "in": "query", "schema": {"type": "number"}},
]
NODES = _answer(
    {
        "type": "object",
        "properties": {
            "nodes": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [
                        {"type": "object", "properties": {"document": _ref("Node")}},
                        {"type": "null"},
                    ]
                },
            }
        },
    }
)
TREES: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "trees", "version": "1"},
    "paths": {
        "/docs/{doc}": {
            "get": {
                "operationId": "getDoc",
                "parameters": _path("doc"),
                "responses": {**_answer(_ref("Doc")), **NOT_FOUND},
            }
        },
        "/docs/{doc}/nodes": {
            "get": {
                "operationId": "getDocNodes",
                "parameters": [*_path("doc"), *IDS],
                "responses": {**NODES, **NOT_FOUND},
            }
        },
        "/nodes": {"get": {"operationId": "getNodes", "parameters": IDS, "responses": NODES}},
    },
    "components": {"schemas": {"Doc": DOC, "Node": NODE}},
    "x-doppel": {
        "closed_world": True,
        "errors": {"not_found": {"status": 404, "body": {"message": "{detail}"}}},
        "references": [{"params": ["doc"], "kind": "doc", "key": "{req.doc}", "name": "doc"}],
        "resources": {
            "doc": {"key": "id", "schema": "getDoc"},
            "node": {"key": "id", "schema": "#/components/schemas/Node"},
        },
        "operations": {
            "getDoc": {"kind": "doc", "action": "read", "key": "{req.doc}"},
            "getDocNodes": {
                "kind": "node",
                "action": "read_many",
                "keys": "{req.ids|split:,}",
                "among": "{ref.doc.tree}",
                "nested": "children",
                "depth": "{req.depth}",
                "wrap": {"document": "{item}"},
                "envelope": "nodes",
            },
            "getNodes": {  # `nested` alone: the kind's own items are the roots
                "kind": "node",
                "action": "read_many",
                "keys": "{req.ids|split:,}",
                "nested": "children",
                "wrap": {"document": "{item}"},
                "envelope": "nodes",
            },
        },
    },
}
A1 = {"id": "2:1", "name": "A1", "children": []}
A = {"id": "1:1", "name": "A", "children": [A1]}
B = {"id": "1:2", "name": "B", "children": []}
ROOT = {"id": "0:0", "name": "Root", "children": [A, B]}


def _deep(levels_down: int) -> dict[str, Any]:
    node: dict[str, Any] = {"id": f"9:{levels_down}", "name": "deepest", "children": []}
    for level in range(levels_down - 1, -1, -1):
        node = {"id": f"9:{level}", "name": f"level {level}", "children": [node]}
    return node


DEEP = _deep(10)  # 20 levels of value below the doc's `tree`: past the shaping bound
DEEP_LEAF = {"id": "9:10", "name": "deepest", "children": []}
WORLD = {
    "world": [
        {"kind": "doc", "items": [{"id": "d1", "tree": ROOT}, {"id": "deep", "tree": DEEP}]},
        {"kind": "node", "items": [ROOT]},
    ]
}


@pytest.fixture(scope="module")
def spec() -> CompiledSpec:
    return compile_spec(TREES)


@pytest.fixture
def trees(spec: CompiledSpec) -> Sandbox:
    return Sandbox(spec, world=build_world(spec, WORLD, 0, START))


def _doc(node: Any) -> Any:
    return None if node is None else {"document": node}


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        pytest.param("/docs/d1/nodes", {"ids": "1:1"}, {"1:1": A}, id="a-node-with-its-subtree"),
        pytest.param("/docs/d1/nodes", {"ids": "2:1"}, {"2:1": A1}, id="a-nested-node"),
        pytest.param("/docs/d1/nodes", {"ids": "0:0"}, {"0:0": ROOT}, id="the-root"),
        pytest.param(
            "/docs/d1/nodes",
            {"ids": "2:1,9:9,1:2"},
            {"2:1": A1, "9:9": None, "1:2": B},
            id="each-key-asked-in-order-null-for-unknown",
        ),
        pytest.param(
            "/docs/d1/nodes",
            {"ids": "0:0", "depth": "1"},
            {"0:0": {**ROOT, "children": [{**A, "children": []}, B]}},
            id="depth-1-keeps-the-children-and-empties-theirs",
        ),
        pytest.param(
            "/docs/d1/nodes",
            {"ids": "0:0", "depth": "0"},
            {"0:0": {**ROOT, "children": []}},
            id="depth-0-the-node-alone",
        ),
        pytest.param(
            "/docs/d1/nodes",
            {"ids": "1:1", "depth": "5"},
            {"1:1": A},
            id="depth-past-the-leaves-is-the-whole-subtree",
        ),
        pytest.param(
            "/docs/deep/nodes", {"ids": "9:10"}, {"9:10": DEEP_LEAF}, id="a-node-20-levels-down"
        ),
        pytest.param("/nodes", {"ids": "2:1,1:2"}, {"2:1": A1, "1:2": B}, id="nested-alone"),
    ],
)
def test_read_many_finds_keys_at_any_depth_of_a_tree(
    trees: Sandbox, path: str, query: dict[str, str], expected: dict[str, Any]
) -> None:
    assert trees.ok("GET", path, query=query) == {
        "nodes": {key: _doc(node) for key, node in expected.items()}
    }


def test_a_tree_in_a_document_the_world_does_not_hold_is_not_found(trees: Sandbox) -> None:
    status, body = trees("GET", "/docs/nope/nodes", query={"ids": "1:1"})
    assert (status, body) == (404, {"message": "no doc 'nope' in this sandbox"})


def test_a_tree_deeper_than_the_shaping_bound_is_kept_as_written(trees: Sandbox) -> None:
    assert trees.ok("GET", "/docs/deep")["tree"] == DEEP
    assert trees.items("doc")["deep"]["tree"] == DEEP


@pytest.mark.parametrize(
    ("roots", "nested", "key", "expected"),
    [
        pytest.param(ROOT, "children", "2:1", A1, id="depth-first-at-any-depth"),
        pytest.param([B, ROOT], "children", "1:2", B, id="the-first-in-document-order"),
        pytest.param(ROOT, None, "1:1", None, id="without-nested-only-the-roots"),
        pytest.param([A, B], None, "1:2", B, id="roots-as-a-list"),
        pytest.param(MISSING, "children", "1:1", None, id="nothing-to-search"),
        pytest.param(
            {"id": 7, "children": "x"}, "children", "7", {"id": 7, "children": "x"}, id="by-text"
        ),
    ],
)
def test_find_in_tree(roots: Any, nested: str | None, key: str, expected: Any) -> None:
    assert find_in_tree(roots, nested, ["id"], key) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(2, 2, id="a-number"),
        pytest.param("3", 3, id="text"),
        pytest.param(2.7, 2, id="a-fraction-down"),
        pytest.param(0, 0, id="zero"),
        pytest.param(-1, None, id="negative-no-limit"),
        pytest.param("deep", None, id="not-a-number-no-limit"),
        pytest.param(True, None, id="a-boolean-no-limit"),
        pytest.param(float("nan"), None, id="nan-no-limit"),
        pytest.param(None, None, id="none"),
        pytest.param(MISSING, None, id="not-given"),
    ],
)
def test_levels(value: Any, expected: int | None) -> None:
    assert levels(value) == expected


def test_pruning_copies_and_leaves_the_tree_as_it_was() -> None:
    before = repr(ROOT)
    assert pruned(ROOT, "children", 1)["children"][0]["children"] == []
    assert repr(ROOT) == before
    assert pruned({"id": "leaf"}, "children", 0) == {"id": "leaf"}
