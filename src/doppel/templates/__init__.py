"""Templates: a named service kind made of an OpenAPI spec, a config schema and Jinja2 fixtures.

A template is a folder: the API description (`openapi.yaml`, `openapi.json`, or one vendor file
such as `api.github.com.json.gz`, gzip allowed), `config.schema.json`, optional `x-doppel.yaml`
(declarations that take the place of the spec's own `x-doppel`, so a vendor's file ships as
published) and optional `fixtures.json.j2` or `fixtures.yaml.j2`.
The bundled ones live beside this file; `DOPPEL_TEMPLATES_DIR` adds more without a code change,
and `POST /v1/templates` registers more at run time (`origin="registered"`).
Fixtures render in `jinja2.sandbox.SandboxedEnvironment`: a custom_config is untrusted input.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from doppel.engine import (
    CompiledSpec,
    StubIndex,
    StubMapping,
    stubs_from_fixtures,
    stubs_from_mock_responses,
)
from doppel.engine.actions import build_world, check_world
from doppel.engine.expressions import apply_filter
from doppel.engine.refs import escape
from doppel.engine.world import EMPTY_WORLD, World
from doppel.errors import (
    ConfigError,
    FieldError,
    InvalidRequestError,
    SpecError,
    TemplateNotFoundError,
)
from doppel.specs import SpecCache, check_document, digest, load_yaml

BUNDLED_DIR = Path(__file__).parent
SPEC_FILES = ("openapi.yaml", "openapi.yml", "openapi.json")
DECLARATIONS_FILE = "x-doppel.yaml"
_NOT_SPECS = frozenset({"config.schema.json", DECLARATIONS_FILE})
_SPEC_SUFFIXES = (".json", ".yaml", ".yml", ".json.gz", ".yaml.gz", ".yml.gz")
TEMPLATE_NAME = r"^[a-z][a-z0-9_-]{0,62}$"
REGISTERED = "registered"  # the origin of templates registered at run time
_NAME = re.compile(TEMPLATE_NAME)
_MAX_SCHEMA_DEPTH = 64  # a config schema is small; the metaschema check recurses per level
_ENV = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_ENV.filters["slug"] = lambda value: re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")
# Code points that JSON may carry raw but YAML may not, or reads as something else: DEL, the C1
# controls, U+FFFE/U+FFFF and surrogates (not printable in YAML), and NEL, LS, PS (line breaks in
# YAML, folded inside a quoted scalar). `json.dumps` itself escapes the C0 controls.
_NOT_RAW_IN_YAML = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _tojson(value: Any) -> str:
    """`value` as JSON text that YAML reads as the same value, for templates of either kind.

    Other characters, those above U+FFFF too, are written raw. A lone surrogate cannot be
    represented in YAML at all, so it becomes U+FFFD, the replacement character.
    """
    return _NOT_RAW_IN_YAML.sub(_escape_for_yaml, json.dumps(value, ensure_ascii=False))


def _escape_for_yaml(found: re.Match[str]) -> str:
    code = ord(found[0])
    return "\\ufffd" if 0xD800 <= code <= 0xDFFF else f"\\u{code:04x}"


_ENV.filters["tojson"] = _tojson
_ENV.filters["b64"] = lambda text: apply_filter(str(text), "b64")
_ENV.filters["blob_sha"] = lambda text: apply_filter(str(text), "blob_sha")
_ENV.filters["byte_length"] = lambda text: len(str(text).encode())
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SWITCHES = ("validate_requests", "enforce_auth", "closed_world", "auth")
_AUTH_MODES = ("off", "any", "issued")
# Fixtures that render to JSON load fastest; YAML output is accepted too.
FIXTURE_FILES = ("fixtures.json.j2", "fixtures.yaml.j2")
DEFAULT_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"mock_responses": {"type": "object", "default": {}}},
}


@dataclass(frozen=True)
class Overlay:
    """A config's customisation of a shared compiled spec: its stubs, and the world its
    fixtures describe, checked when the overlay is made and built the first time it is
    asked for (a sandbox that never calls a service never pays for its world)."""

    stubs: StubIndex
    spec: CompiledSpec | None = None
    described: Mapping[str, Any] | None = None  # `{"me", "world"}`, as rendered
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    @cached_property
    def world(self) -> World:
        if self.spec is None or self.described is None:
            return EMPTY_WORLD
        return build_world(self.spec, self.described, 0, self.start)

    @cached_property
    def size(self) -> int:
        """Bytes this overlay holds as rendered: its stubs' answers and the world its
        fixtures describe (as JSON), whether or not the world has been built yet."""
        described = json.dumps(self.described, default=str).encode() if self.described else b""
        return self.stubs.size + len(described)


_EPOCH = date(2026, 1, 1)


@dataclass(frozen=True)
class Template:
    name: str
    spec_bytes: bytes
    spec_name: str = "openapi.yaml"
    config_schema: Mapping[str, Any] = field(default_factory=lambda: DEFAULT_CONFIG_SCHEMA)
    fixtures_source: str | None = None
    origin: str = "bundled"
    declarations: Mapping[str, Any] | None = None  # x-doppel.yaml, over the spec's own x-doppel

    @classmethod
    def from_directory(cls, directory: Path, origin: str = "bundled") -> Template:
        spec_path = spec_file(directory)
        if spec_path is None:
            raise SpecError(f"template {directory.name!r} has no openapi.yaml")
        declarations_path = directory / DECLARATIONS_FILE
        schema_path = directory / "config.schema.json"
        fixtures_path = next(
            (directory / f for f in FIXTURE_FILES if (directory / f).is_file()), directory
        )
        return cls(
            name=directory.name,
            spec_bytes=spec_path.read_bytes(),
            spec_name=spec_path.name,
            config_schema=(
                json.loads(schema_path.read_text())
                if schema_path.is_file()
                else DEFAULT_CONFIG_SCHEMA
            ),
            fixtures_source=fixtures_path.read_text() if fixtures_path.is_file() else None,
            origin=origin,
            declarations=(
                yaml.load(declarations_path.read_bytes(), Loader=_YAML_LOADER)
                if declarations_path.is_file()
                else None
            ),
        )

    @cached_property
    def _validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.config_schema)

    @cached_property
    def _fixtures(self) -> jinja2.Template | None:
        return _ENV.from_string(self.fixtures_source) if self.fixtures_source else None

    def resolve_config(self, config: Any, pointer: str = "") -> dict[str, Any]:
        """The config validated against the template's schema, with top-level defaults applied.

        Doppel's own switches are accepted by every template whatever its schema says:
        `validate_requests`, `enforce_auth` and `closed_world` (booleans), and `auth`
        (`off`, `any` well-formed token, or only the tokens `issued` to the sandbox).
        """
        own = dict(config) if isinstance(config, Mapping) else config
        switches = {k: own.pop(k) for k in SWITCHES if isinstance(own, dict) and k in own}
        errors = [
            FieldError(f"{pointer}/{name}", f"{name} must be true or false")
            for name, value in switches.items()
            if name != "auth" and not isinstance(value, bool)
        ]
        if "auth" in switches and switches["auth"] not in _AUTH_MODES:
            errors.append(
                FieldError(f"{pointer}/auth", f"auth must be one of {', '.join(_AUTH_MODES)}")
            )
        try:
            found = sorted(self._validator.iter_errors(own), key=lambda e: list(e.path))
        except Exception as exc:  # e.g. a $ref a registered schema's `$id` makes unresolvable
            raise ConfigError(
                f"the {self.name} config schema cannot be applied: {type(exc).__name__}: {exc}",
                pointer=pointer,
            ) from None
        errors += [FieldError(_error_pointer(pointer, error), error.message) for error in found]
        if errors:
            raise ConfigError(f"the {self.name} config is invalid", errors=errors)
        resolved = {**(own or {}), **switches}
        for name, prop in (self.config_schema.get("properties") or {}).items():
            if name not in resolved and isinstance(prop, Mapping) and "default" in prop:
                resolved[name] = prop["default"]
        return resolved

    def overlay(
        self, spec: CompiledSpec, config: Mapping[str, Any], pointer: str = "", *, day: date
    ) -> Overlay:
        """What a sandbox's config makes of this template: overrides from `mock_responses`,
        fixture stubs, and the world the fixtures describe. Built with seed 0 on the given
        day, so every sandbox with this config shares one (ids made later carry their own
        sandbox's seed, and never collide with the world's)."""
        overrides = stubs_from_mock_responses(
            config.get("mock_responses") or {}, f"{pointer}/mock_responses"
        )
        fixtures: list[StubMapping] = []
        start = datetime.combine(day, datetime.min.time(), UTC)
        declared: dict[str, Any] = {"world": spec.declarations.world, "me": spec.declarations.me}
        described: Mapping[str, Any] | None = None
        if self._fixtures is None and (declared["world"] or declared["me"]):
            described = declared  # x-doppel's own `world`
            check_world(spec, described)
        if self._fixtures is not None:
            try:
                text = self._fixtures.render(config=config, **config)
                rendered = self._load_fixtures(text) or []
                if isinstance(rendered, Mapping):
                    fixtures = stubs_from_fixtures(rendered.get("stubs") or [], "/stubs")
                    groups = rendered.get("world") or []
                    whole = {
                        **rendered,
                        "world": [*declared["world"], *groups]
                        if isinstance(groups, list)
                        else groups,
                        "me": rendered.get("me") or declared["me"],
                    }
                    check_world(spec, whole)
                    described = whole
                else:
                    fixtures = stubs_from_fixtures(rendered)
            except (jinja2.TemplateError, yaml.YAMLError, SpecError) as exc:
                raise ConfigError(
                    f"the {self.name} fixtures could not be rendered: {exc}", pointer=pointer
                ) from None
            except ConfigError as exc:
                where = exc.errors[0].pointer if exc.errors else ""
                raise ConfigError(
                    f"the {self.name} fixtures do not describe a world: {where}: {exc.detail}",
                    pointer=pointer,
                ) from None
        stubs = StubIndex([*overrides, *fixtures], spec.prefixes)
        return Overlay(stubs, spec if described is not None else None, described, start)

    def stubs(self, spec: CompiledSpec, config: Mapping[str, Any], pointer: str = "") -> StubIndex:
        """The overlay's stubs alone (overrides, then fixtures)."""
        return self.overlay(spec, config, pointer, day=_EPOCH).stubs

    def _load_fixtures(self, text: str) -> Any:
        # JSON is YAML too, and parses two orders of magnitude faster: try it first.
        with contextlib.suppress(ValueError):
            return json.loads(text)
        if self.origin == REGISTERED:  # fixtures from the API: guard against alias bombs
            return load_yaml(text)
        return yaml.load(text, Loader=_YAML_LOADER)

    @cached_property
    def spec_digest(self) -> str:
        """SHA-256 of the spec's bytes alone: what a client compares with a file it holds."""
        return digest(self.spec_bytes)

    @cached_property
    def digest(self) -> str:
        if not self.declarations:
            return digest(self.spec_bytes)
        extra = json.dumps(self.declarations, sort_keys=True, default=str).encode()
        return digest(self.spec_bytes + b"\0" + extra)

    def compile(self, cache: SpecCache) -> CompiledSpec:
        return cache.compile(
            self.spec_bytes, self.spec_name, key=self.digest, declarations=self.declarations
        )

    def check(self, cache: SpecCache) -> CompiledSpec:
        """Try once what every sandbox will do with this template, before it is accepted:
        compile the spec (`SpecError`, pointers into the document), check the config schema
        and the fixtures (`InvalidRequestError` at `/config_schema/...` or `/fixtures`)."""
        compiled = self.compile(cache)
        self._check_config_schema()
        if self.fixtures_source is None:
            return compiled
        try:
            self._fixtures  # noqa: B018 - compiles the Jinja2 source
        except jinja2.TemplateSyntaxError as exc:
            raise InvalidRequestError(
                f"the fixtures are not a valid Jinja2 template: {exc.message} (line {exc.lineno})",
                pointer="/fixtures",
            ) from None
        try:
            defaults = self.resolve_config({})
        except ConfigError:
            return compiled  # the schema requires fields: the fixtures render per sandbox
        try:
            self.stubs(compiled, defaults)
        except Exception as exc:
            detail = exc.detail if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            raise InvalidRequestError(
                f"the fixtures do not render with the default config: {detail}",
                pointer="/fixtures",
            ) from None
        return compiled

    def _check_config_schema(self) -> None:
        try:
            check_document(self.config_schema, max_depth=_MAX_SCHEMA_DEPTH)
            _check_no_nested_ids(self.config_schema)
            Draft202012Validator.check_schema(self.config_schema)
        except SpecError as exc:
            raise InvalidRequestError(
                f"the config schema is invalid: {exc.detail}",
                errors=[FieldError(f"/config_schema{e.pointer}", e.detail) for e in exc.errors]
                or [FieldError("/config_schema", exc.detail)],
            ) from None
        except SchemaError as exc:
            at = "".join(f"/{escape(str(p))}" for p in exc.absolute_path)
            raise InvalidRequestError(
                f"the config schema is not a valid JSON Schema: {exc.message}",
                pointer=f"/config_schema{at}",
            ) from None
        except RecursionError:
            raise InvalidRequestError(
                "the config schema is nested too deeply", pointer="/config_schema"
            ) from None


