"""The state diff, pure: two states over one world, compared item by item."""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from doppel.engine.world import World
from doppel.sandboxes.diffs import diff, diff_service, plural

ISSUES = "issue:acme/rocket"
WORLD = World.of(
    {
        ISSUES: {
            "1": {"number": 1, "state": "open", "labels": ["bug"]},
            "2": {"number": 2, "state": "open", "labels": []},
        },
        "label:acme/rocket": {"bug": {"name": "bug"}, "wontfix": {"name": "wontfix"}},
    }
)
KINDS = ("issue", "label", "/pets", "/v1/{name}:run")


def _entries(found: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    return {what: [(e["resource"], e["key"]) for e in items] for what, items in found.items()}


def test_creates_changes_and_deletes_over_the_world_are_named_as_the_user_knows_them() -> None:
    now = {
        ISSUES: {
            "3": {"number": 3, "state": "open"},
            "2": {"number": 2, "state": "closed", "labels": []},
        },
        "label:acme/rocket": {"wontfix": None},
        "#seq": {"issue:acme/rocket": 3},
    }

    found = diff_service(WORLD, KINDS, {}, now)

    assert _entries(found) == {
        "created": [("issues", "acme/rocket#3")],
        "changed": [("issues", "acme/rocket#2")],
        "deleted": [("labels", "acme/rocket#wontfix")],
    }
    assert found["created"][0]["after"] == {"number": 3, "state": "open"}
    assert found["deleted"][0]["before"] == {"name": "wontfix"}
    changed = found["changed"][0]
    assert changed["before"]["state"] == "open" and changed["after"]["state"] == "closed"
    assert changed["patch"] == [{"op": "replace", "path": "/state", "value": "closed"}]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param({"a": 1, "b": [1, 2]}, {"a": 2, "b": [2], "c": None}, id="scalars-lists"),
        pytest.param({"x": {"y": {"z": "~/"}}}, {"x": {"y": {"z": "/~", "w": 1}}}, id="nested"),
        pytest.param({"tags": ["a", "b", "c"]}, {"tags": ["c", "a"]}, id="reordered"),
    ],
)
def test_each_patch_turns_before_into_after(before: Any, after: Any) -> None:
    world = World.of({"/pets": {"1": before}})

    (changed,) = diff_service(world, KINDS, {}, {"/pets": {"1": after}})["changed"]

    assert jsonpatch.apply_patch(before, changed["patch"]) == after


def test_writes_that_end_where_they_began_are_no_change() -> None:
    now = {
        ISSUES: {"1": {"number": 1, "state": "open", "labels": ["bug"]}, "9": None},
        "/pets": {"5": None},
    }

    found = diff_service(WORLD, KINDS, {}, now)

    assert found == {"created": [], "changed": [], "deleted": []}


def test_since_a_checkpoint_the_checkpoints_state_is_before() -> None:
    checkpoint = {ISSUES: {"2": {"number": 2, "state": "closed", "labels": []}, "3": {"n": 3}}}
    now = {ISSUES: {"2": {"number": 2, "state": "closed", "labels": []}, "3": None, "4": {}}}

    found = diff_service(WORLD, KINDS, checkpoint, now)

    assert _entries(found) == {
        "created": [("issues", "acme/rocket#4")],
        "changed": [],
        "deleted": [("issues", "acme/rocket#3")],
    }


def test_a_state_forgotten_since_the_checkpoint_is_the_world_again() -> None:
    checkpoint = {ISSUES: {"1": None, "3": {"n": 3}}}

    found = diff_service(WORLD, KINDS, checkpoint, {})  # a reset after the checkpoint

    assert _entries(found) == {
        "created": [("issues", "acme/rocket#1")],
        "changed": [],
        "deleted": [("issues", "acme/rocket#3")],
    }


def test_inferred_collections_keep_their_path_and_scope() -> None:
    now = {"/pets": {"7": {"id": 7}}, "/v1/{name}:run:projects%2Fp1": {"r1": {"id": "r1"}}}

    found = diff_service(World(), KINDS, {}, now)

    assert _entries(found)["created"] == [("/pets", "7"), ("/v1/{name}:run", "projects/p1#r1")]


def test_the_whole_diff_sums_every_service() -> None:
    now = {"github": {ISSUES: {"3": {"n": 3}}}, "slack": {"message:C1": {"1.0": {"text": "hi"}}}}

    found = diff(
        {"github": WORLD, "slack": World()}, {"github": KINDS, "slack": ("message",)}, {}, now
    )

    assert found["summary"] == {"created": 2, "changed": 0, "deleted": 0}
    assert _entries(found["services"]["slack"])["created"] == [("messages", "C1#1.0")]


@pytest.mark.parametrize(
    ("noun", "plural_form"),
    [("issue", "issues"), ("branch", "branches"), ("reply", "replies"), ("day", "days"),
     ("address", "addresses"), ("pets", "pets"), ("file_change", "file_changes")],
)  # fmt: skip
def test_kinds_are_shown_plural(noun: str, plural_form: str) -> None:
    assert plural(noun) == plural_form
