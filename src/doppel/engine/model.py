"""Plain values the engine takes and returns: requests, responses, stubs and match reports."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote_to_bytes

JSON = Any
# Deeper than any provider's payload, and shallow enough for the engine's recursive walks
# (validation, state, templates) to stay far from Python's recursion limit.
MAX_JSON_DEPTH = 64
_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


class MalformedBody(ValueError):
    """A body that is not what its Content-Type says; the message names why."""


def parse_json(body: bytes | str) -> JSON:
    """Strict JSON: UTF-8 text, finite numbers, at most `MAX_JSON_DEPTH` levels of nesting.
    Raises `MalformedBody` naming the reason (never `RecursionError`)."""
    try:
        value = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise MalformedBody(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"not valid UTF-8 at byte {exc.start}") from None
    except MalformedBody:
        raise
    except ValueError as exc:  # a syntax error, or an integer too long to convert
        raise MalformedBody(f"not valid JSON: {exc}") from None
    _check_tree(value)
    return value


def _no_constant(name: str) -> float:
    raise MalformedBody(f"not valid JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise MalformedBody(f"the number {text[:40]} is out of range")
    return number


def _check_tree(value: JSON) -> None:
    """Refuse nesting deeper than `MAX_JSON_DEPTH` and text no UTF-8 can hold (a lone
    `\\ud800` escape would fail later, when the state is stored); walked without recursion."""
    stack: list[tuple[JSON, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, str):
            _text(node)
        elif isinstance(node, (dict, list)):
            if level > MAX_JSON_DEPTH:
                raise MalformedBody(f"nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(node, dict):
                for key in node:
                    _text(key)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)


def _text(value: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedBody("a string holds a lone UTF-16 surrogate escape") from None


def form_problem(body: bytes) -> str | None:
    """Why a form body is not one (a `%` that escapes nothing, text that is not UTF-8)."""
    broken = _BROKEN_ESCAPE.search(body)
    if broken is not None:
        return f"broken percent-encoding at byte {broken.start()}"
    for pair in body.replace(b"+", b" ").split(b"&"):
        try:
            unquote_to_bytes(pair).decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"not valid UTF-8 once percent-decoded: {exc.reason}"
    return None


Source = Literal["override", "fixture", "world", "state", "example", "generated", "error"]


@dataclass(frozen=True, slots=True)
class MockRequest:
    """One HTTP request as the engine sees it; header names are lower case."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def json_body(self) -> JSON:
        """The body parsed as JSON, or None when it is absent or not JSON."""
        if not self.body or not (self.media_type.endswith("json") or self.media_type == ""):
            return None
        try:
            return parse_json(self.body)
        except MalformedBody:
            return None

    def body_problem(self) -> str | None:
        """Why the body is not what its Content-Type says, or None when it is (or when the
        type is one the engine does not read)."""
        if not self.body:
            return None
        if self.media_type.endswith("json"):
            try:
                parse_json(self.body)
            except MalformedBody as exc:
                return str(exc)
        elif self.media_type == "application/x-www-form-urlencoded":
            return form_problem(self.body)
        return None

    def form_body(self) -> dict[str, list[str]]:
        if self.media_type != "application/x-www-form-urlencoded" or not self.body:
            return {}
        return parse_qs(self.body.decode("latin-1"), keep_blank_values=True)

    def params(self) -> dict[str, JSON]:
        """Named inputs wherever a client may put them: query string, form body, JSON object."""
        merged: dict[str, JSON] = {k: v[-1] for k, v in self.query_params().items()}
        merged.update({k: v[-1] for k, v in self.form_body().items()})
        body = self.json_body()
        if isinstance(body, dict):
            merged.update(body)
        return merged


@dataclass(frozen=True, slots=True)
class MockResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    chunks: tuple[bytes, ...] = ()  # a stream (server-sent events), sent piece by piece

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def json(self) -> JSON:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class ResponseDefinition:
    """What a stub answers (WireMock's name). `body` is any JSON value, or raw bytes."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: JSON = None
    echo: bool = False  # copy the request's matching scalar fields into the body
    encoded: bytes | None = None  # the body as sent, when prepared ahead (see StubIndex)


@dataclass(frozen=True, slots=True)
class RequestPattern:
    """Which requests a stub answers: a method (None = any), a literal path, equal params."""

    path: str
    method: str | None = None
    params: Mapping[str, JSON] = field(default_factory=dict)

    def matches(self, request: MockRequest, params: Mapping[str, JSON]) -> bool:
        if self.method is not None and self.method != request.method:
            return False
        return all(_same(params.get(k), v) for k, v in self.params.items())

    @property
    def specificity(self) -> int:
        return len(self.params) * 2 + (self.method is not None)


def _same(actual: JSON, expected: JSON) -> bool:
    # Form and query values arrive as strings; a stub may say `limit: 2`.
    return actual == expected or (
        isinstance(actual, str) and not isinstance(expected, str) and actual == json.dumps(expected)
    )


@dataclass(frozen=True, slots=True)
class StubMapping:
    """A per-sandbox rule: request pattern → response definition."""

    request: RequestPattern
    response: ResponseDefinition
    source: Literal["override", "fixture"] = "override"


@dataclass(frozen=True, slots=True)
class NearMiss:
    method: str
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class StateChange:
    """One change to a sandbox's state: a resource stored, or deleted (`value` None)."""

    collection: str
    key: str
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "key": self.key, "value": self.value}


@dataclass(frozen=True, slots=True)
class MatchReport:
    """Why the engine answered as it did: the journal's view of one exchange."""

    source: Source
    operation_id: str | None = None
    path_template: str | None = None
    status: int = 200
    reason: str = ""
    near_misses: tuple[NearMiss, ...] = ()
    notes: tuple[str, ...] = ()
    changes: tuple[StateChange, ...] = ()