def spec_file(directory: Path) -> Path | None:
    """A template folder's API description: `openapi.{yaml,yml,json}` (gzip allowed), else the
    one other JSON or YAML file in it (a vendor's file under its own name)."""
    for name in SPEC_FILES:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    others = [
        p
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name not in _NOT_SPECS and p.name.endswith(_SPEC_SUFFIXES)
    ]
    return others[0] if len(others) == 1 else None


def _check_no_nested_ids(schema: Mapping[str, Any]) -> None:
    """Local `$ref`s were checked against the whole schema; an `$id` below the root would make
    them resolve against a sub-schema instead, and fail only when a sandbox is created."""
    stack: list[tuple[Any, str]] = [
        (value, f"/{escape(str(key))}") for key, value in schema.items()
    ]
    while stack:
        node, at = stack.pop()
        if isinstance(node, Mapping):
            if isinstance(node.get("$id"), str):
                raise SpecError(
                    "`$id` is only supported at the root of a config schema", pointer=f"{at}/$id"
                )
            stack.extend((v, f"{at}/{escape(str(k))}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{at}/{i}") for i, v in enumerate(node))


def _error_pointer(base: str, error: Any) -> str:
    path = [escape(str(p)) for p in error.absolute_path]
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        path.append(escape(error.instance))  # the offending key itself
    elif error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(error.schema.get("properties") or {})
        extra = [k for k in error.instance if k not in allowed]
        if len(extra) == 1:
            path.append(escape(str(extra[0])))
    return base + "".join(f"/{p}" for p in path)


