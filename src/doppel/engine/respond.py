"""The pure mock pipeline: (compiled spec, request, context, now) → response and match report.

Precedence: a per-sandbox override, then a template fixture, then a spec example, then data
generated from the schema. Errors take the provider's shape where the spec declares one.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from doppel.engine.compile import CompiledSpec, Operation
from doppel.engine.generate import generate, type_fits
from doppel.engine.model import (
    MatchReport,
    MockRequest,
    MockResponse,
    NearMiss,
    Source,
    StubMapping,
)
from doppel.engine.negotiate import (
    Preferences,
    choose_media_type,
    choose_status,
    parse_prefer,
    status_number,
)
from doppel.engine.refs import deref, escape
from doppel.engine.stubs import StubIndex, encode_json, encode_response
from doppel.engine.validate import auth_error, fits, request_errors, schema_errors
from doppel.errors import FieldError

_JSON = "application/json"
_PROBLEM = "application/problem+json"
_CACHE_LIMIT = 4096
_ATTEMPTS = 12
_FRAMING = frozenset({"content-type", "content-length", "transfer-encoding", "connection"})
_WRITES = frozenset({"POST", "PUT", "PATCH"})
_TITLES = {401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}


@dataclass(frozen=True, slots=True)
class MockContext:
    """Per-instance overlay on a shared compiled spec.

    `base_url` is the mock's own origin plus any gateway mount path: rewritten upstream URLs
    lead clients back to this very mock. `now` fixes generated dates for the instance.
    """

    base_url: str = ""
    stubs: StubIndex = field(default_factory=lambda: StubIndex(()))
    seed: int = 0
    now: datetime = datetime(2026, 1, 1)
    validate_requests: bool = False
    enforce_auth: bool = False


def respond(
    spec: CompiledSpec, request: MockRequest, context: MockContext
) -> tuple[MockResponse, MatchReport]:
    """Answer one request. Pure: same inputs (seed and `now` included), same bytes."""
    prefer = parse_prefer(request.headers.get("prefer", ""))
    found, allowed = _route(spec, request)
    if found is not None and (context.enforce_auth or context.validate_requests):
        refused = _check(spec, request, context, *found)
        if refused is not None:
            return refused

    stub = context.stubs.find(request) if context.stubs else None
    if stub is not None:
        return _from_stub(spec, request, context, stub, found)
    if found is None:
        return _no_route(spec, request, context, allowed)
    return _from_operation(spec, request, context, found[0], prefer)


def _check(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    op: Operation,
    path_params: dict[str, str],
) -> tuple[MockResponse, MatchReport] | None:
    """Credentials, then the request against the spec, when the sandbox asks for either."""
    if context.enforce_auth:
        reason = auth_error(spec, op, request)
        if reason is not None:
            return _error(spec, request, context, "unauthorized", 401, reason, op)
    if context.validate_requests:
        errors = request_errors(spec, op, request, path_params)
        if errors:
            detail = "; ".join(f"{e.pointer}: {e.detail}" for e in errors)
            return _error(spec, request, context, "invalid_request", 422, detail, op, errors)
    return None


# Declared responses an error may take, best first, when the template names no error shape.
_ERROR_KEYS = {
    "unauthorized": ("401", "403", "4XX", "default", "404"),
    "invalid_request": ("400", "422", "4XX", "default"),
}
_MESSAGE_FIELDS = ("message", "detail", "error", "err", "error_description", "title", "msg")


def _declared_error(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    op: Operation,
    kind: str,
    status: int,
    detail: str,
) -> tuple[int, dict[str, str], bytes] | None:
    """An error as the operation itself declares it: its status, media type and schema, with
    the real reason in the body's message field where the schema has one."""
    # The best fitting status the operation declares; failing that any declared client
    # error (a 404 beats an undeclared 422 for a client that follows the spec).
    key = next((k for k in _ERROR_KEYS.get(kind, ()) if k in op.responses), None)
    if key is None and kind == "invalid_request":
        key = next((k for k in sorted(op.responses) if k.startswith("4") and k != "429"), None)
    if key is None:
        return None
    if key[0].isdigit() and key.isdigit():
        status = int(key)
    content = op.responses[key].get("content") or {}
    media = choose_media_type(content, request.headers.get("accept", "*/*"))
    if media is None:
        return status, {}, b""
    media_object = deref(spec.document, content[media]) or {}
    schema_at = f"{op.response_pointers[key]}/content/{escape(media)}/schema"
    value, _ = _generated(spec, context, op, key, media, media_object, Preferences(), schema_at)
    if isinstance(value, dict):
        for name in _MESSAGE_FIELDS:
            if isinstance(value.get(name), str):
                told = {**value, name: detail}
                if not schema_errors(spec, schema_at, told):
                    value = told
                    break
    return status, {"content-type": media}, _encode(value, media)


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
    if definition.echo and request.method in _WRITES and "json" in headers.get("content-type", ""):
        value = json.loads(body)
        echoed = _echo(value, request)
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
    return _finish(spec, request, context, definition.status, headers, body), report


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
            return _error(
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
        return _finish(spec, request, context, 204, {}, b""), report
    status = status_number(key)
    response = op.responses[key]
    content = response.get("content") or {}
    media = choose_media_type(content, request.headers.get("accept", "*/*"))
    headers = _declared_headers(spec, response, context, op, key)
    notes: tuple[str, ...] = ()
    source: Source
    if media is None or status in (204, 304):
        body, source = b"", "example"  # the declared empty answer is the spec's own
    else:
        headers["content-type"] = media
        body, source, notes = _body(spec, request, context, op, key, media, prefer)
    report = MatchReport(
        source, op.operation_id, op.path, status, f"{op.method} {op.path}", notes=notes
    )
    return _finish(spec, request, context, status, headers, body), report


def _body(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    op: Operation,
    key: str,
    media: str,
    prefer: Preferences,
) -> tuple[bytes, Source, tuple[str, ...]]:
    media_object = deref(spec.document, op.responses[key]["content"][media]) or {}
    cache_key = (op.pointer, key, media, prefer.example, prefer.dynamic, context.seed, context.now)
    cached = spec.cache.get(cache_key)
    if cached is None:
        cached = _render_body(spec, op, key, media, media_object, prefer, context)
        if len(spec.cache) >= _CACHE_LIMIT:
            spec.cache.pop(next(iter(spec.cache)))
        spec.cache[cache_key] = cached
    value, body, source, notes = cached
    if request.method in _WRITES and isinstance(value, dict):
        echoed = _echo(value, request, media_object.get("schema"), spec.document)
        schema_at = f"{op.response_pointers[key]}/content/{escape(media)}/schema"
        if echoed is not value and not schema_errors(spec, schema_at, echoed):
            body = _encode(echoed, media)
    return body, source, notes


def _render_body(
    spec: CompiledSpec,
    op: Operation,
    key: str,
    media: str,
    media_object: Mapping[str, Any],
    prefer: Preferences,
    context: MockContext,
) -> tuple[Any, bytes, Source, tuple[str, ...]]:
    notes: tuple[str, ...] = ()
    schema_at = f"{op.response_pointers[key]}/content/{escape(media)}/schema"
    has_schema = "schema" in media_object
    if not prefer.dynamic:
        found, value, note = _example(spec, media_object, prefer.example)
        if note:
            notes = (note,)
        if found:
            broken = schema_errors(spec, schema_at, value) if has_schema and _is_json(media) else []
            if not broken:
                return value, _encode(value, media), "example", notes
            # The spec's own example breaks its schema: serve valid generated data instead.
            first = broken[0]
            notes += (
                f"the spec's example does not match its schema at {first.pointer or '/'}: "
                f"{first.detail[:200]}; served generated data",
            )
    value, broken = _generated(spec, context, op, key, media, media_object, prefer, schema_at)
    if broken:
        notes += (
            f"generated data misses its schema at {broken[0].pointer or '/'}: "
            f"{broken[0].detail[:200]}",
        )
    return value, _encode(value, media), "generated", notes


def _generated(
    spec: CompiledSpec,
    context: MockContext,
    op: Operation,
    key: str,
    media: str,
    media_object: Mapping[str, Any],
    prefer: Preferences,
    schema_at: str,
) -> tuple[Any, list[FieldError]]:
    """Generated data that validates: a first try, then a few seeded tries at other branches.

    A `oneOf` answer must match exactly one branch; when the first draw is ambiguous (or a
    schema example deep inside misfits) other branches and plain generation are tried.
    """
    schema = media_object.get("schema", {})
    checked = "schema" in media_object and _is_json(media)
    value: Any = None
    broken: list[FieldError] = []
    for attempt in range(_ATTEMPTS):
        rng = random.Random(f"{context.seed}:{op.pointer}:{key}:{media}:{attempt or ''}")
        value = generate(
            schema,
            spec.document,
            rng,
            context.now,
            use_examples=not prefer.dynamic and attempt % 2 == 0,
            explore=attempt > 0,
            check=lambda sub, candidate: fits(spec, sub, candidate),
        )
        broken = schema_errors(spec, schema_at, value) if checked else []
        if not broken:
            break
    return value, broken


def _example(
    spec: CompiledSpec, media_object: Mapping[str, Any], name: str | None
) -> tuple[bool, Any, str]:
    examples = media_object.get("examples")
    if isinstance(examples, Mapping) and examples:
        if name is not None and name not in examples:
            return False, None, f"no example named {name!r}; choices: {', '.join(examples)}"
        chosen = deref(
            spec.document, examples[name] if name is not None else next(iter(examples.values()))
        )
        if isinstance(chosen, Mapping) and "value" in chosen:
            return True, chosen["value"], ""
    if "example" in media_object and name is None:
        return True, media_object["example"], ""
    return False, None, ""


def _is_json(media: str) -> bool:
    base = media.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _encode(value: Any, media: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str) and "json" not in media:
        return value.encode()
    return encode_json(value)


def _echo(
    value: Any, request: MockRequest, schema: Any = None, document: Mapping[str, Any] | None = None
) -> Any:
    """Write requests see their own scalar fields in the answer (a created issue keeps its title).

    Only fields the response already has, with a value of the same JSON type, are copied, so
    the body stays valid against its schema.
    """
    if not isinstance(value, dict):
        return value
    sent = request.params()
    if not sent:
        return value
    props: Mapping[str, Any] = {}
    if document is not None and isinstance(schema, Mapping):
        resolved = deref(document, schema)
        props = resolved.get("properties") or {} if isinstance(resolved, Mapping) else {}
    changed = None
    for name, new in sent.items():
        old = value.get(name)
        if name not in value or isinstance(new, (dict, list)) or type(old) is not type(new):
            continue
        sub = deref(document, props.get(name)) if document is not None else None
        if isinstance(sub, Mapping) and (
            not type_fits(new, sub.get("type")) or new not in sub.get("enum", [new])
        ):
            continue
        if old != new:
            changed = changed if changed is not None else dict(value)
            changed[name] = new
    return value if changed is None else changed


def _declared_headers(
    spec: CompiledSpec, response: Mapping[str, Any], context: MockContext, op: Operation, key: str
) -> dict[str, str]:
    """Declared response headers that have an example or are required.

    Never `Link`: a spec's example (GitHub's `<…/resource?page=2>; rel="next"`) points at
    pages this mock does not have, and SDKs that paginate (PyGithub) would follow it off the
    API. A stub may still set one.
    """
    out: dict[str, str] = {}
    for name, raw in (response.get("headers") or {}).items():
        header = deref(spec.document, raw)
        if not isinstance(header, Mapping) or name.lower() in _FRAMING or name.lower() == "link":
            continue
        schema = deref(spec.document, header.get("schema") or {})
        if "example" in header:
            value = header["example"]
        elif isinstance(schema, Mapping) and ("example" in schema or "default" in schema):
            value = schema.get("example", schema.get("default"))
        elif header.get("required"):
            rng = random.Random(f"{context.seed}:{op.pointer}:{key}:{name}")
            value = generate(schema, spec.document, rng, context.now)
        else:
            continue
        out[name.lower()] = value if isinstance(value, str) else json.dumps(value)
    return out


def _no_route(
    spec: CompiledSpec, request: MockRequest, context: MockContext, allowed: tuple[str, ...]
) -> tuple[MockResponse, MatchReport]:
    if allowed:
        detail = f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}"
        response, report = _error(spec, request, context, "method_not_allowed", 405, detail, None)
        headers = (*response.headers, ("allow", ", ".join(allowed)))
        return MockResponse(response.status, headers, response.body), report
    near = _near_misses(spec, request)
    detail = f"No operation matches {request.method} {request.path}"
    if near:
        detail += "; closest: " + ", ".join(f"{m.method} {m.path}" for m in near)
    response, report = _error(spec, request, context, "not_found", 404, detail, None)
    return response, MatchReport("error", None, None, report.status, detail, near_misses=near)


