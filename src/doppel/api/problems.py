"""One mapping from errors to `application/problem+json` (RFC 9457)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from doppel.errors import DoppelError, FieldError, MalformedRequestError

PROBLEM = "application/problem+json"
log = logging.getLogger("doppel.api")


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    instance: str = "",
    errors: Sequence[FieldError] = (),
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://doppel.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = [{"pointer": e.pointer, "detail": e.detail} for e in errors]
    body.update(extra or {})
    return Response(json.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


def from_error(exc: DoppelError, instance: str = "") -> Response:
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.slug,
        instance=instance,
        errors=exc.errors,
        extra=exc.extra,
    )


def install(app: FastAPI) -> None:
    async def doppel_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DoppelError)
        return from_error(exc, request.url.path)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if broken is not None:
            reason = (broken.get("ctx") or {}).get("error", "invalid JSON")
            return from_error(
                MalformedRequestError(f"the body is not valid JSON: {reason}", pointer=""),
                request.url.path,
            )
        fields = [FieldError(_pointer(e.get("loc", ())), _message(e)) for e in errors]
        return problem(
            422,
            "Invalid request",
            "the request does not fit the API",
            slug="invalid-request",
            instance=request.url.path,
            errors=fields,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400 and exc.__cause__ is not None:  # the body did not decode
            reason = unreadable(exc.__cause__)
            return from_error(MalformedRequestError(reason, pointer=""), request.url.path)
        return problem(
            exc.status_code,
            str(exc.detail),
            str(exc.detail),
            slug=f"http-{exc.status_code}",
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "Internal error",
            "an unexpected error occurred; see the server log",
            slug="internal-error",
            instance=request.url.path,
        )

    app.add_exception_handler(DoppelError, doppel_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def unreadable(cause: BaseException) -> str:
    """Why a body could not be decoded, in words (FastAPI says only that it could not)."""
    if isinstance(cause, RecursionError):
        return "the body is nested too deeply to read"
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not valid UTF-8 (byte {cause.start})"
    return f"the body could not be read: {cause}"


def _pointer(loc: Sequence[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "path", "query", "header"):
        where = parts.pop(0)
        if where != "body" and parts:
            return f"/{where}/" + "/".join(str(p) for p in parts)
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _message(error: Any) -> str:
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")
