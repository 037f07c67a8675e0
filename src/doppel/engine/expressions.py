"""The small language of declarations: templates with `{placeholders}`, and conditions.

A template is any JSON value whose strings may hold placeholders: `{req.title}`,
`{item.user.login}`, `{now}`, `{seq}`, `{req.ref|after:refs/heads/}`. A string that is one
placeholder and nothing else keeps the value's own type (an object stays an object); inside
longer text a value is written as text. A placeholder naming nothing makes its string (or
the member holding it) disappear, so optional inputs simply leave fields out. `{{` and `}}`
are literal braces; a brace followed by anything but a name (`{/other_user}`, GitHub's URI
templates) is literal text too.

A condition maps field paths to what they must be: a value (equal, or held by a list), or
an operator (`present`, `absent`, `in`, `ne`, `prefix`, `gt`, `ge`, `lt`, `le`, `contains`);
`any`, `all` and `not` combine conditions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote


class _Missing:
    """What a placeholder that names nothing evaluates to."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_@$][^{}]*)\}")
# Names whose placeholder calls a generator (`{seq}`, `{hex:40}`) rather than reading a value.
GENERATORS = frozenset({"seq", "hex", "alnum", "digits", "ts", "uuid"})
Generate = Callable[[str, str], Any]


class Env:
    """What placeholders read: named roots (`req`, `item`, `me`...) and the generators."""

    __slots__ = ("generate", "roots")

    def __init__(self, roots: Mapping[str, Any], generate: Generate | None = None) -> None:
        self.roots = dict(roots)
        self.generate = generate

    def child(self, **roots: Any) -> Env:
        return Env({**self.roots, **roots}, self.generate)

    def lookup(self, expression: str) -> Any:
        path, name, arg, filters = _parsed(expression)
        if name in GENERATORS and "." not in name:
            if self.generate is None:
                return MISSING
            value = self.generate(name, arg)
        else:
            value = get_path(self.roots, path)
        for spec, name, arg in filters:
            if name == "or":  # `{ref.base.name|or:ref.repo.default_branch}`: another path
                if value is MISSING or value is None or value == "":
                    value = get_path(self.roots, arg)
                continue
            if value is MISSING and name not in _TAKES_MISSING:
                continue  # nothing to transform, until a `default` fills it
            value = apply_filter(value, spec)
        return value


@lru_cache(maxsize=4096)
def _parsed(expression: str) -> tuple[str, str, str, tuple[tuple[str, str, str], ...]]:
    """An expression's path (and a generator's name and argument), then its filters, each as
    (spec, name, argument): parsed once, looked up many times."""
    path, *filters = [part.strip() for part in _split_filters(expression)]
    name, _, arg = path.partition(":")
    return path, name, arg, tuple((f, *f.partition(":")[::2]) for f in filters)


def _split_filters(expression: str) -> list[str]:
    # `|` separates filters; `\|` is a literal bar inside an argument.
    parts = re.split(r"(?<!\\)\|", expression)
    return [p.replace("\\|", "|") for p in parts]


def is_template(value: Any) -> bool:
    """Whether rendering could change `value` (any string with a placeholder inside)."""
    if isinstance(value, str):
        return "{" in value
    if isinstance(value, Mapping):
        return any(is_template(v) for v in value.values())
    if isinstance(value, list):
        return any(is_template(v) for v in value)
    return False


def render(template: Any, env: Env) -> Any:
    """The template with every placeholder filled from `env` (MISSING members dropped)."""
    if isinstance(template, str):
        return _render_text(template, env)
    if isinstance(template, Mapping):
        out = {}
        for key, value in template.items():
            rendered = render(value, env)
            if rendered is not MISSING:
                out[key] = rendered
        return out
    if isinstance(template, list):
        return [v for v in (render(item, env) for item in template) if v is not MISSING]
    return template


def _render_text(text: str, env: Env) -> Any:
    if "{" not in text and "}" not in text:
        return text
    parts = _pieces(text)
    if isinstance(parts, _Whole):
        return env.lookup(parts.expression)
    missing = False
    out = []
    for literal, expression in parts:
        out.append(literal)
        if expression is None:
            continue
        value = env.lookup(expression)
        if value is MISSING or value is None:
            missing = missing or value is MISSING
            continue
        out.append(text_of(value))
    return MISSING if missing else "".join(out)


class _Whole(str):
    """A text that is one placeholder: its value is kept as it is, not made text."""

    @property
    def expression(self) -> str:
        return str(self)


