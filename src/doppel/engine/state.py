"""Stateful resources: what an agent creates, changes or deletes, it reads back.

Inferred once per spec from REST shapes: beside `GET T/{key}`, `POST T` creates, `GET T`
lists, and `GET`, `PUT`, `PATCH`, `POST` and `DELETE` on `T/{key}` read, update and delete.
The state itself is a plain mapping the dataplane keeps per service instance —
`{collection path: {key: resource, or None once deleted}}` — which the engine only reads;
it returns the changes to make.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from doppel.engine.model import MockRequest, StateChange
from doppel.engine.routing import Segment, parse_template

if TYPE_CHECKING:
    from doppel.engine.compile import Operation

State = Mapping[str, Mapping[str, Any]]
Kind = Literal["create", "list", "read", "update", "delete"]
_UPDATES = frozenset({"PUT", "PATCH", "POST"})
_COLLECTION_KINDS: dict[str, Kind] = {"POST": "create", "GET": "list"}
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True, slots=True)
class Resource:
    """How one operation touches a collection: `collection` is its path template, `key` the
    name of the item template's last parameter (`issue_number` in `…/issues/{issue_number}`)."""

    kind: Kind
    collection: str
    key: str


def infer_resources(operations: Iterable[Operation]) -> dict[str, Resource]:
    """Operation pointer → its part in a collection, for every REST-shaped collection."""
    ops = list(operations)
    items: dict[str, str] = {}  # collection template → key parameter of `GET T/{key}`
    for op in ops:
        parent, last = _split(op.path)
        if op.method == "GET" and isinstance(last, Segment) and last.key == "*":
            items.setdefault(parent, last.names[0])
    found: dict[str, Resource] = {}
    for op in ops:
        if op.path in items:
            kind = _COLLECTION_KINDS.get(op.method)
            if kind is not None:
                found[op.pointer] = Resource(kind, op.path, items[op.path])
            continue
        parent, last = _split(op.path)
        key = items.get(parent)
        if key is None or not (isinstance(last, Segment) and last.names == (key,)):
            continue
        if op.method == "GET":
            found[op.pointer] = Resource("read", parent, key)
        elif op.method == "DELETE":
            found[op.pointer] = Resource("delete", parent, key)
        elif op.method in _UPDATES:
            found[op.pointer] = Resource("update", parent, key)
    return found


def _split(template: str) -> tuple[str, str | Segment | None]:
    parts = parse_template(template)
    if not parts:
        return "", None
    head = template.rstrip("/").rsplit("/", 1)[0]
    return head or "/", parts[-1]


def collection_path(resource: Resource, path_params: Mapping[str, str]) -> str:
    """The concrete collection (`/repos/o/r/issues`) the request is about."""
    path = resource.collection
    for name, value in path_params.items():
        path = path.replace("{" + name + "}", value)
    return path


def touches(
    resource: Resource | None,
    rules: Iterable[Rule],
    state: State,
    path_params: Mapping[str, str],
    request: MockRequest,
) -> bool:
    """Whether state can change or show in this answer: every create or store does; a read,
    list, update or delete only when its collection holds something (the common case on a
    fresh sandbox, which then costs no parsing of the answer)."""
    if resource is not None and (
        resource.kind == "create" or collection_path(resource, path_params) in state
    ):
        return True
    for rule in rules:
        if rule.kind == "store" or _filled(rule.collection, request.params()) in state:
            return True
    return False


