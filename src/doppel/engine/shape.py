"""Values fitted to schemas: what an agent sends, stored the way the provider would answer it,
and stored resources shown the way each operation declares its answer.

`shape` turns inputs (request values, fixture values) into a value of a schema: form strings
become numbers or booleans, a time becomes the schema's date format, `To` fills `to`, a label
name becomes a label object (through a relation, else a generated object carrying the name).
Whatever cannot fit is left out rather than stored wrong. `project` shows a stored value as
a schema wants it: members the schema does not declare are dropped, required ones it lacks
are filled from a template value of that schema.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from doppel.engine.compile import CompiledSpec
from doppel.engine.expressions import MISSING, iso
from doppel.engine.generate import generate, merge_all_of, type_fits
from doppel.engine.refs import DOCUMENT_URI, deref
from doppel.engine.validate import fits

# A relation: (field, target schema, the value sent) → the related object(s), or MISSING.
Relate = Callable[[str, Any, Any], Any]
_TEMPLATE_TIME = datetime(2026, 1, 1)
_MAX_DEPTH = 12
_NAME_FIELDS = ("name", "login", "id", "key", "title", "slug")


def flat(spec: CompiledSpec, schema: Any) -> Mapping[str, Any]:
    """The schema with `$ref`s followed and `allOf` folded in (cached per schema object)."""
    key = ("flat", id(schema))
    entry = spec.cache.get(key)
    if entry is not None and entry[0] is schema:
        return entry[1]  # type: ignore[no-any-return]
    resolved = deref(spec.document, schema)
    if not isinstance(resolved, Mapping):
        out: Mapping[str, Any] = {}
    elif "allOf" in resolved:
        out = merge_all_of(resolved, spec.document)
    else:
        out = resolved
    spec.cache[key] = (schema, out)
    return out


def types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    if isinstance(kind, str):
        return {kind}
    if "properties" in schema or "additionalProperties" in schema:
        return {"object"}
    if "items" in schema:
        return {"array"}
    return set()


def branches(spec: CompiledSpec, schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The alternatives of a `oneOf`/`anyOf` (each merged with the schema's other members),
    computed once per schema."""
    key = ("branches", id(schema))
    entry = spec.cache.get(key)
    if entry is not None and entry[0] is schema:
        return entry[1]  # type: ignore[no-any-return]
    found: list[Mapping[str, Any]] = []
    for name in ("oneOf", "anyOf"):
        members = schema.get(name)
        if isinstance(members, list) and members:
            base = {k: v for k, v in schema.items() if k not in (name, "discriminator")}
            found = [flat(spec, {"allOf": [base, m]} if base else m) for m in members]
            break
    spec.cache[key] = (schema, found)
    return found


def ranked(
    spec: CompiledSpec,
    alternatives: list[Mapping[str, Any]],
    value: Any,
    schema: Mapping[str, Any] | None = None,
) -> list[Mapping[str, Any]]:
    """The alternatives a value may belong to, best first: the one its discriminator maps
    to, those whose tags it carries (a `type: FRAME` node is a FrameNode, whatever else
    it shares with a component), then those whose required members it has, then by
    members in common."""
    if not isinstance(value, dict):
        return sorted(alternatives, key=lambda b: -_overlap(b, value))
    chosen = _discriminated(spec, schema, value) if schema is not None else None
    if chosen is not None:
        return [chosen, *(b for b in alternatives if b is not chosen)]
    tagged = [b for b in alternatives if _tags_agree(spec, b, value)] or alternatives
    return sorted(
        tagged,
        key=lambda b: (not set(b.get("required") or ()) <= set(value), -_overlap(b, value)),
    )


