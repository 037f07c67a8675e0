"""Refusals and misses in the provider's own words: the template's error shapes, else the
error responses the operation declares, else problem+json; each names the real cause."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from doppel.engine.actions import Refusal
from doppel.engine.auth import check_credentials
from doppel.engine.bodies import encode, generated
from doppel.engine.compile import CompiledSpec, Operation
from doppel.engine.context import MockContext
from doppel.engine.declarations import ErrorShape
from doppel.engine.expressions import Env, render
from doppel.engine.model import MatchReport, MockRequest, MockResponse, NearMiss
from doppel.engine.negotiate import Preferences, choose_media_type
from doppel.engine.refs import deref, escape
from doppel.engine.rewrite import finish
from doppel.engine.stubs import encode_json
from doppel.engine.validate import request_errors, schema_errors
from doppel.errors import FieldError

_JSON = "application/json"
_PROBLEM = "application/problem+json"
_TITLES = {401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}


def check(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    op: Operation,
    path_params: dict[str, str],
) -> tuple[MockResponse, MatchReport] | None:
    """Credentials, then the request against the spec, when the sandbox asks for either."""
    failure = check_credentials(spec, op, request, context)
    if failure is not None:
        status = 401
        return error(spec, request, context, failure.kind, status, failure.detail, op)
    malformed = request.body_problem()
    if malformed is not None:  # refused whether or not the sandbox validates: nothing to read
        errors = [FieldError("/body", malformed)]
        detail = f"/body: {malformed}"
        return error(spec, request, context, "unreadable", 400, detail, op, errors)
    binding = spec.resources.bindings.get(op.pointer)
    validating = context.validate_requests
    if binding is not None and binding.validate_requests is not None:
        validating = validating and binding.validate_requests
    if validating:
        errors = [
            e for e in request_errors(spec, op, request, path_params) if not _credential(spec, e)
        ]
        if errors:
            detail = "; ".join(f"{e.pointer}: {e.detail}" for e in errors)
            kind = spec.resources.kinds.get(binding.kind or "") if binding else None
            resource = (kind.title if kind else None) or None
            return error(
                spec, request, context, "invalid_request", 422, detail, op, errors,
                resource=resource,
            )  # fmt: skip
    return None


def _credential(spec: CompiledSpec, error: FieldError) -> bool:
    """A missing parameter that the template names as a credential (Slack's `token`, which
    its description requires in every method): the token may travel elsewhere (the
    `Authorization` header), and whether one came is the credentials check's to judge."""
    declared = spec.declarations.auth
    if declared is None or error.code != "missing":
        return False
    names = {place.param for place in declared.credentials if place.param}
    return _field_of(error.pointer) in names and error.pointer.count("/") == 2


def refuse(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    op: Operation,
    refusal: Refusal,
) -> tuple[MockResponse, MatchReport]:
    """A refusal of the world (not found, conflict, a failed requirement) as an error."""
    status = refusal.status or _STATUSES.get(refusal.kind, 400)
    return error(
        spec,
        request,
        context,
        refusal.kind,
        status,
        refusal.detail,
        op,
        refusal.errors,
        code=refusal.code,
        resource=refusal.resource,
        field=refusal.field,
        sent=refusal.value,
    )


