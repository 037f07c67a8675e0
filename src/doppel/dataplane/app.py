"""The ASGI app that carries mock traffic: (listening port or mount path) → instance → engine."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from doppel.dataplane.instance import ServiceInstance
from doppel.engine import MatchReport, MockContext, MockRequest, MockResponse, respond
from doppel.engine.world import EMPTY_WORLD

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HEALTH_PATH = "/__doppel/health"
log = logging.getLogger("doppel.dataplane")
MAX_BODY_BYTES = 16 * 1024 * 1024


class Dataplane:
    """One ASGI app for every instance in the process; instances are looked up by port."""

    def __init__(self) -> None:
        self.by_port: dict[int, ServiceInstance] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        port = scope["server"][1] if scope.get("server") else 0
        instance = self.by_port.get(port)
        if instance is None:
            await send_json(send, 404, {"title": "No service on this port", "status": 404})
            return
        await serve(instance, scope, receive, send)


async def serve(
    instance: ServiceInstance, scope: Scope, receive: Receive, send: Send, mount: str = ""
) -> None:
    """Answer one HTTP exchange for `instance`; `mount` is the path the instance sits under."""
    path = _raw_path(scope)[len(mount) :] or "/"
    if path == HEALTH_PATH:
        await send_json(send, 200, {"status": "ok", "service": instance.name})
        return
    body = await _read_body(receive)
    if body is None:
        await send_json(
            send,
            413,
            {
                "title": "Request body too large",
                "status": 413,
                "detail": f"the limit is {MAX_BODY_BYTES} bytes",
            },
        )
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    request = MockRequest(
        method=scope["method"],
        path=path,
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )
    host = headers.get("host") or "{}:{}".format(*scope["server"])
    started = time.perf_counter()
    failure: tuple[MockResponse, MatchReport] | None = None
    try:
        world = instance.world  # built on the service's first call, then shared
    except Exception as exc:  # checked when the sandbox was made: a template bug
        log.exception("the world of %s could not be built", instance.name)
        world, failure = EMPTY_WORLD, _engine_failure(request, exc)
    context = MockContext(
        base_url=f"{scope.get('scheme', 'http')}://{host}{mount}",
        stubs=instance.stubs,
        seed=instance.seed,
        now=instance.started_at,
        validate_requests=instance.validate_requests,
        state=instance.state,
        world=world,
        closed_world=instance.closed_world,
        at=datetime.now(UTC),
        auth=instance.auth,
        tokens=instance.tokens,
    )
    try:
        response, report = failure or respond(instance.spec, request, context)
    except Exception as exc:  # an engine bug must cost one answer, never the process
        log.exception("mock engine failed on %s %s", request.method, request.path)
        response, report = _engine_failure(request, exc)
    elapsed = (time.perf_counter() - started) * 1000
    raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if not response.chunks:
        raw_headers.append((b"content-length", str(len(response.body)).encode()))
    if report.operation_id is not None:
        raw_headers.append(
            (b"x-doppel-operation", report.operation_id.encode("latin-1", "replace"))
        )
    if report.notes:  # e.g. the spec's example broke its schema and generated data was served
        raw_headers.append((b"x-doppel-note", report.notes[0].encode("ascii", "replace")))
    # Recorded (state applied and persisted) before the answer leaves: once the agent has
    # its 201, a crash cannot lose what it created.
    instance.record(datetime.now(UTC), request, response, report, elapsed)
    await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
    if response.chunks:  # server-sent events: each event its own chunk, as a stream
        for chunk in response.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.body", "body": response.body})


def _engine_failure(request: MockRequest, exc: Exception) -> tuple[MockResponse, MatchReport]:
    detail = f"the mock engine failed on {request.method} {request.path}: {type(exc).__name__}"
    body = json.dumps(
        {"type": "about:blank", "title": "Mock engine error", "status": 500, "detail": detail}
    ).encode()
    response = MockResponse(500, (("content-type", "application/problem+json"),), body)
    return response, MatchReport("error", status=500, reason=detail)


def _raw_path(scope: Scope) -> str:
    # The raw path keeps %2F inside a segment apart from a real '/'.
    raw = scope.get("raw_path")
    return raw.decode("latin-1").split("?", 1)[0] if raw else str(scope["path"])


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def send_json(send: Send, status: int, value: Any) -> None:
    body = json.dumps(value).encode()
    content_type = b"application/json" if status < 400 else b"application/problem+json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
