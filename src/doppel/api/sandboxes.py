"""The sandbox routes: the user's create contract, list, get, delete, extend, the journal."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from starlette.responses import JSONResponse, Response

from doppel.api.metrics import Metrics
from doppel.api.schemas import AGENT_ID, CreateSandbox, Extend, SandboxList, SandboxOut
from doppel.sandboxes import SandboxService
from doppel.store import SandboxRecord, SandboxStatus

AgentId = Annotated[str, Path(pattern=AGENT_ID, max_length=128)]


def sandbox_router(service: SandboxService, host: str, metrics: Metrics) -> APIRouter:
    """`/v1` routes over `service`; service URLs in answers use `host`."""
    api = APIRouter(prefix="/v1")

    def out(record: SandboxRecord) -> SandboxOut:
        return SandboxOut.of(record, host)

    async def create(agent_id: str, body: CreateSandbox) -> JSONResponse:
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
    async def create_dynamic(agent_id: AgentId, body: Annotated[CreateSandbox, Body()]) -> Response:
        return await create(agent_id, body)

    @api.post(
        "/agents/{agent_id}/sandboxes",
        status_code=201,
        response_model=SandboxOut,
        summary="Create a sandbox",
    )
    async def create_sandbox(agent_id: AgentId, body: Annotated[CreateSandbox, Body()]) -> Response:
        return await create(agent_id, body)

    @api.get("/agents/{agent_id}/sandboxes", response_model=SandboxList)
    async def agent_sandboxes(
        agent_id: AgentId, status: Annotated[SandboxStatus | None, Query()] = None
    ) -> SandboxList:
        found = service.find(agent_id, status.value if status else None)
        return SandboxList(sandboxes=[out(r) for r in found])

    @api.get("/sandboxes", response_model=SandboxList)
    async def list_sandboxes(
        agent_id: Annotated[str | None, Query(pattern=AGENT_ID)] = None,
        status: Annotated[SandboxStatus | None, Query()] = None,
    ) -> SandboxList:
        found = service.find(agent_id, status.value if status else None)
        return SandboxList(sandboxes=[out(r) for r in found])

    @api.get("/sandboxes/{sandbox_id}", response_model=SandboxOut)
    async def get_sandbox(sandbox_id: str) -> SandboxOut:
        return out(service.get(sandbox_id))

    @api.delete("/sandboxes/{sandbox_id}", response_model=SandboxOut)
    async def delete_sandbox(sandbox_id: str) -> SandboxOut:
        return out(await service.delete(sandbox_id))

    @api.post("/sandboxes/{sandbox_id}/extend", response_model=SandboxOut)
    async def extend_sandbox(sandbox_id: str, body: Annotated[Extend, Body()]) -> SandboxOut:
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
        return out(service.reset(sandbox_id))

    @api.get("/sandboxes/{sandbox_id}/requests", summary="The journal: every request served")
    async def sandbox_requests(sandbox_id: str) -> dict[str, Any]:
        journal = service.journal(sandbox_id)
        return {
            "sandbox_id": sandbox_id,
            "services": journal,
        }

    return api
