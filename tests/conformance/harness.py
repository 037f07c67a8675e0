"""Conformance: call every operation of a spec with a request it allows, check the answer.

The answer must not be a 5xx, its status must be one the operation declares, its content
type one that status declares, and its body must validate against the declared schema.
Validation uses openapi-schema-validator, an implementation independent of Doppel's own.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, OAS31Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from doppel.engine import compile_spec
from doppel.engine.compile import METHODS
from doppel.engine.generate import generate
from doppel.engine.refs import deref, escape, locate
from doppel.engine.swagger2 import convert

NOW = datetime(2026, 1, 1)


@dataclass
class Outcome:
    operation: str
    ok: bool
    reason: str = ""


@dataclass
class Report:
    spec: str
    outcomes: list[Outcome] = field(default_factory=list)
    replaced_examples: int = 0  # answers where the spec's own example broke its schema

    @property
    def passed(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def openapi_document(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The document as an OpenAPI 3 one (Swagger 2.0 converted), schemas left as written."""
    return convert(raw) if str(raw.get("swagger", "")).startswith("2") else dict(raw)


def operations(
    document: Mapping[str, Any],
) -> Iterator[tuple[str, str, Mapping[str, Any], list[Mapping[str, Any]]]]:
    """Every operation, deletions last: each is called while what it names still exists."""
    found = list(_operations(document))
    yield from [o for o in found if o[1] != "delete"]
    # Deeper first: a variable's repository link goes before the variable itself.
    deletes = [o for o in found if o[1] == "delete"]
    yield from sorted(deletes, key=lambda o: -o[0].count("/"))


def _operations(
    document: Mapping[str, Any],
) -> Iterator[tuple[str, str, Mapping[str, Any], list[Mapping[str, Any]]]]:
    for template, item in (document.get("paths") or {}).items():
        item = deref(document, item)
        shared = [deref(document, p) for p in item.get("parameters") or ()]
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, Mapping):
                own = [deref(document, p) for p in op.get("parameters") or ()]
                names = {(p.get("name"), p.get("in")) for p in own}
                params = own + [p for p in shared if (p.get("name"), p.get("in")) not in names]
                yield template, method, op, params


