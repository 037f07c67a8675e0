"""Conversion of a parsed Swagger 2.0 document into an equivalent OpenAPI 3.0.3 document.

Pure: the input is never mutated and the result shares no containers with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_OPENAPI_VERSION = "3.0.3"
_JSON = "application/json"
_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})
_REF_PREFIXES = (
    ("#/definitions/", "#/components/schemas/"),
    ("#/parameters/", "#/components/parameters/"),
    ("#/responses/", "#/components/responses/"),
)
# Keys of a Swagger 2 non-body parameter, header or items object that belong in an OAS 3 schema.
_SCHEMA_FIELDS = frozenset(
    {
        "type",
        "format",
        "items",
        "default",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "enum",
        "multipleOf",
        "x-nullable",
    }
)
_OAUTH_FLOWS = {
    "implicit": "implicit",
    "password": "password",
    "application": "clientCredentials",
    "accessCode": "authorizationCode",
}


@dataclass(frozen=True)
class _Context:
    """Document-wide settings that operations inherit."""

    parameters: Mapping[str, Any]
    consumes: Sequence[str]
    produces: Sequence[str]
    host: str | None
    base_path: str
    scheme: str


def convert(document: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.0.3 equivalent of a Swagger 2.0 `document`."""
    host = document.get("host") if isinstance(document.get("host"), str) else None
    base_path = document.get("basePath") if isinstance(document.get("basePath"), str) else ""
    schemes = document.get("schemes")
    scheme = schemes[0] if isinstance(schemes, list) and schemes else "https"
    ctx = _Context(
        parameters=_mapping(document.get("parameters")),
        consumes=_media_list(document.get("consumes")),
        produces=_media_list(document.get("produces")),
        host=host or None,
        base_path=base_path or "",
        scheme=str(scheme),
    )

    out: dict[str, Any] = {"openapi": _OPENAPI_VERSION, "info": _copy(document.get("info", {}))}
    out["servers"] = [{"url": _server_url(ctx.host, ctx.base_path, ctx.scheme)}]
    for key in ("security", "tags", "externalDocs"):
        if key in document:
            out[key] = _copy(document[key])
    out["paths"] = {
        path: _path_item(item, ctx) for path, item in _mapping(document.get("paths")).items()
    }

    components: dict[str, Any] = {}
    schemas = {name: _schema(s) for name, s in _mapping(document.get("definitions")).items()}
    # Body and formData parameters have no OAS 3 parameter form; they are inlined where used.
    parameters = {
        name: _parameter(p)
        for name, p in ctx.parameters.items()
        if isinstance(p, Mapping) and not _is_payload(p)
    }
    responses = {
        name: _response(r, ctx.produces or [_JSON])
        for name, r in _mapping(document.get("responses")).items()
    }
    schemes_out = {
        name: _security_scheme(s)
        for name, s in _mapping(document.get("securityDefinitions")).items()
    }
    for key, section in (
        ("schemas", schemas),
        ("parameters", parameters),
        ("responses", responses),
        ("securitySchemes", schemes_out),
    ):
        if section:
            components[key] = section
    if components:
        out["components"] = components
    out.update({k: _copy(v) for k, v in document.items() if _is_extension(k)})
    return out