def key_field(param: str, value: Mapping[str, Any]) -> str | None:
    """Which field of a resource holds its key: the parameter's own name, `number` for
    `…_number`, else `id`, `key`, `sid` or `name`, whichever the resource has."""
    candidates = [param, param.lower()]
    for suffix in ("_number", "_id", "_key", "_sid", "Sid", "_name"):
        if param.endswith(suffix):
            candidates.append(suffix.strip("_").lower())
    candidates += ["id", "number", "key", "sid", "name"]
    return next((c for c in candidates if c in value and _scalar(value[c])), None)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What state makes of an answer: a new body (None: keep it), changes, or a miss (the
    resource was deleted: answer not found)."""

    body: Any = None
    changes: tuple[StateChange, ...] = ()
    gone: bool = False
    read: bool = False  # the body shows stored resources (a read or a list)


def apply(
    resource: Resource,
    state: State,
    path_params: Mapping[str, str],
    request: MockRequest,
    answer: Any,
) -> Outcome | None:
    """The state's effect on one successful JSON answer, or None when it has none."""
    collection = collection_path(resource, path_params)
    stored = state.get(collection, {})
    key = path_params.get(resource.key)
    match resource.kind:
        case "create":
            return _create(resource, collection, stored, answer)
        case "list":
            return _list(resource, stored, answer) if stored else None
        case "read":
            if key is None or key not in stored:
                return None
            if stored[key] is None:
                return Outcome(gone=True)
            return Outcome(body=stored[key], read=True)
        case "update":
            if key is None or stored.get(key, ...) is None:
                return Outcome(gone=True) if key in stored else None
            current = stored.get(key, answer)
            if not isinstance(current, dict):
                return None
            fixed = {key_field(resource.key, current), "id"}  # a resource keeps its identity
            sent = {k: v for k, v in _sent_fields(request, current).items() if k not in fixed}
            merged = {**current, **sent}
            body = merged if isinstance(answer, dict) else None
            return Outcome(body=body, changes=(StateChange(collection, key, merged),))
        case "delete":
            if key is None:
                return None
            if stored.get(key, ...) is None and key in stored:
                return Outcome(gone=True)
            return Outcome(changes=(StateChange(collection, key, None),))
    return None  # pragma: no cover - the match is exhaustive


def _create(
    resource: Resource, collection: str, stored: Mapping[str, Any], answer: Any
) -> Outcome | None:
    if not isinstance(answer, dict):
        return None
    field = key_field(resource.key, answer)
    if field is None:
        return None
    value = answer[field]
    if str(value) in stored:
        value = _next_key(value, stored)
        answer = _rekeyed(answer, field, answer[field], value)
    return Outcome(body=answer, changes=(StateChange(collection, str(value), answer),))


def _next_key(value: str | int, stored: Mapping[str, Any]) -> str | int:
    if isinstance(value, int):
        numbers = [int(k) for k in stored if k.lstrip("-").isdigit()]
        return max([value, *numbers]) + 1
    return f"{value}-{len(stored) + 1}"


def _rekeyed(answer: dict[str, Any], field: str, old: Any, new: Any) -> dict[str, Any]:
    """The created resource under its new key, its self links (`…/issues/4`) too."""
    suffix, replacement = f"/{old}", f"/{new}"
    out = dict(answer)
    out[field] = new
    for name, text in answer.items():
        if name != field and isinstance(text, str) and text.endswith(suffix):
            out[name] = text[: -len(suffix)] + replacement
    return out


def _list(resource: Resource, stored: Mapping[str, Any], answer: Any) -> Outcome | None:
    """Created resources first (newest first), then the answer's own items not replaced or
    deleted: into a JSON array, or into the one array of objects an answer object holds."""
    if isinstance(answer, list):
        return Outcome(body=_merged(resource, stored, answer), read=True)
    if isinstance(answer, dict):
        arrays = [
            name
            for name, value in answer.items()
            if isinstance(value, list) and all(isinstance(v, dict) for v in value)
        ]
        if len(arrays) == 1:
            merged = _merged(resource, stored, answer[arrays[0]])
            return Outcome(body={**answer, arrays[0]: merged}, read=True)
    return None


def _merged(resource: Resource, stored: Mapping[str, Any], items: list[Any]) -> list[Any]:
    created = [value for value in reversed(list(stored.values())) if value is not None]
    kept = []
    for item in items:
        field = key_field(resource.key, item) if isinstance(item, dict) else None
        if field is None or str(item[field]) not in stored:
            kept.append(item)
    return created + kept


