"""Strings that match a regular expression, drawn from a given `random.Random`.

Hand-written over the standard library's own regex parser because the usual library (rstr)
lets `+` and `*` run to 100 characters and draws negated classes from an unordered set, which
breaks "same seed, same bytes" across processes.
"""

from __future__ import annotations

import random
import re

# The parser `re` itself uses (the public `sre_parse` alias is deprecated since 3.11).
import re._constants as sre_constants  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
import string
from typing import Any

_REPEAT_SPAN = 6
_PRINTABLE = string.ascii_letters + string.digits + "-_."
_CATEGORIES = {
    sre_constants.CATEGORY_DIGIT: string.digits,
    sre_constants.CATEGORY_NOT_DIGIT: string.ascii_letters,
    sre_constants.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    sre_constants.CATEGORY_NOT_WORD: "-.!",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_SPACE: string.ascii_letters,
}


def string_matching(pattern: str, rng: random.Random) -> str | None:
    """A string `re.search(pattern, s)` accepts, or None when the pattern is beyond us."""
    try:
        parsed = sre_parse.parse(pattern)
        candidate = _emit(parsed, rng, {})
    except (re.error, _Unsupported, RecursionError, TypeError, ValueError):
        return None
    return candidate if re.search(pattern, candidate) else None


class _Unsupported(Exception):
    pass


def _emit(items: Any, rng: random.Random, groups: dict[int, str]) -> str:
    return "".join(_one(op, arg, rng, groups) for op, arg in items)


def _one(op: Any, arg: Any, rng: random.Random, groups: dict[int, str]) -> str:
    c = sre_constants
    if op is c.LITERAL:
        return chr(arg)
    if op is c.NOT_LITERAL:
        return next(ch for ch in _PRINTABLE if ord(ch) != arg)
    if op is c.ANY:
        return rng.choice(string.ascii_lowercase)
    if op is c.IN:
        return _in(arg, rng)
    if op is c.BRANCH:
        return _emit(rng.choice(arg[1]), rng, groups)
    if op is c.SUBPATTERN:
        group, body = arg[0], arg[-1]
        text = _emit(body, rng, groups)
        if group is not None:
            groups[group] = text
        return text
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
        low, high, body = arg
        high = min(high, low + _REPEAT_SPAN) if high != c.MAXREPEAT else low + _REPEAT_SPAN
        count = rng.randint(low, max(low, min(high, max(low, 1) + 2)))
        return "".join(_emit(body, rng, groups) for _ in range(count))
    if op is c.GROUPREF:
        return groups.get(arg, "")
    if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
        return ""
    raise _Unsupported(str(op))


def _in(items: Any, rng: random.Random) -> str:
    c = sre_constants
    choices: list[str] = []
    negate = False
    for op, arg in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            choices.append(chr(arg))
        elif op is c.RANGE:
            low, high = arg
            choices.extend(chr(x) for x in range(low, min(high, low + 94) + 1))
        elif op is c.CATEGORY:
            choices.extend(_CATEGORIES.get(arg, ""))
    if negate:
        excluded = set(choices)
        choices = [ch for ch in _PRINTABLE if ch not in excluded]
    if not choices:
        raise _Unsupported("empty class")
    return rng.choice(choices)