# --- generic helpers -------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    """A deep copy with every Swagger 2 `$ref` pointed at its OAS 3 location."""
    if isinstance(value, Mapping):
        return {
            k: _ref(v) if k == "$ref" and isinstance(v, str) else _copy(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _ref(ref: str) -> str:
    for old, new in _REF_PREFIXES:
        if ref.startswith(old):
            return new + ref[len(old) :]
    return ref


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _media_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _is_extension(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("x-")


def _server_url(host: str | None, base_path: str, scheme: str) -> str:
    if host is None:
        return base_path or "/"
    return f"{scheme}://{host}{base_path.rstrip('/')}"


# --- paths, operations and parameters --------------------------------------------------------


def _path_item(item: Any, ctx: _Context) -> Any:
    if not isinstance(item, Mapping):
        return _copy(item)
    shared = _list(item.get("parameters"))
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key in _METHODS and isinstance(value, Mapping):
            out[key] = _operation(value, shared, ctx)
        elif key == "parameters":
            # Path-level body/formData parameters are pushed down into each operation's body.
            plain = [_parameter_or_ref(p) for p in shared if not _is_payload(_resolve(p, ctx))]
            if plain:
                out[key] = plain
        else:
            out[key] = _copy(value)
    return out


def _operation(op: Mapping[str, Any], shared: Sequence[Any], ctx: _Context) -> dict[str, Any]:
    consumes = _media_list(op["consumes"]) if "consumes" in op else list(ctx.consumes)
    produces = _media_list(op["produces"]) if "produces" in op else list(ctx.produces)
    out: dict[str, Any] = {}
    for key, value in op.items():
        if key not in {"consumes", "produces", "parameters", "responses", "schemes"}:
            out[key] = _copy(value)

    # Keyed so that operation parameters override path-level ones of the same name and location.
    payload: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in shared:
        resolved = _resolve(raw, ctx)
        if resolved is not None and _is_payload(resolved):
            payload[_payload_key(resolved)] = resolved
    params: list[Any] = []
    for raw in _list(op.get("parameters")):
        resolved = _resolve(raw, ctx)
        if resolved is not None and _is_payload(resolved):
            payload[_payload_key(resolved)] = resolved
        else:
            params.append(_parameter_or_ref(raw))
    if params:
        out["parameters"] = params

    bodies = [p for p in payload.values() if p.get("in") == "body"]
    fields = [p for p in payload.values() if p.get("in") == "formData"]
    # Swagger 2 forbids mixing body and formData; if a document does, the body wins.
    if bodies:
        out["requestBody"] = _body_request(bodies[0], consumes or [_JSON])
    elif fields:
        out["requestBody"] = _form_request(fields, consumes)

    responses = _mapping(op.get("responses"))
    out["responses"] = {
        str(code): _copy(r) if _is_extension(code) else _response(r, produces or [_JSON])
        for code, r in responses.items()
    }
    op_schemes = op.get("schemes")
    if ctx.host and isinstance(op_schemes, list) and op_schemes and op_schemes[0] != ctx.scheme:
        out["servers"] = [{"url": _server_url(ctx.host, ctx.base_path, str(op_schemes[0]))}]
    return out


def _resolve(param: Any, ctx: _Context) -> Mapping[str, Any] | None:
    """The parameter object itself, or the global one its `$ref` names (None if unknown)."""
    if not isinstance(param, Mapping):
        return None
    ref = param.get("$ref")
    if ref is None:
        return param
    prefix = "#/parameters/"
    if isinstance(ref, str) and ref.startswith(prefix):
        name = ref[len(prefix) :].replace("~1", "/").replace("~0", "~")
        target = ctx.parameters.get(name)
        return target if isinstance(target, Mapping) else None
    return None


def _is_payload(param: Mapping[str, Any] | None) -> bool:
    return param is not None and param.get("in") in ("body", "formData")


def _payload_key(param: Mapping[str, Any]) -> tuple[str, str]:
    # There is at most one body, so an operation's body replaces a path-level one whatever its name.
    if param.get("in") == "body":
        return ("", "body")
    return (str(param.get("name")), "formData")


def _parameter_or_ref(param: Any) -> Any:
    return _parameter(param) if isinstance(param, Mapping) else _copy(param)


def _parameter(param: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in param:
        return dict(_copy(param))
    rest, schema = _split_schema_fields(param)
    out = {k: _copy(v) for k, v in rest.items() if k != "collectionFormat"}
    out.update(_style(param))
    out["schema"] = schema
    return out


def _split_schema_fields(obj: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The object's own keys, and the OAS 3 schema made from its type-describing keys."""
    rest = {k: v for k, v in obj.items() if k not in _SCHEMA_FIELDS}
    return rest, _items_schema({k: v for k, v in obj.items() if k in _SCHEMA_FIELDS})


def _items_schema(items: Mapping[str, Any]) -> dict[str, Any]:
    """A schema from a Swagger 2 items object, whose nested `collectionFormat`s mean nothing."""
    plain = {k: v for k, v in items.items() if k != "collectionFormat"}
    if isinstance(plain.get("items"), Mapping):
        plain["items"] = _items_schema(plain["items"])
    return dict(_schema(plain))


def _style(param: Mapping[str, Any]) -> dict[str, Any]:
    """OAS 3 serialisation equivalent to an array parameter's `collectionFormat`."""
    if param.get("type") != "array":
        return {}
    fmt = param.get("collectionFormat", "csv")  # Swagger 2's default
    if fmt == "multi":
        return {"style": "form", "explode": True}
    if fmt == "ssv":
        return {"style": "spaceDelimited", "explode": False}
    if fmt == "pipes":
        return {"style": "pipeDelimited", "explode": False}
    if fmt == "csv" and param.get("in") in ("query", "formData"):
        return {"style": "form", "explode": False}
    # csv in path/header is OAS 3's default `simple` style; tsv has no OAS 3 equivalent.
    return {}


def _body_request(param: Mapping[str, Any], media_types: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "description" in param:
        out["description"] = _copy(param["description"])
    out["content"] = {mt: {"schema": _schema(param.get("schema", {}))} for mt in media_types}
    if param.get("required") is True:
        out["required"] = True
    out.update({k: _copy(v) for k, v in param.items() if _is_extension(k)})
    return out


def _form_request(fields: Sequence[Mapping[str, Any]], consumes: Sequence[str]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    encoding: dict[str, Any] = {}
    for field in fields:
        name = str(field.get("name"))
        _, prop = _split_schema_fields(field)
        if "description" in field:
            prop["description"] = _copy(field["description"])
        properties[name] = prop
        if field.get("required") is True:
            required.append(name)
        if style := _style(field):
            encoding[name] = style

    form_types = [mt for mt in consumes if _bare(mt) in (_URLENCODED, _MULTIPART)]
    if not form_types:
        has_file = any(field.get("type") == "file" for field in fields)
        form_types = [_MULTIPART if has_file else _URLENCODED]
    # Clients such as slack-sdk send the same fields as JSON when the operation also accepts it.
    media_types = form_types + [mt for mt in consumes if _bare(mt) == _JSON]

    def schema() -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "properties": _copy(properties)}
        if required:
            out["required"] = list(required)
        return out

    content: dict[str, Any] = {}
    for mt in media_types:
        content[mt] = {"schema": schema()}
        # Only urlencoded bodies honour `style`/`explode` in OAS 3.0.
        if encoding and _bare(mt) == _URLENCODED:
            content[mt]["encoding"] = _copy(encoding)
    out: dict[str, Any] = {"content": content}
    if required:
        out["required"] = True
    return out


def _bare(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


# --- responses and security ------------------------------------------------------------------


def _response(response: Any, produces: Sequence[str]) -> Any:
    if not isinstance(response, Mapping) or "$ref" in response:
        return _copy(response)
    out: dict[str, Any] = {"description": _copy(response.get("description", ""))}
    headers = response.get("headers")
    if isinstance(headers, Mapping):
        out["headers"] = {name: _header(h) for name, h in headers.items()}
    has_schema = "schema" in response
    content: dict[str, Any] = {}
    if has_schema:
        content = {mt: {"schema": _schema(response["schema"])} for mt in produces}
    examples = response.get("examples")
    if isinstance(examples, Mapping):
        for mt, example in examples.items():
            entry = content.setdefault(mt, {})
            if has_schema and "schema" not in entry:
                entry["schema"] = _schema(response["schema"])
            entry["example"] = _copy(example)
    if content:
        out["content"] = content
    out.update({k: _copy(v) for k, v in response.items() if _is_extension(k)})
    return out


def _header(header: Any) -> Any:
    if not isinstance(header, Mapping):
        return _copy(header)
    rest, schema = _split_schema_fields(header)
    # OAS 3 headers only use the `simple` style, which is what csv meant.
    out = {k: _copy(v) for k, v in rest.items() if k != "collectionFormat"}
    out["schema"] = schema
    return out


def _security_scheme(scheme: Any) -> Any:
    if not isinstance(scheme, Mapping):
        return _copy(scheme)
    kept = {k: _copy(v) for k, v in scheme.items() if k == "description" or _is_extension(k)}
    kind = scheme.get("type")
    if kind == "basic":
        return {"type": "http", "scheme": "basic", **kept}
    if kind == "oauth2":
        flow_name = str(scheme.get("flow"))
        flow: dict[str, Any] = {
            k: _copy(scheme[k]) for k in ("authorizationUrl", "tokenUrl") if k in scheme
        }
        flow["scopes"] = _copy(scheme.get("scopes", {}))
        return {"type": "oauth2", **kept, "flows": {_OAUTH_FLOWS.get(flow_name, flow_name): flow}}
    return _copy(scheme)  # apiKey is the same in both versions


# --- schemas ---------------------------------------------------------------------------------


def _schema(value: Any) -> Any:
    """An OAS 3.0 schema from a Swagger 2 one, including draft-4 habits Swagger 2 never allowed."""
    if not isinstance(value, Mapping):
        return _copy(value)  # e.g. a boolean `additionalProperties`
    out: dict[str, Any] = {}
    nullable: bool | None = None
    for key, item in value.items():
        if key == "$ref" and isinstance(item, str):
            out[key] = _ref(item)
        elif key in ("properties", "patternProperties") and isinstance(item, Mapping):
            out[key] = {name: _schema(s) for name, s in item.items()}
        elif key == "allOf" and isinstance(item, list):
            out[key] = [_schema(s) for s in item]
        elif key in ("anyOf", "oneOf") and isinstance(item, list):
            out[key] = item  # folded below, once the rest of the schema is known
        elif key in ("not", "additionalProperties", "additionalItems") or (
            key == "items" and not isinstance(item, list)
        ):
            out[key] = _schema(item)
        elif key == "x-nullable":
            nullable = bool(item)
        elif key == "discriminator" and isinstance(item, str):
            out[key] = {"propertyName": item}
        elif key == "required" and item == []:
            continue  # OAS 3.0 requires a non-empty list
        elif key in ("type", "items"):
            continue  # handled below
        else:
            out[key] = _copy(item)

    kind = value.get("type")
    if kind == "file":
        out["type"], out["format"] = "string", "binary"
    elif kind == "null" or kind == ["null"]:
        # OAS 3.0 has no null type; a nullable enum of just null admits only null.
        out.update({"nullable": True, "enum": [None]})
    elif isinstance(kind, list):
        _fold_type_list(out, kind)
    elif kind is not None:
        out["type"] = _copy(kind)
    if nullable is not None:
        out["nullable"] = nullable or out.get("nullable", False)

    for key in ("oneOf", "anyOf"):
        if key in out:
            out = _alternatives({k: v for k, v in out.items() if k != key}, key, out[key])

    items = value.get("items")
    if isinstance(items, list):
        # Draft-4 tuple `items`: on an array it lists the allowed item shapes; elsewhere (Slack's
        # `objs_conversation`) it means the schema itself is one of them.
        is_array = kind == "array" or (isinstance(kind, list) and "array" in kind)
        if is_array:
            out["items"] = _alternatives({}, "oneOf", items)
        else:
            out = _alternatives(out, "oneOf", items)

    if "$ref" in out and out.get("nullable") is True:
        # Siblings of `$ref` are ignored in OAS 3.0, so the reference moves into `allOf`.
        ref = out.pop("$ref")
        out["allOf"] = [*out.get("allOf", []), {"$ref": ref}]
    return out


def _fold_type_list(out: dict[str, Any], kinds: Sequence[Any]) -> None:
    """Turn draft-4 `type: [..]` into OAS 3.0: one type plus `nullable`, or an `anyOf` of types."""
    has_null = "null" in kinds
    others = ["string" if k == "file" else k for k in kinds if k != "null"]
    if len(others) == 1:
        out["type"] = others[0]
        if has_null:
            out["nullable"] = True
        return
    # Each alternative carries its own `nullable`, which only counts next to a `type`.
    options = [{"type": k, "nullable": True} if has_null else {"type": k} for k in others]
    if "anyOf" in out:
        out["allOf"] = [*out.get("allOf", []), {"anyOf": options}]
    else:
        out["anyOf"] = options


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") in ("null", ["null"])


def _alternatives(base: dict[str, Any], keyword: str, members: Sequence[Any]) -> dict[str, Any]:
    """`base` plus `keyword: members`, with `{type: "null"}` members folded into `nullable`."""
    rest = [_schema(m) for m in members if not _is_null(m)]
    out = dict(base)
    if len(rest) < len(members):
        out["nullable"] = True
    if not rest:
        out["enum"] = [None]
    elif len(rest) == 1:
        only = rest[0]
        if not out and isinstance(only, Mapping):
            out = dict(only)
        elif isinstance(only, Mapping) and "$ref" not in only and not (only.keys() & out.keys()):
            out.update(only)
        else:
            # A `$ref` ignores its siblings and clashing keys cannot be merged, so use `allOf`.
            out["allOf"] = [*out.get("allOf", []), only]
    elif keyword in out:
        out["allOf"] = [*out.get("allOf", []), {keyword: rest}]
    else:
        out[keyword] = rest
    return out
