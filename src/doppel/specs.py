"""Loading API descriptions from bytes or files, and the compile cache keyed by content digest.

This is the only place that reads spec files; the engine compiles what it is given.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import yaml

from doppel.engine import CompiledSpec, compile_spec
from doppel.errors import SpecError

MAX_SPEC_BYTES = 64 * 1024 * 1024
_MAX_ALIASES = 10_000


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses alias bombs ("billion laughs") before they expand."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > _MAX_ALIASES:
                raise SpecError(f"the document uses more than {_MAX_ALIASES} YAML aliases")
        return super().compose_node(parent, index)


def parse_document(data: bytes, name: str = "") -> Any:
    """JSON or YAML bytes → Python values. JSON is tried first: it is faster and keeps the
    surrogate-pair escapes (Twilio's) that YAML rejects."""
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"the document is larger than {MAX_SPEC_BYTES} bytes", pointer="")
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            return json.loads(data)
        except ValueError as exc:
            if name.endswith(".json"):
                raise SpecError(f"invalid JSON: {exc}", pointer="") from None
    try:
        return yaml.load(data, Loader=_GuardedLoader)
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", pointer="") from None
    except RecursionError:
        raise SpecError("the document is nested too deeply", pointer="") from None


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SpecCache:
    """Compiled specs keyed by content digest, shared by every instance that serves them."""

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._compiled: OrderedDict[str, CompiledSpec] = OrderedDict()
        self._lock = threading.Lock()

    def compile(self, data: bytes, name: str = "") -> CompiledSpec:
        key = digest(data)
        with self._lock:
            cached = self._compiled.get(key)
            if cached is not None:
                self._compiled.move_to_end(key)
                return cached
        try:
            compiled = compile_spec(parse_document(data, name))
        except RecursionError:
            raise SpecError("the document is nested too deeply", pointer="") from None
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > self._capacity:
                self._compiled.popitem(last=False)
        return compiled

    def compile_file(self, path: Path) -> CompiledSpec:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SpecError(f"cannot read {path}: {exc.strerror}") from None
        return self.compile(data, path.name)


def load_file(path: Path) -> Any:
    return parse_document(path.read_bytes(), path.name)
