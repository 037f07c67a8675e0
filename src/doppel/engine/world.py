"""What a service holds: the template's world (shared, immutable) under the sandbox's changes.

Items live in collections: one per resource kind and scope (`issue:acme/rocket` holds the
issues of acme/rocket). The world stores each item as encoded JSON (several times smaller
than the parsed object, and a thousand sandboxes keep a thousand worlds); the sandbox's own
changes sit above it as plain values, `None` marking a deletion. A `View` is what one
request sees and changes; its changes come back to the dataplane, which applies them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from doppel.engine.model import StateChange

State = Mapping[str, Mapping[str, Any]]
SEQUENCES = "#seq"  # the collection that holds each sequence's last value


def collection_id(kind: str, scope: Sequence[str] = ()) -> str:
    """`issue` + ("acme", "rocket") → `issue:acme/rocket` (a `/` inside a value is escaped)."""
    if not scope:
        return kind
    return kind + ":" + "/".join(_quoted(str(part)) for part in scope)


@lru_cache(maxsize=4096)
def _quoted(part: str) -> str:
    return quote(part, safe="@:+ ")


def scope_of(collection: str) -> tuple[str, ...]:
    """The scope a collection id was made from: `issue:acme/rocket` → ("acme", "rocket")."""
    _, colon, rest = collection.partition(":")
    return tuple(unquote(part) for part in rest.split("/")) if colon else ()


@dataclass(frozen=True)
class World:
    """A service's items before the agent acts, and who the agent is (`me`)."""

    items: Mapping[str, Mapping[str, bytes]] = field(default_factory=dict)
    me: Mapping[str, Any] | None = None
    sequences: Mapping[str, Any] = field(default_factory=dict)  # where building left them

    @classmethod
    def of(
        cls,
        items: Mapping[str, Mapping[str, Any]],
        me: Mapping[str, Any] | None = None,
        sequences: Mapping[str, Any] | None = None,
    ) -> World:
        encoded = {
            collection: {key: _encode(value) for key, value in members.items()}
            for collection, members in items.items()
        }
        return cls(encoded, me, dict(sequences or {}))

    def __bool__(self) -> bool:
        return bool(self.items) or self.me is not None


EMPTY_WORLD = World()


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class View:
    """One request's view: world, then the sandbox's state, then this request's own changes."""

    def __init__(self, world: World, state: State) -> None:
        self.world = world
        self.state = state
        self._pending: dict[str, dict[str, Any]] = {}
        self.changes: list[StateChange] = []

    def lookup(self, collection: str, key: str) -> tuple[bool, Any]:
        """(whether this collection knows the key, the item or None once deleted here); the
        item is a fresh copy, free to change."""
        for layer in (self._pending, self.state):
            members = layer.get(collection)
            if members is not None and key in members:
                value = members[key]
                return True, None if value is None else _copy(value)
        encoded = self.world.items.get(collection, {}).get(key)
        return (False, None) if encoded is None else (True, json.loads(encoded))

    def peek(self, collection: str, key: str) -> tuple[bool, Any]:
        """As `lookup`, without copying what this sandbox stored: for reading only (counts,
        filters, comparisons over a whole collection, where a copy per item would make each
        write cost as much as the collection is long)."""
        for layer in (self._pending, self.state):
            members = layer.get(collection)
            if members is not None and key in members:
                return True, members[key]
        encoded = self.world.items.get(collection, {}).get(key)
        return (False, None) if encoded is None else (True, json.loads(encoded))

    def get(self, collection: str, key: str) -> Any:
        """The item (a fresh copy), or None when absent or deleted."""
        return self.lookup(collection, key)[1]

    def exists(self, collection: str, key: str) -> bool:
        for layer in (self._pending, self.state):
            members = layer.get(collection)
            if members is not None and key in members:
                return members[key] is not None
        return key in self.world.items.get(collection, {})

    def keys(self, collection: str, *, with_deleted: bool = False) -> list[str]:
        """Keys of the items, oldest first: the world's, then the ones added since (those
        deleted here too, when asked: they hide what a collection reads through to)."""
        base = self.world.items.get(collection, {})
        order = list(base)
        seen = set(order)
        for layer in (self.state, self._pending):
            for key in layer.get(collection, ()):
                if key not in seen:
                    seen.add(key)
                    order.append(key)
        return order if with_deleted else [k for k in order if self.exists(collection, k)]

    def state_items(self, collection: str) -> list[tuple[str, Any]]:
        """What this sandbox changed in a collection (None: deleted)."""
        merged = dict(self.state.get(collection, {}))
        merged.update(self._pending.get(collection, {}))
        return list(merged.items())

    def items(self, collection: str) -> list[tuple[str, Any]]:
        return [(key, self.get(collection, key)) for key in self.keys(collection)]

    def collections(self, prefix: str) -> list[str]:
        """Every collection whose id starts with `prefix` (a kind's, across its scopes)."""
        found = dict.fromkeys(c for c in self.world.items if c.startswith(prefix))
        for layer in (self.state, self._pending):
            found.update(dict.fromkeys(c for c in layer if c.startswith(prefix)))
        return list(found)

    def own_keys(self, collection: str) -> list[str]:
        """Keys changed in this sandbox (not the world's as it was), oldest first."""
        order = list(self.state.get(collection, ()))
        order += [k for k in self._pending.get(collection, ()) if k not in order]
        return order

    def put(self, collection: str, key: str, value: Any) -> None:
        self._pending.setdefault(collection, {})[key] = value
        self.changes.append(StateChange(collection, key, value))

    def delete(self, collection: str, key: str) -> None:
        self.put(collection, key, None)

    # -- sequences ---------------------------------------------------------------------------

    def sequence(self, name: str) -> Any:
        """The last value a sequence gave in this sandbox, or None before its first use."""
        for layer in (self._pending, self.state):
            members = layer.get(SEQUENCES)
            if members is not None and name in members:
                return members[name]
        return self.world.sequences.get(name)

    def advance(self, name: str, value: Any) -> None:
        self.put(SEQUENCES, name, value)


def _copy(value: Any) -> Any:
    # State values are JSON: a JSON round trip is the cheapest deep copy that cannot alias.
    if isinstance(value, dict | list):
        return json.loads(json.dumps(value))
    return value
