"""The pure mock pipeline: (compiled spec, request, context) → response and match report.

Precedence: a per-sandbox override, then a template fixture, then a spec example, then data
generated from the schema. Errors take the provider's shape where the spec declares one.
"""

from __future__ import annotations

import json
from dataclasses import replace

from doppel.engine.bodies import WRITES, answer_body, declared_headers, echo, is_json, schema_at
from doppel.engine.compile import CompiledSpec, Operation
from doppel.engine.context import MockContext
from doppel.engine.model import MatchReport, MockRequest, MockResponse, Source, StubMapping
from doppel.engine.negotiate import (
    Preferences,
    choose_media_type,
    choose_status,
    parse_prefer,
    status_number,
)
from doppel.engine.problems import check, error, no_route
from doppel.engine.rewrite import finish
from doppel.engine.state import apply, apply_rule, decode, touches
from doppel.engine.stubs import encode_json, encode_response
from doppel.engine.validate import schema_errors


def respond(
    spec: CompiledSpec, request: MockRequest, context: MockContext
) -> tuple[MockResponse, MatchReport]:
    """Answer one request. Pure: same inputs (seed and `now` included), same bytes."""
    prefer = parse_prefer(request.headers.get("prefer", ""))
    found, allowed = _route(spec, request)
    if found is not None and (context.enforce_auth or context.validate_requests):
        refused = check(spec, request, context, *found)
        if refused is not None:
            return refused

    stub = context.stubs.find(request) if context.stubs else None
    if stub is not None:
        answered = _from_stub(spec, request, context, stub, found)
    elif found is None:
        return no_route(spec, request, context, allowed)
    else:
        answered = _from_operation(spec, request, context, found[0], prefer)
    if found is not None and (found[0].pointer in spec.resources or found[0].path in spec.rules):
        return _stateful(spec, request, context, found, *answered, checked=stub is None)
    return answered


def _stateful(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    found: tuple[Operation, dict[str, str]],
    response: MockResponse,
    report: MatchReport,
    *,
    checked: bool,
) -> tuple[MockResponse, MatchReport]:
    """What earlier requests created, changed or deleted shows in this answer (state.py).

    A body from state replaces the spec's only when it still fits the operation's schema
    (`checked`); an override's or fixture's answer is the user's to shape.
    """
    op, path_params = found
    resource = spec.resources.get(op.pointer)
    rules = spec.rules.get(op.path, ())
    if not context.state and not rules and (resource is None or resource.kind != "create"):
        return response, report  # a fresh sandbox: nothing stored that could show
    media = (response.header("content-type") or "").split(";")[0].strip()
    deleting = resource is not None and resource.kind == "delete"
    if (
        not 200 <= response.status < 300
        or (not deleting and not is_json(media))
        or not touches(resource, rules, context.state, path_params, request)
    ):
        return response, report
    answer = decode(response.body) if response.body else None
    outcomes = [apply_rule(rule, context.state, request, answer) for rule in rules]
    if resource is not None:
        outcomes.append(apply(resource, context.state, path_params, request, answer))
    outcome = next((o for o in outcomes if o is not None), None)
    if outcome is None:
        return response, report
    if outcome.gone:
        detail = f"{request.path} was deleted earlier in this sandbox"
        return error(spec, request, context, "not_found", 404, detail, op)
    body, source = response.body, report.source
    if outcome.body is not None and outcome.body != answer:
        at = schema_at(op, response.status, media)
        if checked and at is not None and schema_errors(spec, at, outcome.body):
            note = "the sandbox's stored resources do not fit this answer's schema; not shown"
            return response, replace(report, notes=(*report.notes, note))
        body = encode_json(outcome.body)
        source = "state" if outcome.read else source
    return (
        MockResponse(response.status, response.headers, body),
        replace(report, source=source, changes=outcome.changes),
    )


def _route(
    spec: CompiledSpec, request: MockRequest
) -> tuple[tuple[Operation, dict[str, str]] | None, tuple[str, ...]]:
    """The operation for the request, or the methods its path allows."""
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
