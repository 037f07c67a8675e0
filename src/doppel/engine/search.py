"""Search over a sandbox's items, GitHub style: `repo:acme/rocket is:open label:bug crash`.

Qualifiers narrow (a path that must hold the value, or named conditions such as `is:open`),
`-qualifier:value` excludes, `repo:` picks the scope, and the remaining words must each
appear in one of the declared text fields.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from doppel.engine.declarations import Kind, Search
from doppel.engine.expressions import holds, pluck, render, same, text_of
from doppel.engine.lists import Entry
from doppel.engine.world import scope_of

if TYPE_CHECKING:
    from doppel.engine.actions import _Turn


def parse_query(text: str) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """(qualifiers as (name, value, negated), words)."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    qualifiers: list[tuple[str, str, bool]] = []
    words: list[str] = []
    for token in tokens:
        name, colon, value = token.partition(":")
        negated = name.startswith("-")
        name = name.lstrip("-")
        if colon and name and value:
            qualifiers.append((name.lower(), value, negated))
        elif token:
            words.append(token)
    return qualifiers, words


def search_entries(
    turn: _Turn, kind_name: str, kind: Kind, search: Search, view: str | None
) -> list[Entry]:
    """Matching items across the kind's scopes, each shown (computed) in its own scope."""
    raw = turn.inputs.get(search.param)
    qualifiers, words = parse_query(raw if isinstance(raw, str) else "")
    scope: dict[str, str] = {}
    for name, value, negated in qualifiers:
        names = search.scope.get(name)
        if names is not None and not negated:
            scope.update(zip(names, value.split("/", len(names) - 1), strict=False))
    scopes: list[tuple[str, ...]]
    if kind.scope and all(var in scope for var in kind.scope):
        scopes = [tuple(scope[var] for var in kind.scope)]
    elif kind.scope:
        scopes = [scope_of(c) for c in turn.view.collections(kind_name + ":")]
    else:
        scopes = [()]
    entries: list[Entry] = [
        (key, turn.computed(kind_name, item, where, view))
        for where in scopes
        for key, item in turn.entries(kind_name, where)
    ]
    extra = dict(search.extra)
    out: list[Entry] = []
    for key, item in entries:
        if not all(
            _qualifies(search, name, value, negated, item, turn)
            for name, value, negated in qualifiers
        ):
            continue
        if not all(_mentions(search, word, item) for word in words):
            continue
        shown = {**item, **render(extra, turn.env.child(item=item))}
        out.append((key, shown))
    return out


def _qualifies(
    search: Search, name: str, value: str, negated: bool, item: Any, turn: _Turn
) -> bool:
    if name in search.scope:
        return True
    rule = search.qualifiers.get(name)
    if rule is None:
        return True  # a qualifier the template does not model narrows nothing
    if isinstance(rule, dict):
        condition = rule.get(value.lower())
        result = True if condition is None else holds(condition, item, turn.env)
    else:
        paths = rule if isinstance(rule, list) else [rule]
        result = any(
            same(v, value) or text_of(v).lower() == value.lower()
            for p in paths
            for v in pluck(item, p)
        )
    return result != negated


def _mentions(search: Search, word: str, item: Any) -> bool:
    lowered = word.lower()
    return any(lowered in text_of(v).lower() for path in search.words for v in pluck(item, path))
