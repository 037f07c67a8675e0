"""The resource model of a compiled spec: declared kinds and bindings, plus REST collections
inferred from the spec's own shapes, so a user's description gets the same semantics.

Inference: beside `GET T/{key}` (or Twilio's `GET T/{key}.json` next to `T.json`), `GET T`
lists, `POST T` creates, and `GET`, `PUT`, `PATCH`, `POST`, `DELETE` on the item read,
update and delete. Operations under `T/{key}/…` reference the item: in a closed world they
answer not found when it does not exist. Filters are the list's query parameters named like
item fields; pagination is recognised by its parameters' names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from doppel.engine.declarations import (
    Aggregate,
    Binding,
    Declarations,
    Filter,
    Kind,
    Pagination,
    Reference,
)
from doppel.engine.generate import merge_all_of
from doppel.engine.refs import deref, escape, resolve_pointer
from doppel.engine.routing import Segment, parse_template
from doppel.errors import SpecError

_CREATED = ("created_at", "created", "date_created", "createdat", "creation_time", "createdon")
_UPDATED = ("updated_at", "updated", "date_updated", "updatedat", "modified_at", "last_modified")
_KEY_FIELDS = ("id", "sid", "number", "key", "uuid", "name", "slug")
_PARAM = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Resources:
    kinds: Mapping[str, Kind] = field(default_factory=dict)
    bindings: Mapping[str, Binding] = field(default_factory=dict)  # by operation pointer
    references: Mapping[str, tuple[Reference, ...]] = field(default_factory=dict)  # likewise
    schemas: Mapping[str, str] = field(default_factory=dict)  # kind → item schema pointer
    pagination: Mapping[str, Pagination] = field(default_factory=dict)  # named styles
    paths: Mapping[str, str] = field(default_factory=dict)  # inferred kind → its item's path

    def __bool__(self) -> bool:
        return bool(self.bindings or self.references)

    def kind(self, name: str) -> Kind:
        return self.kinds[name]


def build_resources(
    document: Mapping[str, Any], operations: Iterable[Any], declared: Declarations
) -> Resources:
    """Declared kinds and bindings (by operationId), then inferred ones where none is declared;
    and for every operation, the references its inputs make."""
    ops = list(operations)
    by_id = {op.operation_id: op for op in ops}
    kinds: dict[str, Kind] = dict(declared.resources)
    bindings: dict[str, Binding] = {}
    refinements: dict[str, tuple[str, Binding]] = {}
    for operation_id, binding in declared.operations.items():
        op = by_id.get(operation_id)
        if op is None:
            raise SpecError(
                f"x-doppel names operation {operation_id!r}, which the spec does not have",
                pointer=f"/x-doppel/operations/{escape(operation_id)}",
            )
        if binding.action is None:
            refinements[op.pointer] = (operation_id, binding)
        else:
            bindings[op.pointer] = binding
    schemas = {name: _kind_schema(name, kind, by_id) for name, kind in kinds.items()}
    pagination = dict(declared.pagination)
    references: dict[str, list[Reference]] = {}
    paths: dict[str, str] = {}
    for op in ops:
        names = input_names(document, op)
        for reference in declared.references:
            if set(reference.params) <= names:
                references.setdefault(op.pointer, []).append(reference)
    if declared.state:
        _infer(document, ops, kinds, bindings, schemas, references, pagination, paths)
    _check_names(declared, kinds, pagination)
    for pointer, (operation_id, refinement) in refinements.items():
        inferred = bindings.get(pointer)
        if inferred is None:
            raise SpecError(
                f"x-doppel refines operation {operation_id!r}, for which nothing is inferred: "
                "give it an `action`",
                pointer=f"/x-doppel/operations/{escape(operation_id)}",
            )
        bindings[pointer] = _refined(inferred, refinement)
    return Resources(
        kinds,
        bindings,
        {pointer: tuple(found) for pointer, found in references.items()},
        schemas,
        pagination,
        paths,
    )


def _check_names(
    declared: Declarations, kinds: Mapping[str, Kind], pagination: Mapping[str, Pagination]
) -> None:
    """Every kind and paging style a declaration names exists (inferred kinds count, by
    their collection path), and every action has what it needs: caught at compile, not on
    the request that first meets it."""

    def kind(name: str, where: str) -> None:
        if name not in kinds:
            raise SpecError(f"{where} names no resource {name!r}", pointer=where)

    for name, declared_kind in declared.resources.items():
        here = f"/x-doppel/resources/{escape(name)}"
        for field_name, relation in declared_kind.relations.items():
            kind(relation.kind, f"{here}/relations/{escape(field_name)}/kind")
        for view, fields in [("", declared_kind.computed), *declared_kind.views.items()]:
            for field_name, computed in fields.items():
                if isinstance(computed, Aggregate):
                    at = f"{here}/{'views/' + escape(view) if view else 'computed'}"
                    kind(computed.of, f"{at}/{escape(field_name)}/of")
        if declared_kind.fallback is not None:
            kind(declared_kind.fallback.kind, f"{here}/fallback/kind")
    for index, reference in enumerate(declared.references):
        kind(reference.kind, f"/x-doppel/references/{index}/kind")
    for operation_id, binding in declared.operations.items():
        here = f"/x-doppel/operations/{escape(operation_id)}"
        if binding.kind is not None:
            kind(binding.kind, f"{here}/kind")
        for name, lookup in binding.references.items():
            kind(lookup.kind, f"{here}/references/{escape(name)}/kind")
        for index, effect in enumerate(binding.effects):
            kind(effect.kind, f"{here}/effects/{index}/kind")
        if binding.pagination is not None and binding.pagination not in pagination:
            raise SpecError(
                f"no pagination style {binding.pagination!r}", pointer=f"{here}/pagination"
            )
        if binding.action == "answer" and binding.kind is not None:
            raise SpecError(
                "an `answer` acts on no resource: drop `kind`, or choose an action for it",
                pointer=f"{here}/kind",
            )
        if binding.action == "search" and binding.search is None:
            raise SpecError("a `search` needs its `search` member", pointer=f"{here}/search")
        if binding.action not in (None, "answer") and binding.kind is None:
            raise SpecError(f"a {binding.action!r} needs the `kind` it acts on", pointer=here)


def _refined(inferred: Binding, refinement: Binding) -> Binding:
    """An inferred binding with the members a template declares for it put over it."""
    given = refinement.model_dump(by_alias=True, exclude_unset=True)
    return Binding.model_validate({**inferred.model_dump(by_alias=True), **given})


def input_names(document: Mapping[str, Any], op: Any) -> set[str]:
    """Every named input of an operation: its parameters and its body's top-level members
    (Slack's `channel` is a form field)."""
    names = {p.name for p in op.parameters}
    for media in ((op.request_body or {}).get("content") or {}).values():
        schema = deref(document, (media or {}).get("schema"))
        if isinstance(schema, Mapping):
            names |= set(schema.get("properties") or {})
    return names


def _kind_schema(name: str, kind: Kind, by_id: Mapping[str, Any]) -> str:
    target = kind.schema_
    if target is None:
        return ""
    if target.startswith("#/"):
        return target[1:]
    op = by_id.get(target)
    if op is None:
        raise SpecError(
            f"resource {name!r}: schema names operation {target!r}, which the spec does not have",
            pointer=f"/x-doppel/resources/{escape(name)}/schema",
        )
    return success_schema(op) or ""


def success_schema(op: Any) -> str | None:
    """The pointer of an operation's first 2xx JSON answer schema."""
    for status in sorted(op.responses):
        if not status.startswith("2"):
            continue
        content = op.responses[status].get("content") or {}
        for media, obj in content.items():
            base = media.split(";")[0].strip().lower()
            if (base == "application/json" or base.endswith("+json")) and "schema" in (obj or {}):
                return f"{op.response_pointers[status]}/content/{escape(media)}/schema"
    return None


# -- inference --------------------------------------------------------------------------------


def _infer(
    document: Mapping[str, Any],
    ops: list[Any],
    kinds: dict[str, Kind],
    bindings: dict[str, Binding],
    schemas: dict[str, str],
    references: dict[str, list[Reference]],
    pagination: dict[str, Pagination],
    paths: dict[str, str],
) -> None:
    items: dict[str, tuple[str, str, Any]] = {}  # collection template → (key param, item, op)
    for op in ops:
        collection, last, suffix = _split(op.path)
        single = isinstance(last, Segment) and len(last.names) == 1
        parts = parse_template(collection)
        named = bool(parts) and isinstance(parts[-1], str)  # a collection is a noun, not `{id}`
        if op.method == "GET" and single and named and last.key in ("*", "{}" + suffix):
            items.setdefault(collection + suffix, (last.names[0], op.path, op))
    attached = {kind.path: name for name, kind in kinds.items() if kind.path is not None}
    for name, (param, item_path, reader) in items.items():
        schema = success_schema(reader)
        if schema is None:
            continue
        collection = name[: len(name) - len(_split(item_path)[2])]
        ops_here = [op for op in ops if op.path in (name, item_path)]
        lister = next((op for op in ops_here if op.path == name and op.method == "GET"), None)
        creator = any(op.path == name and op.method == "POST" for op in ops_here)
        if (lister is None and not creator) or (
            lister is not None and not _lists(document, lister)
        ):
            continue  # not a collection: `/user` answers one user, not a list of them
        if any(op.pointer in bindings for op in ops_here):
            continue  # the template declares this collection
        scope = _PARAM.findall(collection)
        kind_name = attached.pop(name, name)
        if kind_name in kinds:  # declared over this collection: what it leaves out is inferred
            declared_kind = kinds[kind_name]
            kinds[kind_name] = declared_kind.model_copy(
                update={"scope": declared_kind.scope or scope}
            )
        else:
            kinds[kind_name] = Kind(key=param, scope=scope)
        if not schemas.get(kind_name):
            schemas[kind_name] = schema
        paths.setdefault(kind_name, item_path)
        for op in ops_here:
            action = None if op.pointer in bindings else _action(op, collection, item_path)
            if action is None:
                continue
            style = _pagination_style(op) if action == "list" else None
            if style is not None:
                pagination[f"{op.pointer}"] = style
            bindings[op.pointer] = Binding(
                kind=kind_name,
                action=action,
                key=f"{{req.{param}}}",
                pagination=op.pointer if style is not None else None,
            )
        # Operations below the item (`/pets/{id}/photos`) need the item to exist.
        depth = len(parse_template(collection)) + 1
        below = _structure(collection) + "/{}/"
        for op in ops:
            if not _structure(op.path).startswith(below):
                continue
            segment = parse_template(op.path)[depth - 1]
            if isinstance(segment, Segment) and len(segment.names) == 1:
                key = f"{{req.{segment.names[0]}}}"
                within = {var: f"{{req.{var}}}" for var in _PARAM.findall(collection)}
                reference = Reference(params=[], kind=kind_name, key=key, scope=within)
                references.setdefault(op.pointer, []).append(reference)
    for path, kind_name in attached.items():
        raise SpecError(
            f"resource {kind_name!r} refines {path!r}, which is no collection of the spec "
            "(a path that lists or creates, beside its items' path)",
            pointer=f"/x-doppel/resources/{escape(kind_name)}/path",
        )


def _lists(document: Mapping[str, Any], op: Any) -> bool:
    """Whether an operation answers a list: an array, or an object holding one."""
    pointer = success_schema(op)
    if pointer is None:
        return False
    schema = _flat(document, resolve_pointer(document, "#" + pointer))
    if _is_array(document, schema):
        return True
    props = schema.get("properties") or {}
    return sum(_is_array(document, _flat(document, p)) for p in props.values()) == 1


def _flat(document: Mapping[str, Any], schema: Any) -> Mapping[str, Any]:
    resolved = deref(document, schema)
    if isinstance(resolved, Mapping) and "allOf" in resolved:
        return merge_all_of(resolved, document)
    return resolved if isinstance(resolved, Mapping) else {}


def _is_array(document: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "array" or (isinstance(kind, list) and "array" in kind) or "items" in schema


def _structure(template: str) -> str:
    """A path template with its parameter names erased: `/a/{x}/b` → `/a/{}/b`."""
    return _PARAM.sub("{}", template)


def _split(template: str) -> tuple[str, Any, str]:
    """(collection, last segment, suffix): `/a/{id}` → ("/a", {id}, ""), and
    `/a/{Sid}.json` → ("/a", {Sid}.json, ".json")."""
    parts = parse_template(template)
    if not parts:
        return "", None, ""
    head = template.rstrip("/").rsplit("/", 1)[0] or ""
    last = parts[-1]
    suffix = ""
    if isinstance(last, Segment) and last.key.startswith("{}") and last.key != "{}":
        suffix = last.key[2:]
        if "{" in suffix or "/" in suffix:
            suffix = ""
    return head, last, suffix


def _action(op: Any, collection: str, item_path: str) -> Any:
    suffix = _split(item_path)[2]
    if op.path == collection + suffix:
        return {"GET": "list", "POST": "create"}.get(op.method)
    return {
        "GET": "read",
        "DELETE": "delete",
        "PUT": "update",
        "PATCH": "update",
        "POST": "update",
    }.get(op.method)


def _pagination_style(op: Any) -> Pagination | None:
    """A list's paging, recognised from its query parameters' names."""
    names = {p.name for p in op.parameters if p.location == "query"}
    lowered = {n.lower(): n for n in names}
    if {"starting_after", "ending_before"} & set(lowered):
        return Pagination(
            style="after",
            size=lowered.get("limit"),
            after=lowered.get("starting_after"),
            before=lowered.get("ending_before"),
            default_size=_default(op, lowered.get("limit"), 10),
            has_more="has_more",
        )
    if "pagesize" in lowered and "page" in lowered:
        return Pagination(
            style="page",
            size=lowered["pagesize"],
            page=lowered["page"],
            first_page=0,
            default_size=_default(op, lowered["pagesize"], 50),
            max_size=1000,
            uris={
                "next": "next_page_uri",
                "previous": "previous_page_uri",
                "first": "first_page_uri",
            },
            meta={
                "page": "page",
                "page_size": "page_size",
                "start": "start",
                "end": "end",
                "uri": "uri",
            },
        )
    if "per_page" in lowered and "page" in lowered:
        return Pagination(
            style="page",
            size=lowered["per_page"],
            page=lowered["page"],
            default_size=_default(op, lowered["per_page"], 30),
            link=True,
        )
    if "cursor" in lowered:
        return Pagination(
            style="cursor",
            size=lowered.get("limit"),
            cursor=lowered["cursor"],
            default_size=_default(op, lowered.get("limit"), 100),
            max_size=1000,
        )
    if "offset" in lowered:
        return Pagination(
            style="offset",
            size=lowered.get("limit"),
            offset=lowered["offset"],
            default_size=_default(op, lowered.get("limit"), 100),
        )
    if "limit" in lowered:
        return Pagination(style="offset", size=lowered["limit"], default_size=1000, max_size=1000)
    return None


def _default(op: Any, name: str | None, fallback: int) -> int:
    for param in op.parameters:
        if param.name == name and isinstance(param.schema, Mapping):
            value = param.schema.get("default")
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return fallback


def inferred_filters(op: Any, item_schema: Mapping[str, Any]) -> dict[str, Filter]:
    """A list's query parameters named like item fields filter by equality (`To` → `to`)."""
    props = item_schema.get("properties") or {}
    table = {name.replace("_", "").lower(): name for name in props}
    found: dict[str, Filter] = {}
    for param in op.parameters:
        if param.location != "query":
            continue
        target = table.get(param.name.replace("_", "").lower())
        if target is not None:
            found[param.name] = Filter(field=[target])
    return found


def key_field(param: str, properties: Iterable[str]) -> str | None:
    """Which item field holds the key a path parameter names: the parameter's own name,
    `number` for `issue_number`, `id` for `petId` or `customer`, else `sid`, `key`, `name`."""
    props = list(properties)
    lowered = {p.lower(): p for p in props}
    candidates = [param, param.lower()]
    for suffix in ("_number", "_id", "_key", "_sid", "_name", "Sid", "Id", "ID", "Key"):
        if param.endswith(suffix) and len(param) > len(suffix):
            candidates.append(suffix.strip("_").lower())
    candidates += list(_KEY_FIELDS)
    for candidate in candidates:
        if candidate in props:
            return candidate
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return None


def item_param(item_path: str) -> str:
    """The path parameter naming one item: `Sid` of `/Accounts/{Sid}.json`."""
    found = _PARAM.findall(item_path)
    return found[-1] if found else ""


def timestamp_fields(properties: Iterable[str]) -> tuple[list[str], list[str]]:
    """Fields a create stamps with the clock, and fields every update does."""
    props = list(properties)
    norm = {p.replace("_", "").lower(): p for p in props}
    created = [norm[n.replace("_", "")] for n in _CREATED if n.replace("_", "") in norm]
    updated = [norm[n.replace("_", "")] for n in _UPDATED if n.replace("_", "") in norm]
    return created, updated


def schema_at(document: Mapping[str, Any], pointer: str) -> Any:
    return deref(document, resolve_pointer(document, "#" + pointer)) if pointer else {}
