"""Request body limits for the control-plane API, enforced before the body is read."""

from __future__ import annotations

from doppel.api import problems
from doppel.api.gateway import PREFIX, Gateway
from doppel.api.templates import TEMPLATES
from doppel.dataplane.app import Message, Receive, Scope, Send
from doppel.errors import PayloadTooLargeError


class BodyLimit:
    """Request body limits for the control-plane API: `max_spec_bytes` for template uploads,
    `max_body_bytes` for the rest. A declared Content-Length over the limit is refused before
    any of the body is read; a chunked body is counted as it arrives and refused at the limit,
    so no more than the limit is ever read. Mock traffic under /sandboxes/ passes untouched."""

    def __init__(self, app: Gateway, max_body_bytes: int, max_spec_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_spec_bytes = max_spec_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        spec = scope["method"] in ("POST", "PUT") and (
            path == TEMPLATES or path.startswith(TEMPLATES + "/")
        )
        limit, setting = (
            (self.max_spec_bytes, "max_spec_bytes")
            if spec
            else (self.max_body_bytes, "max_body_bytes")
        )
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _too_large(
                f"the body has {int(length)} bytes; limit {setting}={limit}", scope, send
            )
            return
        received = 0
        refused = started = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        detail = f"the body is larger than {setting}={limit} bytes"
                        await _too_large(detail, scope, send)
                    return {"type": "http.disconnect"}  # the app stops reading; nothing more is
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out; whatever the app answers after it is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, guarded)


async def _too_large(detail: str, scope: Scope, send: Send) -> None:
    response = problems.from_error(PayloadTooLargeError(detail), scope.get("path", ""))
    response.headers["connection"] = "close"  # do not drain the rest of the body
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
