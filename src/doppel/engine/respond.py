"""The pure mock pipeline: (compiled spec, request, context) → response and match report.

Errors take the provider's shape where the template or the spec declares one.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from doppel.engine.actions import Answer, Refusal, act
from doppel.engine.aliases import served_path
from doppel.engine.bodies import WRITES, answer_body, declared_headers, echo
from doppel.engine.compile import CompiledSpec, Operation
from doppel.engine.context import MockContext
from doppel.engine.expressions import MISSING
from doppel.engine.model import (
    MalformedBody,
    MatchReport,
    MockRequest,
    MockResponse,
    Source,
    StateChange,
    StubMapping,
    parse_json,
)
from doppel.engine.negotiate import (
    Preferences,
    choose_media_type,
    choose_status,
    parse_prefer,
    status_number,
)
from doppel.engine.problems import check, error, no_route, refuse
from doppel.engine.rewrite import finish
from doppel.engine.stream import events, stream_headers, wants_stream
from doppel.engine.stubs import encode_json, encode_response
from doppel.engine.world import View


def respond(
    spec: CompiledSpec, request: MockRequest, context: MockContext
) -> tuple[MockResponse, MatchReport]:
    """Answer one request. Pure: same inputs (seed, clock and state included), same bytes.

    Precedence: the sandbox's overrides; credentials and request checks as the provider
    makes them; the template's fixtures; the world (what the service holds and what the
    agent changed); the spec's example; data generated from the schema.
    """
    prefer = parse_prefer(request.headers.get("prefer", ""))
    request = _as_json(spec, request)
    found, allowed = _route(spec, request)
    stub = context.stubs.find(request) if context.stubs else None
    if stub is not None and stub.source == "override":
        return _from_stub(spec, request, context, stub, found)
    if found is None and stub is None and not allowed and spec.declarations.aliases:
        served = served_path(spec, View(context.world, context.state), request.path)
        if served is not None:  # another address of a path the spec has (`aliases`)
            request = replace(request, path=served)
            found, allowed = _route(spec, request)
    if found is None:
        if stub is not None:
            return _from_stub(spec, request, context, stub, found)
        return no_route(spec, request, context, allowed)
    op, path_params = found
    refused = check(spec, request, context, op, path_params)
    if refused is not None:
        return refused
    if stub is not None:
        return _from_stub(spec, request, context, stub, found)
    key = choose_status(op.responses, prefer.code)
    # Prism's Prefer asks for the spec's own data (an example, generated, an error status):
    # then the world stands aside.
    asks_spec = prefer.example is not None or prefer.dynamic
    if not asks_spec and (prefer.code is None or (key is not None and key.startswith("2"))):
        outcome, changes = act(spec, op, request, context, path_params, key)
        if isinstance(outcome, Answer):
            return _from_answer(spec, request, context, op, outcome, changes)
        if isinstance(outcome, Refusal):
            return refuse(spec, request, context, op, outcome)
    return _from_operation(spec, request, context, op, prefer)


def _as_json(spec: CompiledSpec, request: MockRequest) -> MockRequest:
    """A body the provider reads as JSON whatever its label (`json_bodies`), labelled JSON
    where it parses as JSON."""
    labels = spec.declarations.json_bodies
    media = request.media_type
    if not labels or not request.body or media.endswith("json"):
        return request
    if media not in labels and "*/*" not in labels:
        return request
    try:
        parse_json(request.body)
    except MalformedBody:
        return request
    return replace(request, headers={**request.headers, "content-type": "application/json"})


def _from_answer(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    op: Operation,
    answer: Answer,
    changes: tuple[StateChange, ...],
) -> tuple[MockResponse, MatchReport]:
    key = str(answer.status)
    if key in op.responses and wants_stream(spec, op, request, key):
        return _streamed(spec, request, context, op, key, answer.body, changes)
    headers = dict(answer.headers)
    body = b""
    if answer.body is not MISSING:
        headers["content-type"] = answer.media or "application/json"
        if answer.encoded is None:
            answer.encoded = encode_json(answer.body)
        body = answer.encoded
    binding = spec.resources.bindings.get(op.pointer)
    reason = f"{binding.action} {binding.kind or ''}".strip() if binding else "world"
    report = MatchReport("world", op.operation_id, op.path, answer.status, reason, changes=changes)
    return finish(spec, request, context, answer.status, headers, body), report


def _route(
    spec: CompiledSpec, request: MockRequest
) -> tuple[tuple[Operation, dict[str, str]] | None, tuple[str, ...]]:
    """The operation for the request, or the methods its path allows (remembered per
    method and path: an agent asks for the same few paths again and again)."""
    routes = spec.cache.get("routes")
    if routes is None or len(routes) > _ROUTES_KEPT:
        routes = spec.cache["routes"] = {}
    key = (request.method, request.path)
    found: tuple[tuple[Operation, dict[str, str]] | None, tuple[str, ...]] | None
    found = routes.get(key)
    if found is None:
        found = routes[key] = _walked(spec, request)
    matched, allowed = found
    if matched is None:
        return None, allowed
    return (matched[0], dict(matched[1])), allowed  # the caller's own parameters


_ROUTES_KEPT = 10_000


def _walked(
    spec: CompiledSpec, request: MockRequest
) -> tuple[tuple[Operation, dict[str, str]] | None, tuple[str, ...]]:
    method = request.method
    allowed: tuple[str, ...] = ()
    for path in _paths(spec, request.path):
        for match in spec.router.match(path):
            op = match.values.get(method)
            if op is None and method == "HEAD":
                op = match.values.get("GET")
            if op is None and spec.rpc and method in ("GET", "POST"):
                op = match.values.get("POST" if method == "GET" else "GET")
            if op is not None:
                return (op, dict(zip(op.path_names, match.captured, strict=False))), ()
            allowed = allowed or tuple(match.values)
    return None, allowed


def _paths(spec: CompiledSpec, path: str) -> list[str]:
    """The request path as is, then without the first server URL's path prefix."""
    paths = [path]
    for prefix in spec.prefixes:
        if path == prefix or path.startswith(prefix + "/"):
            paths.append(path[len(prefix) :] or "/")
    return paths