@lru_cache(maxsize=4096)
def _pieces(text: str) -> _Whole | tuple[tuple[str, str | None], ...]:
    """A template text as (literal, expression) pairs, parsed once (`{{` and `}}` are a
    literal brace)."""
    whole = _PLACEHOLDER.fullmatch(text)
    if whole is not None and whole.group(1) is not None:
        return _Whole(whole.group(1))
    pieces: list[tuple[str, str | None]] = []
    literal, at = [], 0
    for found in _PLACEHOLDER.finditer(text):
        literal.append(text[at : found.start()])
        at = found.end()
        if found.group(1) is None:
            literal.append(found.group(0)[0])
            continue
        pieces.append(("".join(literal), found.group(1)))
        literal = []
    literal.append(text[at:])
    pieces.append(("".join(literal), None))
    return tuple(pieces)


def text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def utc(moment: datetime) -> datetime:
    """A time as UTC: a naive one is taken to be UTC already (never the machine's zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"


# -- paths ------------------------------------------------------------------------------------


def get_path(value: Any, path: str) -> Any:
    """`a.b.0.c` inside nested objects and arrays; MISSING when any step is absent."""
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, Mapping):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def pluck(value: Any, path: str) -> list[Any]:
    """Every value at `path`, where `[]` fans out over an array: `labels[].name` gives each
    label's name, `assignee.login` at most one login. Absent and null values are left out."""
    found = [value]
    for part in path.split("."):
        fan = part.endswith("[]")
        name = part[:-2] if fan else part
        step: list[Any] = []
        for current in found:
            inner = current.get(name, MISSING) if isinstance(current, Mapping) and name else current
            if fan and isinstance(inner, list):
                step.extend(inner)
            elif inner is not MISSING:
                step.append(inner)
        found = step
    return [v for v in found if v is not None and v is not MISSING]


# -- filters ----------------------------------------------------------------------------------


def apply_filter(value: Any, spec: str) -> Any:
    name, _, arg = spec.partition(":")
    function = _FILTERS.get(name)
    if function is None:
        raise ValueError(f"unknown filter {name!r}")
    return function(value, arg)


def _default(value: Any, arg: str) -> Any:
    return _literal(arg) if value is MISSING or value is None or value == "" else value


def _literal(text: str) -> Any:
    return {"null": None, "true": True, "false": False, "[]": [], "{}": {}}.get(text, text)


def _after(value: Any, prefix: str) -> Any:
    return value[len(prefix) :] if isinstance(value, str) and value.startswith(prefix) else value


def _map(value: Any, arg: str) -> Any:
    """`map:APPROVE=APPROVED,COMMENT=COMMENTED,=PENDING`: a lookup; the empty key is the
    fallback for anything else (missing included)."""
    table = dict(pair.partition("=")[::2] for pair in arg.split(","))
    key = "" if value is MISSING or value is None else text_of(value)
    if key in table:
        return _literal(table[key])
    return _literal(table[""]) if "" in table else value


def _if(value: Any, arg: str) -> Any:
    yes, _, no = arg.partition(":")
    return _literal(yes) if value not in (MISSING, None, False, "", [], {}) else _literal(no)


def _b64(value: Any, _: str) -> Any:
    if not isinstance(value, str):
        return value
    encoded = base64.b64encode(value.encode()).decode()
    return "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"


