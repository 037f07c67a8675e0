"""The control plane: wires store, runtime, templates and the sandbox service into one ASGI
app — the `/v1` API, health, metrics — behind the body limits and the path gateway."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import pathlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import generate_latest
from starlette.responses import JSONResponse, Response

from doppel.api import problems
from doppel.api.gateway import Gateway
from doppel.api.limits import BodyLimit
from doppel.api.metrics import Metrics, TimedRoutes
from doppel.api.sandboxes import sandbox_router
from doppel.api.templates import load_registered, template_router
from doppel.dataplane import Dataplane
from doppel.errors import DoppelError
from doppel.runtimes import InProcessRuntime, Runtime
from doppel.sandboxes import Clock, SandboxService
from doppel.sandboxes.static import StaticSandboxes
from doppel.settings import Settings
from doppel.store import Store
from doppel.templates import REGISTERED, TemplateRegistry
from doppel.ui import install as install_dashboard

log = logging.getLogger("doppel")


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    runtime: Runtime | None = None,
    run_reaper: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics(sandbox_labels=settings.metrics_sandbox_labels)
    store = Store(settings.sqlalchemy_url, observe=metrics.store_call)
    templates = TemplateRegistry.from_env()
    if settings.templates_dir:
        templates.scan(pathlib.Path(settings.templates_dir), "directory")
    load_registered(store, templates)
    runtime = runtime or InProcessRuntime(Dataplane(), settings.host)
    service = SandboxService(settings, store, runtime, templates, clock=clock, observer=metrics)
    metrics.watch(service)
    mode = settings.sandbox_mode
    static = (
        StaticSandboxes(settings, templates, runtime, service.cache) if mode == "static" else None
    )
    ready = asyncio.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for template in list(templates):  # compile up front: the first create is as fast as any
            try:
                template.compile(service.cache)
            except DoppelError as exc:
                if template.origin != REGISTERED:
                    raise
                log.error("registered template %r no longer compiles: %s", template.name, exc)
                templates.remove(template.name)
        await service.recover()
        if static is not None:  # after recover: it stops any instance no sandbox owns
            try:
                await static.start()
            except DoppelError as exc:
                log.error("static mode cannot start: %s", exc.detail)
                raise
            for port in static.ports.values():
                service.ports.claim(port)
            log.info(
                "static mode: %s",
                ", ".join(f"{name} on port {port}" for name, port in static.ports.items()),
            )
        # The compiled specs are a long-lived heap of millions of objects (GitHub's alone is
        # ~100 MB): out of the collector's sight, every world built later stops paying for
        # full collections that would walk them.
        gc.collect()
        gc.freeze()
        reaper = asyncio.create_task(_reap_forever(service, settings.reaper_interval, metrics))
        if not run_reaper:
            reaper.cancel()
        ready.set()
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            if static is not None:
                await static.close()
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
    app.include_router(sandbox_router(service, settings.url_host, metrics, static))
    app.include_router(template_router(templates, service, store, settings))
    install_dashboard(app, service, templates, settings.url_host)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        if not ready.is_set():
            return JSONResponse({"status": "starting", "mode": mode}, status_code=503)
        body: dict[str, Any] = {
            "status": "ready",
            "mode": mode,
            "live_sandboxes": len(service.running),
        }
        if static is not None:
            body["static_services"] = dict(static.ports)
        return JSONResponse(body)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type="text/plain; version=0.0.4")

    api = TimedRoutes(app, metrics)
    app.state.asgi = BodyLimit(
        Gateway(api, service, static), settings.max_body_bytes, settings.max_spec_bytes
    )
    return app


def create_asgi(settings: Settings | None = None, **kwargs: Any) -> BodyLimit:
    """The deployable ASGI callable: the API with the path gateway and body limits in front."""
    app = create_app(settings, **kwargs)
    wrapped: BodyLimit = app.state.asgi
    return wrapped


async def _reap_forever(service: SandboxService, interval: float, metrics: Metrics) -> None:
    while True:
        started = time.perf_counter()
        try:
            await service.reap()
        except Exception:  # the reaper must outlive any one bad record
            log.exception("reaper pass failed")
        metrics.reaper_seconds.observe(time.perf_counter() - started)
        await asyncio.sleep(interval)
