"""Per-sandbox stubs: the user's `mock_responses` and a template's rendered fixtures."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from doppel.engine.model import (
    MockRequest,
    RequestPattern,
    ResponseDefinition,
    StubMapping,
)
from doppel.engine.refs import escape
from doppel.errors import ConfigError, FieldError

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_FULL_FORM_KEYS = frozenset({"status", "headers", "body"})
_FIXTURE_KEYS = frozenset({"status", "headers", "body", "echo"})
_PARAM = re.compile(r"\{[^{}/]+\}")


def stubs_from_mock_responses(
    mock_responses: Mapping[str, Any], pointer: str = ""
) -> list[StubMapping]:
    """`{"/me": {...}, "POST /files/X/comments": {"status": 201, "body": {...}}}` as stubs.

    A value is the fuller form when it is an object of only `status`/`headers`/`body` with an
    integer `status` or a `body`; anything else is a JSON body served with status 200.
    """
    stubs: list[StubMapping] = []
    errors: list[FieldError] = []
    for key, value in mock_responses.items():
        here = f"{pointer}/{escape(key)}"
        method, _, path = key.partition(" ") if " " in key else (None, "", key)
        if method is not None and method.upper() not in METHODS:
            errors.append(FieldError(here, f"unknown HTTP method {method!r}"))
            continue
        if not path.startswith("/"):
            errors.append(FieldError(here, "a key is a path ('/me') or 'METHOD /path'"))
            continue
        try:
            response = (
                _definition(value, here) if _is_full_form(value) else ResponseDefinition(body=value)
            )
        except ConfigError as exc:
            errors.extend(exc.errors)
            continue
        pattern = RequestPattern(path=path, method=method.upper() if method else None)
        stubs.append(StubMapping(pattern, response, "override"))
    if errors:
        raise ConfigError("mock_responses has invalid entries", errors=errors)
    return stubs


def stubs_from_fixtures(items: Any, pointer: str = "") -> list[StubMapping]:
    """A template's rendered fixtures: `[{request: {method?, path, params?}, response: {...}}]`."""
    if not isinstance(items, list):
        raise ConfigError("fixtures must render to a list of stubs", pointer=pointer)
    stubs = []
    for i, item in enumerate(items):
        here = f"{pointer}/{i}"
        request = item.get("request") if isinstance(item, Mapping) else None
        if not isinstance(request, Mapping) or not str(request.get("path", "")).startswith("/"):
            raise ConfigError("a fixture needs request.path starting with '/'", pointer=here)
        method = request.get("method")
        params = request.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError("request.params must be an object", pointer=f"{here}/request/params")
        pattern = RequestPattern(
            path=str(request["path"]),
            method=str(method).upper() if method else None,
            params=dict(params),
        )
        response = _definition(item.get("response") or {}, f"{here}/response")
        stubs.append(StubMapping(pattern, response, "fixture"))
    return stubs


def _is_full_form(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and set(value) <= _FULL_FORM_KEYS
        and (isinstance(value.get("status"), int) or "body" in value)
    )


def _definition(value: Any, pointer: str) -> ResponseDefinition:
    if not isinstance(value, Mapping):
        raise ConfigError("a response must be an object", pointer=pointer)
    status = value.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ConfigError("status must be an integer from 100 to 599", pointer=f"{pointer}/status")
    headers = value.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in headers.items()
    ):
        raise ConfigError("headers must map names to strings", pointer=f"{pointer}/headers")
    echo = value.get("echo", False)
    if not isinstance(echo, bool):
        raise ConfigError("echo must be true or false", pointer=f"{pointer}/echo")
    return ResponseDefinition(
        status=status,
        headers={k: str(v) for k, v in headers.items()},
        body=value.get("body"),
        echo=echo,
    )


def encode_response(definition: ResponseDefinition, value: Any) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names, a content type) and body bytes for a stub's answer."""
    headers = {k.lower(): v for k, v in definition.headers.items()}
    if isinstance(value, str) and "json" not in headers.get("content-type", "json"):
        return headers, value.encode()
    if value is None and definition.status in (204, 304):
        return headers, b""
    headers.setdefault("content-type", "application/json")
    return headers, encode_json(value)


def _prepared(stub: StubMapping) -> StubMapping:
    # Bytes are several times smaller than the parsed JSON they came from and need no work
    # per request; a write that echoes into the body parses them back (see respond).
    headers, encoded = encode_response(stub.response, stub.response.body)
    response = replace(stub.response, headers=headers, encoded=encoded, body=None)
    return replace(stub, response=response)


class StubIndex:
    """Stubs grouped by canonical path, most specific first; built once per service instance."""

    def __init__(self, stubs: Iterable[StubMapping], prefixes: Sequence[str] = ()) -> None:
        self.prefixes = tuple(prefixes)
        grouped: dict[str, list[tuple[int, int, StubMapping]]] = {}
        for order, stub in enumerate(map(_prepared, stubs)):
            rank = (0 if stub.source == "override" else 1) * 100 - stub.request.specificity
            grouped.setdefault(self.canonical(stub.request.path), []).append((rank, order, stub))
        ordered = {
            path: tuple(stub for _, _, stub in sorted(entries, key=lambda e: e[:2]))
            for path, entries in grouped.items()
        }
        self._by_path = {p: stubs for p, stubs in ordered.items() if "{" not in p}
        # `/teams/{team_id}/projects`: a stub for any value of a segment (WireMock's path template).
        self._templated = [(_template_regex(p), stubs) for p, stubs in ordered.items() if "{" in p]

    def __bool__(self) -> bool:
        return bool(self._by_path or self._templated)

    @property
    def size(self) -> int:
        """Bytes of every answer the index holds, as encoded."""
        groups = [*self._by_path.values(), *(stubs for _, stubs in self._templated)]
        return sum(len(stub.response.encoded or b"") for stubs in groups for stub in stubs)

    def canonical(self, path: str) -> str:
        path = path.rstrip("/") or "/"
        for prefix in self.prefixes:
            if path.startswith(prefix + "/"):
                return path[len(prefix) :]
        return path

    def find(self, request: MockRequest) -> StubMapping | None:
        path = self.canonical(request.path)
        found = self._pick(self._by_path.get(path, ()), request)
        if found is None:
            for pattern, stubs in self._templated:
                if pattern.match(path) and (found := self._pick(stubs, request)) is not None:
                    break
        return found

    @staticmethod
    def _pick(candidates: Sequence[StubMapping], request: MockRequest) -> StubMapping | None:
        if not candidates:
            return None
        params = request.params() if any(s.request.params for s in candidates) else {}
        return next((s for s in candidates if s.request.matches(request, params)), None)


def _template_regex(path: str) -> re.Pattern[str]:
    return re.compile("^" + "[^/]+".join(re.escape(part) for part in _PARAM.split(path)) + "$")


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
