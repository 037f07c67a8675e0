"""The SQLite store: migrations, the quota-guarded insert, state and journal rows, usage and
checkpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from doppel.store import CheckpointRecord, SandboxRecord, SandboxStatus, ServiceRecord, Store
from doppel.store.sql import MIGRATIONS

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _record(sandbox_id: str, agent: str = "a") -> SandboxRecord:
    return SandboxRecord(
        sandbox_id, agent, SandboxStatus.CREATING, NOW, NOW + timedelta(minutes=5), 5, 1,
        {"github": ServiceRecord("github", "github", config={"repo": "o/r"})},
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'doppel.db'}")


def test_migrations_are_idempotent_and_records_round_trip(store: Store, tmp_path: Path) -> None:
    assert store.reserve(_record("s1"), quota=5)
    again = Store(f"sqlite:///{tmp_path / 'doppel.db'}")  # upgrades nothing twice
    found = again.get("s1")
    assert found is not None and found.services["github"].config == {"repo": "o/r"}
    assert found.created_at == NOW


def test_reserve_refuses_past_the_quota(store: Store) -> None:
    assert [store.reserve(_record(f"s{i}"), quota=2) for i in range(3)] == [True, True, False]
    assert store.reserve(_record("other", agent="b"), quota=2)


def test_state_rows_keep_arrival_order_and_deletions(store: Store) -> None:
    store.reserve(_record("s1"), quota=5)
    store.save_state("s1", "github", [("/issues", "4", {"n": 4}), ("/issues", "5", {"n": 5})])
    store.save_state("s1", "github", [("/issues", "4", None)])
    assert store.load_state("s1") == {"github": {"/issues": {"5": {"n": 5}, "4": None}}}
    store.clear_state("s1")
    assert store.load_state("s1") == {}


def test_the_journal_keeps_the_newest_events_per_service(store: Store) -> None:
    store.reserve(_record("s1"), quota=5)
    store.save_events([("s1", "github", {"n": i}) for i in range(5)], keep=3)
    store.save_events([("s1", "github", {"n": 5}), ("s1", "slack", {"n": 0})], keep=3)
    assert store.load_events("s1") == {
        "github": [{"n": 3}, {"n": 4}, {"n": 5}],
        "slack": [{"n": 0}],
    }


def test_purging_a_tombstone_drops_its_state_and_journal(store: Store) -> None:
    record = _record("s1")
    store.reserve(record, quota=5)
    store.save_state("s1", "github", [("/issues", "4", {"n": 4})])
    store.save_events([("s1", "github", {"n": 1})], keep=10)
    record.status, record.ended_at = SandboxStatus.DELETED, NOW
    store.save(record)
    assert store.purge(NOW + timedelta(seconds=1)) == 1
    assert store.get("s1") is None
    assert store.load_state("s1") == {} and store.load_events("s1") == {}


def test_find_pages_newest_first_and_filters_by_service(store: Store) -> None:
    for i in range(7):
        record = _record(f"s{i}", agent="a" if i % 2 else "b")
        record.created_at = NOW + timedelta(seconds=i)
        if i == 3:
            record.services = {"chat": ServiceRecord("chat", "slack")}
        store.reserve(record, quota=10)
    assert [r.id for r in store.find(limit=3)] == ["s6", "s5", "s4"]
    assert [r.id for r in store.find(limit=3, offset=3)] == ["s3", "s2", "s1"]
    assert [r.id for r in store.find(service="slack")] == ["s3"]  # by template
    assert [r.id for r in store.find(service="chat")] == ["s3"]  # by name
    assert [r.id for r in store.find(agent_id="a", service="github")] == ["s5", "s1"]
    assert store.count() == 7 and store.count(service="github") == 6
    assert store.count(agent_id="b", statuses=["creating"]) == 4
    assert store.count(statuses=["running"]) == 0


def test_events_are_read_past_a_cursor_of_row_ids(store: Store) -> None:
    store.reserve(_record("s1"), quota=5)
    store.reserve(_record("s2"), quota=5)
    store.save_events([("s1", "github", {"n": 0}), ("s2", "github", {"n": 9})], keep=10)
    store.save_events([("s1", "slack", {"n": 1}), ("s1", "github", {"n": 2})], keep=10)
    rows = store.events_after("s1")
    assert [(service, event) for _, service, event in rows] == [
        ("github", {"n": 0}),
        ("slack", {"n": 1}),
        ("github", {"n": 2}),
    ]
    ids = [i for i, _, _ in rows]
    assert ids == sorted(ids) and store.events_after("s1", ids[0]) == rows[1:]
    assert store.events_after("s1", ids[-1]) == []
    assert store.has_event("s1", ids[1]) and not store.has_event("s2", ids[1])
    store.clear_events("s1")
    assert not store.has_event("s1", ids[1])


def test_usage_counts_what_the_journal_was_told_and_the_bytes_stored(store: Store) -> None:
    store.reserve(_record("s1"), quota=5)
    event = {"status": 404, "path": "/x"}
    store.save_events([("s1", "github", event)], keep=10, tally={("s1", "github"): (3, 1, NOW)})
    store.save_events([], keep=10, tally={("s1", "github"): (2, 0, NOW + timedelta(seconds=5))})
    store.save_state("s1", "github", [("issue:o/r", "1", {"title": "é"})])

    usage = store.usage(["s1", "unknown"])

    github = usage["s1"].services["github"]
    assert (github.requests, github.errors) == (5, 1)
    assert github.last_activity == NOW + timedelta(seconds=5)
    assert usage["s1"].bytes == {
        "state": len(json.dumps({"title": "é"}).encode()),
        "journal": len(json.dumps(event).encode()),
        "overlays": 0,
    }
    assert usage["unknown"].requests == 0 and usage["unknown"].last_activity is None


def test_checkpoints_keep_their_state_refuse_a_taken_name_and_go_with_the_tombstone(
    store: Store,
) -> None:
    record = _record("s1")
    store.reserve(record, quota=5)
    state = {"github": {"issue:o/r": {"1": {"n": 1}, "2": None}}}
    assert store.save_checkpoint(CheckpointRecord("s1", "one", NOW, state))
    assert not store.save_checkpoint(CheckpointRecord("s1", "one", NOW, {}))
    assert store.save_checkpoint(CheckpointRecord("s1", "two", NOW + timedelta(seconds=1)))

    assert [c.name for c in store.checkpoints("s1")] == ["one", "two"]
    found = store.checkpoint("s1", "one")
    assert found is not None and found.state == state
    assert store.checkpoint("s1", "three") is None

    record.status, record.ended_at = SandboxStatus.DELETED, NOW
    store.save(record)
    store.purge(NOW + timedelta(seconds=1))
    assert store.checkpoints("s1") == [] and store.checkpoint("s1", "one") is None


def test_replacing_state_keeps_the_given_order_and_nothing_else(store: Store) -> None:
    store.reserve(_record("s1"), quota=5)
    store.save_state("s1", "github", [("issue:o/r", "9", {"n": 9})])

    store.replace_state("s1", {"github": {"issue:o/r": {"2": {"n": 2}, "1": None}}})

    assert store.load_state("s1") == {"github": {"issue:o/r": {"2": {"n": 2}, "1": None}}}
    assert list(store.load_state("s1")["github"]["issue:o/r"]) == ["2", "1"]


def test_the_migration_from_0005_sizes_old_rows_and_counts_old_journals(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.execute(
            text(
                "INSERT INTO sandboxes VALUES ('s1', 'a', 'running', NULL, :now, :now, NULL, 5, 1)"
            ),
            {"now": NOW},
        )
        connection.execute(
            text(
                "INSERT INTO services (sandbox_id, name, position, template, port, active, "
                "status, config) VALUES ('s1', 'github', 0, 'github', NULL, 0, 'running', '{}')"
            )
        )
        events = [
            json.dumps({"status": status, "at": f"2026-01-01T00:00:0{status // 200}+00:00"})
            for status in (200, 422)
        ]
        journal = "INSERT INTO journal (sandbox_id, service, event) VALUES ('s1', 'github', :e)"
        for event in events:
            connection.execute(text(journal), {"e": event})
        connection.execute(
            text("INSERT INTO service_state VALUES ('s1', 'github', 'issue:o/r', '1', 1, 0, :v)"),
            {"v": json.dumps({"n": 1})},
        )
    engine.dispose()

    usage = Store(url).usage(["s1"])["s1"]

    github = usage.services["github"]
    assert (github.requests, github.errors) == (2, 1)
    assert github.last_activity == datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    assert usage.bytes["state"] == len(json.dumps({"n": 1}))
    assert usage.bytes["journal"] == sum(len(e) for e in events)
