"""Answer bodies from the spec: a named or first example when it fits its schema, else data
generated from the schema (retried until it validates), cached per operation; echoes of the
request's fields into write answers; declared response headers."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from doppel.engine.compile import CompiledSpec, Operation
from doppel.engine.context import MockContext
from doppel.engine.generate import generate, type_fits
from doppel.engine.model import MockRequest, Source
from doppel.engine.negotiate import Preferences
from doppel.engine.refs import deref, escape
from doppel.engine.stubs import encode_json
from doppel.engine.validate import fits, schema_errors
from doppel.errors import FieldError

_CACHE_LIMIT = 4096
_ATTEMPTS = 12
_FRAMING = frozenset({"content-type", "content-length", "transfer-encoding", "connection"})
WRITES = frozenset({"POST", "PUT", "PATCH"})


def answer_body(
    spec: CompiledSpec,
    request: MockRequest,
    context: MockContext,
    op: Operation,
    key: str,
    media: str,
    prefer: Preferences,
) -> tuple[bytes, Source, tuple[str, ...]]:
    media_object = deref(spec.document, op.responses[key]["content"][media]) or {}
    value, body, source, notes = _cached(spec, context, op, key, media, media_object, prefer)
    if request.method in WRITES and isinstance(value, dict):
        echoed = echo(value, request, media_object.get("schema"), spec.document)
        schema_at = f"{op.response_pointers[key]}/content/{escape(media)}/schema"
        if echoed is not value and not schema_errors(spec, schema_at, echoed):
            body = encode(echoed, media)
    return body, source, notes


def answer_value(
    spec: CompiledSpec, context: MockContext, op: Operation, key: str, media: str
) -> Any:
    """The operation's answer as a value (its example when that fits, else generated data),
    shared and cached: never to be changed in place."""
    media_object = deref(spec.document, op.responses[key]["content"][media]) or {}
    return _cached(spec, context, op, key, media, media_object, _NO_PREFERENCES)[0]


_NO_PREFERENCES = Preferences()


def _cached(
    spec: CompiledSpec,
    context: MockContext,
    op: Operation,
    key: str,
    media: str,
    media_object: Mapping[str, Any],
    prefer: Preferences,
) -> tuple[Any, bytes, Source, tuple[str, ...]]:
    # Bodies depend on the instance (seed, start time): their own cache, bounded, so that
    # a thousand sandboxes do not evict what every sandbox shares (validators, templates).
    bodies: dict[Any, Any] = spec.cache.setdefault("bodies", {})
    cache_key = (op.pointer, key, media, prefer.example, prefer.dynamic, context.seed, context.now)
    cached = bodies.get(cache_key)
    if cached is None:
        cached = _render_body(spec, op, key, media, media_object, prefer, context)
        if len(bodies) >= _CACHE_LIMIT:
            bodies.pop(next(iter(bodies)))
        bodies[cache_key] = cached
    return cached


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
            broken = schema_errors(spec, schema_at, value) if has_schema and is_json(media) else []
            if not broken:
                return value, encode(value, media), "example", notes
            # The spec's own example breaks its schema: serve valid generated data instead.
            first = broken[0]
            notes += (
                f"the spec's example does not match its schema at {first.pointer or '/'}: "
                f"{first.detail[:200]}; served generated data",
            )
    value, broken = generated(spec, context, op, key, media, media_object, prefer, schema_at)
    if broken:
        notes += (
            f"generated data misses its schema at {broken[0].pointer or '/'}: "
            f"{broken[0].detail[:200]}",
        )
    return value, encode(value, media), "generated", notes


def generated(
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
    checked = "schema" in media_object and is_json(media)
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


def is_json(media: str) -> bool:
    base = media.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def encode(value: Any, media: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str) and "json" not in media:
        return value.encode()
    return encode_json(value)


def echo(
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


def declared_headers(
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


def schema_at(op: Operation, status: int, media: str) -> str | None:
    """The JSON pointer of the schema an answer with `status` and `media` is declared with."""
    responses = op.responses
    key = next((k for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses), None)
    content = (responses[key].get("content") or {}) if key is not None else {}
    declared = next((m for m in content if m.split(";")[0].strip().lower() == media.lower()), None)
    if key is None or declared is None or "schema" not in (content[declared] or {}):
        return None
    return f"{op.response_pointers[key]}/content/{escape(declared)}/schema"
