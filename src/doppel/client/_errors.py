"""Client-side errors, and the one mapping from a problem+json response back to an exception."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from doppel.errors import DoppelError, FieldError, error_classes

# RFC 9457 members the exception carries as attributes; every other member goes to `extra`.
# `pointer` is a constructor argument, so a stray member of that name must not reach it.
_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "errors", "pointer"})


class ClientError(DoppelError):
    """A response no DoppelError class fits: an unknown problem type, or not a problem at all.

    The tree declares `status`, `slug` and `title` per class; a ClientError takes them from the
    response it stands for, so `exc.status` is the status the server answered.
    """

    slug = "client-error"
    title = "Unexpected response"

    def __init__(
        self,
        detail: str = "",
        *,
        status: int,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        **extra: Any,
    ) -> None:
        super().__init__(detail, errors=errors, **extra)
        vars(self).update(status=status, slug=slug or f"http-{status}", title=title or self.title)


class ConnectionFailedError(DoppelError):
    """The control plane could not be reached, or did not answer in time."""

    status = 503
    slug = "connection-failed"
    title = "Control plane unreachable"

    def __init__(self, detail: str, *, url: str) -> None:
        super().__init__(detail, url=url)
        self.url = url


def error_from_response(response: httpx.Response) -> DoppelError:
    """The exception a failed response stands for: the server's class by slug when it has one."""
    problem = _problem(response)
    status = response.status_code
    if problem is None:
        snippet = " ".join(response.text.split())[:200] or "(empty body)"
        return ClientError(
            f"{response.request.method} {response.request.url} answered HTTP {status}: {snippet}",
            status=status,
        )
    slug = str(problem.get("type") or "").rstrip("/").rpartition("/")[2]
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    errors = [
        FieldError(str(item.get("pointer", "")), str(item.get("detail", "")))
        for item in problem.get("errors") or ()
        if isinstance(item, dict)
    ]
    extra = {k: v for k, v in problem.items() if k not in _MEMBERS}
    cls = error_classes().get(slug)
    if cls is None or issubclass(cls, ClientError | ConnectionFailedError):
        title = problem.get("title")
        return ClientError(
            detail,
            status=status,
            slug=slug or None,
            title=title if isinstance(title, str) else None,
            errors=errors,
            **extra,
        )
    return cls(detail, errors=errors, **extra)


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("type", ""), str):
        return None
    return body
