"""Identifiers and timestamps for what an agent creates: unique and increasing per sandbox.

Placeholders `{seq}` (the next number of the collection: GitHub issues and pull requests
share one per repository), `{seq:NAME}` (a named sequence, starting where the template
declares), `{hex:N}`, `{alnum:N}` and `{digits:N}` (N characters: a prefix fixed by the
sandbox's seed, then a counter, so later ids sort after earlier ones), `{ts}` (Slack's
`1700000000.000100` from the sandbox's clock, strictly increasing) and `{uuid}`. Every
counter lives in the sandbox's state, so ids continue where they were after a restart.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from doppel.engine.expressions import utc
from doppel.engine.world import View

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_COUNTER_DIGITS = {"hex": 8, "alnum": 5, "digits": 6}


class Generators:
    """The `generate` callback of an expression `Env` for one request."""

    def __init__(
        self,
        view: View,
        seed: int,
        at: datetime,
        starts: Mapping[str, int] | None = None,
        collection: str = "",
    ) -> None:
        self.view = view
        self.seed = seed
        self.at = at
        self.starts = starts or {}
        self.collection = collection  # what `{seq}` numbers
        self._prefix = hashlib.sha512(f"doppel:{seed}".encode()).digest()  # 64: the widest id

    def for_collection(self, collection: str) -> Generators:
        return Generators(self.view, self.seed, self.at, self.starts, collection)

    def __call__(self, name: str, arg: str) -> Any:
        if name == "seq":
            return self.next_number(arg)
        if name == "ts":
            return self._ts()
        if name == "uuid":
            count = self._count("uuid")
            return str(uuid.UUID(bytes=self._prefix[:12] + count.to_bytes(4, "big"), version=4))
        width = int(arg) if arg.isdigit() and 0 < int(arg) <= 64 else 16
        return self._fixed(name, width)

    def next_number(self, name: str = "") -> int:
        """The next value of a named sequence, or of the collection's own."""
        key = name or f"seq:{self.collection}"
        last = self.view.sequence(key)
        if last is None:
            last = self._start(name) - 1
        value = int(last) + 1
        self.view.advance(key, value)
        return value

    def _start(self, name: str) -> int:
        if name:
            return int(self.starts.get(name, 1))
        numbers = [int(k) for k in self.view.keys(self.collection) if k.isdigit()]
        return max(numbers, default=0) + 1

    def _count(self, name: str) -> int:
        last = self.view.sequence(name)
        value = (int(last) if last is not None else 0) + 1
        self.view.advance(name, value)
        return value

    def _fixed(self, name: str, width: int) -> str:
        count = self._count(name)
        alphabet = {"hex": "0123456789abcdef", "digits": "0123456789"}.get(name, _ALNUM)
        tail = min(_COUNTER_DIGITS.get(name, 6), width)
        head = "".join(alphabet[b % len(alphabet)] for b in self._prefix)[: width - tail]
        if not head:  # too narrow for a prefix: the seed offsets the counter instead
            count += int.from_bytes(self._prefix[:4], "big") % (len(alphabet) ** tail // 2)
        return head + _in_base(count, alphabet, tail)

    def _ts(self) -> str:
        micros = int(utc(self.at).timestamp() * 1_000_000)
        last = self.view.sequence("ts")
        if last is not None:
            whole, _, fraction = str(last).partition(".")
            micros = max(micros, int(whole) * 1_000_000 + int(fraction or 0) + 1)
        value = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
        self.view.advance("ts", value)
        return value


def _in_base(number: int, alphabet: str, width: int) -> str:
    digits = []
    base = len(alphabet)
    for _ in range(width):
        number, rest = divmod(number, base)
        digits.append(alphabet[rest])
    return "".join(reversed(digits))


_PATTERN_ID = re.compile(
    r"^\^?(?:\((?P<alts>[A-Za-z0-9_-]+(?:\|[A-Za-z0-9_-]+)*)\)|(?P<prefix>[A-Za-z0-9_-]*))"
    r"\[(?P<cls>[^\]]+)\]\{(?P<n>\d+)(?:,\d*)?\}\$?$"
)
_EXAMPLE_ID = re.compile(r"^(?P<prefix>[A-Za-z]+_|[A-Z]{2})(?P<body>[A-Za-z0-9]{8,})$")


def id_template(schema: Mapping[str, Any], example: Any = None) -> str:
    """How to make new keys of this schema: `{seq}` for integers, `{uuid}`, or a provider's
    prefix and width read from the pattern (`^SM[0-9a-fA-F]{32}$` → `SM{hex:32}`) or from an
    example (`cus_NffrFeUfNV2Hib` → `cus_{alnum:14}`)."""
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind}
    if kinds & {"integer", "number"}:
        return "{seq}"
    if schema.get("format") == "uuid":
        return "{uuid}"
    pattern = schema.get("pattern")
    found = _PATTERN_ID.match(pattern) if isinstance(pattern, str) else None
    if found is not None:
        prefix = (found["alts"] or "").split("|")[0] or found["prefix"] or ""
        width = int(found["n"])
        return f"{prefix}{{{_alphabet(found['cls'])}:{width}}}"
    for candidate in (example, schema.get("example"), *(schema.get("examples") or ())):
        if isinstance(candidate, str):
            shaped = _EXAMPLE_ID.match(candidate)
            if shaped is not None:
                body = shaped["body"]
                name = "hex" if re.fullmatch(r"[0-9a-f]+", body) else "alnum"
                return f"{shaped['prefix']}{{{name}:{len(body)}}}"
    return "{seq}"


def _alphabet(cls: str) -> str:
    chars = set(re.sub(r"(.)-(.)", lambda m: _span(m[1], m[2]), cls))
    if chars <= set("0123456789"):
        return "digits"
    if chars <= set("0123456789abcdefABCDEF"):
        return "hex"
    return "alnum"


def _span(low: str, high: str) -> str:
    return "".join(chr(c) for c in range(ord(low), ord(high) + 1))
