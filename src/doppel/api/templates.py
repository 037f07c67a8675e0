"""The template routes: list and describe; register (PUT a spec file, or POST JSON with a
config schema and fixtures, or a URL to import from), replace and delete at run time.

A registration is compiled off the event loop before it is accepted, persisted, then served
by new sandboxes at once; sandboxes already running keep the spec they started with.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from doppel.api.schemas import OperationOut, RegisterTemplate, TemplateDetail, TemplateSummary
from doppel.engine import CompiledSpec
from doppel.engine.refs import deref
from doppel.errors import (
    DoppelError,
    FieldError,
    InvalidRequestError,
    MalformedRequestError,
    SpecError,
    TemplateConflictError,
    UnsupportedMediaTypeError,
)
from doppel.imports import fetch_spec
from doppel.sandboxes import SandboxService
from doppel.settings import Settings
from doppel.specs import MAX_DEPTH, SpecCache, digest
from doppel.store import Store, TemplateRecord
from doppel.templates import (
    DEFAULT_CONFIG_SCHEMA,
    REGISTERED,
    TEMPLATE_NAME,
    Template,
    TemplateRegistry,
)

log = logging.getLogger("doppel")
TemplateName = Annotated[str, Path(pattern=TEMPLATE_NAME)]
TEMPLATES = "/v1/templates"
SPEC_MEDIA_TYPES = frozenset(
    {"application/json", "application/yaml", "application/x-yaml", "text/plain", "text/yaml"}
)
_COMPILES_AT_ONCE = 2  # a 32 MB spec takes several hundred MB while it compiles


def template_router(
    templates: TemplateRegistry, service: SandboxService, store: Store, settings: Settings
) -> APIRouter:
    api = APIRouter(prefix="/v1")

    @api.get("/templates", response_model=list[TemplateSummary])
    async def list_templates() -> list[TemplateSummary]:
        return [template_summary(t, service) for t in templates]

    @api.get("/templates/{name}", response_model=TemplateDetail)
    async def get_template(name: str) -> TemplateDetail:
        template = templates.get(name)
        return template_detail(template, template.compile(service.cache))

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

    return api


def load_registered(store: Store, templates: TemplateRegistry) -> None:
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
    return template_detail(template, template.check(cache))


def template_detail(template: Template, compiled: CompiledSpec) -> TemplateDetail:
    raw = compiled.document
    return TemplateDetail(
        name=template.name,
        title=compiled.title,
        origin=template.origin,
        operation_count=len(compiled.operations),
        digest=template.spec_digest,
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


def template_summary(template: Template, service: SandboxService) -> TemplateSummary:
    compiled = template.compile(service.cache)
    return TemplateSummary(
        name=template.name,
        title=compiled.title,
        origin=template.origin,
        operation_count=len(compiled.operations),
        digest=template.spec_digest,
    )