def _near_misses(spec: CompiledSpec, request: MockRequest, limit: int = 3) -> tuple[NearMiss, ...]:
    wanted = [s for s in request.path.split("/") if s]
    scored = []
    for method, op in spec.router.entries():
        template = op.path
        parts = [s for s in template.split("/") if s]
        same = sum(1 for a, b in zip(wanted, parts, strict=False) if a == b or b.startswith("{"))
        distance = abs(len(parts) - len(wanted)) + (len(parts) - same) + (method != request.method)
        scored.append((distance, method, template))
    scored.sort()
    return tuple(NearMiss(m, t, f"distance {d}") for d, m, t in scored[:limit] if d <= 3)


def _error(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    kind: str,
    status: int,
    detail: str,
    op: Operation | None,
    errors: Sequence[FieldError] = (),
) -> tuple[MockResponse, MatchReport]:
    """An error in the provider's shape (`x-doppel.errors`), else as the operation declares
    it, else problem+json."""
    shape = spec.errors.get(kind)
    listed = [{"pointer": e.pointer, "detail": e.detail} for e in errors]
    declared = None
    if not isinstance(shape, Mapping) and op is not None:
        declared = _declared_error(spec, request, context, op, kind, status, detail)
    if declared is not None:
        status, headers, body = declared
    elif isinstance(shape, Mapping):
        status = int(shape.get("status", status))
        body = encode_json(_fill(shape.get("body"), detail, listed))
        headers = {
            "content-type": _JSON,
            **{k.lower(): str(v) for k, v in (shape.get("headers") or {}).items()},
        }
    else:
        title = _TITLES.get(status, "Unprocessable Request")
        problem: dict[str, Any] = {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": request.path,
        }
        if listed:
            problem["errors"] = listed
        body = encode_json(problem)
        headers = {"content-type": _PROBLEM}
    report = MatchReport(
        "error", op.operation_id if op else None, op.path if op else None, status, detail
    )
    return _finish(spec, request, context, status, headers, body), report


def _fill(template: Any, detail: str, errors: list[dict[str, str]]) -> Any:
    """The provider's error body with `"{detail}"` and `"{errors}"` filled in."""
    if template == "{detail}":
        return detail
    if template == "{errors}":
        return errors
    if isinstance(template, Mapping):
        return {k: _fill(v, detail, errors) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, detail, errors) for v in template]
    return template


def _finish(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
) -> MockResponse:
    """Point upstream URLs at the mock itself, so SDKs that follow links stay here."""
    base = context.base_url
    if base and spec.upstreams:
        target = base.encode()
        for upstream in spec.upstreams:
            origin = upstream.encode()
            if origin in body:
                body = body.replace(origin, target)
        headers = {
            k: _rewrite(v, spec.upstreams, base) if k in ("link", "location") else v
            for k, v in headers.items()
        }
    if request.method == "HEAD":
        body = b""
    return MockResponse(status, tuple(headers.items()), body)


def _rewrite(value: str, upstreams: tuple[str, ...], base: str) -> str:
    for upstream in upstreams:
        value = value.replace(upstream, base)
    return value
