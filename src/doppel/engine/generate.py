"""Data generated from a JSON Schema: valid against it, deterministic for a given `rng`.

Honours types, formats, enums, const, bounds, required, `allOf`/`oneOf`/`anyOf` with
discriminators, and nullable types. Recursive schemas terminate: past a depth only required
properties and minimum-length arrays are produced.
"""

from __future__ import annotations

import base64
import math
import random
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from doppel.engine.refs import DOCUMENT_URI, resolve_pointer
from doppel.engine.strings import string_matching

_OPTIONAL_DEPTH = 3  # optional properties are filled down to this depth
_HARD_DEPTH = 24  # past this a required recursion yields null rather than overflow
_CHECK_BUDGET = 400  # branch checks per generated value: bounds nested oneOf retries
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def generate(
    schema: Any,
    document: Mapping[str, Any],
    rng: random.Random,
    now: datetime,
    *,
    use_examples: bool = True,
    writing: bool = False,
    explore: bool = False,
    check: Callable[[Any, Any], bool] | None = None,
) -> Any:
    """A value for `schema`; `use_examples` prefers the schema's own examples and defaults.

    `explore` draws `oneOf`/`anyOf` branches at random instead of taking the first, for
    retrying when a first attempt turns out ambiguous. `check(schema, value)`, when given, lets
    `oneOf`/`anyOf` move on to the next branch until a value satisfies the whole schema.
    """
    generator = _Generator(document, rng, now, use_examples, writing, explore, check)
    return generator.value(schema, 0, "")


def merge_all_of(schema: Mapping[str, Any], document: Mapping[str, Any]) -> dict[str, Any]:
    """One schema with the members of `allOf` folded in.

    Properties named twice must satisfy both (nested `allOf`), `required` is unioned, and
    `enum`/`type` are intersected, so the result is at least as tight as every member.
    """
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for member in schema.get("allOf") or ():
        part = _resolve(member, document)
        if isinstance(part, Mapping) and "allOf" in part:
            part = merge_all_of(part, document)
        if isinstance(part, Mapping):
            _fold(merged, part)
    return merged


