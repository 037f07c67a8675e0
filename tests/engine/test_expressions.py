"""The declaration language's templates (`{req.x|filter:arg}`) and conditions, pure."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from doppel.engine.expressions import MISSING, Env, holds, render

NOON = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
ROOTS: dict[str, Any] = {
    "req": {
        "title": "Crash on start",
        "number": 7,
        "draft": False,
        "labels": ["bug", "ui"],
        "user": {"login": "octo"},
        "nothing": None,
        "empty": "",
        "ref": "refs/heads/main",
        "head": "octo:feature",
        "padded": "  x  ",
        "channel": "##general",
        "event": "APPROVE",
        "text": "hello\n",
        "encoded": "aGVsbG8K",
        "lines": "a\nb\nc",
        "csv": "a, b,,c",
        "digits": "42",
        "negative": "-3",
        "decimal": "4.5",
        "ts": "1700000000.000100",
        "path": "docs/a b#1.md",
    },
    "now": NOON,
}


def _env() -> Env:
    return Env(ROOTS, lambda name, arg: f"<{name}:{arg}>")


# -- rendering ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{req.number}", 7, id="a-number-stays-a-number"),
        pytest.param("{req.draft}", False, id="a-boolean-stays-a-boolean"),
        pytest.param("{req.user}", {"login": "octo"}, id="an-object-stays-an-object"),
        pytest.param("{req.labels}", ["bug", "ui"], id="a-list-stays-a-list"),
        pytest.param("{req.nothing}", None, id="null-stays-null"),
        pytest.param("{now}", NOON, id="the-clock-stays-a-time"),
        pytest.param("{req.labels.1}", "ui", id="a-list-index-in-the-path"),
        pytest.param("#{req.number}", "#7", id="interpolated-number"),
        pytest.param("{req.draft}!", "false!", id="interpolated-boolean-as-json-words"),
        pytest.param("at {now}", "at 2026-05-01T12:00:00Z", id="interpolated-time-as-iso"),
        pytest.param("a{req.nothing}b", "ab", id="interpolated-null-as-nothing"),
        pytest.param("{req.user.login}/{req.number}", "octo/7", id="two-placeholders"),
        pytest.param("{{literal}}", "{literal}", id="doubled-braces-escape"),
        pytest.param("{{{req.number}}}", "{7}", id="escaped-braces-around-a-placeholder"),
        pytest.param("/users{/other_user}", "/users{/other_user}", id="uri-template-stays"),
        pytest.param("{/other_user}", "{/other_user}", id="uri-template-alone-stays"),
        pytest.param("{+path}", "{+path}", id="reserved-expansion-stays"),
        pytest.param("{seq}", "<seq:>", id="a-generator"),
        pytest.param("{hex:40}", "<hex:40>", id="a-generator-with-an-argument"),
        pytest.param("plain", "plain", id="no-placeholder"),
    ],
)
def test_rendering_fills_placeholders(template: str, expected: Any) -> None:
    assert render(template, _env()) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{req.absent}", MISSING, id="a-whole-string-disappears"),
        pytest.param("x{req.absent}y", MISSING, id="an-interpolated-string-disappears"),
        pytest.param("{req.user.email}", MISSING, id="a-deeper-path-disappears"),
        pytest.param("{req.labels.5}", MISSING, id="an-index-past-the-end-disappears"),
        pytest.param({"a": "{req.absent}", "b": 1}, {"b": 1}, id="its-member-disappears"),
        pytest.param(["{req.absent}", "{req.number}"], [7], id="its-list-entry-disappears"),
        pytest.param({"a": {"b": "{req.absent}"}}, {"a": {}}, id="nested-member-disappears"),
    ],
)
def test_a_placeholder_naming_nothing_drops_what_holds_it(template: Any, expected: Any) -> None:
    assert render(template, _env()) == expected


def test_generators_are_missing_without_a_generator() -> None:
    assert render("{seq}", Env(ROOTS)) is MISSING


def test_an_object_inside_text_is_written_as_json() -> None:
    for name, value in (("user", {"login": "octo"}), ("labels", ["bug", "ui"])):
        text = render(f"{name}={{req.{name}}}", _env())
        assert text in (
            f"{name}={json.dumps(value)}",
            f"{name}={json.dumps(value, separators=(',', ':'))}",
        )


# -- filters ------------------------------------------------------------------------------

BLOB_SHA_OF_HELLO = "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object of "hello\n"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{req.absent|default:none}", "none", id="default-when-missing"),
        pytest.param("{req.nothing|default:x}", "x", id="default-when-null"),
        pytest.param("{req.empty|default:x}", "x", id="default-when-empty"),
        pytest.param("{req.title|default:x}", "Crash on start", id="default-when-given"),
        pytest.param("{req.absent|default:null}", None, id="default-null-literal"),
        pytest.param("{req.absent|default:false}", False, id="default-false-literal"),
        pytest.param("{req.absent|default:[]}", [], id="default-empty-list-literal"),
        pytest.param("{req.ref|after:refs/heads/}", "main", id="after-strips-a-prefix"),
        pytest.param("{req.head|after:refs/heads/}", "octo:feature", id="after-without-it"),
        pytest.param("{req.head|tail::}", "feature", id="tail-after-the-last-separator"),
        pytest.param("{req.ref|tail:/}", "main", id="tail-of-a-path"),
        pytest.param("{req.padded|trim}", "x", id="trim-whitespace"),
        pytest.param("{req.channel|trim:#}", "general", id="trim-characters"),
        pytest.param("{req.event|lower}", "approve", id="lower"),
        pytest.param("{req.title|upper}", "CRASH ON START", id="upper"),
        pytest.param("{req.title|slug}", "crash-on-start", id="slug"),
        pytest.param("{req.path|slug}", "docs-a-b-1-md", id="slug-of-punctuation"),
        pytest.param(
            "{req.event|map:APPROVE=APPROVED,COMMENT=COMMENTED,=PENDING}",
            "APPROVED",
            id="map-a-listed-value",
        ),
        pytest.param("{req.title|map:APPROVE=APPROVED,=PENDING}", "PENDING", id="map-fallback"),
        pytest.param("{req.absent|map:APPROVE=APPROVED,=PENDING}", "PENDING", id="map-missing"),
        pytest.param("{req.title|map:APPROVE=APPROVED}", "Crash on start", id="map-no-fallback"),
        pytest.param("{req.draft|map:false=ready}", "ready", id="map-a-boolean-by-its-word"),
        pytest.param("{req.number|if:yes:no}", "yes", id="if-given"),
        pytest.param("{req.draft|if:yes:no}", "no", id="if-false"),
        pytest.param("{req.empty|if:yes:no}", "no", id="if-empty"),
        pytest.param("{req.absent|if:yes:no}", "no", id="if-missing"),
        pytest.param("{req.absent|if:true:false}", False, id="if-literals"),
        pytest.param("{req.text|b64}", "aGVsbG8K\n", id="b64-with-a-final-newline"),
        pytest.param("{req.encoded|unb64}", "hello\n", id="unb64"),
        pytest.param("{req.path|unb64}", "docs/a b#1.md", id="unb64-of-non-base64-as-is"),
        pytest.param("{req.text|blob_sha}", BLOB_SHA_OF_HELLO, id="blob-sha-as-git"),
        pytest.param("{req.encoded|unb64|blob_sha}", BLOB_SHA_OF_HELLO, id="chained-filters"),
        pytest.param("{req.title|len}", 14, id="len-of-text"),
        pytest.param("{req.labels|len}", 2, id="len-of-a-list"),
        pytest.param("{req.user|len}", 1, id="len-of-an-object"),
        pytest.param("{req.number|len}", 0, id="len-of-a-number"),
        pytest.param("{req.lines|lines}", 3, id="lines"),
        pytest.param("{req.text|lines}", 1, id="lines-with-a-final-newline"),
        pytest.param("{req.csv|split}", ["a", "b", "c"], id="split-on-commas-dropping-blanks"),
        pytest.param("{req.ref|split:/}", ["refs", "heads", "main"], id="split-on-a-separator"),
        pytest.param("{req.labels|split}", ["bug", "ui"], id="split-of-a-list-as-is"),
        pytest.param("{req.number|split}", [7], id="split-of-a-scalar"),
        pytest.param("{req.labels|join}", "bug,ui", id="join"),
        pytest.param("{req.labels|join:+}", "bug+ui", id="join-with-a-separator"),
        pytest.param("{req.labels|first}", "bug", id="first"),
        pytest.param(
            "{req.number|if:null:[]|split|first}", None, id="null-when-given-else-nothing:given"
        ),
        pytest.param(
            "{req.absent|if:null:[]|split|first}",
            MISSING,
            id="null-when-given-else-nothing:absent",
        ),
        pytest.param(
            "{req.absent|len|default:0|str}", "0", id="a-chain-goes-on-past-missing-to-a-default"
        ),
        pytest.param("{req.labels|len|default:0|str}", "2", id="the-default-unused-when-given"),
        pytest.param("{req.absent|len|str}", MISSING, id="a-chain-without-a-default-stays-missing"),
        pytest.param("{req.digits|int}", 42, id="int"),
        pytest.param("{req.negative|int}", -3, id="int-negative"),
        pytest.param("{req.decimal|int}", "4.5", id="int-of-a-decimal-as-is"),
        pytest.param("{req.number|str}", "7", id="str-of-a-number"),
        pytest.param("{req.draft|str}", "false", id="str-of-a-boolean"),
        pytest.param("{req.ts|nodot}", "1700000000000100", id="nodot"),
        pytest.param("{now|epoch}", 1777636800, id="epoch"),
        pytest.param("{req.path|quote}", "docs/a%20b%231.md", id="quote-keeps-slashes"),
        pytest.param("{req.path|basename}", "a b#1.md", id="basename"),
        pytest.param("{req.title|basename}", "Crash on start", id="basename-without-a-slash"),
    ],
)
def test_filters(template: str, expected: Any) -> None:
    assert render(template, _env()) == expected


@pytest.mark.parametrize(
    "filter_spec",
    [
        "after:x",
        "tail:/",
        "trim",
        "lower",
        "upper",
        "slug",
        "b64",
        "unb64",
        "blob_sha",
        "len",
        "lines",
        "split",
        "join",
        "first",
        "int",
        "str",
        "nodot",
        "epoch",
        "quote",
        "basename",
    ],
)
def test_a_missing_value_passes_through_a_filter(filter_spec: str) -> None:
    assert render(f"{{req.absent|{filter_spec}}}", _env()) is MISSING
    assert render({"kept": 1, "gone": f"{{req.absent|{filter_spec}}}"}, _env()) == {"kept": 1}


@pytest.mark.parametrize(
    ("filter_spec", "expected"),
    [
        pytest.param("default:x", "x", id="default"),
        pytest.param("if:yes:no", "no", id="if"),
        pytest.param("map:=fallback", "fallback", id="map"),
    ],
)
def test_default_if_and_map_fill_a_missing_value(filter_spec: str, expected: str) -> None:
    assert render(f"{{req.absent|{filter_spec}}}", _env()) == expected


def test_an_empty_list_has_no_first() -> None:
    assert render({"x": "{req.none|first}"}, Env({"req": {"none": []}})) == {}


def test_a_literal_bar_is_escaped_in_a_filter_argument() -> None:
    assert render("{req.labels|join:\\|}", _env()) == "bug|ui"


def test_an_unknown_filter_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown filter 'shout'"):
        render("{req.title|shout}", _env())


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york")
def test_epoch_of_an_aware_time_ignores_the_machines_zone() -> None:
    assert render("{now|epoch}", _env()) == 1777636800


@pytest.mark.usefixtures("new_york")
def test_epoch_of_a_naive_time_reads_it_as_utc_like_the_rest_of_the_engine() -> None:
    env = Env({"now": datetime(2026, 5, 1, 12)})
    assert render("{now}!", env) == "2026-05-01T12:00:00Z!"
    assert render("{now|epoch}", env) == 1777636800


# -- conditions ---------------------------------------------------------------------------

ITEM: dict[str, Any] = {
    "state": "open",
    "number": 5,
    "draft": False,
    "title": "Crash on Start",
    "ref": "refs/heads/main",
    "labels": [{"name": "bug"}, {"name": "ui"}],
    "@members": ["U1", "U2"],
    "user": {"login": "octo"},
    "assignee": None,
    "ts": "1700000000.000100",
    "created_at": "2026-05-01T12:00:00Z",
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param({}, True, id="empty-holds"),
        pytest.param({"state": "open"}, True, id="equal"),
        pytest.param({"state": "closed"}, False, id="not-equal"),
        pytest.param({"state": "open", "number": 6}, False, id="every-member-must-hold"),
        pytest.param({"number": "5"}, True, id="a-number-equals-its-text"),
        pytest.param({"draft": "false"}, True, id="a-boolean-equals-its-word"),
        pytest.param({"user.login": "octo"}, True, id="a-nested-path"),
        pytest.param({"@members": "U2"}, True, id="a-list-holds-its-member"),
        pytest.param({"@members": "U3"}, False, id="a-list-lacks-a-member"),
        pytest.param({"labels[].name": "ui"}, True, id="a-fanned-out-path"),
        pytest.param({"@members": "{req.who}"}, True, id="a-template-from-the-env"),
        pytest.param({"state": "{req.absent}"}, True, id="an-input-not-given-does-not-filter"),
        pytest.param({"user.login": {"present": True}}, True, id="present"),
        pytest.param({"user.email": {"present": True}}, False, id="present-not"),
        pytest.param({"assignee": {"present": True}}, False, id="null-is-not-present"),
        pytest.param({"assignee": {"absent": True}}, True, id="absent-null"),
        pytest.param({"milestone": {"absent": True}}, True, id="absent-missing"),
        pytest.param({"state": {"absent": True}}, False, id="absent-not"),
        pytest.param({"state": {"present": False}}, False, id="present-false-is-absent"),
        pytest.param({"state": {"in": ["open", "draft"]}}, True, id="in"),
        pytest.param({"state": {"in": ["closed"]}}, False, id="in-not"),
        pytest.param({"state": {"ne": "closed"}}, True, id="ne"),
        pytest.param({"state": {"ne": "open"}}, False, id="ne-not"),
        pytest.param({"@members": {"ne": "U1"}}, False, id="ne-with-a-member-in-the-list"),
        pytest.param({"ref": {"prefix": "refs/heads/"}}, True, id="prefix"),
        pytest.param({"ref": {"prefix": "refs/tags/"}}, False, id="prefix-not"),
        pytest.param({"title": {"contains": "crash"}}, True, id="contains-ignoring-case"),
        pytest.param({"title": {"contains": "boom"}}, False, id="contains-not"),
        pytest.param({"number": {"gt": 4}}, True, id="gt"),
        pytest.param({"number": {"gt": 5}}, False, id="gt-equal"),
        pytest.param({"number": {"ge": 5}}, True, id="ge"),
        pytest.param({"number": {"lt": 6}}, True, id="lt"),
        pytest.param({"number": {"le": 4}}, False, id="le"),
        pytest.param({"number": {"gt": "4", "lt": "6"}}, True, id="a-range-of-numeric-text"),
        pytest.param({"number": {"gt": "abc"}}, False, id="a-number-and-a-word-do-not-compare"),
        pytest.param({"ts": {"gt": "1700000000.000099"}}, True, id="ts-gt"),
        pytest.param({"ts": {"gt": "1700000000.000100"}}, False, id="ts-gt-itself"),
        pytest.param({"ts": {"ge": "1700000000.000100"}}, True, id="ts-ge-itself"),
        pytest.param({"ts": {"lt": "1700000000.000101"}}, True, id="ts-lt-by-a-microsecond"),
        pytest.param({"ts": {"lt": 1700000001}}, True, id="ts-lt-a-number"),
        pytest.param({"ts": {"lt": "1700000000"}}, False, id="ts-lt-a-whole-second"),
        pytest.param({"created_at": {"ge": "2026-05-01T00:00:00Z"}}, True, id="iso-dates"),
        pytest.param({"created_at": {"lt": "2026-04-30T00:00:00Z"}}, False, id="iso-dates-not"),
        pytest.param({"any": [{"state": "closed"}, {"number": 5}]}, True, id="any"),
        pytest.param({"any": [{"state": "closed"}, {"number": 6}]}, False, id="any-none"),
        pytest.param({"all": [{"state": "open"}, {"number": 5}]}, True, id="all"),
        pytest.param({"all": [{"state": "open"}, {"number": 6}]}, False, id="all-not-every"),
        pytest.param({"not": {"state": "closed"}}, True, id="not"),
        pytest.param({"not": {"state": "open"}}, False, id="not-not"),
        pytest.param(
            {"any": [{"not": {"draft": False}}, {"all": [{"state": "open"}, {"number": 5}]}]},
            True,
            id="nested-combinations",
        ),
    ],
)
def test_conditions(condition: dict[str, Any], expected: bool) -> None:
    assert holds(condition, ITEM, Env({"req": {"who": "U1"}})) is expected


def test_a_condition_on_an_input_not_given_does_not_filter_an_operator() -> None:
    env = Env({"req": {}})
    assert holds({"state": {"ne": "{req.state}"}}, ITEM, env)
    assert holds({"number": {"gt": "{req.since}"}}, ITEM, env)
