"""What a sandbox's services created, changed and deleted between two states: pure.

A service's state is its changes over the template's world (collection → key → value,
`None` once deleted), so an item's value at any moment is the state's entry, else the
world's. A diff compares two such moments item by item and names each item the way the user
knows it: the resource (`issues`, or an inferred collection's path such as `/pets`) and its
key, prefixed by its scope (`acme/rocket#7`). Each change carries an RFC 6902 JSON Patch.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import jsonpatch

from doppel.engine.world import SEQUENCES, State, World, scope_of

Snapshot = Mapping[str, State]  # service → its state
_ABSENT = object()


def diff_service(world: World, kinds: Collection[str], base: State, now: State) -> dict[str, Any]:
    """`{"created": [...], "changed": [...], "deleted": [...]}` from `base` to `now`, both
    over `world`; `kinds` are the service's resource kinds (collection ids start with one)."""
    created: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    deleted: list[dict[str, Any]] = []
    for collection in dict.fromkeys([*base, *now]):
        if collection.startswith(SEQUENCES):
            continue  # id counters: how the service numbers things, not a resource
        resource, scope = _named(collection, kinds)
        before_members = base.get(collection, {})
        after_members = now.get(collection, {})
        for key in dict.fromkeys([*before_members, *after_members]):
            original = _world_item(world, collection, key)
            before = _present(before_members[key]) if key in before_members else original
            after = _present(after_members[key]) if key in after_members else original
            if before == after:
                continue
            entry: dict[str, Any] = {"resource": resource, "key": _key(scope, key)}
            if before is _ABSENT:
                created.append({**entry, "after": after})
            elif after is _ABSENT:
                deleted.append({**entry, "before": before})
            else:
                patch = _patch(before, after)
                changed.append({**entry, "before": before, "after": after, "patch": patch})
    return {"created": created, "changed": changed, "deleted": deleted}


def diff(
    worlds: Mapping[str, World],
    kinds: Mapping[str, Collection[str]],
    base: Snapshot,
    now: Snapshot,
) -> dict[str, Any]:
    """Every service's diff (by service name, as `worlds` orders them) and the totals."""
    services = {
        name: diff_service(world, kinds.get(name, ()), base.get(name, {}), now.get(name, {}))
        for name, world in worlds.items()
    }
    summary = {
        what: sum(len(found[what]) for found in services.values())
        for what in ("created", "changed", "deleted")
    }
    return {"summary": summary, "services": services}


def _patch(before: Any, after: Any) -> list[dict[str, Any]]:
    """The JSON Patch from `before` to `after`. An item changes a few of its fields: jsonpatch
    is given only those (each op's path stays whole), which makes it several times faster."""
    if isinstance(before, dict) and isinstance(after, dict):
        differ = [k for k in {**before, **after} if before.get(k, _ABSENT) != after.get(k, _ABSENT)]
        before = {k: before[k] for k in differ if k in before}
        after = {k: after[k] for k in differ if k in after}
    ops: list[dict[str, Any]] = jsonpatch.make_patch(before, after).patch
    return ops


def _present(value: Any) -> Any:
    return _ABSENT if value is None else value  # None in a state: deleted


def _world_item(world: World, collection: str, key: str) -> Any:
    encoded = world.items.get(collection, {}).get(key)
    return _ABSENT if encoded is None else json.loads(encoded)


def _named(collection: str, kinds: Collection[str]) -> tuple[str, tuple[str, ...]]:
    """(resource name, scope) of a collection id: `issue:acme/rocket` → ("issues", ("acme",
    "rocket")). The longest kind the id starts with wins (an inferred kind is a path, which
    may hold a colon); declared kinds are nouns, shown plural as the APIs show them."""
    kind = max(
        (k for k in kinds if collection == k or collection.startswith(k + ":")),
        key=len,
        default=collection.partition(":")[0],
    )
    scope = scope_of(":" + collection[len(kind) + 1 :]) if len(collection) > len(kind) else ()
    return (kind if kind.startswith("/") else plural(kind)), scope


def _key(scope: tuple[str, ...], key: str) -> str:
    return "/".join(scope) + "#" + key if scope else key


def plural(noun: str) -> str:
    """`issue` → `issues`, `branch` → `branches`, `reply` → `replies` (English, regular);
    a name ending in one `s` is taken as plural already."""
    if noun.endswith(("ss", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("s"):
        return noun
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    return noun + "s"
