"""The create form's config editor: a template's config schema turned into form fields.

Only the *shape* of the form comes from the schema; values are checked by the API when the
form is sent (its problem+json pointers are mapped back to these fields by `pointer`), so
no validation rule lives here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

FieldKind = Literal["text", "number", "integer", "boolean", "choice", "json"]
_SCALARS: dict[str, FieldKind] = {
    "string": "text",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
}


@dataclass(frozen=True)
class ConfigField:
    """One editable member of a service's `custom_config`."""

    name: str
    kind: FieldKind
    pointer: str  # where the API's problem+json names this field
    description: str = ""
    placeholder: str = ""  # the schema's default, as the field would show it
    choices: tuple[str, ...] = ()


def config_fields(service: str, schema: Mapping[str, Any]) -> list[ConfigField]:
    """One field per top-level property, in the schema's order; anything that is not a plain
    scalar is edited as JSON. A schema without properties is edited whole, as one JSON field."""
    base = f"/custom_configs/{_escape(service)}"
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return [ConfigField("", "json", base, str(schema.get("description", "")))]
    fields = []
    for name, member in properties.items():
        member = member if isinstance(member, Mapping) else {}
        kind, choices = _kind(member)
        fields.append(
            ConfigField(
                name=str(name),
                kind=kind,
                pointer=f"{base}/{_escape(str(name))}",
                description=str(member.get("description", "")),
                placeholder=_placeholder(member.get("default"), kind),
                choices=choices,
            )
        )
    return fields


def _kind(member: Mapping[str, Any]) -> tuple[FieldKind, tuple[str, ...]]:
    enum = member.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        return "choice", tuple(enum)
    declared = member.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    types = [t for t in types if t != "null"]
    if len(types) != 1:
        return "json", ()
    return _SCALARS.get(types[0], "json"), ()


def _placeholder(default: Any, kind: FieldKind) -> str:
    if default is None:
        return ""
    if kind == "json":
        return json.dumps(default)
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default)


def _escape(token: str) -> str:
    """A JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")
