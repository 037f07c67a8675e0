"""Items held inside other items: a tree whose nodes list their own nodes in one member
(a document whose pages hold frames, whose frames hold text), searched by key at any depth
and shown to a depth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from doppel.engine.expressions import MISSING, same


def find_in_tree(roots: Any, nested: str | None, fields: Sequence[str], key: str) -> Any:
    """The first node, depth first in document order, one of whose `fields` is `key`;
    None when there is none. Without `nested`, only the roots themselves are searched."""
    stack = list(reversed(roots)) if isinstance(roots, list) else [roots]
    while stack:
        node = stack.pop()
        if not isinstance(node, Mapping):
            continue
        if any(name in node and same(node[name], key) for name in fields):
            return node
        children = node.get(nested) if nested else None
        if isinstance(children, list):
            stack.extend(reversed(children))
    return None


def levels(value: Any) -> int | None:
    """A depth as a request gives it (`2`, `"2"`, `2.0`): a whole number of levels at
    least 0, else None (no limit)."""
    if value is MISSING or value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number < 0 or number == float("inf"):
        return None
    return int(number)


def pruned(node: Any, nested: str, depth: int) -> Any:
    """`node` with `depth` levels of its tree below it: each node at the last level kept
    has its `nested` member emptied (the member stays, as schemas that require it say)."""
    if not isinstance(node, Mapping):
        return node
    children = node.get(nested)
    if not isinstance(children, list):
        return node
    out = dict(node)
    out[nested] = [] if depth <= 0 else [pruned(child, nested, depth - 1) for child in children]
    return out


__all__ = ["find_in_tree", "levels", "pruned"]