_STATUSES = {
    "not_found": 404,
    "refused": 422,
    "unauthorized": 401,
    "bad_credentials": 401,
    "invalid_request": 422,
    "conflict": 409,
    "forbidden": 403,
    "method_not_allowed": 405,
    "not_acceptable": 422,
}
# Declared responses an error may take, best first, when the template names no error shape.
_ERROR_KEYS = {
    "unauthorized": ("401", "403", "4XX", "default", "404"),
    "bad_credentials": ("401", "403", "4XX", "default", "404"),
    "forbidden": ("403", "401", "4XX", "default"),
    "invalid_request": ("400", "422", "4XX", "default"),
    "refused": ("400", "422", "4XX", "default"),
    "conflict": ("409", "422", "400", "4XX", "default"),
    "not_found": ("404", "410", "4XX", "default"),  # a resource deleted in this sandbox
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
    value, _ = generated(spec, context, op, key, media, media_object, Preferences(), schema_at)
    if isinstance(value, dict):
        for name in _MESSAGE_FIELDS:
            if isinstance(value.get(name), str):
                told = {**value, name: detail}
                if not schema_errors(spec, schema_at, told):
                    value = told
                    break
    return status, {"content-type": media}, encode(value, media)


def no_route(
    spec: CompiledSpec, request: MockRequest, context: MockContext, allowed: tuple[str, ...]
) -> tuple[MockResponse, MatchReport]:
    if allowed:
        detail = f"{request.method} is not allowed on {request.path}; allowed: {', '.join(allowed)}"
        response, report = error(spec, request, context, "method_not_allowed", 405, detail, None)
        headers = (*response.headers, ("allow", ", ".join(allowed)))
        return MockResponse(response.status, headers, response.body), report
    near = _near_misses(spec, request)
    detail = f"No operation matches {request.method} {request.path}"
    if near:
        detail += "; closest: " + ", ".join(f"{m.method} {m.path}" for m in near)
    response, report = error(spec, request, context, "not_found", 404, detail, None)
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


def error(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    kind: str,
    status: int,
    detail: str,
    op: Operation | None,
    errors: Sequence[FieldError] = (),
    *,
    code: str | None = None,
    resource: str | None = None,
    field: str | None = None,
    sent: Any = None,
) -> tuple[MockResponse, MatchReport]:
    """An error in the provider's shape (the operation's or the template's `errors`), else as
    the operation declares it, else problem+json."""
    shape = _shape(spec, op, kind)
    declared = None
    value: Any = None
    if shape is not None:
        env = _error_env(shape, kind, detail, errors, code, resource, field, sent, op)
        env = env.child(path=request.path)
        value = render(shape.body, env)
        fits = shape.undeclared or op is None or _fits_declared(spec, op, shape.status, value)
        if not fits:
            shape = None  # the operation declares this status otherwise: answer as declared
    if shape is None and op is not None:
        declared = _declared_error(spec, request, context, op, kind, status, detail)
    if declared is not None:
        status, headers, body = declared
    elif shape is not None:
        status = shape.status
        body = encode_json(value)
        headers = {"content-type": _JSON, **{k.lower(): v for k, v in shape.headers.items()}}
    else:
        title = _TITLES.get(status, "Unprocessable Request")
        problem: dict[str, Any] = {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": request.path,
        }
        if errors:
            problem["errors"] = [{"pointer": e.pointer, "detail": e.detail} for e in errors]
        body = encode_json(problem)
        headers = {"content-type": _PROBLEM}
    report = MatchReport(
        "error", op.operation_id if op else None, op.path if op else None, status, detail
    )
    return finish(spec, request, context, status, headers, body), report


def _fits_declared(spec: CompiledSpec, op: Operation, status: int, value: Any) -> bool:
    """Whether the provider's error body fits what the operation declares for its status
    (or its `default`, where Slack keeps its HTTP-200 errors). A status it does not
    declare at all is the provider's to answer as it does."""
    keys = [k for k in (str(status), f"{str(status)[0]}XX") if k in op.responses]
    if not keys:
        return True
    candidates = [*keys, "default"] if "default" in op.responses else keys
    for key in candidates:
        content = op.responses[key].get("content") or {}
        if not content:
            if key != "default":
                return value is None
            continue
        media = next((m for m in content if "json" in m), None)
        if media is None or "schema" not in (content[media] or {}):
            return True
        pointer = f"{op.response_pointers[key]}/content/{escape(media)}/schema"
        problems = schema_errors(spec, pointer, value)
        # Valid under several branches of a `oneOf` is the description's ambiguity (GitHub's
        # 409 of basic-error or rule-violation error), and a code its enum does not list is
        # a gap in its list of codes (Slack's history knows no invalid_cursor): neither is
        # a misfit of the body.
        if all(_gap(p.detail) for p in problems):
            return True
    return False


def _gap(detail: str) -> bool:
    return "is valid under each of" in detail or "is not one of" in detail


def _shape(spec: CompiledSpec, op: Operation | None, kind: str) -> ErrorShape | None:
    if op is not None:
        binding = spec.resources.bindings.get(op.pointer)
        if binding is not None and kind in binding.errors:
            return binding.errors[kind]
    shape = spec.errors.get(kind)
    if shape is None and kind in _FALLBACK:
        return _shape(spec, op, _FALLBACK[kind])
    return shape


_FALLBACK = {
    "bad_credentials": "unauthorized",
    "refused": "invalid_request",
    "unreadable": "invalid_request",
}


def _error_env(
    shape: ErrorShape,
    kind: str,
    detail: str,
    errors: Sequence[FieldError],
    code: str | None,
    resource: str | None,
    field: str | None,
    sent: Any,
    op: Operation | None,
) -> Env:
    """What an error shape's placeholders read: `{detail}`, `{code}`, `{resource}`,
    `{field}`, and `{errors}` (each field error through the shape's `item`)."""
    first = shape.codes.get(errors[0].code) if errors else None  # Twilio's 21604: no `To`
    code = code or first or shape.codes.get(kind) or shape.code
    field = field or (_field_of(errors[0].pointer) if errors else None) or None
    roots: dict[str, Any] = {"detail": detail, "kind": kind}
    docs = op.docs if op is not None else None
    for name, value in (
        ("code", code),
        ("resource", resource),
        ("field", field),
        ("value", sent),
        ("docs", docs),  # the operation's own documentation page (externalDocs)
    ):
        if value is not None:
            roots[name] = value
    items = []
    for found in errors:
        name = field or _field_of(found.pointer)
        item_roots = {
            **roots,
            "pointer": found.pointer,
            "detail": found.detail,
            "code": shape.codes.get(found.code, found.code),
        }
        if name:
            item_roots["field"] = name
        template = (
            shape.item if shape.item is not None else {"pointer": "{pointer}", "detail": "{detail}"}
        )
        items.append(render(template, Env(item_roots)))
    roots["errors"] = items
    roots["messages"] = [_message(e) for e in errors] or [f"[ERROR] {detail}"]
    return Env(roots)


def _message(error: FieldError) -> str:
    """A field error in Slack's words: `[ERROR] missing required field: channel`, with
    `[json-pointer:/view]` where the member sits inside an argument (pointers start at the
    arguments, not at the query string or body they came in)."""
    parts = [p for p in error.pointer.split("/") if p]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    if error.code == "missing" and parts:
        name = parts.pop().replace("~1", "/").replace("~0", "~")
        text = f"missing required field: {name}"
    else:
        text = error.detail
    return f"[ERROR] {text}" + (f" [json-pointer:/{'/'.join(parts)}]" if parts else "")


_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _field_of(pointer: str) -> str:
    """`/body/title` → `title`: the member a field error is about."""
    parts = [p for p in pointer.split("/") if p]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return parts[0].replace("~1", "/").replace("~0", "~") if parts else ""
