"""Ids and timestamps for what an agent creates: unique and increasing within a sandbox."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from doppel.engine import MockContext, MockRequest, compile_spec, respond
from doppel.engine.ids import Generators, id_template
from doppel.engine.world import EMPTY_WORLD, View, World

NOON = datetime(2026, 5, 1, 12, tzinfo=UTC)
NOON_EPOCH = 1777636800


class Sandbox:
    """A sandbox's state, carried from one request's view to the next as the dataplane does."""

    def __init__(self, world: World = EMPTY_WORLD, seed: int = 0) -> None:
        self.world = world
        self.seed = seed
        self.state: dict[str, dict[str, Any]] = {}

    def generate(
        self,
        name: str,
        arg: str = "",
        *,
        times: int = 1,
        at: datetime = NOON,
        starts: dict[str, int] | None = None,
        collection: str = "issue:acme/rocket",
    ) -> list[Any]:
        """`times` values from one request's generators, then its changes applied."""
        view = View(self.world, self.state)
        generators = Generators(view, self.seed, at, starts).for_collection(collection)
        values = [generators(name, arg) for _ in range(times)]
        for change in view.changes:
            self.state.setdefault(change.collection, {})[change.key] = change.value
        return values


# -- sequences ----------------------------------------------------------------------------


def test_seq_continues_from_the_largest_numeric_key_of_the_collection() -> None:
    world = World.of({"issue:acme/rocket": {"3": {}, "10": {}, "draft": {}}})
    sandbox = Sandbox(world)
    assert sandbox.generate("seq", times=2) == [11, 12]
    assert sandbox.generate("seq") == [13]  # the next request continues from the state


def test_seq_starts_at_one_in_an_empty_collection_and_counts_per_collection() -> None:
    sandbox = Sandbox()
    assert sandbox.generate("seq", times=2) == [1, 2]
    assert sandbox.generate("seq", collection="issue:acme/other") == [1]
    assert sandbox.generate("seq") == [3]


def test_seq_never_reuses_a_number_whose_item_was_deleted() -> None:
    world = World.of({"issue:acme/rocket": {"1": {}, "2": {}}})
    sandbox = Sandbox(world)
    assert sandbox.generate("seq") == [3]
    sandbox.state.setdefault("issue:acme/rocket", {})["3"] = None
    assert sandbox.generate("seq") == [4]


@pytest.mark.parametrize(
    ("starts", "expected"),
    [
        pytest.param({"ids": 4000000001}, [4000000001, 4000000002], id="where-declared"),
        pytest.param({}, [1, 2], id="at-one-when-undeclared"),
    ],
)
def test_named_sequences_start_where_declared(starts: dict[str, int], expected: list[int]) -> None:
    sandbox = Sandbox()
    assert sandbox.generate("seq", "ids", times=2, starts=starts) == expected


def test_a_named_sequence_is_shared_by_every_collection() -> None:
    sandbox = Sandbox()
    first = sandbox.generate("seq", "ids", starts={"ids": 100})
    second = sandbox.generate("seq", "ids", starts={"ids": 100}, collection="comment:a/b")
    assert first + second == [100, 101]


def test_a_named_sequence_continues_where_the_world_left_it() -> None:
    sandbox = Sandbox(World.of({}, sequences={"ids": 4000000007}))
    assert sandbox.generate("seq", "ids", starts={"ids": 4000000001}) == [4000000008]


# -- fixed-width ids ----------------------------------------------------------------------

ALPHABETS = {"hex": "[0-9a-f]", "alnum": "[0-9A-Za-z]", "digits": "[0-9]"}


@pytest.mark.parametrize("name", ["hex", "alnum", "digits"])
@pytest.mark.parametrize("width", [4, 8, 10, 14, 32, 36])
def test_fixed_width_ids_have_the_width_asked_for(name: str, width: int) -> None:
    values = Sandbox().generate(name, str(width), times=3)
    assert all(re.fullmatch(f"{ALPHABETS[name]}{{{width}}}", v) for v in values), values


