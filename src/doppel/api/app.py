"""The control-plane REST API: sandboxes, templates, health, metrics and the path gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Path, Query
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.responses import JSONResponse, Response

from doppel.api import problems
from doppel.api.gateway import Gateway
from doppel.api.schemas import (
    AGENT_ID,
    CreateSandbox,
    Extend,
    OperationOut,
    SandboxList,
    SandboxOut,
    TemplateDetail,
    TemplateSummary,
)
from doppel.dataplane import Dataplane
from doppel.runtimes import InProcessRuntime, Runtime
from doppel.sandboxes import Clock, SandboxService
from doppel.settings import Settings
from doppel.store import SandboxStatus, Store
from doppel.templates import TemplateRegistry

log = logging.getLogger("doppel")
AgentId = Annotated[str, Path(pattern=AGENT_ID, max_length=128)]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.created = Counter(
            "doppel_sandboxes_created", "Sandboxes created", registry=self.registry
        )
        self.failed = Counter(
            "doppel_sandboxes_failed", "Sandboxes that failed to start", registry=self.registry
        )
        self.create_seconds = Histogram(
            "doppel_sandbox_create_seconds",
            "Create-to-ready latency",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        self.live = Gauge("doppel_sandboxes_live", "Live sandboxes", registry=self.registry)
        self.requests = Gauge(
            "doppel_mock_requests", "Mock requests served by live instances", registry=self.registry
        )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    runtime: Runtime | None = None,
    run_reaper: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    store = Store(settings.sqlalchemy_url)
    templates = TemplateRegistry.from_env()
    if settings.templates_dir:
        templates.scan(pathlib.Path(settings.templates_dir), "directory")
    runtime = runtime or InProcessRuntime(Dataplane(), settings.host)
    service = SandboxService(settings, store, runtime, templates, clock=clock)
    metrics = Metrics()
    ready = asyncio.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for template in templates:  # compile up front: the first create is as fast as any
            template.compile(service.cache)
        await service.recover()
        reaper = asyncio.create_task(_reap_forever(service, settings.reaper_interval))
        if not run_reaper:
            reaper.cancel()
        ready.set()
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            await service.close()
            await runtime.close()
            store.close()

    app = FastAPI(
        title="Doppel control plane",
        version="0.1.0",
        summary="Per-agent sandboxes of mock SaaS APIs, created on demand, cleaned up by TTL.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    problems.install(app)
    host = settings.url_host

    def out(record: Any) -> SandboxOut:
        return SandboxOut.of(record, host)

    api = APIRouter(prefix="/v1")

    async def create(agent_id: str, body: CreateSandbox) -> JSONResponse:
        started = time.perf_counter()
        try:
            record = await service.create(
                agent_id, body.required_services, body.ttl_minutes, body.custom_configs
            )
        except Exception:
            metrics.failed.inc()
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

    @api.get("/sandboxes/{sandbox_id}/requests", summary="The journal: every request served")
    async def sandbox_requests(sandbox_id: str) -> dict[str, Any]:
        journal = service.journal(sandbox_id)
        return {
            "sandbox_id": sandbox_id,
            "services": {name: [e.as_dict() for e in events] for name, events in journal.items()},
        }

    @api.get("/templates", response_model=list[TemplateSummary])
    async def list_templates() -> list[TemplateSummary]:
        return [_summary(t, service) for t in templates]

    @api.get("/templates/{name}", response_model=TemplateDetail)
    async def get_template(name: str) -> TemplateDetail:
        template = templates.get(name)
        compiled = template.compile(service.cache)
        raw = compiled.document
        return TemplateDetail(
            **_summary(template, service).model_dump(),
            config_schema=dict(template.config_schema),
            servers=[str(s.get("url", "")) for s in raw.get("servers") or ()],
            operations=[
                OperationOut(
                    method=op.method,
                    path=op.path,
                    operation_id=op.operation_id,
                    summary=raw["paths"][op.path][op.method.lower()].get("summary"),
                )
                for op in compiled.operations
            ],
        )

    app.include_router(api)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        if not ready.is_set():
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ready", "live_sandboxes": len(service.running)})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        metrics.live.set(len(service.running))
        metrics.requests.set(
            sum(i.requests_served for r in service.running.values() for i in r.instances.values())
        )
        return Response(generate_latest(metrics.registry), media_type="text/plain; version=0.0.4")

    wrapped = Gateway(app, service, settings.max_body_bytes)
    app.state.asgi = wrapped
    return app


def create_asgi(settings: Settings | None = None, **kwargs: Any) -> Gateway:
    """The deployable ASGI callable: the API with the path gateway and body limit in front."""
    app = create_app(settings, **kwargs)
    gateway: Gateway = app.state.asgi
    return gateway


def _summary(template: Any, service: SandboxService) -> TemplateSummary:
    compiled = template.compile(service.cache)
    return TemplateSummary(
        name=template.name,
        title=compiled.title,
        origin=template.origin,
        operation_count=len(compiled.operations),
    )


async def _reap_forever(service: SandboxService, interval: float) -> None:
    while True:
        try:
            await service.reap()
        except Exception:  # the reaper must outlive any one bad record
            log.exception("reaper pass failed")
        await asyncio.sleep(interval)
