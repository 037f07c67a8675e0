"""Checking values against the spec: requests (parameters, bodies, credentials) and examples.

Validators are openapi-schema-validator's OAS 3.1 ones (JSON Schema 2020-12 plus
`discriminator`; the compiled document is normalised to that dialect), built once per schema
location and kept in the compiled spec's cache.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

from jsonschema import FormatChecker
from jsonschema.validators import extend
from openapi_schema_validator import OAS31Validator
from openapi_schema_validator import _keywords as oas30_keywords
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from doppel.engine.compile import CompiledSpec, Operation, Parameter
from doppel.engine.model import MockRequest, parse_json
from doppel.engine.refs import DOCUMENT_URI, deref, escape
from doppel.errors import FieldError

_URI = DOCUMENT_URI
# OpenAPI 3.0 semantics on the normalised document: a `discriminator` selects the one branch
# an object must match. openapi-schema-validator implements that rule for its 3.0 validator;
# its keyword functions are reused here on the 2020-12 dialect.
OAS30Discriminating = extend(  # type: ignore[no-untyped-call]
    OAS31Validator,
    {"oneOf": oas30_keywords.oneOf, "anyOf": oas30_keywords.anyOf, "allOf": oas30_keywords.allOf},
)
_MAX_ERRORS = 20


def schema_errors(
    spec: CompiledSpec, pointer: str, value: Any, *, lenient: bool = False
) -> list[FieldError]:
    """Where `value` breaks the schema at `pointer` in the spec (empty when it is valid);
    `lenient` for what a client sends (see `_LENIENT`)."""
    validator = _validator(spec, pointer, lenient=lenient)
    found = islice(validator.iter_errors(value), _MAX_ERRORS)
    return [_field_error(e) for e in found]


def _field_error(error: Any) -> FieldError:
    """A validation error at the member it is about: a missing required property is named
    in the pointer itself (`/title`), not left at its parent object."""
    at = _json_pointer(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = next(
            (
                n
                for n in error.validator_value or ()
                if n not in error.instance and repr(n) in error.message
            ),
            None,
        )
        if missing is not None:
            return FieldError(f"{at}/{escape(str(missing))}", error.message, "missing")
    return FieldError(at, error.message)


def _validator(spec: CompiledSpec, pointer: str, *, lenient: bool = False) -> OAS31Validator:
    key = ("validator", pointer, lenient)
    validator = spec.cache.get(key)
    if validator is None:
        validator = _new(spec, {"$ref": f"{_URI}#{pointer}"}, lenient=lenient)
        spec.cache[key] = validator
    return validator


# What a request is held to: providers take a relative path in a field their description
# calls `format: uri` (GitHub's artifact `path`); what Doppel answers is held to the letter.
_LENIENT = FormatChecker()
_LENIENT.checkers = {
    name: check
    for name, check in OAS31Validator.FORMAT_CHECKER.checkers.items()
    if name not in ("uri", "iri", "uri-reference")
}


def _new(spec: CompiledSpec, schema: Any, *, lenient: bool = False) -> Any:
    """A validator that also checks formats (int32 ranges, date-time, uuid, uri...)."""
    cls = OAS30Discriminating if spec.discriminating else OAS31Validator
    checker = _LENIENT if lenient else OAS31Validator.FORMAT_CHECKER
    return cls(schema, registry=_registry(spec), format_checker=checker)


def _registry(spec: CompiledSpec) -> Registry[Any]:
    registry = spec.cache.get("registry")
    if registry is None:
        registry = Registry().with_resource(_URI, DRAFT202012.create_resource(spec.document))
        spec.cache["registry"] = registry
    return registry  # type: ignore[no-any-return]


def fits(spec: CompiledSpec, schema: Any, value: Any) -> bool:
    """Whether `value` is valid against a schema object taken from the compiled document."""
    key = ("fits", id(schema))
    entry = spec.cache.get(key)
    if entry is None or entry[0] is not schema:
        # The schema rides along in the entry, so its id cannot be reused while cached.
        entry = (schema, _new(spec, schema))
        spec.cache[key] = entry
    return bool(entry[1].is_valid(value))


def _json_pointer(path: Any) -> str:
    return "".join(f"/{escape(str(part))}" for part in path)


# -- requests --------------------------------------------------------------------------------


def request_errors(
    spec: CompiledSpec, op: Operation, request: MockRequest, path_params: Mapping[str, str]
) -> list[FieldError]:
    """Every way the request breaks the operation's parameters and body, with pointers
    `/path/x`, `/query/x`, `/header/x` and `/body/...`."""
    errors: list[FieldError] = []
    query = request.query_params()
    # An RPC method takes its arguments wherever they travel: slack-sdk posts them all as a
    # form, the ones its description puts in the query string too.
    arguments = _arguments(request) if spec.rpc else None
    for param in op.parameters:
        if arguments is not None and param.location == "query":
            raw = arguments.get(param.name)
        else:
            raw = _raw_value(param, request, query, path_params)
        where = "path" if param.location == "multi" else param.location
        here = f"/{where}/{escape(param.name)}"
        if raw is None:
            if param.required:
                errors.append(FieldError(here, f"required {where} parameter is missing", "missing"))
            continue
        if not param.schema:
            continue
        value = coerce(raw, deref(spec.document, param.schema), spec.document, param)
        errors += [
            FieldError(here + e.pointer, e.detail, e.code)
            for e in schema_errors(spec, f"{param.pointer}/schema", value, lenient=True)
        ]
    if arguments is not None:
        named = {p.name for p in op.parameters}
        rest = {k: v for k, v in arguments.items() if k not in named}
        errors += _arguments_errors(spec, op, rest)
    else:
        errors += _body_errors(spec, op, request)
    return errors


def _arguments(request: MockRequest) -> dict[str, list[str]]:
    """An RPC request's arguments as text, wherever they came (a JSON body's other values
    as their JSON)."""
    return {
        name: [value if isinstance(value, str) else json.dumps(value)]
        for name, value in request.params().items()
    }


def _arguments_errors(
    spec: CompiledSpec, op: Operation, arguments: Mapping[str, list[str]]
) -> list[FieldError]:
    """The arguments an RPC method takes in its body, checked against its form's schema (or
    its only one): a member it requires is missing when no argument of that name came. A
    member that is JSON (an object or array, Slack's `view`) may come as its JSON text, and
    one that is text as a JSON body's value (Slack's `blocks`, an array there)."""
    body = op.request_body
    content = (body or {}).get("content") or {}
    form = "application/x-www-form-urlencoded"
    declared = form if form in content else next(iter(content), None)
    if declared is None or "schema" not in (content[declared] or {}):
        return []
    schema = deref(spec.document, content[declared]["schema"])
    pointer = f"{op.request_body_pointer}/content/{escape(declared)}/schema"
    props = schema.get("properties") or {} if isinstance(schema, Mapping) else {}
    value = {}
    for name, texts in arguments.items():
        member = props.get(name, {})
        value[name] = coerce(texts, member, spec.document)
        if _types(member, spec.document) & {"object", "array"}:
            try:
                parsed = parse_json(texts[-1])
            except ValueError:
                continue  # not JSON: the schema says what is wrong with it
            if isinstance(parsed, (dict, list)):
                value[name] = parsed
    return [
        FieldError("/body" + e.pointer, e.detail, e.code)
        for e in schema_errors(spec, pointer, value, lenient=True)
    ]


def _raw_value(
    param: Parameter,
    request: MockRequest,
    query: Mapping[str, list[str]],
    path_params: Mapping[str, str],
) -> list[str] | None:
    if param.location in ("path", "multi"):
        value = path_params.get(param.name)
        return None if value is None else [value]
    if param.location == "query":
        return query.get(param.name)
    if param.location == "header":
        value = request.headers.get(param.name.lower())
        return None if value is None else [value]
    if param.location == "cookie":
        for part in request.headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == param.name:
                return [value]
    return None


def coerce(
    raw: list[str], schema: Any, document: Mapping[str, Any], param: Parameter | None = None
) -> Any:
    """Strings from a URL, header or form turned into what the schema expects, where they can be."""
    kinds = _types(schema, document)
    if "array" in kinds:
        values = raw
        if len(raw) == 1 and not (param is not None and param.explode and param.style == "form"):
            separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(
                param.style if param else "form", ","
            )
            values = raw[0].split(separator) if raw[0] else []
        items = schema.get("items", {}) if isinstance(schema, Mapping) else {}
        return [_scalar(v, _types(deref(document, items), document)) for v in values]
    return _scalar(raw[-1], kinds)


def _types(schema: Any, document: Mapping[str, Any]) -> set[str]:
    schema = deref(document, schema)
    if not isinstance(schema, Mapping):
        return set()
    kind = schema.get("type")
    found = set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()
    for key in ("oneOf", "anyOf", "allOf"):
        for member in schema.get(key) or ():
            found |= _types(member, document)
    return found


def _scalar(text: str, kinds: set[str]) -> Any:
    if "integer" in kinds or "number" in kinds:
        try:
            number = float(text)
            if "integer" in kinds and number.is_integer() and "." not in text:
                return int(text)
            if "number" in kinds:
                return int(text) if text.lstrip("-").isdigit() else number
        except ValueError:
            pass
    if "boolean" in kinds and text.lower() in ("true", "false", "1", "0"):
        return text.lower() in ("true", "1")
    if "null" in kinds and text in ("", "null"):
        return None
    return text


def _body_errors(spec: CompiledSpec, op: Operation, request: MockRequest) -> list[FieldError]:
    body = op.request_body
    if body is None:
        return []
    content = body.get("content") or {}
    if not request.body:
        if body.get("required"):
            return [FieldError("/body", "a request body is required", "missing")]
        return []
    media = request.media_type or "application/json"
    declared = next((m for m in content if _same_media(m, media)), None)
    if declared is None:
        if not content:
            return []
        return [
            FieldError(
                "/header/content-type",
                f"{media} is not accepted here; use one of: {', '.join(content)}",
            )
        ]
    pointer = f"{op.request_body_pointer}/content/{escape(declared)}/schema"
    if "schema" not in (content[declared] or {}):
        return []
    if declared.endswith("json") or "+json" in declared:
        try:
            value = parse_json(request.body)
        except ValueError as exc:
            return [FieldError("/body", str(exc))]
    elif declared == "application/x-www-form-urlencoded":
        schema = deref(spec.document, content[declared]["schema"])
        value = _form(request.form_body(), schema, spec.document)
    else:
        return []  # multipart and opaque bodies: presence is all we check
    return [
        FieldError("/body" + e.pointer, e.detail, e.code)
        for e in schema_errors(spec, pointer, value, lenient=True)
    ]


def _form(fields: Mapping[str, list[str]], schema: Any, document: Mapping[str, Any]) -> Any:
    props = schema.get("properties") or {} if isinstance(schema, Mapping) else {}
    return {name: coerce(values, props.get(name, {}), document) for name, values in fields.items()}


def _same_media(declared: str, actual: str) -> bool:
    declared = declared.split(";", 1)[0].strip().lower()
    if declared in ("*/*", actual):
        return True
    kind, _, sub = declared.partition("/")
    return sub == "*" and actual.startswith(kind + "/")


# -- credentials -----------------------------------------------------------------------------


def auth_error(spec: CompiledSpec, op: Operation, request: MockRequest) -> str | None:
    """Why the request's credentials do not satisfy the operation's security, or None."""
    requirements = op.security
    if not requirements:
        return None
    schemes = (spec.document.get("components") or {}).get("securitySchemes") or {}
    reasons: list[str] = []
    for requirement in requirements:
        missing = [r for r in _unmet(requirement, schemes, request)]
        if not missing:
            return None
        reasons.append(" and ".join(missing))
    return "credentials missing or malformed: needs " + "; or ".join(dict.fromkeys(reasons))


def _unmet(
    requirement: Mapping[str, Any], schemes: Mapping[str, Any], request: MockRequest
) -> Iterator[str]:
    authorization = request.headers.get("authorization", "")
    scheme_word, _, credential = authorization.partition(" ")
    for name in requirement:
        scheme = schemes.get(name)
        if not isinstance(scheme, Mapping):
            continue
        kind = scheme.get("type")
        if kind == "http":
            wanted = str(scheme.get("scheme", "bearer")).lower()
            if scheme_word.lower() != wanted or not credential.strip():
                yield f"an 'Authorization: {wanted.title()} …' header ({name})"
            elif wanted == "basic" and not _valid_basic(credential):
                yield f"HTTP basic credentials as base64 'user:password' ({name})"
        elif kind == "apiKey":
            key = str(scheme.get("name", ""))
            where = scheme.get("in", "header")
            if where == "header" and not request.headers.get(key.lower()):
                yield f"the {key} header ({name})"
            elif where == "query" and not request.query_params().get(key):
                yield f"the {key} query parameter ({name})"
            elif where == "cookie" and f"{key}=" not in request.headers.get("cookie", ""):
                yield f"the {key} cookie ({name})"
        elif kind in ("oauth2", "openIdConnect") and (
            scheme_word.lower() != "bearer" or not credential.strip()
        ):
            yield f"an OAuth 2 bearer token ({name})"


def _valid_basic(credential: str) -> bool:
    try:
        decoded = base64.b64decode(credential.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded
