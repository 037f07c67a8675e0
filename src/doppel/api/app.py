"""The control-plane REST API: sandboxes, templates, health, metrics and the path gateway."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pathlib
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from doppel.api import problems
from doppel.api.gateway import PREFIX, Gateway
from doppel.api.schemas import (
    AGENT_ID,
    CreateSandbox,
    Extend,
    OperationOut,
    RegisterTemplate,
    SandboxList,
    SandboxOut,
    TemplateDetail,
    TemplateSummary,
)
from doppel.dataplane import Dataplane
from doppel.dataplane.app import Message, Receive, Scope, Send
from doppel.engine import CompiledSpec
from doppel.engine.refs import deref
from doppel.errors import (
    DoppelError,
    FieldError,
    InvalidRequestError,
    MalformedRequestError,
    PayloadTooLargeError,
    SpecError,
    TemplateConflictError,
    UnsupportedMediaTypeError,
)
from doppel.imports import fetch_spec
from doppel.runtimes import InProcessRuntime, Runtime
from doppel.sandboxes import Clock, SandboxService
from doppel.settings import Settings
from doppel.specs import MAX_DEPTH, SpecCache, digest
from doppel.store import SandboxStatus, Store, TemplateRecord
from doppel.templates import (
    DEFAULT_CONFIG_SCHEMA,
    REGISTERED,
    TEMPLATE_NAME,
    Template,
    TemplateRegistry,
)

log = logging.getLogger("doppel")
AgentId = Annotated[str, Path(pattern=AGENT_ID, max_length=128)]
TemplateName = Annotated[str, Path(pattern=TEMPLATE_NAME)]
TEMPLATES = "/v1/templates"
SPEC_MEDIA_TYPES = frozenset(
    {"application/json", "application/yaml", "application/x-yaml", "text/plain", "text/yaml"}
)
_COMPILES_AT_ONCE = 2  # a 32 MB spec takes several hundred MB while it compiles


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
    _load_registered(store, templates)
    runtime = runtime or InProcessRuntime(Dataplane(), settings.host)
    service = SandboxService(settings, store, runtime, templates, clock=clock)
    metrics = Metrics()
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
        return _detail(template, template.compile(service.cache))

    # -- registration: compiled off the event loop, persisted, then served at once ------------

    writing = asyncio.Lock()  # store and registry change together, one registration at a time
    compiling = asyncio.Semaphore(_COMPILES_AT_ONCE)

    async def register(template: Template, source_url: str | None) -> Response:
        _check_replaceable(templates, template.name)
        async with compiling:
            detail = await asyncio.to_thread(_checked_detail, template, service.cache)
        record = TemplateRecord(
            name=template.name,
            spec=template.spec_bytes,
            spec_name=template.spec_name,
            config_schema=(
                None
                if template.config_schema is DEFAULT_CONFIG_SCHEMA
                else dict(template.config_schema)
            ),
            fixtures=template.fixtures_source,
            source_url=source_url,
            digest=digest(template.spec_bytes),
        )
        async with writing:
            _check_replaceable(templates, template.name)
            created = await asyncio.to_thread(store.save_template, record)
            templates.add(template)  # new sandboxes use it now; running ones keep their spec
        log.info("template %r %s", template.name, "registered" if created else "replaced")
        return JSONResponse(detail.model_dump(mode="json"), status_code=201 if created else 200)

    @api.post(
        "/templates",
        status_code=201,
        response_model=TemplateDetail,
        summary="Register a template (201), or replace a registered one (200)",
        responses={200: {"model": TemplateDetail, "description": "Replaced"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": RegisterTemplate.model_json_schema()}},
            }
        },
    )
    async def register_template(request: Request) -> Response:
        media = _media_type(request)
        if media and media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaTypeError(
                f"POST {TEMPLATES} takes JSON, not {media!r}; to upload the spec file itself, "
                f"PUT {TEMPLATES}/{{name}} with Content-Type: application/yaml or application/json"
            )
        raw = await _read_body(request)
        body = await asyncio.to_thread(_registration, raw)  # up to 32 MB of JSON: off the loop
        if (body.spec is None) == (body.source_url is None):
            both = body.spec is not None
            raise InvalidRequestError(
                "give either `spec` or `source_url`" + (", not both" if both else ""),
                pointer="/source_url" if both else "/spec",
            )
        _check_replaceable(templates, body.name)
        if body.source_url is not None:
            fetched = await fetch_spec(
                body.source_url,
                allowed_hosts=settings.import_hosts,
                max_bytes=settings.max_spec_bytes,
                timeout=settings.import_timeout,
            )
            spec_bytes, spec_name, where = fetched.data, fetched.name, "/source_url"
        else:
            spec_bytes, spec_name = await asyncio.to_thread(_spec_bytes, body.spec)
            where = "/spec"
        schema = body.config_schema
        template = Template(
            name=body.name,
            spec_bytes=spec_bytes,
            spec_name=spec_name,
            config_schema=DEFAULT_CONFIG_SCHEMA if schema is None else schema,
            fixtures_source=body.fixtures,
            origin=REGISTERED,
        )
        try:
            return await register(template, body.source_url)
        except SpecError as exc:
            raise _relocated(exc, where, inside=isinstance(body.spec, Mapping)) from None

    @api.put(
        "/templates/{name}",
        status_code=201,
        response_model=TemplateDetail,
        summary="Register a template from the spec file itself (201), or replace one (200)",
        responses={200: {"model": TemplateDetail, "description": "Replaced"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in sorted(SPEC_MEDIA_TYPES)
                },
            }
        },
    )
    async def put_template(name: TemplateName, request: Request) -> Response:
        media = _media_type(request)
        if media and media not in SPEC_MEDIA_TYPES:
            raise UnsupportedMediaTypeError(
                f"the spec may be sent as {', '.join(sorted(SPEC_MEDIA_TYPES))}, not {media!r}"
            )
        _check_replaceable(templates, name)  # before reading what may be a large body
        template = Template(
            name=name,
            spec_bytes=await _read_body(request),
            spec_name="openapi.json" if media == "application/json" else "openapi.yaml",
            origin=REGISTERED,
        )
        return await register(template, None)

    @api.delete("/templates/{name}", status_code=204, summary="Remove a registered template")
    async def delete_template(name: TemplateName) -> Response:
        template = templates.get(name)
        if template.origin != REGISTERED:
            raise TemplateConflictError(
                f"{name!r} is a {template.origin} template; only templates registered through "
                "the API can be deleted"
            )
        async with writing:
            await asyncio.to_thread(store.delete_template, name)
            if name in templates:
                templates.remove(name)
        log.info("template %r deleted", name)
        return Response(status_code=204)

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

    # The body limits live in BodyLimit, in front of the gateway: the gateway's own check
    # (one limit for every route, Content-Length only) is set so it never fires first.
    gateway = Gateway(app, service, max(settings.max_body_bytes, settings.max_spec_bytes))
    app.state.asgi = BodyLimit(gateway, settings.max_body_bytes, settings.max_spec_bytes)
    return app


def create_asgi(settings: Settings | None = None, **kwargs: Any) -> BodyLimit:
    """The deployable ASGI callable: the API with the path gateway and body limits in front."""
    app = create_app(settings, **kwargs)
    wrapped: BodyLimit = app.state.asgi
    return wrapped


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


def _load_registered(store: Store, templates: TemplateRegistry) -> None:
    """The templates registered through the API in earlier runs (bundled names win)."""
    for record in store.templates():
        if record.name in templates:
            log.warning(
                "registered template %r is hidden by the %s template of the same name",
                record.name,
                templates.get(record.name).origin,
            )
            continue
        templates.add(
            Template(
                name=record.name,
                spec_bytes=record.spec,
                spec_name=record.spec_name,
                config_schema=(
                    DEFAULT_CONFIG_SCHEMA if record.config_schema is None else record.config_schema
                ),
                fixtures_source=record.fixtures,
                origin=REGISTERED,
            )
        )


def _check_replaceable(templates: TemplateRegistry, name: str) -> None:
    if name in templates and templates.get(name).origin != REGISTERED:
        origin = templates.get(name).origin
        raise TemplateConflictError(
            f"{name!r} is a {origin} template and cannot be replaced; register under another name"
        )


def _checked_detail(template: Template, cache: SpecCache) -> TemplateDetail:
    """Runs in a worker thread: parse, check and compile the spec, try the schema and fixtures."""
    return _detail(template, template.check(cache))


def _detail(template: Template, compiled: CompiledSpec) -> TemplateDetail:
    raw = compiled.document
    return TemplateDetail(
        name=template.name,
        title=compiled.title,
        origin=template.origin,
        operation_count=len(compiled.operations),
        config_schema=dict(template.config_schema),
        servers=[str(s.get("url", "")) for s in raw.get("servers") or () if isinstance(s, Mapping)],
        operations=[
            OperationOut(
                method=op.method,
                path=op.path,
                operation_id=op.operation_id,
                summary=_operation_summary(raw, op.path, op.method.lower()),
            )
            for op in compiled.operations
        ],
    )


def _operation_summary(raw: Mapping[str, Any], path: str, method: str) -> str | None:
    try:
        item = deref(raw, (raw.get("paths") or {}).get(path))
    except DoppelError:
        return None
    operation = item.get(method) if isinstance(item, Mapping) else None
    summary = operation.get("summary") if isinstance(operation, Mapping) else None
    return summary if isinstance(summary, str) else None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_body(request: Request) -> bytes:
    """The whole body; BodyLimit has already capped how much of it can arrive."""
    chunks: list[bytes] = []
    try:
        async for chunk in request.stream():
            chunks.append(chunk)
    except ClientDisconnect:
        raise MalformedRequestError(
            "the body ended early (client gone or over the limit)"
        ) from None
    return b"".join(chunks)


def _registration(raw: bytes) -> RegisterTemplate:
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise InvalidRequestError(
            f"the body is nested too deeply (the limit is {MAX_DEPTH} levels)", pointer=""
        ) from None
    except ValueError as exc:
        raise MalformedRequestError(f"the body is not valid JSON: {exc}", pointer="") from None
    try:
        return RegisterTemplate.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _spec_bytes(spec: Any) -> tuple[bytes, str]:
    """The document as sent in `spec` (an object or a string of text), as bytes to store."""
    if isinstance(spec, Mapping):
        try:
            return json.dumps(spec).encode(), "openapi.json"
        except RecursionError:
            raise SpecError(
                f"the document is nested deeper than {MAX_DEPTH} levels", pointer="/spec"
            ) from None
    if isinstance(spec, str):
        try:
            return spec.encode(), "openapi.yaml"  # JSON text is recognised by its first byte
        except UnicodeEncodeError as exc:
            raise SpecError(
                f"the spec text is not valid Unicode: {exc.reason}", pointer="/spec"
            ) from None
    raise SpecError(
        f"`spec` must be the OpenAPI document as an object, or a string holding its YAML or "
        f"JSON text, not {type(spec).__name__ if spec is not None else 'null'}",
        pointer="/spec",
    )


def _relocated(exc: SpecError, where: str, *, inside: bool) -> SpecError:
    """A spec problem pointed at the request field that carried the document: the document's
    own pointer is appended when the document is part of the body (`spec` as an object), and
    told in words when it is not (a string of text, or the document at `source_url`)."""
    if not where:
        return exc
    if inside:
        errors = [FieldError(where + e.pointer, e.detail) for e in exc.errors]
    else:
        errors = [
            FieldError(
                where, f"{e.detail} (at {e.pointer} in the document)" if e.pointer else e.detail
            )
            for e in exc.errors
        ]
    return SpecError(exc.detail, errors=errors or [FieldError(where, exc.detail)], **exc.extra)


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
