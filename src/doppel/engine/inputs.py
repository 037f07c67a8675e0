"""A request's named inputs, with the types its operation declares.

Path, query, form and JSON values are merged into one mapping (path parameters win: a body
cannot move a request to another repository). Strings from URLs and forms become what the
spec declares — numbers, booleans, arrays — and bracketed form names nest the way Stripe and
Rails clients send them: `metadata[plan]=pro`, `items[0][price]=p1`, `expand[]=a`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from doppel.engine.compile import CompiledSpec, Operation
from doppel.engine.model import MockRequest
from doppel.engine.refs import deref
from doppel.engine.shape import _parsed, flat, types
from doppel.engine.validate import coerce

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_MAX_DEPTH = 8


def request_inputs(
    spec: CompiledSpec, op: Operation, request: MockRequest, path_params: Mapping[str, str]
) -> dict[str, Any]:
    inputs = _as_query(spec, op, nest(request.query_params()))
    inputs.update(_body(spec, op, request))
    for param in op.parameters:
        if param.location in ("path", "multi") and param.name in path_params:
            raw = path_params[param.name]
            inputs[param.name] = (
                coerce([raw], deref(spec.document, param.schema), spec.document, param)
                if param.schema
                else raw
            )
    return inputs


def _as_query(spec: CompiledSpec, op: Operation, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Fields typed as the operation's query parameters of the same names declare them
    (`exclude_archived=1` a boolean true); others as sent."""
    inputs: dict[str, Any] = {}
    declared = {p.name: p for p in op.parameters if p.location == "query"}
    for name, values in fields.items():
        param = declared.get(name)
        if param is not None and isinstance(values, list) and param.schema:
            value = coerce(values, deref(spec.document, param.schema), spec.document, param)
            inputs[name] = _lossless(values[-1], value)
        else:
            inputs[name] = _last(values)
    return inputs


class _Listed(list[str]):
    """Values sent as a list (`a[]=x&a[]=y`), not a name repeated by accident."""


def _last(values: Any) -> Any:
    """An undeclared input as sent: the last value of a repeated name, a list for `a[]`
    names, an object for bracketed ones (`metadata[plan]=pro`)."""
    if isinstance(values, dict):
        return {k: _last(v) for k, v in values.items()}
    if isinstance(values, _Listed):
        return list(values)
    if isinstance(values, list) and values and _plain(values):
        return values[-1]
    return values


def _plain(values: list[Any]) -> bool:
    return all(isinstance(v, str) for v in values)


def _body(spec: CompiledSpec, op: Operation, request: MockRequest) -> dict[str, Any]:
    body = request.json_body()
    if isinstance(body, dict):
        return body
    if isinstance(body, list):
        return {"@body": body}  # a bare array (GitHub's add-labels takes one)
    form = request.form_body()
    if not form:
        return {}
    nested = nest(form)
    schema = _form_schema(spec, op)
    if schema is None:
        # A form the operation does not describe: an RPC method declared with query
        # parameters, POSTed as a form (slack-sdk sends every method so). Its fields take
        # the query parameters' types, as they would in the query.
        return _as_query(spec, op, nested)
    return {name: typed(spec, _member(spec, schema, name), v) for name, v in nested.items()}


def _form_schema(spec: CompiledSpec, op: Operation) -> Any:
    body = op.request_body or {}
    media = (body.get("content") or {}).get("application/x-www-form-urlencoded")
    schema = (media or {}).get("schema")
    return flat(spec, schema) if schema is not None else None


def _member(spec: CompiledSpec, schema: Mapping[str, Any], name: str) -> Any:
    props = schema.get("properties") or {}
    if name in props:
        return props[name]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else {}


def _lossless(text: Any, value: Any) -> Any:
    """A number only where it keeps what was sent: Slack's ts `1700000060.000100`, declared
    a number, stays the text it is (as a float it would lose its last zeros and its key)."""
    if isinstance(value, float) and isinstance(text, str) and repr(value) != text.strip():
        return text
    return value


def nest(fields: Mapping[str, list[str]]) -> dict[str, Any]:
    """Form or query fields with bracketed names nested: `a[b]=1` → `{"a": {"b": ["1"]}}`,
    `a[0][b]=1` → `{"a": [{"b": ["1"]}]}`, `a[]=1&a[]=2` → `{"a": ["1", "2"]}`. Leaves stay
    lists of the strings sent (a name may repeat)."""
    out: dict[str, Any] = {}
    for raw, values in fields.items():
        keys = _keys(raw)
        if keys is None:
            out[raw] = values
        else:
            _insert(out, keys, values)
    return {k: _indexed(v) for k, v in out.items()}


def _keys(raw: str) -> list[str] | None:
    head, bracket, rest = raw.partition("[")
    if not bracket:
        return [raw]
    parts = _BRACKETS.findall(bracket + rest)
    if not head or len(parts) > _MAX_DEPTH or "".join(f"[{p}]" for p in parts) != bracket + rest:
        return None  # not bracket notation after all: keep the name as sent
    return [head, *parts]


def _insert(node: dict[str, Any], keys: list[str], values: list[str]) -> None:
    for i, key in enumerate(keys[:-1]):
        if keys[i + 1] == "":  # `expand[]`: values accumulate in a list
            found = node.setdefault(key, _Listed())
            if isinstance(found, list):
                found.extend(values)
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    last = keys[-1]
    node[last] = _merged(node[last], values) if last in node else values


def _merged(old: Any, new: list[str]) -> Any:
    return old + new if isinstance(old, list) else new


def _indexed(value: Any) -> Any:
    """`{"0": {...}, "1": {...}}` (from `items[0][..]`) becomes a list, in index order."""
    if isinstance(value, dict):
        value = {k: _indexed(v) for k, v in value.items()}
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
    return value


def typed(spec: CompiledSpec, schema: Any, value: Any, depth: int = 0) -> Any:
    """Form strings as the schema's types; what does not parse is kept as sent (request
    validation, when on, names it)."""
    s = flat(spec, schema)
    if depth > _MAX_DEPTH:
        return value
    kinds = types(s)
    if isinstance(value, list):
        if "array" in kinds:
            items = s.get("items", {})
            if len(value) == 1 and isinstance(value[0], str) and "," in value[0]:
                value = value[0].split(",")
            return [typed(spec, items, v, depth + 1) for v in value]
        return typed(spec, s, value[-1], depth + 1) if value else value
    if isinstance(value, dict):
        return {k: typed(spec, _member(spec, s, k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, str):
        if "null" in kinds and value == "":
            return None
        parsed = _parsed(value, kinds)
        return _lossless(value, parsed[0]) if parsed and "string" not in kinds else value
    return value
