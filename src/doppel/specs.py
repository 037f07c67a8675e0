"""Loading API descriptions from bytes or files, and the compile cache keyed by content digest.

This is the only place that reads spec files; the engine compiles what it is given. Every
document is checked before it is compiled: nesting depth, YAML alias expansion, and every
`$ref` (local and pointing at something), so hostile input is a `SpecError`, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from doppel.engine import CompiledSpec, compile_spec
from doppel.engine.refs import escape, resolve_pointer
from doppel.errors import FieldError, SpecError

log = logging.getLogger("doppel.specs")
MAX_SPEC_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 256  # nested objects/arrays; real specs stay under 30 (GitHub's: 20)
_MAX_ALIASES = 10_000
_MAX_ALIAS_GROWTH = 1_000_000  # nodes that aliases may add once the document is expanded
_MAX_REF_CHAIN = 64
_MAX_REPORTED = 20


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses alias bombs ("billion laughs") and deep nesting before either
    is expanded into Python objects."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > _MAX_ALIASES:
                raise SpecError(f"the document uses more than {_MAX_ALIASES} YAML aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH + 1:  # + 1: a scalar sits one level below its container
                raise SpecError(f"the document is nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node


class _FastGuardedLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml composes the node graph (several times faster, and it refuses nesting beyond
    1,000 levels by itself); the graph is then measured as expanded before any Python object
    is built, so alias bombs and deep nesting are refused just as by `_GuardedLoader`."""

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node


_Loader: type = _FastGuardedLoader if hasattr(yaml, "CSafeLoader") else _GuardedLoader


def _check_expansion(root: yaml.Node) -> None:
    """Measure the composed node graph as it would be once aliases are expanded, without
    expanding it: each distinct node is visited once (iteratively), its size and depth memoised."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose subtree is being measured: the current ancestors
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, measured = stack.pop()
        key = id(node)
        children = _children(node)
        if measured:
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            open_.discard(key)
            if depth[key] > MAX_DEPTH + 1:
                raise SpecError(
                    f"the document is nested deeper than {MAX_DEPTH} levels once its YAML "
                    "aliases are expanded"
                )
            continue
        if key in size:
            continue
        if key in open_:
            raise SpecError("a YAML alias refers to a node that contains it (a recursive alias)")
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    growth = size[id(root)] - len(size)
    if growth > _MAX_ALIAS_GROWTH:
        raise SpecError(
            f"the document's YAML aliases expand it by {growth} nodes; the limit is "
            f"{_MAX_ALIAS_GROWTH} (an alias bomb?)"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def decompress(data: bytes) -> bytes:
    """The bytes themselves, or their gzip content (bundled vendor specs ship compressed),
    refused past MAX_SPEC_BYTES before it is all inflated: no gzip bomb gets through."""
    if data[:2] != b"\x1f\x8b":
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_SPEC_BYTES + 1)
    except zlib.error as exc:
        raise SpecError(f"invalid gzip data: {exc}", pointer="") from None
    if len(out) > MAX_SPEC_BYTES or inflater.unconsumed_tail:
        raise SpecError(f"the document inflates past {MAX_SPEC_BYTES} bytes", pointer="")
    return out


def parse_document(data: bytes, name: str = "") -> Any:
    """JSON or YAML bytes (or either gzip-compressed) → Python values. JSON is tried first: it
    is faster and keeps the surrogate-pair escapes (Twilio's) that YAML rejects."""
    data = decompress(data)
    name = name.removesuffix(".gz")
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"the document is larger than {MAX_SPEC_BYTES} bytes", pointer="")
    try:
        stripped = data.lstrip()
        if stripped[:1] in (b"{", b"["):
            try:
                return json.loads(data)
            except ValueError as exc:
                if name.endswith(".json"):
                    raise SpecError(f"invalid JSON: {exc}", pointer="") from None
        return yaml.load(data, Loader=_Loader)
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own limit, past ours
            raise SpecError(f"the document is nested deeper than {MAX_DEPTH} levels") from None
        raise SpecError(f"invalid YAML: {exc}", pointer="") from None
    except RecursionError:
        raise SpecError(
            f"the document is nested too deeply (the limit is {MAX_DEPTH} levels)", pointer=""
        ) from None