class TemplateRegistry:
    """Templates by name: the bundled folder, extra folders, and ones registered at run time."""

    def __init__(self, directories: Iterable[Path] = ()) -> None:
        self._templates: dict[str, Template] = {}
        for directory in (BUNDLED_DIR, *directories):
            self.scan(directory, "bundled" if directory == BUNDLED_DIR else "directory")

    @classmethod
    def from_env(cls) -> TemplateRegistry:
        extra = os.environ.get("DOPPEL_TEMPLATES_DIR", "")
        return cls(Path(p) for p in extra.split(os.pathsep) if p)

    def scan(self, directory: Path, origin: str) -> None:
        if not directory.is_dir():
            return
        for child in sorted(directory.iterdir()):
            if child.is_dir() and _NAME.match(child.name) and spec_file(child) is not None:
                self._templates[child.name] = Template.from_directory(child, origin)

    def add(self, template: Template) -> None:
        self._templates[template.name] = template

    def remove(self, name: str) -> Template:
        template = self.get(name)
        del self._templates[name]
        return template

    def get(self, name: str) -> Template:
        try:
            return self._templates[name]
        except KeyError:
            available = ", ".join(sorted(self._templates))
            raise TemplateNotFoundError(
                f"no template named {name!r}; available: {available}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._templates)

    def __contains__(self, name: object) -> bool:
        return name in self._templates

    def __iter__(self) -> Any:
        return iter(self._templates[n] for n in self.names())
