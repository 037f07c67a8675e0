"""The dashboard's sections that depend on issue 8's API contract (usage, diff, checkpoints;
see the contract in the issue): each is shown when the running control plane serves it, and
says "unavailable" otherwise. One function per section, so switching one on is one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.routing import BaseRoute, Route

DIFF = "/v1/sandboxes/{sandbox_id}/diff"
CHECKPOINTS = "/v1/sandboxes/{sandbox_id}/checkpoints"


def usage_of(sandbox: Mapping[str, Any], served: Mapping[str, int]) -> dict[str, Any]:
    """The sandbox's usage as the API reports it (`SandboxOut.usage`); until the API has it,
    the requests each running service has served (`served`), marked as partial."""
    usage = sandbox.get("usage")
    if isinstance(usage, Mapping):
        return {"partial": False, **usage}
    return {"partial": True, "requests": sum(served.values()), "by_service": dict(served)}


def diff_available(routes: list[BaseRoute]) -> bool:
    """Whether `GET /v1/sandboxes/{id}/diff` is served: the page then loads it from there."""
    return _serves(routes, "GET", DIFF)


def checkpoints_available(routes: list[BaseRoute]) -> bool:
    """Whether `POST /v1/sandboxes/{id}/checkpoints` is served: the button then calls it."""
    return _serves(routes, "POST", CHECKPOINTS)


def _serves(routes: list[BaseRoute], method: str, path: str) -> bool:
    return any(
        isinstance(r, Route) and r.path == path and method in (r.methods or ()) for r in routes
    )
