"""The sandbox routes: the user's create contract, list, get, delete, extend, the journal;
state, diffs, checkpoints, restore and fork."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from starlette.responses import JSONResponse, Response

from doppel.api.cursors import cursor_after, position
from doppel.api.metrics import Metrics
from doppel.api.schemas import (
    AGENT_ID,
    CheckpointList,
    CheckpointOut,
    CreatedCheckpoint,
    CreateSandbox,
    DiffOut,
    Extend,
    Fork,
    NewCheckpoint,
    Restore,
    SandboxList,
    SandboxOut,
    StaticSandboxOut,
    StaticServiceOut,
)
from doppel.errors import FieldError, InvalidRequestError, StaticSandboxError
from doppel.sandboxes import SandboxService
from doppel.sandboxes.static import STATIC_ID, StaticSandboxes
from doppel.store import SandboxRecord, SandboxStatus

AgentId = Annotated[str, Path(pattern=AGENT_ID, max_length=128)]
DEFAULT_PAGE, MAX_PAGE = 100, 1000
PageLimit = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description=f"Sandboxes per page, at most {MAX_PAGE}.")
]
PageCursor = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page; none for the first."),
]


def sandbox_router(
    service: SandboxService,
    host: str,
    metrics: Metrics,
    static: StaticSandboxes | None = None,
) -> APIRouter:
    """`/v1` routes over `service`; service URLs in answers use `host`. With `static` (static
    mode), a create answers with the shared instances instead of starting a sandbox."""
    api = APIRouter(prefix="/v1")

    def out(record: SandboxRecord) -> SandboxOut:
        return SandboxOut.of(record, host, service.usage([record])[record.id])

    def refuse_static(sandbox_id: str, action: str) -> None:
        if static is not None and sandbox_id == STATIC_ID:
            raise StaticSandboxError(
                f"the static sandbox cannot be {action}: in static mode every agent shares one "
                "always-on instance per service, which is never deleted, extended or reset; "
                "per-agent sandboxes need DOPPEL_MODE=dynamic (see docs/migration.md)",
                sandbox_id=sandbox_id,
                mode="static",
            )

    async def create(agent_id: str, body: CreateSandbox, request: Request) -> JSONResponse:
        if static is not None:
            shared = static_answer(static, agent_id, body, host, str(request.base_url))
            return JSONResponse(shared.model_dump(mode="json"), status_code=200)
        started = time.perf_counter()
        try:
            record = await service.create(
                agent_id, body.required_services, body.ttl_minutes, body.custom_configs
            )
        except Exception as exc:
            metrics.create_failed(exc)
            raise
        metrics.created.inc()
        metrics.create_seconds.observe(time.perf_counter() - started)
        return JSONResponse(out(record).model_dump(mode="json"), status_code=201)

    @api.post(
        "/agents/{agent_id}/sandboxes/dynamic",
        status_code=201,
        response_model=SandboxOut,
        summary="Create a sandbox (the original contract)",
    )
    async def create_dynamic(
        agent_id: AgentId, body: Annotated[CreateSandbox, Body()], request: Request
    ) -> Response:
        return await create(agent_id, body, request)

    @api.post(
        "/agents/{agent_id}/sandboxes",
        status_code=201,
        response_model=SandboxOut,
        summary="Create a sandbox",
    )
    async def create_sandbox(
        agent_id: AgentId, body: Annotated[CreateSandbox, Body()], request: Request
    ) -> Response:
        return await create(agent_id, body, request)

    def listed(
        agent_id: str | None, status: SandboxStatus | None, limit: int, cursor: str | None
    ) -> SandboxList:
        after = position(cursor) if cursor is not None else None
        state = status.value if status else None
        records, more = service.page(limit, after, agent_id=agent_id, status=state)
        usage = service.usage(records)
        return SandboxList(
            sandboxes=[SandboxOut.of(r, host, usage[r.id]) for r in records],
            next_cursor=cursor_after(records[-1]) if more else None,
            has_more=more,
        )

    @api.get(
        "/agents/{agent_id}/sandboxes",
        response_model=SandboxList,
        summary="List an agent's sandboxes, one page at a time",
    )
    async def agent_sandboxes(
        agent_id: AgentId,
        status: Annotated[SandboxStatus | None, Query()] = None,
        limit: PageLimit = DEFAULT_PAGE,
        cursor: PageCursor = None,
    ) -> SandboxList:
        return listed(agent_id, status, limit, cursor)

    @api.get(
        "/sandboxes",
        response_model=SandboxList,
        summary="List sandboxes, one page at a time",
    )
    async def list_sandboxes(
        agent_id: Annotated[str | None, Query(pattern=AGENT_ID)] = None,
        status: Annotated[SandboxStatus | None, Query()] = None,
        limit: PageLimit = DEFAULT_PAGE,
        cursor: PageCursor = None,
    ) -> SandboxList:
        return listed(agent_id, status, limit, cursor)

    @api.get("/sandboxes/{sandbox_id}", response_model=SandboxOut)
    async def get_sandbox(sandbox_id: str) -> SandboxOut:
        return out(service.get(sandbox_id))

    @api.delete("/sandboxes/{sandbox_id}", response_model=SandboxOut)
    async def delete_sandbox(sandbox_id: str) -> SandboxOut:
        refuse_static(sandbox_id, "deleted")
        return out(await service.delete(sandbox_id))

    @api.post("/sandboxes/{sandbox_id}/extend", response_model=SandboxOut)
    async def extend_sandbox(sandbox_id: str, body: Annotated[Extend, Body()]) -> SandboxOut:
        refuse_static(sandbox_id, "extended")
        return out(await service.extend(sandbox_id, body.ttl_minutes))

    @api.get(
        "/sandboxes/{sandbox_id}/state",
        summary="What the agent's requests created, changed and deleted, per service",
    )
    async def sandbox_state(sandbox_id: str) -> dict[str, Any]:
        return {"sandbox_id": sandbox_id, "services": service.state(sandbox_id)}

    @api.post(
        "/sandboxes/{sandbox_id}/reset",
        response_model=SandboxOut,
        summary="Forget every state change and the journal; the TTL is unchanged",
    )
    async def reset_sandbox(sandbox_id: str) -> SandboxOut:
        refuse_static(sandbox_id, "reset")
        return out(service.reset(sandbox_id))

    @api.get(
        "/sandboxes/{sandbox_id}/diff",
        response_model=DiffOut,
        summary="What the agent created, changed and deleted, with a JSON Patch for each change",
    )
    async def sandbox_diff(
        sandbox_id: str,
        since: Annotated[
            str | None, Query(max_length=64, description="A checkpoint; by default creation.")
        ] = None,
    ) -> Response:
        # Straight to JSON: the items are the providers' own shapes, nothing to validate, and
        # a diff of a thousand items is megabytes.
        return JSONResponse(service.diff(sandbox_id, since))

    @api.post(
        "/sandboxes/{sandbox_id}/checkpoints",
        status_code=201,
        response_model=CreatedCheckpoint,
        summary="Name the current state of every service",
    )
    async def create_checkpoint(
        sandbox_id: str, body: Annotated[NewCheckpoint | None, Body()] = None
    ) -> CreatedCheckpoint:
        refuse_static(sandbox_id, "checkpointed")
        made = service.checkpoint(sandbox_id, body.name if body else None)
        return CreatedCheckpoint(sandbox_id=sandbox_id, name=made.name, created_at=made.created_at)

    @api.get("/sandboxes/{sandbox_id}/checkpoints", response_model=CheckpointList)
    async def list_checkpoints(sandbox_id: str) -> CheckpointList:
        found = service.checkpoints(sandbox_id)
        return CheckpointList(
            checkpoints=[CheckpointOut(name=c.name, created_at=c.created_at) for c in found]
        )

    @api.post(
        "/sandboxes/{sandbox_id}/restore",
        response_model=SandboxOut,
        summary="Every service's state back to a checkpoint's (the journal is kept)",
    )
    async def restore_sandbox(sandbox_id: str, body: Annotated[Restore, Body()]) -> SandboxOut:
        refuse_static(sandbox_id, "restored")
        return out(service.restore(sandbox_id, body.checkpoint))

    @api.post(
        "/sandboxes/{sandbox_id}/fork",
        status_code=201,
        response_model=SandboxOut,
        summary="A new sandbox (new URLs) with the same templates, configs and state",
    )
    async def fork_sandbox(
        sandbox_id: str, body: Annotated[Fork | None, Body()] = None
    ) -> JSONResponse:
        refuse_static(sandbox_id, "forked")
        fork = body or Fork()
        record = await service.fork(sandbox_id, fork.agent_id, fork.ttl_minutes)
        metrics.created.inc()
        return JSONResponse(out(record).model_dump(mode="json"), status_code=201)

    @api.get("/sandboxes/{sandbox_id}/requests", summary="The journal: every request served")
    async def sandbox_requests(sandbox_id: str) -> dict[str, Any]:
        journal = service.journal(sandbox_id)
        return {
            "sandbox_id": sandbox_id,
            "services": journal,
        }

    return api


def static_answer(
    static: StaticSandboxes, agent_id: str, body: CreateSandbox, host: str, base_url: str
) -> StaticSandboxOut:
    """The shared instances `body` asks for, in the create answer's shape; nothing starts."""
    missing = [
        FieldError(
            f"/required_services/{i}",
            f"static mode does not serve {name!r}; it serves: {', '.join(static.ports)}",
        )
        for i, name in enumerate(body.required_services)
        if name not in static.ports
    ]
    if missing:
        raise InvalidRequestError("the sandbox request is invalid", errors=missing)
    notes = []
    if body.custom_configs:
        notes.append(
            "custom_configs are ignored in static mode: every agent gets the same shared "
            "instances (DOPPEL_MODE=dynamic applies them per sandbox)"
        )
    if body.ttl_minutes is not None:
        notes.append("ttl_minutes is ignored in static mode: static instances never expire")
    shown = f"[{host}]" if ":" in host else host
    gateway = base_url.rstrip("/")
    return StaticSandboxOut(
        sandbox_id=STATIC_ID,
        agent_id=agent_id,
        created_at=static.started_at,
        services={
            name: StaticServiceOut(
                url=f"http://{shown}:{static.ports[name]}",
                status="running",
                port=static.ports[name],
                template=name,
                path_url=f"{gateway}/sandbox/{agent_id}/{name}",
            )
            for name in body.required_services
        },
        notes=notes,
    )