def build_request(
    document: Mapping[str, Any],
    template: str,
    method: str,
    op: Mapping[str, Any],
    params: list[Mapping[str, Any]],
    rng: random.Random,
    known: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A request the operation allows: every required parameter and body, generated, except
    inputs whose values the world is `known` to hold (a repository's owner and name...)."""
    known = known or {}
    compiled_doc = _normalised(document)
    path = template
    query: dict[str, str] = {}
    sent: dict[str, str] = {"accept": "*/*", **(headers or {})}
    for param in params:
        where = param.get("in")
        name = str(param.get("name"))
        if where not in ("path", "query", "header") or (
            where != "path" and not param.get("required") and name not in known
        ):
            continue
        if where == "header" and name.lower() in sent:
            continue
        value = known.get(name)
        if value is None:
            value = generate(param.get("schema", {}), compiled_doc, rng, NOW)
        text = _text(value)
        if where == "path":
            safe = "/" if param.get("x-multi-segment") else ""
            path = path.replace("{" + str(param["name"]) + "}", quote(text, safe=safe) or "x")
        elif where == "query":
            query[name] = text
        else:
            sent[name] = text
    request: dict[str, Any] = {
        "method": method.upper(),
        "url": path,
        "params": query,
        "headers": sent,
    }
    body, body_at = locate(
        document, op.get("requestBody"), f"/paths/{escape(template)}/{method}/requestBody"
    )
    if isinstance(body, Mapping) and body.get("content"):
        content = body["content"]
        media = next((m for m in content if "json" in m), next(iter(content)))
        schema = (content[media] or {}).get("schema", {})
        value = _valid_body(
            document, f"{body_at}/content/{escape(media)}/schema", schema, rng, known
        )
        headers = sent
        headers["content-type"] = media
        if "json" in media:
            request["content"] = json.dumps(value).encode()
        elif media == "application/x-www-form-urlencoded" and isinstance(value, dict):
            request["data"] = {k: _text(v) for k, v in value.items()}
            del headers["content-type"]
        elif media.startswith("multipart/") and isinstance(value, dict):
            request["files"] = {k: (None, _text(v)) for k, v in value.items()}
            del headers["content-type"]
        else:
            request["content"] = _text(value).encode()
    return request


def _valid_body(
    document: Mapping[str, Any],
    pointer: str,
    schema: Any,
    rng: random.Random,
    known: Mapping[str, str],
) -> Any:
    """A body the schema accepts (generation is retried: its regex support has limits),
    with the world's known values in the members where they still fit."""
    compiled_doc = _normalised(document)
    value: Any = None
    for attempt in range(8):
        value = generate(
            schema, compiled_doc, rng, NOW, writing=True, explore=attempt > 0,
            use_examples=attempt % 2 == 0,
        )  # fmt: skip
        if not _first_error(document, pointer, value):
            break
    if isinstance(value, dict):
        for name in sorted(_members(compiled_doc, schema) & set(known)):
            candidate = {**value, name: known[name]}
            if not _first_error(document, pointer, candidate):
                value = candidate
    return value


def _members(document: Mapping[str, Any], schema: Any) -> set[str]:
    resolved = deref(document, schema)
    return set((resolved.get("properties") or {}) if isinstance(resolved, Mapping) else ())


_NORMALISED: dict[int, Mapping[str, Any]] = {}


def _normalised(document: Mapping[str, Any]) -> Mapping[str, Any]:
    # Generation speaks JSON Schema 2020-12: use the engine's compiled (normalised) document.
    key = id(document)
    if key not in _NORMALISED:
        _NORMALISED[key] = compile_spec(document).document
    return _NORMALISED[key]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


def check(
    document: Mapping[str, Any],
    template: str,
    method: str,
    op: Mapping[str, Any],
    response: httpx.Response,
) -> str:
    """Why the response does not conform (empty when it does)."""
    if response.status_code >= 500:
        return f"server error {response.status_code}: {response.text[:200]}"
    responses = op.get("responses") or {}
    key = _declared_key(responses, response.status_code)
    if key is None:
        return f"status {response.status_code} is not declared ({', '.join(map(str, responses))})"
    declared, at = locate(
        document, responses[key], f"/paths/{escape(template)}/{method}/responses/{escape(str(key))}"
    )
    content = declared.get("content") or {}
    body = response.content
    if not content:
        return "" if not body else f"{key} declares no body but {len(body)} bytes came"
    media = response.headers.get("content-type", "").split(";")[0].strip()
    match = next((m for m in content if m.split(";")[0].strip().lower() == media.lower()), None)
    if match is None:
        return f"content type {media!r} is not declared for {key} ({', '.join(content)})"
    schema = (content[match] or {}).get("schema")
    if schema is not None and match == "text/event-stream":
        return _stream_error(document, f"{at}/content/{escape(match)}/schema", body)
    if schema is None or "json" not in match:
        return ""
    try:
        value = json.loads(body)
    except ValueError:
        return f"body is not JSON: {body[:100]!r}"
    error = _first_error(document, f"{at}/content/{escape(match)}/schema", value)
    if error and key != "default" and "default" in responses and _is_refusal(value):
        # Slack answers its errors with HTTP 200 and `"ok": false`; its description puts
        # that shape in `default`.
        fallback = _default_error(document, template, method, responses, value)
        return f"body breaks the schema: {error}" if fallback else ""
    return f"body breaks the schema: {error}" if error else ""


def _stream_error(document: Mapping[str, Any], pointer: str, body: bytes) -> str:
    """Each server-sent event's data must be one value of the schema (a `[DONE]` marker
    ends the stream)."""
    events = [e for e in body.decode().split("\n\n") if e.strip()]
    if not events:
        return "an empty event stream"
    for event in events:
        lines = [line[5:].lstrip() for line in event.splitlines() if line.startswith("data:")]
        data = "\n".join(lines)
        if data == "[DONE]":
            continue
        try:
            value = json.loads(data)
        except ValueError:
            return f"an event is not JSON: {data[:100]!r}"
        error = _first_error(document, pointer, value)
        if error:
            return f"an event breaks the schema: {error}"
    return ""


def _is_refusal(value: Any) -> bool:
    return isinstance(value, dict) and value.get("ok") is False


def _default_error(
    document: Mapping[str, Any],
    template: str,
    method: str,
    responses: Mapping[str, Any],
    value: Any,
) -> str:
    declared, at = locate(
        document, responses["default"], f"/paths/{escape(template)}/{method}/responses/default"
    )
    content = declared.get("content") or {}
    media = next((m for m in content if "json" in m), None)
    if media is None or "schema" not in (content[media] or {}):
        return "no default schema"
    return _first_error(document, f"{at}/content/{escape(media)}/schema", value)


def _declared_key(responses: Mapping[Any, Any], status: int) -> Any:
    for key in responses:
        if str(key) == str(status):
            return key
    for key in responses:
        if str(key).upper() == f"{str(status)[0]}XX":
            return key
    return "default" if "default" in responses else None


def _first_error(document: Mapping[str, Any], pointer: str, value: Any) -> str:
    validator_class = (
        OAS31Validator if str(document.get("openapi", "")).startswith("3.1") else OAS30Validator
    )
    registry: Registry[Any] = Registry().with_resource(
        "urn:spec", DRAFT202012.create_resource(document)
    )
    validator = validator_class({"$ref": f"urn:spec#{pointer}"}, registry=registry)
    try:
        validator.validate(value)
    except ValidationError as exc:
        where = "/" + "/".join(map(str, exc.absolute_path))
        return f"at {where}: {exc.message[:300]}"
    return ""