@pytest.mark.parametrize(
    ("name", "width"),
    [
        pytest.param("hex", 40, id="hex-40"),
        pytest.param("alnum", 40, id="alnum-40"),
        pytest.param("digits", 40, id="digits-40"),
        pytest.param("hex", 64, id="hex-64"),
        pytest.param("alnum", 64, id="alnum-64"),
    ],
)
def test_wide_fixed_width_ids_have_the_width_asked_for(name: str, width: int) -> None:
    values = Sandbox().generate(name, str(width), times=3)
    assert all(re.fullmatch(f"{ALPHABETS[name]}{{{width}}}", v) for v in values), values


@pytest.mark.parametrize("name", ["hex", "alnum", "digits"])
def test_fixed_width_ids_are_unique_and_increase_within_a_sandbox(name: str) -> None:
    sandbox = Sandbox()
    values = sandbox.generate(name, "10", times=50) + sandbox.generate(name, "10", times=50)
    assert len(set(values)) == 100
    assert values == sorted(values)


@pytest.mark.parametrize(
    ("name", "width"),
    [
        *[pytest.param(n, w, id=f"{n}-{w}") for n in ("hex", "alnum", "digits") for w in (10, 32)],
        pytest.param("alnum", 8, id="alnum-8"),
        pytest.param("hex", 8, id="hex-8"),
        pytest.param("alnum", 5, id="alnum-5"),
        pytest.param("digits", 6, id="digits-6"),
    ],
)
def test_fixed_width_ids_differ_between_seeds(name: str, width: int) -> None:
    one = Sandbox(seed=1).generate(name, str(width), times=3)
    two = Sandbox(seed=2).generate(name, str(width), times=3)
    assert not set(one) & set(two)


def test_the_same_seed_makes_the_same_ids() -> None:
    assert Sandbox(seed=5).generate("alnum", "24", times=3) == Sandbox(seed=5).generate(
        "alnum", "24", times=3
    )


def test_uuids_are_version_4_and_unique() -> None:
    sandbox = Sandbox()
    values = sandbox.generate("uuid", times=3) + sandbox.generate("uuid")
    assert len(set(values)) == 4
    hex_ = "[0-9a-f]"
    pattern = f"{hex_}{{8}}-{hex_}{{4}}-4{hex_}{{3}}-[89ab]{hex_}{{3}}-{hex_}{{12}}"
    assert all(re.fullmatch(pattern, v) for v in values), values


# -- Slack timestamps ---------------------------------------------------------------------


def test_ts_is_the_clock_with_microseconds() -> None:
    assert Sandbox().generate("ts") == [f"{NOON_EPOCH}.000000"]


def test_ts_strictly_increases_within_one_clock_tick() -> None:
    sandbox = Sandbox()
    values = sandbox.generate("ts", times=3) + sandbox.generate("ts", times=2)
    assert values == [f"{NOON_EPOCH}.{n:06d}" for n in range(5)]


def test_ts_strictly_increases_even_when_the_clock_goes_back() -> None:
    sandbox = Sandbox()
    later = sandbox.generate("ts", at=datetime(2026, 5, 1, 13, tzinfo=UTC))
    earlier = sandbox.generate("ts", at=NOON)
    assert float(earlier[0]) > float(later[0])


def test_ts_follows_the_clock_when_it_moves_on() -> None:
    sandbox = Sandbox()
    sandbox.generate("ts", times=3)
    assert sandbox.generate("ts", at=datetime(2026, 5, 1, 12, 0, 1, tzinfo=UTC)) == [
        f"{NOON_EPOCH + 1}.000000"
    ]


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york")
def test_ts_of_a_naive_clock_reads_it_as_utc() -> None:
    assert Sandbox().generate("ts", at=datetime(2026, 5, 1, 12)) == [f"{NOON_EPOCH}.000000"]