def _fold(merged: dict[str, Any], part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        mine = merged.get(key)
        if key not in merged:
            merged[key] = value
        elif key == "properties" and isinstance(value, Mapping) and isinstance(mine, Mapping):
            props = dict(mine)
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            merged[key] = props
        elif key == "required" and isinstance(mine, list) and isinstance(value, list):
            merged[key] = list(dict.fromkeys([*mine, *value]))
        elif key == "enum" and isinstance(mine, list) and isinstance(value, list):
            both = [v for v in mine if v in value]
            merged[key] = both or mine
        elif key == "type":
            ours = mine if isinstance(mine, list) else [mine]
            theirs = value if isinstance(value, list) else [value]
            both = [t for t in ours if t in theirs or (t == "integer" and "number" in theirs)]
            merged[key] = both or ours


def _resolve(schema: Any, document: Mapping[str, Any]) -> Any:
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 64:
        schema = resolve_pointer(document, schema["$ref"])
        seen += 1
    return schema


def type_fits(value: Any, kinds: Any) -> bool:
    """Whether a JSON value has one of the schema's declared types."""
    if kinds is None:
        return True
    names = kinds if isinstance(kinds, list) else [kinds]
    for name in names:
        if name == "null" and value is None:
            return True
        allowed = _JSON_TYPES.get(name)
        if (
            allowed
            and isinstance(value, allowed)
            and not (isinstance(value, bool) and name in ("integer", "number"))
        ):
            return name != "integer" or isinstance(value, int)
    return False


class _Generator:
    def __init__(
        self,
        document: Mapping[str, Any],
        rng: random.Random,
        now: datetime,
        use_examples: bool,
        writing: bool,
        explore: bool = False,
        check: Callable[[Any, Any], bool] | None = None,
    ) -> None:
        self.explore = explore
        self.check = check
        self.budget = _CHECK_BUDGET
        self.document = document
        self.rng = rng
        self.now = now
        self.use_examples = use_examples
        self.skip = "readOnly" if writing else "writeOnly"

    def value(self, schema: Any, depth: int, name: str) -> Any:
        if depth > _HARD_DEPTH:
            return None
        schema = _resolve(schema, self.document)
        if schema is True or schema is None:
            return name or "value"
        if not isinstance(schema, Mapping):
            return None
        if "const" in schema:
            return schema["const"]
        if self.use_examples:
            found, example = self._example(schema)
            if found:
                return example
        if "allOf" in schema:
            return self.value(merge_all_of(schema, self.document), depth, name)
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:  # the tightest constraint: before any oneOf
            options = [v for v in enum if v is not None] or enum
            return self.rng.choice(options)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return self._choice(schema, key, depth, name)
        kind = self._type(schema)
        if kind == "null":
            return None
        return getattr(self, f"_{kind}")(schema, depth, name)

    def _example(self, schema: Mapping[str, Any]) -> tuple[bool, Any]:
        kinds = schema.get("type")
        examples = schema.get("examples")
        candidates = [*examples] if isinstance(examples, list) else []
        candidates += [schema[k] for k in ("example", "default") if k in schema]
        for candidate in candidates:
            if (
                type_fits(candidate, kinds)
                and _enum_allows(schema, candidate)
                and (self._items_fit(schema, candidate))
            ):
                return True, candidate
        return False, None

    def _items_fit(self, schema: Mapping[str, Any], value: Any) -> bool:
        """An array example's items must have the items' type and enum too."""
        if not isinstance(value, list):
            return True
        items = _resolve(schema.get("items"), self.document)
        if not isinstance(items, Mapping):
            return True
        return all(type_fits(v, items.get("type")) and _enum_allows(items, v) for v in value)

    def _type(self, schema: Mapping[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if isinstance(kind, str) and kind in (*_JSON_TYPES, "null"):
            return kind
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    def _choice(self, schema: Mapping[str, Any], key: str, depth: int, name: str) -> Any:
        members = [m for m in schema[key] if _resolve(m, self.document) != {"type": "null"}]
        if not members:
            return None
        if self.explore:
            members = self.rng.sample(members, len(members))
        first: Any = None
        for i, member in enumerate(members):
            value = self._branch(schema, key, member, depth, name)
            if i == 0:
                first = value
            # `oneOf` wants exactly one branch to match: check, and try the next branch if not.
            if self.check is None or self.budget <= 0:
                return value
            self.budget -= 1
            if self.check(schema, value):
                return value
        return first

    def _branch(
        self, schema: Mapping[str, Any], key: str, member: Any, depth: int, name: str
    ) -> Any:
        base = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
        value = self.value({"allOf": [base, member]} if base else member, depth, name)
        discriminator = schema.get("discriminator") or {}
        prop = discriminator.get("propertyName")
        if prop and isinstance(value, dict):
            mapping = discriminator.get("mapping") or {}
            ref = member.get("$ref", "") if isinstance(member, Mapping) else ""
            tag = next((k for k, v in mapping.items() if _same_ref(v, ref)), None)
            if tag is None and ref:
                resolved = _resolve(member, self.document)
                own = (resolved.get("properties") or {}).get(prop, {})
                tag = own.get("const") or (own.get("enum") or [None])[0] or ref.rsplit("/", 1)[-1]
            if tag is not None:
                value[prop] = tag
        return value

    def _object(self, schema: Mapping[str, Any], depth: int, name: str) -> dict[str, Any]:
        required = set(schema.get("required") or ())
        out: dict[str, Any] = {}
        for prop, sub in (schema.get("properties") or {}).items():
            resolved = _resolve(sub, self.document)
            if isinstance(resolved, Mapping) and resolved.get(self.skip) and prop not in required:
                continue
            if prop in required or (
                depth < _OPTIONAL_DEPTH and (not self.explore or self.rng.random() < 0.5)
            ):
                out[prop] = self.value(sub, depth + 1, prop)
        extra = schema.get("additionalProperties")
        for prop in sorted(required - set(out)):
            # Required yet undeclared: whatever additionalProperties allows.
            if extra is not False:
                out[prop] = self.value(extra if isinstance(extra, Mapping) else {}, depth + 1, prop)
        if not out and isinstance(extra, Mapping) and extra and depth < _OPTIONAL_DEPTH:
            out[f"{name or 'key'}1"] = self.value(extra, depth + 1, name)
        return out

    def _array(self, schema: Mapping[str, Any], depth: int, name: str) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", low + 2))
        count = max(low, min(1 if depth < _OPTIONAL_DEPTH * 2 else 0, high))
        items = schema.get("items", {})
        prefix = schema.get("prefixItems") or []
        out: list[Any] = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            value = self.value(sub, depth + 1, name)
            if schema.get("uniqueItems") and value in out:
                value = self.value(sub, depth + 1, f"{name}{i}")
            out.append(value)
        return out

    def _string(self, schema: Mapping[str, Any], depth: int, name: str) -> str:
        fmt = schema.get("format")
        text = self._formatted(fmt) if isinstance(fmt, str) else None
        if text is None and isinstance(schema.get("pattern"), str):
            text = string_matching(schema["pattern"], self.rng)
        if text is None:
            text = f"{name or 'string'}-{self.rng.randint(1, 9999)}"
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        if len(text) < low:
            text += "x" * (low - len(text))
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        return text

    def _formatted(self, fmt: str) -> str | None:
        rng = self.rng
        moment = self.now - timedelta(seconds=rng.randint(0, 86400 * 30))
        match fmt:
            case "date-time":
                return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            case "date":
                return moment.strftime("%Y-%m-%d")
            case "time":
                return moment.strftime("%H:%M:%S")
            case "date-time-rfc-2822":
                return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")
            case "email" | "idn-email":
                return f"user{rng.randint(1, 999)}@example.com"
            case "uri" | "url" | "iri" | "uri-reference":
                return f"https://example.com/{rng.randint(1, 9999)}"
            case "hostname" | "idn-hostname":
                return "example.com"
            case "uuid":
                return str(uuid.UUID(int=rng.getrandbits(128), version=4))
            case "ipv4":
                return f"192.0.2.{rng.randint(1, 254)}"
            case "ipv6":
                return f"2001:db8::{rng.randint(1, 65535):x}"
            case "byte":
                return base64.b64encode(rng.randbytes(6)).decode()
            case "int64" | "int32" | "snowflake":
                return str(rng.randint(10**15, 10**17))
            case "duration":
                return "PT1H"
        return None

    def _integer(self, schema: Mapping[str, Any], depth: int, name: str) -> int:
        low, high = _bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first = -(-low // step) * step
            return int(first if first <= high else low)
        return self.rng.randint(low, high)

    def _number(self, schema: Mapping[str, Any], depth: int, name: str) -> float | int:
        if isinstance(schema.get("multipleOf"), int):
            return self._integer(schema, depth, name)
        low, high = _bounds(schema, integer=False)
        return round(self.rng.uniform(low, high), 2) if high - low > 0.02 else low

    def _boolean(self, schema: Mapping[str, Any], depth: int, name: str) -> bool:
        return self.rng.random() < 0.5


def _same_ref(a: Any, b: Any) -> bool:
    return (
        isinstance(a, str)
        and isinstance(b, str)
        and (a.removeprefix(DOCUMENT_URI) == b.removeprefix(DOCUMENT_URI))
    )


def _enum_allows(schema: Mapping[str, Any], value: Any) -> bool:
    enum = schema.get("enum")
    return not isinstance(enum, list) or value in enum


def _bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[Any, Any]:
    low = schema.get("minimum")
    high = schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), (int, float)) and not isinstance(
        schema.get("exclusiveMinimum"), bool
    ):
        low = schema["exclusiveMinimum"] + (1 if integer else 0.01)
    if isinstance(schema.get("exclusiveMaximum"), (int, float)) and not isinstance(
        schema.get("exclusiveMaximum"), bool
    ):
        high = schema["exclusiveMaximum"] - (1 if integer else 0.01)
    low = 1 if low is None else low
    high = max(low, 1000) if high is None else high
    if low > high:
        low = high
    if integer:
        return math.ceil(low), math.floor(high)
    return low, high
