"""A path-template trie compiled once per spec.

Matching walks one request path segment by segment, literal segments first, then mixed
segments (`{Sid}.json`, `{base}...{head}`), then whole-segment parameters, then parameters that
span segments (GitHub's `x-multi-segment`). Nothing is sorted or scanned per request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")
_PARAM = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True, slots=True)
class Segment:
    """One templated path segment: a whole parameter, a pattern with literal parts, or multi."""

    key: str
    names: tuple[str, ...]
    regex: re.Pattern[str] | None = None
    multi: bool = False


def parse_template(
    template: str, multi_segment: frozenset[str] = frozenset()
) -> list[str | Segment]:
    parts: list[str | Segment] = []
    for raw in split_path(template, decode=False):
        names = tuple(_PARAM.findall(raw))
        if not names:
            parts.append(raw)
        elif raw == "{" + names[0] + "}" and len(names) == 1:
            multi = names[0] in multi_segment
            parts.append(Segment("**" if multi else "*", names, multi=multi))
        else:
            pieces = _PARAM.split(raw)  # literal, name, literal, name, literal
            pattern = "".join(re.escape(p) if i % 2 == 0 else "(.+?)" for i, p in enumerate(pieces))
            key = "".join(p if i % 2 == 0 else "{}" for i, p in enumerate(pieces))
            parts.append(Segment(key, names, re.compile(f"^{pattern}$")))
    return parts


def split_path(path: str, *, decode: bool = True) -> list[str]:
    segments = [s for s in path.split("/") if s]
    return [unquote(s) for s in segments] if decode else segments


@dataclass
class _Node(Generic[T]):
    literals: dict[str, _Node[T]] = field(default_factory=dict)
    patterns: dict[str, tuple[Segment, _Node[T]]] = field(default_factory=dict)
    param: _Node[T] | None = None
    multi: _Node[T] | None = None
    values: dict[str, T] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RouteMatch(Generic[T]):
    """A path that matched: the values stored there by method, and the captured parameters."""

    values: Mapping[str, T]
    captured: tuple[str, ...]


class Router(Generic[T]):
    """Maps (method, path) to a value; add() at compile time, then only match()."""

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()

    def add(
        self, template: str, method: str, value: T, multi: frozenset[str] = frozenset()
    ) -> None:
        node = self._root
        for part in parse_template(template, multi):
            if isinstance(part, str):
                node = node.literals.setdefault(part, _Node())
            elif part.multi:
                node.multi = node.multi or _Node()
                node = node.multi
            elif part.regex is None:
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.patterns.setdefault(part.key, (part, _Node()))[1]
        node.values.setdefault(method, value)

    def match(self, path: str) -> Iterator[RouteMatch[T]]:
        """Every template the path fits, most specific first."""
        yield from self._walk(self._root, split_path(path), 0, ())

    def _walk(
        self, node: _Node[T], segments: list[str], i: int, captured: tuple[str, ...]
    ) -> Iterator[RouteMatch[T]]:
        if i == len(segments):
            if node.values:
                yield RouteMatch(node.values, captured)
            return
        segment = segments[i]
        child = node.literals.get(segment)
        if child is not None:
            yield from self._walk(child, segments, i + 1, captured)
        for part, sub in node.patterns.values():
            assert part.regex is not None
            found = part.regex.match(segment)
            if found:
                yield from self._walk(sub, segments, i + 1, captured + found.groups())
        if node.param is not None:
            yield from self._walk(node.param, segments, i + 1, (*captured, segment))
        if node.multi is not None:
            # Shortest first: `/branches/{branch}/protection` must win over a `{branch}` that
            # swallows "main/protection"; a longer span is tried when nothing else fits.
            for end in range(i + 1, len(segments) + 1):
                joined = "/".join(segments[i:end])
                yield from self._walk(node.multi, segments, end, (*captured, joined))

    def entries(self) -> Iterator[tuple[str, T]]:
        """Every (method, value) stored, for near-miss reports."""
        stack = [self._root]
        while stack:
            node = stack.pop()
            yield from node.values.items()
            stack.extend(node.literals.values())
            stack.extend(child for _, child in node.patterns.values())
            stack.extend(n for n in (node.param, node.multi) if n is not None)