def _from_stub(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    stub: StubMapping,
    found: tuple[Operation, dict[str, str]] | None,
) -> tuple[MockResponse, MatchReport]:
    definition = stub.response
    headers, body = dict(definition.headers), definition.encoded
    if body is None:
        headers, body = encode_response(definition, definition.body)
    if definition.echo and request.method in WRITES and "json" in headers.get("content-type", ""):
        value = json.loads(body)
        echoed = echo(value, request)
        if echoed is not value:
            body = encode_json(echoed)
    op = found[0] if found else None
    report = MatchReport(
        source=stub.source,
        operation_id=op.operation_id if op else None,
        path_template=op.path if op else None,
        status=definition.status,
        reason=f"{stub.source} for {stub.request.method or 'any method'} {stub.request.path}",
    )
    return finish(spec, request, context, definition.status, headers, body), report


def _from_operation(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    op: Operation,
    prefer: Preferences,
) -> tuple[MockResponse, MatchReport]:
    key = choose_status(op.responses, prefer.code)
    if key is None:
        if prefer.code is not None:
            declared = ", ".join(op.responses) or "none"
            return error(
                spec,
                request,
                context,
                "not_acceptable",
                422,
                f"Prefer asked for code={prefer.code}, but {op.operation_id} declares {declared}",
                op,
            )
        # An operation with no responses at all: an honest empty success.
        report = MatchReport("generated", op.operation_id, op.path, 204, "no responses declared")
        return finish(spec, request, context, 204, {}, b""), report
    status = status_number(key)
    response = op.responses[key]
    if wants_stream(spec, op, request, key):
        return _streamed(spec, request, context, op, key)
    content = response.get("content") or {}
    media = choose_media_type(content, request.headers.get("accept", "*/*"))
    headers = declared_headers(spec, response, context, op, key)
    notes: tuple[str, ...] = ()
    source: Source
    if media is None or status in (204, 304):
        body, source = b"", "example"  # the declared empty answer is the spec's own
    else:
        headers["content-type"] = media
        body, source, notes = answer_body(spec, request, context, op, key, media, prefer)
    report = MatchReport(
        source, op.operation_id, op.path, status, f"{op.method} {op.path}", notes=notes
    )
    return finish(spec, request, context, status, headers, body), report


def _streamed(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    op: Operation,
    key: str,
    whole: Any = MISSING,
    changes: tuple[StateChange, ...] = (),
) -> tuple[MockResponse, MatchReport]:
    """Server-sent events: `whole`, the answer the world gave (with the `changes` it made:
    a completion's id advances its sequence), told piece by piece where the template says
    how; else events generated from the schema."""
    status = status_number(key)
    chunks = events(spec, context, op, key, request, whole)
    source: Source = "generated" if whole is MISSING else "world"
    report = MatchReport(source, op.operation_id, op.path, status, "event stream", changes=changes)
    streamed = finish(spec, request, context, status, dict(stream_headers()), b"".join(chunks))
    return MockResponse(status, streamed.headers, streamed.body, chunks), report
