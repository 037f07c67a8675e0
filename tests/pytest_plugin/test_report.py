"""What a failed test's report says of its sandboxes: pure text from the control plane's JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from doppel.pytest_plugin import _report
from doppel.pytest_plugin._factory import agent_id_for


def event(**fields: Any) -> dict[str, Any]:
    base = {
        "at": "2026-11-29T22:09:41.580502+00:00",
        "method": "GET",
        "path": "/repos/acme/rocket",
        "query": "",
        "status": 200,
        "source": "world",
        "operation_id": "repos/get",
        "reason": "read repo",
        "response_body": '{"id": 1}',
        "notes": [],
        "near_misses": [],
    }
    return base | fields


def test_a_journal_line_says_when_what_how_it_was_answered_and_why() -> None:
    text = _report.journal_text({"github": [event(query="per_page=2")]})

    assert text == (
        "  22:09:41.580 github GET /repos/acme/rocket?per_page=2 -> 200 (repos/get; world: "
        "read repo)"
    )


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param({"status": 404, "source": "world"}, id="an error status"),
        pytest.param({"status": 200, "source": "error"}, id="slack's ok false"),
    ],
)
def test_a_refusal_shows_its_answer_and_near_misses(refusal: dict[str, Any]) -> None:
    body = json.dumps({"ok": False, "error": "channel_not_found", "padding": "x" * 500})
    near = [{"method": "POST", "path": "/chat.postMessage", "reason": "method differs"}]

    text = _report.journal_text({"slack": [event(response_body=body, near_misses=near, **refusal)]})

    answer = text.splitlines()[1]
    assert answer.startswith('      answer: {"ok": false, "error": "channel_not_found"')
    assert len(answer) == len("      answer: ") + _report.BODY_PREVIEW
    assert answer.endswith("…")
    assert text.splitlines()[2] == "      near miss: POST /chat.postMessage: method differs"


def test_a_long_journal_shows_its_newest_requests_and_counts_the_rest() -> None:
    events = [event(path=f"/n/{i}") for i in range(_report.JOURNAL_TAIL + 3)]

    lines = _report.journal_text({"github": events, "slack": []}).splitlines()

    assert lines[0] == "  github: 3 earlier requests not shown"
    assert "/n/3 " in lines[1] and f"/n/{_report.JOURNAL_TAIL + 2} " in lines[-2]
    assert lines[-1] == "  slack: no requests"


def test_a_diff_reads_as_created_changed_and_deleted_lines() -> None:
    diff = {  # the shape of GET /v1/sandboxes/{id}/diff (helpers' CONTRACT.md)
        "sandbox_id": "s1",
        "since": "creation",
        "summary": {"created": 1, "changed": 1, "deleted": 1},
        "services": {
            "github": {
                "created": [{"resource": "issues", "key": "acme/rocket#7", "after": {"n": 7}}],
                "changed": [
                    {
                        "resource": "issues",
                        "key": "acme/rocket#1",
                        "before": {"state": "open"},
                        "after": {"state": "closed"},
                        "patch": [
                            {"op": "replace", "path": "/state", "value": "closed"},
                            {"op": "remove", "path": "/assignee"},
                        ],
                    }
                ],
                "deleted": [{"resource": "labels", "key": "acme/rocket/bug", "before": {}}],
            }
        },
    }

    assert _report.diff_text(diff).splitlines() == [
        '  + github issues acme/rocket#7: {"n":7}',
        "  ~ github issues acme/rocket#1",
        '      replace /state "closed"',
        "      remove /assignee",
        "  - github labels acme/rocket/bug",
    ]
    assert _report.diff_text({"services": {"github": {}}}) == "  no changes"


def test_the_state_shows_items_and_deletions_but_not_id_counters() -> None:
    state = {
        "slack": {"#seq": {"ts": "1.2"}, "message:C1": {"1.2": {"text": "hi"}, "1.1": None}},
        "figma": {},
    }

    assert _report.state_text(state).splitlines() == [
        '  slack message:C1 1.2: {"text":"hi"}',
        "  slack message:C1 1.1: deleted",
    ]


def test_a_junit_property_is_json_cut_to_its_limit() -> None:
    small = {"a": [1, "two"]}

    assert json.loads(_report.property_json(small)) == small
    assert len(_report.property_json({"a": "x" * 100_000})) == _report.PROPERTY_LIMIT


@pytest.mark.parametrize(
    ("test_name", "agent_id"),
    [
        ("test_posts", "pytest-test_posts"),
        ("test_case[slack-#general]", "pytest-test_case-slack--general"),
        ("test_" + "x" * 200, ("pytest-test_" + "x" * 200)[:128]),
        ("test_trailing[ ]", "pytest-test_trailing"),
    ],
)
def test_a_tests_sandboxes_belong_to_an_agent_named_after_it(test_name: str, agent_id: str) -> None:
    assert agent_id_for(test_name) == agent_id
