"""The dashboard's pure parts: config schemas to form fields, lists to pages, the journal's
cursor, and the guards for contract endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI

from doppel.ui import guards, views
from doppel.ui.forms import config_fields
from doppel.ui.routes import environment
from tests.conftest import BUNDLED


@pytest.mark.parametrize(
    ("member", "kind", "choices", "placeholder"),
    [
        pytest.param({"type": "string", "default": "Doppel"}, "text", (), "Doppel", id="string"),
        pytest.param({"type": ["string", "null"]}, "text", (), "", id="nullable-string"),
        pytest.param({"type": "integer", "default": 3}, "integer", (), "3", id="integer"),
        pytest.param({"type": "number"}, "number", (), "", id="number"),
        pytest.param({"type": "boolean", "default": False}, "boolean", (), "false", id="boolean"),
        pytest.param({"enum": ["off", "any"]}, "choice", ("off", "any"), "", id="enum"),
        pytest.param({"enum": [1, 2]}, "json", (), "", id="non-string-enum"),
        pytest.param({"type": "array", "default": ["a"]}, "json", (), '["a"]', id="array"),
        pytest.param({"type": "object"}, "json", (), "", id="object"),
        pytest.param({"oneOf": [{"type": "string"}]}, "json", (), "", id="untyped"),
        pytest.param({"type": ["string", "integer"]}, "json", (), "", id="two-types"),
    ],
)
def test_a_schema_property_becomes_the_field_that_edits_it(
    member: dict[str, Any], kind: str, choices: tuple[str, ...], placeholder: str
) -> None:
    [field] = config_fields("svc", {"type": "object", "properties": {"x": member}})
    assert (field.kind, field.choices, field.placeholder) == (kind, choices, placeholder)
    assert field.pointer == "/custom_configs/svc/x"


def test_field_pointers_are_escaped_as_the_api_writes_them() -> None:
    [field] = config_fields("a/b", {"properties": {"x~y/z": {"type": "string"}}})
    assert field.pointer == "/custom_configs/a~1b/x~0y~1z"


def test_a_schema_without_properties_is_edited_whole() -> None:
    [field] = config_fields("svc", {"type": "object"})
    assert (field.name, field.kind, field.pointer) == ("", "json", "/custom_configs/svc")


@pytest.mark.parametrize("template", ["slack", "github", "figma"])
def test_every_bundled_config_member_is_editable_and_mock_responses_is_json(
    template: str,
) -> None:
    schema = json.loads((BUNDLED / template / "config.schema.json").read_text())
    fields = config_fields(template, schema)
    assert [f.name for f in fields] == list(schema["properties"])
    assert next(f for f in fields if f.name == "mock_responses").kind == "json"


def test_a_page_knows_its_place_and_clamps_its_number() -> None:
    last = views.Page.of(120, 3)
    assert (last.number, last.pages, last.offset, last.first_index) == (3, 3, 100, 101)
    assert views.Page.of(120, 99).number == 3 and views.Page.of(120, -1).number == 1
    assert views.Page.of(100, 2).pages == 2 and views.Page.of(101, 2).pages == 3
    empty = views.Page.of(0, 5)
    assert (empty.number, empty.pages, empty.offset, empty.first_index) == (1, 1, 0, 0)


@pytest.mark.parametrize(
    ("sandbox", "service", "serving", "shown"),
    [
        ("running", "running", True, "up"),
        ("running", "running", False, "down"),
        ("deleted", "stopped", False, "stopped"),
        ("failed", "failed", False, "failed"),
    ],
)
def test_health(sandbox: str, service: str, serving: bool, shown: str) -> None:
    assert views.health(sandbox, service, serving) == shown


def test_the_list_query_leaves_out_empty_filters() -> None:
    assert views.query(agent="a b", status="", service="slack", page=2) == (
        "agent=a+b&service=slack&page=2"
    )


ROWS = [(3, "github", {"path": "/a"}), (7, "slack", {"path": "/b"}), (9, "github", {})]


def test_the_journal_is_shown_newest_first_with_ids_for_the_page() -> None:
    entries = views.newest_first(ROWS)
    assert [(e.id, e.service) for e in entries] == [(9, "github"), (7, "slack"), (3, "github")]
    assert entries[0].dom_id == "entry-9"


def test_the_cursor_is_the_newest_id_read() -> None:
    assert views.last_id(ROWS) == 9
    assert views.last_id([], 5) == 5  # nothing new: the page keeps its place


def test_usage_comes_from_the_api_when_it_has_it() -> None:
    usage = {"requests": 3, "errors": 1, "bytes": {"state": 1}, "last_activity": None}
    assert guards.usage_of({"usage": usage}, {"slack": 9}) == {"partial": False, **usage}
    assert guards.usage_of({}, {"slack": 2, "github": 1}) == {
        "partial": True,
        "requests": 3,
        "by_service": {"slack": 2, "github": 1},
    }


def _served(*routes: tuple[str, str]) -> guards.Served:
    """What an app serves that includes, under `/v1` as the control plane does, a router of
    `routes` (method, path)."""
    router = APIRouter(prefix="/v1")
    for method, path in routes:
        router.add_api_route(path.removeprefix("/v1"), lambda: None, methods=[method])
    app = FastAPI()
    app.include_router(router)
    return guards.served(app.openapi())


def test_contract_sections_follow_the_routes_served() -> None:
    assert not guards.diff_available(_served())
    assert not guards.checkpoints_available(_served())
    listing = _served(("GET", guards.DIFF), ("GET", guards.CHECKPOINTS))
    assert guards.diff_available(listing)
    assert not guards.checkpoints_available(listing)  # listing is not making one
    assert guards.checkpoints_available(_served(("POST", guards.CHECKPOINTS)))
    assert guards.checkpoint_list_available(listing)
    assert not guards.checkpoint_list_available(_served(("POST", guards.CHECKPOINTS)))
    assert not guards.restore_available(listing)
    assert guards.restore_available(_served(("POST", guards.RESTORE)))
    assert not guards.fork_available(_served(("POST", guards.RESTORE)))
    assert guards.fork_available(_served(("POST", guards.FORK)))


def _summary(sandbox: dict[str, Any], served: dict[str, int]) -> str:
    page = environment().get_template("_summary.html")
    return page.render(sandbox=sandbox, usage=guards.usage_of(sandbox, served))


SANDBOX: dict[str, Any] = {
    "sandbox_id": "abc",
    "agent_id": "agent-1",
    "status": "running",
    "reason": None,
    "created_at": "2026-11-29T22:00:00Z",
    "expires_at": "2026-11-29T23:00:00Z",
    "ttl_minutes": 60.0,
    "services": {
        "slack": {"url": "http://127.0.0.1:1", "status": "running", "template": "slack",
                  "token": "xoxb-1", "reason": None},
    },
    "health": {"slack": "up"},
}  # fmt: skip


def test_the_summary_shows_what_the_api_serves_before_usage_exists() -> None:
    html = _summary(SANDBOX, {"slack": 4})
    assert "full usage unavailable" in html
    assert '<td class="service-usage">4</td>' in html


def test_the_summary_shows_the_contracts_usage_once_the_api_has_it() -> None:
    usage = {"requests": 12, "errors": 1, "last_activity": "2026-11-29T22:30:00Z",
             "bytes": {"state": 2048, "journal": 10240, "overlays": 4096}}  # fmt: skip
    sandbox = {**SANDBOX, "usage": usage}
    sandbox["services"] = {
        "slack": {**SANDBOX["services"]["slack"],
                  "usage": {"requests": 12, "errors": 1, "last_activity": None}},
    }  # fmt: skip
    html = _summary(sandbox, {"slack": 4})
    assert "unavailable" not in html
    assert "12, 1 errors" in html and "journal 10240 B" in html and "2026-11-29T22:30:00Z" in html
    assert '<td class="service-usage">12 <span class="muted">(1 errors)</span></td>' in html
