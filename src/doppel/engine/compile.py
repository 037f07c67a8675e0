"""Compile a parsed OpenAPI document once into an immutable, shareable `CompiledSpec`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from doppel.engine import swagger2
from doppel.engine.declarations import Declarations, ErrorShape, parse_declarations
from doppel.engine.refs import deref, escape, locate, normalize
from doppel.engine.resources import Resources, build_resources
from doppel.engine.routing import Router, parse_template
from doppel.errors import SpecError

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str  # path | query | header | cookie
    required: bool
    schema: Mapping[str, Any]
    pointer: str  # of the parameter object; its schema is at pointer + "/schema"
    style: str
    explode: bool


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    method: str
    path: str
    pointer: str
    parameters: tuple[Parameter, ...]
    request_body: Mapping[str, Any] | None
    request_body_pointer: str
    responses: Mapping[str, Mapping[str, Any]]
    response_pointers: Mapping[str, str]
    security: tuple[Mapping[str, Any], ...] | None
    path_names: tuple[str, ...]
    docs: str | None = None  # externalDocs.url: the provider's page for this operation


@dataclass(frozen=True, slots=True)
class CompiledSpec:
    """Everything the engine needs per request, computed once and shared by every sandbox."""

    document: Mapping[str, Any]
    title: str
    router: Router[Operation]
    operations: tuple[Operation, ...]
    prefixes: tuple[str, ...]
    upstreams: tuple[str, ...]
    errors: Mapping[str, ErrorShape]
    switches: Mapping[str, bool]
    discriminating: bool  # OpenAPI 3.0: `discriminator` picks the branch (3.1: annotation only)
    rpc: bool  # every path one literal segment (Slack's /chat.postMessage): GET and POST alike
    declarations: Declarations  # the template's x-doppel, typed
    resources: Resources  # kinds, what each operation does with them, references
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
        item_pointer = f"/paths/{escape(template)}"
        shared = [
            locate(document, p, f"{item_pointer}/parameters/{i}")
            for i, p in enumerate(item.get("parameters") or ())
        ]
        for method in METHODS:
            raw = item.get(method)
            if not isinstance(raw, Mapping):
                continue
            op = _operation(document, template, method, raw, shared)
            operations.append(op)
            multi = frozenset(p.name for p in op.parameters if p.location == "multi")
            router.add(template, op.method, op, multi)

    info = document.get("info") or {}
    declared = parse_declarations(document.get("x-doppel"))
    prefixes, upstreams = _servers(document)
    switches = {
        name: value
        for name in ("validate_requests", "enforce_auth", "closed_world")
        if (value := getattr(declared, name)) is not None
    }
    return CompiledSpec(
        document=document,
        title=str(info.get("title", "")),
        router=router,
        operations=tuple(operations),
        prefixes=prefixes + tuple(p for p in declared.prefixes if p not in prefixes),
        upstreams=upstreams + tuple(u for u in declared.upstreams if u not in upstreams),
        errors={str(k): v for k, v in declared.errors.items()},
        discriminating=version.startswith("3.0"),
        rpc=declared.rpc if declared.rpc is not None else _looks_rpc(paths),
        declarations=declared,
        resources=build_resources(document, operations, declared),
        switches=switches,
    )


def _operation(
    document: Mapping[str, Any],
    template: str,
    method: str,
    raw: Mapping[str, Any],
    shared: list[tuple[Any, str]],
) -> Operation:
    pointer = f"/paths/{escape(template)}/{method}"
    own = [
        locate(document, p, f"{pointer}/parameters/{i}")
        for i, p in enumerate(raw.get("parameters") or ())
    ]
    keys = {(p.get("name"), p.get("in")) for p, _ in own}
    merged = own + [(p, at) for p, at in shared if (p.get("name"), p.get("in")) not in keys]
    located = {
        str(status): locate(document, response, f"{pointer}/responses/{escape(str(status))}")
        for status, response in (raw.get("responses") or {}).items()
    }
    body, body_pointer = locate(document, raw.get("requestBody"), f"{pointer}/requestBody")
    security = raw.get("security", document.get("security"))
    return Operation(
        operation_id=str(raw.get("operationId") or f"{method} {template}"),
        method=method.upper(),
        path=template,
        pointer=pointer,
        parameters=tuple(_parameter(p, at) for p, at in merged if isinstance(p, Mapping)),
        request_body=body if isinstance(body, Mapping) else None,
        request_body_pointer=body_pointer,
        responses={k: v for k, (v, _) in located.items()},
        response_pointers={k: at for k, (_, at) in located.items()},
        security=tuple(security) if security is not None else None,
        docs=_docs(raw),
        path_names=tuple(
            name
            for part in parse_template(template)
            if not isinstance(part, str)
            for name in part.names
        ),
    )


def _docs(raw: Mapping[str, Any]) -> str | None:
    docs = raw.get("externalDocs")
    url = docs.get("url") if isinstance(docs, Mapping) else None
    return url if isinstance(url, str) else None


def _looks_rpc(paths: Mapping[str, Any]) -> bool:
    """An RPC-style API names methods, not resources: every path is one literal segment
    such as `/chat.postMessage`. Its clients (slack-sdk) POST what the spec calls GET."""
    return bool(paths) and all(
        isinstance(p, str) and p.count("/") == 1 and "{" not in p for p in paths
    )


def _parameter(raw: Mapping[str, Any], pointer: str) -> Parameter:
    location = str(raw.get("in", "query"))
    if location == "path" and raw.get("x-multi-segment"):
        location = "multi"  # a path parameter that may contain '/'
    style = str(raw.get("style") or ("simple" if location in ("path", "header") else "form"))
    schema = raw.get("schema")
    return Parameter(
        name=str(raw.get("name", "")),
        location=location,
        required=bool(raw.get("required")) or location in ("path", "multi"),
        schema=schema if isinstance(schema, Mapping) else {},
        pointer=pointer,
        style=style,
        explode=bool(raw.get("explode", style == "form")),
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