# -- id templates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "example", "expected"),
    [
        pytest.param(
            {"type": "string", "pattern": "^SM[0-9a-fA-F]{32}$"},
            None,
            "SM{hex:32}",
            id="twilio-pattern",
        ),
        pytest.param(
            {"type": "string", "pattern": "^(AC|SM)[0-9a-f]{32}$"},
            None,
            "AC{hex:32}",
            id="pattern-alternatives-take-the-first",
        ),
        pytest.param(
            {"type": "string", "pattern": "^[0-9]{10}$"}, None, "{digits:10}", id="digit-pattern"
        ),
        pytest.param(
            {"type": "string", "pattern": "^usr_[A-Za-z0-9]{20}$"},
            None,
            "usr_{alnum:20}",
            id="alnum-pattern",
        ),
        pytest.param({"type": "string"}, "cus_NffrFeUfNV2Hib", "cus_{alnum:14}", id="stripe"),
        pytest.param(
            {"type": "string", "example": "ch_3MmlLrLkdIwHu7ix0snN0B15"},
            None,
            "ch_{alnum:24}",
            id="the-schemas-example",
        ),
        pytest.param(
            {"type": "string", "examples": ["pi_0123456789abcdef"]},
            None,
            "pi_{hex:16}",
            id="the-schemas-examples-hex",
        ),
        pytest.param({"type": "string"}, "PN0123456789abcdef", "PN{hex:16}", id="two-capitals"),
        pytest.param({"type": "integer"}, None, "{seq}", id="integer"),
        pytest.param({"type": "number"}, 7, "{seq}", id="number"),
        pytest.param({"type": ["integer", "null"]}, None, "{seq}", id="nullable-integer"),
        pytest.param({"type": "string", "format": "uuid"}, None, "{uuid}", id="uuid"),
        pytest.param({"type": "string"}, "abc", "{seq}", id="a-short-example-is-no-format"),
        pytest.param({"type": "string"}, None, "{seq}", id="nothing-to-go-by"),
    ],
)
def test_id_template_reads_the_providers_format(
    schema: dict[str, Any], example: Any, expected: str
) -> None:
    assert id_template(schema, example) == expected


# -- through the pipeline -----------------------------------------------------------------

MESSAGE = {
    "type": "object",
    "properties": {
        "sid": {"type": "string", "pattern": "^SM[0-9a-fA-F]{32}$"},
        "body": {"type": "string"},
    },
}
TWILIO: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "sms", "version": "1"},
    "paths": {
        "/Messages.json": {
            "post": {
                "operationId": "CreateMessage",
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {"type": "object", "properties": {"Body": {"type": "string"}}}
                        }
                    }
                },
                "responses": {
                    "201": {
                        "description": "created",
                        "content": {"application/json": {"schema": MESSAGE}},
                    }
                },
            }
        },
        "/Messages/{Sid}.json": {
            "get": {
                "operationId": "FetchMessage",
                "parameters": [
                    {"name": "Sid", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": MESSAGE}},
                    }
                },
            }
        },
    },
}


def test_an_inferred_create_makes_ids_in_the_providers_format_per_sandbox() -> None:
    spec = compile_spec(TWILIO)

    def create(state: dict[str, Any], seed: int) -> str:
        request = MockRequest(
            "POST",
            "/Messages.json",
            "",
            {"content-type": "application/x-www-form-urlencoded"},
            b"Body=hi",
        )
        response, report = respond(spec, request, MockContext(seed=seed, state=state, at=NOON))
        for change in report.changes:
            state.setdefault(change.collection, {})[change.key] = change.value
        sid: str = response.json()["sid"]
        return sid

    state: dict[str, Any] = {}
    first, second = create(state, 1), create(state, 1)
    other = create({}, 2)
    assert all(re.fullmatch("SM[0-9a-f]{32}", sid) for sid in (first, second, other))
    assert first < second and first != other