def load_yaml(text: str | bytes) -> Any:
    """YAML from an untrusted author (a registered template's fixtures), with the same guards."""
    try:
        return yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise SpecError("the document is nested too deeply") from None


# How the walk reads a node's keys: OpenAPI keywords, names chosen by the author (property
# names, status codes, media types...), or literal data (examples, defaults) where a "$ref"
# key is just data.
_KEYWORDS, _NAMES, _EXAMPLE_NAMES, _EXAMPLE, _LITERAL = range(5)
_NAME_MAPS = frozenset(
    {
        "$defs",
        "callbacks",
        "content",
        "definitions",
        "dependentSchemas",
        "encoding",
        "headers",
        "links",
        "parameters",
        "pathItems",
        "paths",
        "patternProperties",
        "properties",
        "requestBodies",
        "responses",
        "schemas",
        "securitySchemes",
        "variables",
        "webhooks",
    }
)
_LITERAL_KEYS = frozenset({"const", "default", "enum", "example"})
_Where = tuple[Any, str | int] | None  # (parent, key): a JSON pointer built only when needed


def check_document(document: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a document nested deeper than `max_depth`, or with a `$ref` that is not a local
    pointer (`#/...`) to something in the document. One iterative walk: depth cannot crash it."""
    refs: list[tuple[str, _Where]] = []
    stack: list[tuple[Any, int, _Where, int]] = [(document, 1, None, _KEYWORDS)]
    while stack:
        node, depth, where, mode = stack.pop()
        if depth > max_depth:
            raise SpecError(
                f"the document is nested deeper than {max_depth} levels", pointer=_pointer(where)
            )
        if isinstance(node, list):
            item_mode = _LITERAL if mode == _LITERAL else _KEYWORDS
            stack.extend(
                (v, depth + 1, (where, i), item_mode)
                for i, v in enumerate(node)
                if isinstance(v, Mapping | list)
            )
            continue
        if not isinstance(node, Mapping):
            continue
        if mode not in (_NAMES, _EXAMPLE_NAMES, _LITERAL) and isinstance(node.get("$ref"), str):
            refs.append((node["$ref"], (where, "$ref")))
        for key, value in node.items():
            if isinstance(value, Mapping | list):
                stack.append((value, depth + 1, (where, key), _mode(mode, key, value)))
    _check_refs(document, refs)


_OBJECTS = ("info", "paths", "components", "definitions", "parameters", "responses", "x-doppel")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def check_outline(document: Any) -> None:
    """Refuse a document whose skeleton has the wrong types (`paths: []`, `info: 5`...), naming
    the first such member, so the compiler only ever sees the shapes it expects."""
    if not isinstance(document, Mapping):
        raise SpecError("an API description must be a JSON or YAML object", pointer="")
    for key in _OBJECTS:
        if key in document and not isinstance(document[key], Mapping):
            raise SpecError(f"`{key}` must be an object", pointer=f"/{escape(key)}")
    _check_list_of_objects(document, "servers", "")
    for path, item in (document.get("paths") or {}).items():
        at = f"/paths/{escape(str(path))}"
        if not isinstance(item, Mapping):
            raise SpecError("a path item must be an object", pointer=at)
        _check_list_of_objects(item, "parameters", at)
        for method in _METHODS:
            if method not in item:
                continue
            operation = item[method]
            if not isinstance(operation, Mapping):
                raise SpecError("an operation must be an object", pointer=f"{at}/{method}")
            _check_list_of_objects(operation, "parameters", f"{at}/{method}")
            _check_list_of_objects(operation, "security", f"{at}/{method}")
            if "responses" in operation and not isinstance(operation["responses"], Mapping):
                raise SpecError("`responses` must be an object", pointer=f"{at}/{method}/responses")
    _check_list_of_objects(document, "security", "")


def _check_list_of_objects(parent: Mapping[str, Any], key: str, at: str) -> None:
    if key not in parent:
        return
    value = parent[key]
    if not isinstance(value, list):
        raise SpecError(f"`{key}` must be an array", pointer=f"{at}/{key}")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise SpecError(f"each of `{key}` must be an object", pointer=f"{at}/{key}/{i}")


def _mode(parent: int, key: Any, value: Any) -> int:
    if parent == _LITERAL:
        return _LITERAL
    if parent == _NAMES:
        return _KEYWORDS
    if parent == _EXAMPLE_NAMES:
        return _EXAMPLE
    name = str(key)
    if name in _LITERAL_KEYS or name.startswith("x-") or (parent == _EXAMPLE and name == "value"):
        return _LITERAL
    if name == "examples":  # OpenAPI: a map of Example Objects; JSON Schema: a list of values
        return _EXAMPLE_NAMES if isinstance(value, Mapping) else _LITERAL
    return _NAMES if name in _NAME_MAPS else _KEYWORDS


def _check_refs(document: Any, refs: list[tuple[str, _Where]]) -> None:
    verdicts: dict[str, str | None] = {}
    errors: list[FieldError] = []
    for ref, where in refs:
        if ref not in verdicts:
            verdicts[ref] = _follow(document, ref)
        problem = verdicts[ref]
        if problem is not None:
            errors.append(FieldError(_pointer(where), problem))
            if len(errors) == _MAX_REPORTED:
                break
    if errors:
        detail = errors[0].detail
        if len(errors) > 1:
            more = "at least " if len(errors) == _MAX_REPORTED else ""
            detail = f"{more}{len(errors)} references cannot be resolved; the first: {detail}"
        raise SpecError(detail, errors=errors)


def _follow(document: Any, ref: str) -> str | None:
    """Why `ref` cannot be resolved, or None when it (and any chain of refs it starts) can."""
    seen: set[str] = set()
    while True:
        if ref != "#" and not ref.startswith("#/"):
            return (
                f"the reference {ref!r} points outside the document; only local references "
                "('#/...') are supported"
            )
        try:
            target = resolve_pointer(document, ref)
        except SpecError:
            return f"the reference {ref!r} points at nothing in the document"
        seen.add(ref)
        following = target.get("$ref") if isinstance(target, Mapping) else None
        if not isinstance(following, str):
            return None
        if following in seen or len(seen) >= _MAX_REF_CHAIN:
            return f"the reference {ref!r} is part of a circular chain of references"
        ref = following


def _pointer(where: _Where) -> str:
    tokens: list[str] = []
    while where is not None:
        where, key = where
        tokens.append(escape(str(key)))
    return "".join(f"/{t}" for t in reversed(tokens))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SpecCache:
    """Compiled specs keyed by content digest, shared by every instance that serves them."""

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._compiled: OrderedDict[str, CompiledSpec] = OrderedDict()
        self._lock = threading.Lock()

    def compile(
        self,
        data: bytes,
        name: str = "",
        key: str | None = None,
        declarations: Mapping[str, Any] | None = None,
    ) -> CompiledSpec:
        """The compiled spec for `data`; `key` is its digest when the caller already has it
        (hashing GitHub's 13 MB on every sandbox create would cost ~20 ms). `declarations`,
        a template's `x-doppel.yaml`, take the place of the document's own `x-doppel` members
        (a vendor's file stays as published)."""
        key = key or digest(data)
        with self._lock:
            cached = self._compiled.get(key)
            if cached is not None:
                self._compiled.move_to_end(key)
                return cached
        try:
            document = parse_document(data, name)
            if declarations and isinstance(document, Mapping):
                own = document.get("x-doppel")
                merged = {**(own if isinstance(own, Mapping) else {}), **declarations}
                document = {**document, "x-doppel": merged}
            check_outline(document)
            check_document(document)
            compiled = compile_spec(document)
        except RecursionError:
            raise SpecError("the document is nested too deeply", pointer="") from None
        except (SpecError, MemoryError):
            raise
        except Exception as exc:  # a shape the compiler did not expect: still the input's fault
            log.warning("compiling a document failed", exc_info=True)
            raise SpecError(
                f"the document could not be compiled ({type(exc).__name__}: {exc})", pointer=""
            ) from exc
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > self._capacity:
                self._compiled.popitem(last=False)
        return compiled

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._compiled

    def compile_file(self, path: Path) -> CompiledSpec:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SpecError(f"cannot read {path}: {exc.strerror}") from None
        return self.compile(data, path.name)
