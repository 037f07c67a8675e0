"""Server-sent events generated from an operation's `text/event-stream` schema.

An operation streams when the client asks for `text/event-stream`, or sets the body flag
the template declares (OpenAI's `"stream": true`, inferred from a boolean `stream` member
of the request body). Every event is `data: <JSON>` generated from the event schema; the
events share their top-level scalars (one `id`, one `created`), echo the request's scalar
fields they have (the `model` asked for), and the stream ends the provider's way
(`data: [DONE]` where declared).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from typing import Any

from doppel.engine.bodies import answer_value, echo
from doppel.engine.compile import CompiledSpec, Operation
from doppel.engine.context import MockContext
from doppel.engine.declarations import Streaming
from doppel.engine.expressions import MISSING, Env, get_path, render
from doppel.engine.generate import generate
from doppel.engine.model import MockRequest
from doppel.engine.negotiate import choose_media_type
from doppel.engine.refs import deref
from doppel.engine.validate import fits

EVENT_STREAM = "text/event-stream"
_JSON = "application/json"
_PIECES = re.compile(r"\s*\S+")  # a word with the space before it: pieces join back whole


def wants_stream(spec: CompiledSpec, op: Operation, request: MockRequest, key: str) -> bool:
    content = op.responses[key].get("content") or {}
    if EVENT_STREAM not in content:
        return False
    accept = request.headers.get("accept", "*/*")
    if choose_media_type(content, accept) == EVENT_STREAM and EVENT_STREAM in accept:
        return True  # the client prefers the stream (Accept names it first)
    flag = (spec.declarations.streaming or Streaming()).flag
    if flag is None:
        return False
    body = request.json_body()
    return isinstance(body, dict) and body.get(flag) is True


def events(
    spec: CompiledSpec,
    context: MockContext,
    op: Operation,
    key: str,
    request: MockRequest,
    whole: Any = MISSING,
) -> tuple[bytes, ...]:
    """The stream's events: the whole answer told piece by piece where the template says
    how (`each`), else events generated from the event schema."""
    declared = spec.declarations.streaming or Streaming()
    if declared.each is not None:
        if whole is MISSING:
            whole = answer_value(spec, context, op, key, _JSON)
        return _told(declared, whole)
    media_object = deref(spec.document, op.responses[key]["content"][EVENT_STREAM]) or {}
    schema = media_object.get("schema", {})
    first: dict[str, Any] = {}
    chunks = []
    for index in range(declared.events):
        rng = random.Random(f"{context.seed}:{op.pointer}:event:{index}:{request.body!r}")
        value = generate(
            schema,
            spec.document,
            rng,
            context.at or context.now,
            check=lambda sub, candidate: fits(spec, sub, candidate),
        )
        value = echo(value, request, schema, spec.document)
        if isinstance(value, dict):
            if index == 0:
                first = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
            value = {**value, **{k: v for k, v in first.items() if k in value}}
        chunks.append(_event(value))
    if declared.done is not None:
        chunks.append(f"data: {declared.done}\n\n".encode())
    return tuple(chunks)


def _told(declared: Streaming, whole: Any) -> tuple[bytes, ...]:
    env = Env({"answer": whole})
    text = get_path(whole, declared.text) if declared.text else MISSING
    pieces = _PIECES.findall(text) if isinstance(text, str) else []
    values = [render(declared.first, env)] if declared.first is not None else []
    values += [render(declared.each, env.child(piece=piece)) for piece in pieces]
    if declared.last is not None:
        values.append(render(declared.last, env))
    chunks = [_event(value) for value in values if value is not MISSING]
    if declared.done is not None:
        chunks.append(f"data: {declared.done}\n\n".encode())
    return tuple(chunks)


def _event(value: Any) -> bytes:
    data = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return "".join(f"data: {line}\n" for line in str(data).split("\n")).encode() + b"\n"


def stream_headers() -> Mapping[str, str]:
    return {"content-type": EVENT_STREAM, "cache-control": "no-cache"}
