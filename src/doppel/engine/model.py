"""Plain values the engine takes and returns: requests, responses, stubs and match reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs

JSON = Any
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
            return json.loads(self.body)
        except ValueError:
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
