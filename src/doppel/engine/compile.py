"""Compile a parsed OpenAPI document once into an immutable, shareable `CompiledSpec`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from doppel.engine import swagger2
from doppel.engine.refs import deref, escape, normalize
from doppel.engine.routing import Router, parse_template
from doppel.errors import SpecError

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    method: str
    path: str
    pointer: str
    parameters: tuple[Mapping[str, Any], ...]
    request_body: Mapping[str, Any] | None
    responses: Mapping[str, Mapping[str, Any]]
    security: tuple[Mapping[str, Any], ...] | None
    path_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompiledSpec:
    """Everything the engine needs per request, computed once and shared by every sandbox."""

    document: Mapping[str, Any]
    title: str
    router: Router[Operation]
    operations: tuple[Operation, ...]
    prefixes: tuple[str, ...]
    upstreams: tuple[str, ...]
    errors: Mapping[str, Mapping[str, Any]]
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def operation(self, operation_id: str) -> Operation:
        return next(op for op in self.operations if op.operation_id == operation_id)


def compile_spec(document: Mapping[str, Any]) -> CompiledSpec:
    """Validate the outline of `document`, then build its routing table."""
    if not isinstance(document, Mapping):
        raise SpecError("an API description must be a JSON or YAML object", pointer="")
    if str(document.get("swagger", "")).startswith("2."):
        document = swagger2.convert(document)
    version = str(document.get("openapi", ""))
    if not version.startswith(("3.0", "3.1")):
        raise SpecError(
            f"unsupported version {version or 'missing'!r}: OpenAPI 3.0, 3.1 or Swagger 2.0",
            pointer="/openapi",
        )
    paths = document.get("paths") or {}
    if not isinstance(paths, Mapping):
        raise SpecError("`paths` must be an object", pointer="/paths")
    document = normalize(document)
    paths = document.get("paths") or {}

    router: Router[Operation] = Router()
    operations: list[Operation] = []
    for template, item in paths.items():
        if not isinstance(template, str) or not template.startswith("/"):
            raise SpecError("a path must start with '/'", pointer=f"/paths/{escape(str(template))}")
        item = deref(document, item)
        if not isinstance(item, Mapping):
            continue
        shared = [deref(document, p) for p in item.get("parameters") or ()]
        for method in METHODS:
            raw = item.get(method)
            if not isinstance(raw, Mapping):
                continue
            op = _operation(document, template, method, raw, shared)
            operations.append(op)
            multi = frozenset(
                p["name"]
                for p in op.parameters
                if p.get("in") == "path" and p.get("x-multi-segment")
            )
            router.add(template, op.method, op, multi)

    info = document.get("info") or {}
    extension = document.get("x-doppel") or {}
    prefixes, upstreams = _servers(document)
    return CompiledSpec(
        document=document,
        title=str(info.get("title", "")),
        router=router,
        operations=tuple(operations),
        prefixes=prefixes,
        upstreams=upstreams + tuple(extension.get("upstreams") or ()),
        errors=dict(extension.get("errors") or {}),
    )


def _operation(
    document: Mapping[str, Any],
    template: str,
    method: str,
    raw: Mapping[str, Any],
    shared: list[Any],
) -> Operation:
    pointer = f"/paths/{escape(template)}/{method}"
    own = [deref(document, p) for p in raw.get("parameters") or ()]
    keys = {(p.get("name"), p.get("in")) for p in own}
    parameters = tuple(own + [p for p in shared if (p.get("name"), p.get("in")) not in keys])
    responses = {
        str(status): deref(document, response)
        for status, response in (raw.get("responses") or {}).items()
    }
    body = raw.get("requestBody")
    security = raw.get("security", document.get("security"))
    return Operation(
        operation_id=str(raw.get("operationId") or f"{method} {template}"),
        method=method.upper(),
        path=template,
        pointer=pointer,
        parameters=parameters,
        request_body=deref(document, body) if body is not None else None,
        responses=responses,
        security=tuple(security) if security is not None else None,
        path_names=tuple(
            name
            for part in parse_template(template)
            if not isinstance(part, str)
            for name in part.names
        ),
    )


def _servers(document: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Path prefixes to serve under, and upstream origins to rewrite to the mock's own URL."""
    prefixes: list[str] = []
    upstreams: list[str] = []
    for server in document.get("servers") or ():
        url = str(server.get("url", ""))
        for name, variable in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        parts = urlsplit(url)
        prefix = parts.path.rstrip("/")
        if prefix and prefix not in prefixes:
            prefixes.append(prefix)
        if parts.scheme and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in upstreams:
                upstreams.append(origin)
    return tuple(prefixes), tuple(upstreams)
