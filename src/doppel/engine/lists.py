"""Lists as providers serve them: filtered by query parameters, sorted, and cut into pages
that a paginating client can walk to the end.

Styles: `page` (GitHub's `per_page`/`page` with a `Link` header; Twilio's `PageSize`/`Page`
with `next_page_uri`, null on the last page), `cursor` (Slack's `limit`/`cursor` with
`response_metadata.next_cursor`, empty on the last page), `after` (Stripe's `limit`/
`starting_after`/`ending_before` with a truthful `has_more`), `offset` and `none`.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from doppel.engine.declarations import Filter, Pagination, Sort
from doppel.engine.expressions import MISSING, Env, compare, holds, pluck, same, text_of

Entry = tuple[str, Any]  # (key, item)


@dataclass
class Page:
    """One page of a list: its entries, what the answer says about the rest, and headers."""

    entries: list[Entry]
    meta: dict[str, Any] = field(default_factory=dict)  # answer path → value
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # a cursor that names nothing (Slack: invalid_cursor)
    undeclared: bool = False  # `meta` goes in even where the answer's schema has no place


# -- filters ----------------------------------------------------------------------------------


def apply_filters(
    filters: Mapping[str, Filter], entries: list[Entry], inputs: Mapping[str, Any], env: Env
) -> list[Entry]:
    for param, spec in filters.items():
        raw = inputs.get(param, MISSING)
        if raw is MISSING or raw is None or raw == "":
            raw = spec.default
        if raw is None or (spec.all is not None and same(raw, spec.all)):
            continue
        entries = [e for e in entries if _passes(spec, raw, e[1], inputs, env)]
    return entries


def _passes(spec: Filter, raw: Any, item: Any, inputs: Mapping[str, Any], env: Env) -> bool:
    if spec.when is not None:
        return not same(raw, spec.when) or holds(spec.condition or {}, item, env)
    values = _values(raw, spec.split)
    if spec.values is not None:
        known = [spec.values[v] for v in map(text_of, values) if v in spec.values]
        return not known or any(holds(c, item, env) for c in known)
    found = [v for path in spec.field for v in pluck(item, path)]
    op = spec.op
    if spec.inclusive is not None and op in ("gt", "lt") and _truthy(inputs.get(spec.inclusive)):
        op = "ge" if op == "gt" else "le"
    results = [_one(op, found, value, spec) for value in values]
    return all(results) if spec.match == "all" else any(results)


def _values(raw: Any, split: str | None) -> list[Any]:
    if isinstance(raw, list):
        return raw
    if split is not None and isinstance(raw, str):
        return [part.strip() for part in raw.split(split) if part.strip()]
    return [raw]


def _one(op: str, found: Sequence[Any], value: Any, spec: Filter) -> bool:
    if spec.none is not None and same(value, spec.none):
        return not found
    if spec.any is not None and same(value, spec.any):
        return bool(found)
    if op == "eq":
        return any(same(f, value) for f in found)
    if op == "contains":
        return any(isinstance(f, str) and text_of(value).lower() in f.lower() for f in found)
    if op == "prefix":
        return any(isinstance(f, str) and f.startswith(text_of(value)) for f in found)
    return any(compare(f, value, op) for f in found)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true"))


# -- sorting ----------------------------------------------------------------------------------


def sort_entries(
    entries: list[Entry], sort: Sort | None, order: str, inputs: Mapping[str, Any]
) -> list[Entry]:
    """Declared sort (`sort=created&direction=asc`), else the kind's order: `asc` oldest
    first as stored, `desc` newest first."""
    if sort is None or not sort.fields:
        return list(reversed(entries)) if order == "desc" else list(entries)
    wanted = inputs.get(sort.param) or sort.default
    path = sort.fields.get(text_of(wanted)) if wanted is not None else None
    if path is None:
        return list(reversed(entries)) if order == "desc" else list(entries)
    direction = inputs.get(sort.direction) if sort.direction else None
    descending = (text_of(direction).lower() if direction else sort.default_direction) == "desc"
    present = [(i, e) for i, e in enumerate(entries) if pluck(e[1], path)]
    absent = [e for e in entries if not pluck(e[1], path)]
    # Ties keep creation order, newest first when descending (items made in one second).
    present.sort(key=lambda p: (_sort_key(pluck(p[1][1], path)[0]), p[0]), reverse=descending)
    return [e for _, e in present] + absent


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value)
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, text_of(value))


# -- pages ------------------------------------------------------------------------------------


def paginate(
    style: Pagination | None,
    entries: list[Entry],
    inputs: Mapping[str, Any],
    path: str,
    query: str,
    base_url: str,
) -> Page:
    if style is None or style.style == "none":
        return Page(entries)
    page = _paged(style, entries, inputs, path, query, base_url)
    page.undeclared = style.undeclared
    return page


def _paged(
    style: Pagination,
    entries: list[Entry],
    inputs: Mapping[str, Any],
    path: str,
    query: str,
    base_url: str,
) -> Page:
    size = _size(style, inputs)
    if style.style == "page":
        return _by_page(style, entries, inputs, size, path, query, base_url)
    if style.style == "cursor":
        return _by_cursor(style, entries, inputs, size)
    if style.style == "after":
        return _by_id(style, entries, inputs, size, path)
    offset = _int(inputs.get(style.offset or ""), 0)
    return Page(entries[max(offset, 0) : max(offset, 0) + size])


def _size(style: Pagination, inputs: Mapping[str, Any]) -> int:
    size = _int(inputs.get(style.size or ""), style.default_size)
    return min(max(size, 1), style.max_size)


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return default


def _by_page(
    style: Pagination,
    entries: list[Entry],
    inputs: Mapping[str, Any],
    size: int,
    path: str,
    query: str,
    base_url: str,
) -> Page:
    first = style.first_page
    page = max(_int(inputs.get(style.page or ""), first), first)
    start = (page - first) * size
    chunk = entries[start : start + size]
    last = first + max(math.ceil(len(entries) / size), 1) - 1
    page_param = style.page or "page"

    def uri(number: int) -> str:
        pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != page_param]
        if style.size and all(k != style.size for k, _ in pairs):
            pairs.append((style.size, str(size)))
        pairs.append((page_param, str(number)))
        return f"{path}?{urlencode(pairs)}"

    result = Page(chunk)
    if style.link:
        links = []  # GitHub's order: prev, next, last, first
        if page > first:
            links.append((uri(max(min(page - 1, last), first)), "prev"))
        if page < last:
            links += [(uri(page + 1), "next"), (uri(last), "last")]
        if page > first:
            links.append((uri(first), "first"))
        if links:
            result.headers["link"] = ", ".join(f'<{base_url}{u}>; rel="{r}"' for u, r in links)
    names = style.uris
    if "next" in names:
        result.meta[names["next"]] = uri(page + 1) if page < last else None
    if "previous" in names:
        result.meta[names["previous"]] = uri(page - 1) if page > first else None
    if "first" in names:
        result.meta[names["first"]] = uri(first)
    meta = style.meta
    values = {
        "page": page,
        "page_size": size,
        "start": start,
        "end": start + max(len(chunk) - 1, 0),
        "uri": uri(page),  # the page's own address, its size and number spelled out
    }
    for name, target in meta.items():
        if name in values:
            result.meta[target] = values[name]
    if style.has_more:
        result.meta[style.has_more] = page < last
    return result


def _by_cursor(
    style: Pagination, entries: list[Entry], inputs: Mapping[str, Any], size: int
) -> Page:
    cursor = inputs.get(style.cursor or "cursor")
    start = 0
    if isinstance(cursor, str) and cursor:
        key = _decode_cursor(cursor, style.cursor_prefix)
        keys = [k for k, _ in entries]
        if key is None or key not in keys:
            return Page([], error="invalid_cursor")
        start = keys.index(key)
    chunk = entries[start : start + size]
    following = entries[start + size] if start + size < len(entries) else None
    result = Page(chunk)
    next_cursor = _encode_cursor(following[0], style.cursor_prefix) if following else ""
    if style.next_cursor and (next_cursor or style.last_cursor == "empty"):
        result.meta[style.next_cursor] = next_cursor
    if style.has_more:
        result.meta[style.has_more] = following is not None
    return result


def _encode_cursor(key: str, prefix: str) -> str:
    return base64.b64encode(f"{prefix}{key}".encode()).decode()


def _decode_cursor(cursor: str, prefix: str) -> str | None:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text[len(prefix) :] if text.startswith(prefix) else None


def _by_id(
    style: Pagination, entries: list[Entry], inputs: Mapping[str, Any], size: int, path: str
) -> Page:
    keys = [k for k, _ in entries]
    after = inputs.get(style.after or "starting_after")
    before = inputs.get(style.before or "ending_before")
    for name, cursor in ((style.after, after), (style.before, before)):
        if isinstance(cursor, str) and cursor and cursor not in keys:
            return Page([], error=f"no object {cursor!r} to page from ({name})")
    if isinstance(before, str) and before:
        end = keys.index(before) if before in keys else 0
        chunk = entries[max(end - size, 0) : end]
        more = end - size > 0
    else:
        start = keys.index(after) + 1 if isinstance(after, str) and after in keys else 0
        chunk = entries[start : start + size]
        more = start + size < len(entries)
    result = Page(chunk)
    if style.has_more:
        result.meta[style.has_more] = more
    for name, target in style.meta.items():
        if name in ("url", "uri"):
            result.meta[target] = path
    return result
