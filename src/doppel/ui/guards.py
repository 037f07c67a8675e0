"""The dashboard's sections that depend on issue 8's API contract (usage, diff, checkpoints,
restore, fork; see the contract in the issue): each is shown when the running control plane
serves it, and says "unavailable" otherwise. One function per section, so switching one on is
one place.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

# path → the methods served there (lower case, as in an OpenAPI document's `paths`)
Served = Mapping[str, Collection[str]]

DIFF = "/v1/sandboxes/{sandbox_id}/diff"
CHECKPOINTS = "/v1/sandboxes/{sandbox_id}/checkpoints"
RESTORE = "/v1/sandboxes/{sandbox_id}/restore"
FORK = "/v1/sandboxes/{sandbox_id}/fork"


def usage_of(sandbox: Mapping[str, Any], served: Mapping[str, int]) -> dict[str, Any]:
    """The sandbox's usage as the API reports it (`SandboxOut.usage`); until the API has it,
    the requests each running service has served (`served`), marked as partial."""
    usage = sandbox.get("usage")
    if isinstance(usage, Mapping):
        return {"partial": False, **usage}
    return {"partial": True, "requests": sum(served.values()), "by_service": dict(served)}


def served(openapi: Mapping[str, Any]) -> dict[str, set[str]]:
    """What an app serves, read from its OpenAPI document: FastAPI keeps included routers
    as opaque entries of `app.routes`, while the document lists every operation."""
    return {path: set(item) for path, item in (openapi.get("paths") or {}).items()}


def diff_available(paths: Served) -> bool:
    """Whether `GET /v1/sandboxes/{id}/diff` is served: the page then loads it from there."""
    return "get" in paths.get(DIFF, ())


def checkpoints_available(paths: Served) -> bool:
    """Whether `POST /v1/sandboxes/{id}/checkpoints` is served: the button then calls it."""
    return "post" in paths.get(CHECKPOINTS, ())


def checkpoint_list_available(paths: Served) -> bool:
    """Whether `GET /v1/sandboxes/{id}/checkpoints` is served: the page then lists them."""
    return "get" in paths.get(CHECKPOINTS, ())


def restore_available(paths: Served) -> bool:
    """Whether `POST /v1/sandboxes/{id}/restore` is served: each checkpoint then has a button."""
    return "post" in paths.get(RESTORE, ())


def fork_available(paths: Served) -> bool:
    """Whether `POST /v1/sandboxes/{id}/fork` is served: the Fork button then calls it."""
    return "post" in paths.get(FORK, ())
