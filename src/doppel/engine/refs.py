"""Local `$ref` resolution and the one-off normalisation of OpenAPI 3.0 schemas to JSON Schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from doppel.errors import SpecError

_MAX_REF_CHAIN = 64
# Compiled documents spell local references absolutely, `urn:doppel:spec#/components/...`, so
# any schema object taken out of the document still validates on its own against a registry
# that holds the document under this URI.
DOCUMENT_URI = "urn:doppel:spec"
_ABSOLUTE = DOCUMENT_URI + "#"


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def resolve_pointer(document: Any, ref: str) -> Any:
    """The node a local reference (`#/components/schemas/Pet`) points at."""
    ref = ref.removeprefix(DOCUMENT_URI)
    if not ref.startswith("#"):
        raise SpecError(f"only local references are supported, not {ref!r}", pointer=ref)
    node = document
    for raw in ref[1:].split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise SpecError(f"reference {ref!r} points at nothing", pointer=ref) from None
    return node


def locate(document: Any, node: Any, pointer: str) -> tuple[Any, str]:
    """Like `deref`, and also the JSON pointer of where the chain ends."""
    for _ in range(_MAX_REF_CHAIN):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return node, pointer
        pointer = node["$ref"].removeprefix(DOCUMENT_URI)[1:]
        node = resolve_pointer(document, node["$ref"])
    raise SpecError("reference chain too long or circular", pointer=pointer)


def deref(document: Any, node: Any) -> Any:
    """Follow a chain of `$ref`s to the object it names (schemas, responses, parameters...)."""
    for _ in range(_MAX_REF_CHAIN):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return node
        node = resolve_pointer(document, node["$ref"])
    raise SpecError("reference chain too long or circular")


def normalize(node: Any) -> Any:
    """A copy with OpenAPI 3.0's schema dialect turned into JSON Schema 2020-12.

    `nullable: true` becomes a `null` type (OpenAPI 3.0.3: it only acts beside `type`, and an
    `enum` still has to list null itself); boolean
    `exclusiveMinimum`/`exclusiveMaximum` become numbers. One pass at compile time lets the
    generator and the validator speak a single dialect.
    """
    if isinstance(node, list):
        return [normalize(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out = {key: normalize(value) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        out["$ref"] = _ABSOLUTE + ref[1:]
    for bound, limit in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
            out[bound] = out.pop(limit)
    if isinstance(out.get("nullable"), bool) and out.pop("nullable"):
        return _nullable(out)
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list):
        schema["type"] = [*kind, "null"] if "null" not in kind else kind
    return schema