def _discriminated(
    spec: CompiledSpec, schema: Mapping[str, Any], value: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    discriminator = schema.get("discriminator")
    if not isinstance(discriminator, Mapping):
        return None
    tag = value.get(discriminator.get("propertyName", ""))
    target = (discriminator.get("mapping") or {}).get(tag) if isinstance(tag, str) else None
    if not isinstance(target, str):
        return None
    ref = target if target.startswith("urn:") else DOCUMENT_URI + target
    if not (schema.get("oneOf") or schema.get("anyOf")):
        return None
    key = ("discriminated", ref)
    found = spec.cache.get(key)
    if found is None:  # `flat` caches by schema object: keep the one asked for
        found = spec.cache[key] = flat(spec, {"$ref": ref})
    return found


def _tags_agree(spec: CompiledSpec, branch: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
    for name, member in (branch.get("properties") or {}).items():
        if name not in value:
            continue
        prop = flat(spec, member)
        if "const" in prop and value[name] != prop["const"]:
            return False
        enum = prop.get("enum")
        if isinstance(enum, list) and len(enum) <= 3 and value[name] not in enum:
            return False  # a tag-like enum (a discriminator's few values) that disagrees
    return True


def nullable(spec: CompiledSpec, schema: Mapping[str, Any]) -> bool:
    enum = schema.get("enum")
    if isinstance(enum, list) and None not in enum:
        return False  # an enum must name null itself (OpenAPI 3.0.3's reading of nullable)
    if "null" in types(schema) or schema.get("nullable") is True:
        return True
    return any("null" in types(b) for b in branches(spec, schema))


def property_schema(
    spec: CompiledSpec, schema: Mapping[str, Any], name: str
) -> tuple[str, Any] | None:
    """The schema of member `name` (matched as written, else ignoring case and `_`: Twilio's
    form field `StatusCallback` fills `status_callback`), or None."""
    props = schema.get("properties") or {}
    if name in props:
        return name, props[name]
    table = _normalised(spec, schema)
    found = table.get(_norm(name))
    if found is not None:
        return found, props[found]
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        return name, extra
    if extra is True or (extra is not False and not props):
        return name, {}
    return None


def branch_of(spec: CompiledSpec, schema: Any, value: Any) -> Mapping[str, Any] | None:
    """The one `oneOf`/`anyOf` branch a whole item belongs to, as `ranked` sees it (a
    `type: FRAME` node is a FrameNode); None for a schema without branches."""
    s = flat(spec, schema)
    alternatives = branches(spec, s)
    if not alternatives or not isinstance(value, dict):
        return None
    return ranked(spec, alternatives, value, s)[0]


def member_schema(
    spec: CompiledSpec, schema: Any, name: str, branch: Mapping[str, Any] | None = None
) -> tuple[str, Any] | None:
    """`property_schema` of the schema. Of a `oneOf`/`anyOf`: of `branch`, the one the
    whole item belongs to (`branch_of`), where it declares the member, so that the item
    keeps what its branch declares (its `type: FRAME`); else of the first branch that
    declares the member."""
    s = flat(spec, schema)
    alternatives = branches(spec, s)
    if branch is not None and (
        name in (branch.get("properties") or {}) or _norm(name) in _normalised(spec, branch)
    ):
        return property_schema(spec, branch, name)
    for candidate in alternatives or [s]:
        if name in (candidate.get("properties") or {}):
            return property_schema(spec, candidate, name)
    for candidate in alternatives or [s]:
        found = property_schema(spec, candidate, name)
        if found is not None:
            return found
    return None


def _normalised(spec: CompiledSpec, schema: Mapping[str, Any]) -> dict[str, str]:
    key = ("names", id(schema))
    entry = spec.cache.get(key)
    if entry is None or entry[0] is not schema:
        table = {_norm(n): n for n in (schema.get("properties") or {})}
        entry = spec.cache[key] = (schema, table)
    return entry[1]


def _norm(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


# -- template values --------------------------------------------------------------------------


def template_value(spec: CompiledSpec, schema: Any) -> Any:
    """A valid value of `schema` (its own example when it fits, else generated), the same in
    every sandbox; shared, so never to be changed in place."""
    key = ("template", id(schema))
    entry = spec.cache.get(key)
    if entry is not None and entry[0] is schema:
        return entry[1]
    value = None
    for attempt in range(6):
        value = generate(
            schema,
            spec.document,
            random.Random(f"template:{attempt}"),
            _TEMPLATE_TIME,
            use_examples=attempt % 2 == 0,
            explore=attempt > 0,
            check=lambda sub, candidate: fits(spec, sub, candidate),
        )
        if fits(spec, schema, value):
            break
    spec.cache[key] = (schema, value)
    return value


def unset(spec: CompiledSpec, schema: Any, template: Any) -> dict[str, Any]:
    """What a new item holds before anything is sent: null where a member may be null, the
    empty value of a required array or open map, the template's value for other required
    members; optional ones are left out. An example's other values would be plausible lies
    (`"name": "Jenny Rosen"` on a customer created with only an email)."""
    s = flat(spec, schema)
    given = template if isinstance(template, dict) else {}
    required = set(s.get("required") or ())
    out: dict[str, Any] = {}
    for name, member in (s.get("properties") or {}).items():
        sub = flat(spec, member)
        if _allows_null(spec, sub):
            out[name] = None
        elif name not in required:
            continue
        elif "array" in types(sub):
            out[name] = []
        elif "object" in types(sub) and not sub.get("properties") and not sub.get("required"):
            out[name] = {}
        elif name in given:
            out[name] = given[name]
    return out


# -- shaping inputs ---------------------------------------------------------------------------


def shape(
    spec: CompiledSpec,
    schema: Any,
    value: Any,
    relate: Relate | None = None,
    depth: int = 0,
) -> Any:
    """`value` fitted to `schema`, or MISSING when it cannot be. Past the depth bound a
    value is kept as given, as `project` keeps it: dropped, a deep tree's leaves (a colour
    13 levels down) were lost, and projection then filled them with made-up values."""
    if depth > _MAX_DEPTH:
        return iso(value) if isinstance(value, datetime) else value
    if type(value) in _SCALARS:
        return _shaped_scalar(spec, schema, value)
    s = flat(spec, schema)
    if value is None:
        return None if nullable(spec, s) or not s else MISSING
    alternatives = branches(spec, s)
    if alternatives:
        return _shape_branches(spec, s, alternatives, value, relate, depth)
    kinds = types(s)
    if isinstance(value, datetime):
        return _moment(value, s, kinds)
    if isinstance(value, dict):
        if "object" in kinds or not kinds:
            return _shape_object(spec, s, value, relate, depth)
        return MISSING
    if isinstance(value, list):
        if "array" in kinds or not kinds:
            items = s.get("items", {})
            shaped = [shape(spec, items, v, relate, depth + 1) for v in value]
            return [v for v in shaped if v is not MISSING]
        return MISSING
    if "object" in kinds and not (kinds & {"string", "integer", "number", "boolean"}):
        return _named_object(spec, s, value)
    if "array" in kinds and not (kinds & {"string", "integer", "number", "boolean"}):
        item = shape(spec, s.get("items", {}), value, relate, depth + 1)
        return MISSING if item is MISSING else [item]
    return _scalar(value, s, kinds)


_SCALARS = frozenset({str, int, float, bool})
_MEMO_LIMIT = 50_000


def _shaped_scalar(spec: CompiledSpec, schema: Any, value: Any) -> Any:
    """`shape` of a scalar, remembered per schema: a world repeats its values (`open`,
    `main`, `false`) across hundreds of members, and a value's fit never changes."""
    memo = spec.cache.get("scalars")
    if memo is None or len(memo) > _MEMO_LIMIT:
        memo = spec.cache["scalars"] = {}
    key = (id(schema), type(value), value)
    entry = memo.get(key)
    if entry is not None and entry[0] is schema:
        return entry[1]
    s = flat(spec, schema)
    alternatives = branches(spec, s)
    if alternatives:
        result = _shape_branches(spec, s, alternatives, value, None, 0)
    else:
        kinds = types(s)
        if "object" in kinds and not (kinds & {"string", "integer", "number", "boolean"}):
            result = _named_object(spec, s, value)
        elif "array" in kinds and not (kinds & {"string", "integer", "number", "boolean"}):
            item = shape(spec, s.get("items", {}), value, None, 1)
            result = MISSING if item is MISSING else [item]
        else:
            result = _scalar(value, s, kinds)
    memo[key] = (schema, result)
    return result


def _shape_branches(
    spec: CompiledSpec,
    schema: Mapping[str, Any],
    alternatives: list[Mapping[str, Any]],
    value: Any,
    relate: Relate | None,
    depth: int,
) -> Any:
    ordered = ranked(spec, alternatives, value, schema)
    fallback: Any = MISSING
    for branch in ordered:
        shaped = shape(spec, branch, value, relate, depth + 1)
        if shaped is MISSING:
            continue
        if not isinstance(shaped, dict) or set(branch.get("required") or ()) <= set(shaped):
            return shaped
        if fallback is MISSING:
            fallback = shaped  # the closest branch: what it lacks, showing it supplies
    return fallback


def _overlap(schema: Mapping[str, Any], value: Any) -> int:
    if isinstance(value, dict):
        return len(set(schema.get("properties") or {}) & set(value))
    return 1 if type_fits(value, schema.get("type")) else 0


def _shape_object(
    spec: CompiledSpec,
    schema: Mapping[str, Any],
    value: Mapping[str, Any],
    relate: Relate | None,
    depth: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, member in value.items():
        if name.startswith("@"):
            out[name] = member  # hidden: kept as is, never shown
            continue
        found = property_schema(spec, schema, name)
        if found is None:
            if depth == 0:
                out[name] = member  # stored, never shown where the schema has no place for it
            continue
        field, sub = found
        shaped = MISSING
        if relate is not None and depth == 0:
            shaped = relate(field, sub, member)
        if shaped is MISSING:
            shaped = shape(spec, sub, member, None, depth + 1)
        if shaped is not MISSING:
            out[field] = shaped
    return out


def _named_object(spec: CompiledSpec, schema: Mapping[str, Any], value: Any) -> Any:
    """A bare name where an object belongs (`"bug"` for a label): the schema's template
    value carrying that name in its naming member."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return MISSING
    props = schema.get("properties") or {}
    field = next((f for f in _NAME_FIELDS if f in props), None)
    if field is None:
        return MISSING
    template = template_value(spec, schema)
    if not isinstance(template, dict):
        return MISSING
    named = _scalar(value, flat(spec, props[field]), types(flat(spec, props[field])))
    return MISSING if named is MISSING else {**template, field: named}


def _scalar(value: Any, schema: Mapping[str, Any], kinds: set[str]) -> Any:
    enum = schema.get("enum")
    candidates: list[Any] = [value]
    if isinstance(value, str):
        candidates += _parsed(value, kinds)
    elif isinstance(value, bool):
        candidates.append("true" if value else "false")
    elif isinstance(value, int | float):
        candidates.append(str(value))
    pattern = schema.get("pattern")
    for candidate in candidates:
        if (not kinds or type_fits(candidate, list(kinds))) and (
            not isinstance(enum, list) or candidate in enum
        ):
            if (
                isinstance(candidate, str)
                and isinstance(pattern, str)
                and not _matches(pattern, candidate)
            ):
                continue  # Slack's thread_ts must look like a ts: a made-up one is left out
            return candidate
    return MISSING


def _matches(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return True  # a pattern Python cannot read does not refuse anything


def _parsed(text: str, kinds: set[str]) -> list[Any]:
    out: list[Any] = []
    if kinds & {"integer", "number"}:
        try:
            number = float(text)
            if number.is_integer() and "." not in text and "e" not in text.lower():
                out.append(int(text))
            elif "number" in kinds:
                out.append(number)
        except ValueError:
            pass
    if "boolean" in kinds and text.lower() in ("true", "false", "1", "0"):
        out.append(text.lower() in ("true", "1"))
    return out


def _moment(value: datetime, schema: Mapping[str, Any], kinds: set[str]) -> Any:
    moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    fmt = schema.get("format")
    if "string" in kinds or not kinds:
        if fmt == "date":
            return moment.strftime("%Y-%m-%d")
        if fmt == "date-time-rfc-2822":
            return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")
        return iso(moment)
    if "integer" in kinds:
        return int(moment.timestamp())
    if "number" in kinds:
        return round(moment.timestamp(), 3)
    return MISSING


# -- projecting stored values -----------------------------------------------------------------


def project(spec: CompiledSpec, schema: Any, value: Any, depth: int = 0) -> Any:
    """A stored value as `schema` declares it: undeclared members dropped (hidden `@` ones
    always), required ones filled from the schema's template value."""
    if depth > _MAX_DEPTH:
        return value
    s = flat(spec, schema)
    if not s or value is None:
        return value
    alternatives = branches(spec, s)
    if alternatives:
        if isinstance(value, dict):
            return project(spec, ranked(spec, alternatives, value, s)[0], value, depth + 1)
        return value
    if isinstance(value, dict):
        return _project_object(spec, s, value, depth)
    if isinstance(value, list) and "items" in s:
        return [project(spec, s["items"], item, depth + 1) for item in value]
    return value


def _project_object(
    spec: CompiledSpec, schema: Mapping[str, Any], value: Mapping[str, Any], depth: int
) -> Any:
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    out: dict[str, Any] = {}
    required = set(schema.get("required") or ())
    for name, member in value.items():
        if name.startswith("@"):
            continue
        if name in props:
            if member is None and name not in required and not _allows_null(spec, props[name]):
                continue  # null where the schema has no null: the member is better left out
            out[name] = project(spec, props[name], member, depth + 1)
        elif extra is True or (not props and extra is not False) or isinstance(extra, Mapping):
            # A schema that says it takes more (Slack's blocks) shows what was stored.
            sub = extra if isinstance(extra, Mapping) else {}
            out[name] = project(spec, sub, member, depth + 1) if sub else member
    missing = [r for r in schema.get("required") or () if r not in out]
    if missing:
        template = template_value(spec, schema)
        if isinstance(template, Mapping):
            for name in missing:
                if name in template:
                    out[name] = template[name]
    return out


def _allows_null(spec: CompiledSpec, schema: Any) -> bool:
    s = flat(spec, schema)
    enum = s.get("enum")
    return not s or nullable(spec, s) or (isinstance(enum, list) and None in enum)


def fits_schema(spec: CompiledSpec, schema: Any, value: Any) -> bool:
    return fits(spec, schema, value)