def _sent_fields(request: MockRequest, current: Mapping[str, Any]) -> dict[str, Any]:
    """The request's fields that the resource has, with a value of the same JSON type."""
    sent = request.params()
    return {
        name: value
        for name, value in sent.items()
        if name in current and type(value) is type(current[name])
    }


def decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


# -- declared rules, for APIs whose shapes say nothing (Slack's RPC) ---------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """From a template's `x-doppel.state`: on `path`, either store the answer's `field`
    (`/message`) in `collection` — a template filled from the request (`/history/{channel}`),
    with `set` copying request params into the stored item and `key` naming the item field
    to keep unique — or list that collection into the answer's array at `field`
    (`/messages`), newest first."""

    kind: Literal["store", "list"]
    path: str
    collection: str
    field: str
    set: Mapping[str, str]
    key: str = ""  # the item's own key (Slack's `ts`), kept unique within the collection


def parse_rules(raw: Any) -> dict[str, tuple[Rule, ...]]:
    """`x-doppel.state`: `[{path, store|list: {collection, field, set?}}]`, by path."""
    rules: dict[str, list[Rule]] = {}
    for entry in raw if isinstance(raw, list) else ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
            continue
        for kind in ("store", "list"):
            spec = entry.get(kind)
            if isinstance(spec, Mapping) and isinstance(spec.get("collection"), str):
                rule = Rule(
                    kind,
                    entry["path"],
                    spec["collection"],
                    str(spec.get("field", "")).lstrip("/"),
                    {str(k): str(v) for k, v in (spec.get("set") or {}).items()},
                    str(spec.get("key", "")),
                )
                rules.setdefault(rule.path, []).append(rule)
    return {path: tuple(found) for path, found in rules.items()}


def apply_rule(rule: Rule, state: State, request: MockRequest, answer: Any) -> Outcome | None:
    params = request.params()
    collection = _filled(rule.collection, params)
    if collection is None or not isinstance(answer, dict):
        return None
    stored = state.get(collection, {})
    if rule.kind == "list":
        items = answer.get(rule.field)
        if not stored or not isinstance(items, list):
            return None
        created = [value for value in reversed(list(stored.values())) if value is not None]
        return Outcome(body={**answer, rule.field: created + items}, read=True)
    item = answer.get(rule.field)
    if not isinstance(item, dict):
        return None
    sent = {
        field: params[param]
        for field, param in rule.set.items()
        if isinstance(params.get(param), str) and isinstance(item.get(field, ""), str)
    }
    item = {**item, **sent}
    answered = {**answer, rule.field: item}
    old = item.get(rule.key) if rule.key else None
    if isinstance(old, str) and any(
        isinstance(v, dict) and v.get(rule.key) == old for v in stored.values()
    ):
        new = _bumped(old, {v.get(rule.key) for v in stored.values() if isinstance(v, dict)})
        item[rule.key] = new
        if answered.get(rule.key) == old:  # chat.postMessage repeats the message's ts
            answered[rule.key] = new
    key = f"{len(stored) + 1:08d}"  # arrival order
    return Outcome(body=answered, changes=(StateChange(collection, key, item),))


def _bumped(value: str, taken: set[Any]) -> str:
    """The next free key after `value`: Slack's `1700007800.000300` becomes `…000301`."""
    whole, dot, fraction = value.partition(".")
    for n in range(1, len(taken) + 2):
        if dot and fraction.isdigit():
            candidate = f"{whole}.{int(fraction) + n:0{len(fraction)}d}"
        else:
            candidate = f"{value}-{n}"
        if candidate not in taken:
            return candidate
    return f"{value}-{len(taken) + 1}"  # pragma: no cover - the loop always finds one


def _filled(template: str, params: Mapping[str, Any]) -> str | None:
    out = template
    for name in _PLACEHOLDER.findall(template):
        value = params.get(name)
        if not isinstance(value, str | int) or isinstance(value, bool):
            return None
        out = out.replace("{" + name + "}", str(value))
    return out
