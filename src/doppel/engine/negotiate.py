"""Choosing what to answer: Prism's `Prefer` header, the status code and the media type."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Preferences:
    """Prism's `Prefer: code=404, example=name, dynamic=true` request header."""

    code: str | None = None
    example: str | None = None
    dynamic: bool = False


_NO_PREFERENCES = Preferences()


def parse_prefer(header: str) -> Preferences:
    if not header:
        return _NO_PREFERENCES
    values: dict[str, str] = {}
    for part in header.replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key:
            values[key.strip().lower()] = value.strip().strip('"')
    return Preferences(
        code=values.get("code") or None,
        example=values.get("example") or None,
        dynamic=values.get("dynamic", "").lower() == "true",
    )


def choose_status(responses: Mapping[str, Any], wanted: str | None) -> str | None:
    """The declared response key to serve: the preferred code, else the first success."""
    if wanted is not None:
        if wanted in responses:
            return wanted
        ranged = f"{wanted[:1]}XX"
        return next((k for k in responses if k.upper() == ranged), None)
    keys = sorted(responses, key=_success_rank)
    return keys[0] if keys else None


def _success_rank(key: str) -> tuple[int, str]:
    if key.startswith("2"):
        return (0 if key.isdigit() else 1, key)
    if key == "default":
        return (2, key)
    if key.startswith("3"):
        return (3, key)
    return (4, key)


def status_number(key: str) -> int:
    """`200` → 200, `2XX` → 200, `default` → 200 when nothing better is declared."""
    if key.isdigit():
        return int(key)
    if key[:1].isdigit():
        return int(key[0]) * 100
    return 200


def choose_media_type(content: Mapping[str, Any], accept: str) -> str | None:
    """The declared media type the client accepts best; JSON first when it accepts anything."""
    return _best_media(tuple(content), accept) if content else None


@functools.lru_cache(maxsize=4096)
def _best_media(content: tuple[str, ...], accept: str) -> str:
    declared = sorted(content, key=lambda m: not _is_json(m))  # stable: spec order otherwise
    ranges = [r.split(";", 1)[0].strip().lower() for r in accept.split(",") if r.strip()]
    for media_range in ranges:
        for media in declared:
            if _accepts(media_range, media.lower()):
                return media
    return declared[0]


def _is_json(media: str) -> bool:
    base = media.split(";", 1)[0].lower()
    return base == "application/json" or base.endswith("+json")


def _accepts(media_range: str, media: str) -> bool:
    if media_range in ("*/*", "*", ""):
        return True
    kind, _, sub = media_range.partition("/")
    mkind, _, msub = media.split(";", 1)[0].partition("/")
    return kind == mkind and sub in ("*", msub)