def _unb64(value: Any, _: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode("".join(value.split()), validate=True).decode("utf-8", "replace")
    except ValueError:
        return value


def _blob_sha(value: Any, _: str) -> Any:
    """Git's object id of a blob with this text (what GitHub reports as a file's `sha`)."""
    data = (value if isinstance(value, str) else "").encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _split(value: Any, arg: str) -> Any:
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        return MISSING if value is MISSING else [value]
    return [part.strip() for part in value.split(arg or ",") if part.strip()]


def _count_lines(value: Any, _: str) -> Any:
    return len(value.splitlines()) if isinstance(value, str) else 0


_FILTERS: dict[str, Callable[[Any, str], Any]] = {
    "default": _default,
    "after": _after,
    "trim": lambda v, arg: v.strip(arg or None) if isinstance(v, str) else v,
    "lower": lambda v, _: v.lower() if isinstance(v, str) else v,
    "upper": lambda v, _: v.upper() if isinstance(v, str) else v,
    "slug": lambda v, _: re.sub(r"[^a-z0-9]+", "-", text_of(v).lower()).strip("-"),
    "map": _map,
    "if": _if,
    "b64": _b64,
    "unb64": _unb64,
    "blob_sha": _blob_sha,
    "len": lambda v, _: len(v) if isinstance(v, (str, list, dict)) else 0,
    "bytes": lambda v, _: len(v.encode()) if isinstance(v, str) else 0,
    "lines": _count_lines,
    "split": _split,
    "join": lambda v, arg: (arg or ",").join(map(text_of, v)) if isinstance(v, list) else v,
    "first": lambda v, _: v[0] if isinstance(v, list) and v else MISSING,
    "int": lambda v, _: int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v,
    "str": lambda v, _: v if v is MISSING else text_of(v),
    "nodot": lambda v, _: v.replace(".", "") if isinstance(v, str) else v,
    "epoch": lambda v, _: int(utc(v).timestamp()) if isinstance(v, datetime) else v,
    "quote": lambda v, _: quote(text_of(v), safe="/") if v is not MISSING else v,
    "basename": lambda v, _: v.rsplit("/", 1)[-1] if isinstance(v, str) else v,
    "tail": lambda v, arg: v.rsplit(arg, 1)[-1] if isinstance(v, str) and arg else v,
}
FILTER_NAMES = frozenset({*_FILTERS, "or"})
_TAKES_MISSING = frozenset({"default", "if", "map"})


# -- conditions -------------------------------------------------------------------------------

_OPERATORS = frozenset(
    {"present", "absent", "in", "ne", "prefix", "gt", "ge", "lt", "le", "contains", "equals"}
)


def holds(condition: Any, item: Any, env: Env | None = None) -> bool:
    """Whether `item` satisfies `condition` (templates in it filled from `env`)."""
    if not isinstance(condition, Mapping):
        return bool(condition)
    for key, expected in condition.items():
        if key == "any":
            if not any(holds(c, item, env) for c in expected):
                return False
        elif key == "all":
            if not all(holds(c, item, env) for c in expected):
                return False
        elif key == "not":
            if holds(expected, item, env):
                return False
        elif key.startswith("$"):  # `$req.event`: a value of the request, not of the item
            found = env.lookup(key[1:]) if env is not None else MISSING
            values = [] if found is MISSING or found is None else [found]
            if not _field_holds(values, expected, env):
                return False
        elif not _field_holds(pluck(item, key), expected, env):
            return False
    return True


def _field_holds(values: Sequence[Any], expected: Any, env: Env | None) -> bool:
    # A list at the path holds each of its members (`{"@members": "U1"}`: U1 is one).
    values = [x for v in values for x in (v if isinstance(v, list) else [v])]
    if isinstance(expected, Mapping) and expected and set(expected) <= _OPERATORS:
        return all(_operator(values, op, arg, env) for op, arg in expected.items())
    wanted = render(expected, env) if env is not None else expected
    if wanted is MISSING:
        return True  # a condition on an input that was not given does not filter
    return any(same(v, wanted) for v in values)


def _operator(values: Sequence[Any], op: str, arg: Any, env: Env | None) -> bool:
    wanted = render(arg, env) if env is not None else arg
    if op == "present":
        return bool(values) is bool(wanted)
    if op == "absent":
        return (not values) is bool(wanted)
    if wanted is MISSING:
        return True
    if op == "equals":
        return any(same(v, wanted) for v in values)
    if op == "in":
        options = wanted if isinstance(wanted, list) else [wanted]
        return any(same(v, o) for v in values for o in options)
    if op == "ne":
        return not any(same(v, wanted) for v in values)
    if op == "prefix":
        return any(isinstance(v, str) and v.startswith(text_of(wanted)) for v in values)
    if op == "contains":
        return any(isinstance(v, str) and text_of(wanted).lower() in v.lower() for v in values)
    return any(compare(v, wanted, op) for v in values)


def same(actual: Any, wanted: Any) -> bool:
    if actual == wanted and type(actual) is type(wanted):
        return True
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return text_of(actual).lower() == text_of(wanted).lower()
    return text_of(actual) == text_of(wanted)


def compare(actual: Any, wanted: Any, op: str) -> bool:
    a, b = _comparable(actual), _comparable(wanted)
    if a is None or b is None or type(a) is not type(b):
        return False
    if op == "gt":
        return bool(a > b)
    if op == "ge":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    return bool(a <= b)


def _comparable(value: Any) -> Any:
    """Numbers as floats (Slack's `ts` strings too), ISO dates as strings (they sort)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return None
