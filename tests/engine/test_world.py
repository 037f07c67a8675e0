"""The world engine: what a service holds, and what each operation does with it.

Pure: every request gets the sandbox's state and world in its context, and its changes come
back in the match report, applied here the way the dataplane applies them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from doppel.engine import CompiledSpec, MatchReport, MockContext, MockRequest, compile_spec, respond
from doppel.engine.actions import build_world
from doppel.engine.world import EMPTY_WORLD, SEQUENCES, World
from doppel.errors import ConfigError

START = datetime(2026, 4, 1, tzinfo=UTC)
T1 = datetime(2026, 5, 1, 12, tzinfo=UTC)
T2 = datetime(2026, 5, 2, 9, 30, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"


class Sandbox:
    """One sandbox of one service: its state kept as the dataplane keeps it."""

    def __init__(
        self,
        spec: CompiledSpec | dict[str, Any],
        *,
        world: World = EMPTY_WORLD,
        closed: bool | None = None,
        base_url: str = "http://mock",
    ) -> None:
        self.spec = spec if isinstance(spec, CompiledSpec) else compile_spec(spec)
        self.world = world
        # The dataplane's rule: the sandbox's switch, else the template's declaration.
        self.closed = self.spec.switches.get("closed_world", False) if closed is None else closed
        self.base_url = base_url
        self.state: dict[str, dict[str, Any]] = {}
        self.report = MatchReport("error")

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, Any] | None = None,
        query: str | dict[str, Any] = "",
        at: datetime = T1,
    ) -> tuple[int, Any]:
        headers: dict[str, str] = {}
        raw = b""
        if form is not None:
            headers["content-type"] = FORM
            raw = urlencode(form, doseq=True).encode()
        elif body is not None:
            headers["content-type"] = "application/json"
            raw = json.dumps(body).encode()
        if not isinstance(query, str):
            query = urlencode(query, doseq=True)
        context = MockContext(
            base_url=self.base_url,
            now=START,
            state=self.state,
            world=self.world,
            closed_world=self.closed,
            at=at,
        )
        response, self.report = respond(
            self.spec, MockRequest(method, path, query, headers, raw), context
        )
        for change in self.report.changes:
            self.state.setdefault(change.collection, {})[change.key] = change.value
        payload = json.loads(response.body) if response.body else None
        return response.status, payload

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        status, payload = self(method, path, body, **kwargs)
        assert 200 <= status < 300, (method, path, status, payload)
        return payload

    def items(self, collection: str) -> dict[str, Any]:
        """A collection as the sandbox now holds it (the world's, then its own changes)."""
        held = {k: json.loads(v) for k, v in self.world.items.get(collection, {}).items()}
        held.update(self.state.get(collection, {}))
        return {k: v for k, v in held.items() if v is not None}


# -- small spec builders -------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(schema: Any, status: str = "200", example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {status: {"description": "answer", "content": {"application/json": media}}}


def _path(*names: str, integer: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer" if name in integer else "string"},
        }
        for name in names
    ]


def _json_body(schema: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _form_body(**types: str) -> dict[str, Any]:
    props = {name: {"type": kind} for name, kind in types.items()}
    return {"content": {FORM: {"schema": {"type": "object", "properties": props}}}}


MESSAGE_SCHEMA = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}
NOT_FOUND = {
    "404": {
        "description": "not found",
        "content": {"application/json": {"schema": MESSAGE_SCHEMA}},
    }
}


# == inferred REST collections =============================================================

PET: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "vaccinated": {"type": "boolean"},
        "weight": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
PET_IN = {"type": "object", "properties": dict(PET["properties"])}
PETS: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "pets", "version": "1"},
    "paths": {
        "/pets": {
            "get": {
                "operationId": "listPets",
                "responses": _answer(
                    {"type": "array", "items": _ref("Pet")},
                    example=[{"id": 100, "name": "Example"}],
                ),
            },
            "post": {
                "operationId": "createPet",
                "requestBody": {
                    "content": {
                        "application/json": {"schema": PET_IN},
                        FORM: {"schema": PET_IN},
                    }
                },
                "responses": _answer(_ref("Pet"), "201"),
            },
        },
        "/pets/{petId}": {
            "parameters": _path("petId", integer=("petId",)),
            "get": {
                "operationId": "getPet",
                "responses": {
                    **_answer(_ref("Pet"), example={"id": 100, "name": "Example"}),
                    **NOT_FOUND,
                },
            },
            "patch": {
                "operationId": "updatePet",
                "requestBody": _json_body(PET_IN),
                "responses": {**_answer(_ref("Pet")), **NOT_FOUND},
            },
            "delete": {
                "operationId": "deletePet",
                "responses": {"204": {"description": "gone"}, **NOT_FOUND},
            },
        },
        "/pets/{petId}/photos": {
            "parameters": _path("petId", integer=("petId",)),
            "get": {
                "operationId": "listPhotos",
                "responses": {
                    **_answer({"type": "array", "items": {"type": "string"}}, example=["a.png"]),
                    **NOT_FOUND,
                },
            },
        },
        "/pets/{petId}/vet": {
            "parameters": _path("petId", integer=("petId",)),
            "get": {
                "operationId": "getVet",
                "responses": _answer({"type": "object"}, example={"vet": "Dr. Who"}),
            },
        },
    },
    "components": {"schemas": {"Pet": PET}},
}


@pytest.fixture
def pets() -> Sandbox:
    return Sandbox(PETS)


def test_an_inferred_collection_is_what_its_paths_say(pets: Sandbox) -> None:
    actions = {
        op.operation_id: pets.spec.resources.bindings[op.pointer].action
        for op in pets.spec.operations
        if op.pointer in pets.spec.resources.bindings
    }
    assert actions == {
        "listPets": "list",
        "createPet": "create",
        "getPet": "read",
        "updatePet": "update",
        "deletePet": "delete",
    }
    assert pets.spec.resources.kind("/pets").key == "petId"


@pytest.mark.parametrize(
    ("sent", "kind"),
    [
        pytest.param(
            {"name": "Rex", "age": 3, "vaccinated": True, "weight": 7.5}, "json", id="json"
        ),
        pytest.param(
            {"name": "Rex", "age": "3", "vaccinated": "true", "weight": "7.5"},
            "json",
            id="json-text",
        ),
        pytest.param(
            {"name": "Rex", "age": "3", "vaccinated": "1", "weight": "7.5"}, "form", id="form"
        ),
    ],
)
def test_a_create_echoes_what_was_sent_with_the_schemas_types(
    pets: Sandbox, sent: dict[str, Any], kind: str
) -> None:
    status, pet = pets(
        "POST", "/pets", sent if kind == "json" else None, form=sent if kind == "form" else None
    )
    assert status == 201
    assert {k: pet[k] for k in ("name", "age", "vaccinated", "weight")} == {
        "name": "Rex",
        "age": 3,
        "vaccinated": True,
        "weight": 7.5,
    }


def test_a_create_is_stamped_with_the_sandboxs_clock(pets: Sandbox) -> None:
    pet = pets.ok("POST", "/pets", {"name": "Rex"}, at=T1)
    assert pet["created_at"] == pet["updated_at"] == "2026-05-01T12:00:00Z"
    changed = pets.ok("PATCH", f"/pets/{pet['id']}", {"age": 4}, at=T2)
    assert (changed["created_at"], changed["updated_at"]) == (
        "2026-05-01T12:00:00Z",
        "2026-05-02T09:30:00Z",
    )


def test_created_ids_are_unique_and_increase_even_after_a_delete(pets: Sandbox) -> None:
    first, second = (pets.ok("POST", "/pets", {"name": n})["id"] for n in ("A", "B"))
    assert pets("DELETE", f"/pets/{second}")[0] == 204
    third = pets.ok("POST", "/pets", {"name": "C"})["id"]
    assert (first, second, third) == (1, 2, 3)


def test_a_created_item_is_read_back_and_listed_before_the_examples(pets: Sandbox) -> None:
    created = pets.ok("POST", "/pets", {"name": "Rex", "tags": ["good"]})
    assert pets.ok("GET", f"/pets/{created['id']}") == created
    listed = pets.ok("GET", "/pets")
    assert listed[0] == created
    assert [p["name"] for p in listed] == ["Rex", "Example"]


def test_changes_come_back_in_the_report_for_the_dataplane(pets: Sandbox) -> None:
    created = pets.ok("POST", "/pets", {"name": "Rex"})
    assert pets.report.source == "world"
    assert pets.state["/pets"] == {"1": created}
    assert set(pets.state) == {"/pets", SEQUENCES}  # and where the ids got to


def test_an_update_merges_and_keeps_the_key(pets: Sandbox) -> None:
    pet = pets.ok("POST", "/pets", {"name": "Rex", "age": 3, "tags": ["a"]})
    changed = pets.ok("PATCH", f"/pets/{pet['id']}", {"age": "4", "id": 99})
    assert changed == {**pet, "age": 4, "updated_at": changed["updated_at"]}
    assert pets.ok("GET", f"/pets/{pet['id']}") == changed


def test_a_deleted_item_is_not_found_and_not_listed(pets: Sandbox) -> None:
    pet = pets.ok("POST", "/pets", {"name": "Rex"})
    assert pets("DELETE", f"/pets/{pet['id']}") == (204, None)
    status, body = pets("GET", f"/pets/{pet['id']}")
    assert status == 404 and "1" in body["message"]
    assert [p["name"] for p in pets.ok("GET", "/pets")] == ["Example"]
    assert pets("DELETE", f"/pets/{pet['id']}")[0] == 404
    assert pets("PATCH", f"/pets/{pet['id']}", {"age": 1})[0] == 404


def test_an_open_world_answers_the_example_for_a_key_it_does_not_hold(pets: Sandbox) -> None:
    assert pets("GET", "/pets/77") == (200, {"id": 100, "name": "Example"})
    assert pets("GET", "/pets/77/photos") == (200, ["a.png"])
    assert pets.state == {}


def test_an_open_world_knows_what_this_sandbox_deleted_below_it(pets: Sandbox) -> None:
    pet = pets.ok("POST", "/pets", {"name": "Rex"})
    pets.ok("DELETE", f"/pets/{pet['id']}")
    assert pets("GET", f"/pets/{pet['id']}/photos")[0] == 404


# -- Twilio's `{Sid}.json` collections ---------------------------------------------------

MESSAGE = {
    "type": "object",
    "properties": {
        "sid": {"type": "string", "pattern": "^SM[0-9a-fA-F]{32}$"},
        "to": {"type": "string"},
        "body": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "sent", "canceled"]},
        "num_media": {"type": "string"},
        "date_created": {"type": "string", "format": "date-time-rfc-2822"},
        "date_updated": {"type": "string", "format": "date-time-rfc-2822"},
    },
}
ACCOUNT = _path("AccountSid")
TWILIO: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "twilio", "version": "1"},
    "paths": {
        "/2010-04-01/Accounts/{AccountSid}/Messages.json": {
            "parameters": ACCOUNT,
            "get": {
                "operationId": "ListMessage",
                "parameters": [
                    {"name": "To", "in": "query", "schema": {"type": "string"}},
                    {"name": "PageSize", "in": "query", "schema": {"type": "integer"}},
                    {"name": "Page", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": _answer(
                    {
                        "type": "object",
                        "properties": {
                            "messages": {"type": "array", "items": MESSAGE},
                            "next_page_uri": {"type": ["string", "null"]},
                            "page": {"type": "integer"},
                        },
                    }
                ),
            },
            "post": {
                "operationId": "CreateMessage",
                "requestBody": _form_body(To="string", Body="string", NumMedia="string"),
                "responses": _answer(MESSAGE, "201"),
            },
        },
        "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json": {
            "parameters": [*ACCOUNT, *_path("Sid")],
            "get": {"operationId": "FetchMessage", "responses": {**_answer(MESSAGE), **NOT_FOUND}},
            "post": {
                "operationId": "UpdateMessage",
                "requestBody": _form_body(Body="string", Status="string"),
                "responses": {**_answer(MESSAGE), **NOT_FOUND},
            },
            "delete": {
                "operationId": "DeleteMessage",
                "responses": {"204": {"description": "gone"}, **NOT_FOUND},
            },
        },
    },
}
MESSAGES = "/2010-04-01/Accounts/AC1/Messages"


def test_twilio_style_collections_create_fetch_update_by_post_and_delete() -> None:
    twilio = Sandbox(TWILIO, closed=True)
    sent = twilio.ok("POST", f"{MESSAGES}.json", form={"To": "+15550001", "Body": "hi"}, at=T1)
    assert re.fullmatch("SM[0-9a-f]{32}", sent["sid"])
    assert (sent["to"], sent["body"], sent["date_created"]) == (
        "+15550001",
        "hi",
        "Fri, 01 May 2026 12:00:00 +0000",
    )
    assert twilio.ok("GET", f"{MESSAGES}/{sent['sid']}.json") == sent
    changed = twilio.ok(
        "POST", f"{MESSAGES}/{sent['sid']}.json", form={"Status": "canceled"}, at=T2
    )
    assert (changed["sid"], changed["body"], changed["status"]) == (sent["sid"], "hi", "canceled")
    assert changed["date_updated"] == "Sat, 02 May 2026 09:30:00 +0000"
    listed = twilio.ok("GET", f"{MESSAGES}.json")
    assert [m["sid"] for m in listed["messages"]] == [sent["sid"]]
    assert twilio("DELETE", f"{MESSAGES}/{sent['sid']}.json")[0] == 204
    assert twilio("GET", f"{MESSAGES}/{sent['sid']}.json")[0] == 404


def test_twilio_style_collections_are_per_account_and_filter_by_query() -> None:
    twilio = Sandbox(TWILIO, closed=True)
    for to in ("+1", "+2"):
        twilio.ok("POST", f"{MESSAGES}.json", form={"To": to, "Body": "x"})
    assert twilio.ok("GET", "/2010-04-01/Accounts/AC2/Messages.json")["messages"] == []
    only = twilio.ok("GET", f"{MESSAGES}.json", query={"To": "+2"})["messages"]
    assert [m["to"] for m in only] == ["+2"]


def test_a_form_value_fills_the_member_named_like_it() -> None:
    twilio = Sandbox(TWILIO, closed=True)
    sent = twilio.ok("POST", f"{MESSAGES}.json", form={"To": "+1", "NumMedia": "2"})
    assert sent["num_media"] == "2"


# -- closed worlds --------------------------------------------------------------------------


def test_a_declared_closed_world_answers_the_operations_own_404() -> None:
    spec = compile_spec({**PETS, "x-doppel": {"closed_world": True}})
    assert spec.switches == {"closed_world": True}
    closed = Sandbox(spec)
    status, body = closed("GET", "/pets/77")
    assert status == 404 and set(body) == {"message"} and "77" in body["message"]
    assert closed.report.source == "error"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/pets/77", None, id="read"),
        pytest.param("PATCH", "/pets/77", {"age": 1}, id="update"),
        pytest.param("DELETE", "/pets/77", None, id="delete"),
        pytest.param("GET", "/pets/77/photos", None, id="a-sub-path-of-an-unknown-item"),
    ],
)
def test_the_context_switch_closes_the_world(method: str, path: str, body: Any) -> None:
    closed = Sandbox(PETS, closed=True)
    status, answer = closed(method, path, body)
    assert status == 404 and "'77'" in answer["message"]
    assert closed.state == {}


def test_a_closed_world_lists_only_what_it_holds() -> None:
    closed = Sandbox(PETS, closed=True)
    assert closed.ok("GET", "/pets") == []
    pet = closed.ok("POST", "/pets", {"name": "Rex"})
    assert closed.ok("GET", "/pets") == [pet]
    assert closed.ok("GET", f"/pets/{pet['id']}/photos") == ["a.png"]


def test_a_closed_world_lets_an_operation_that_declares_no_404_answer_its_example() -> None:
    closed = Sandbox(PETS, closed=True)
    assert closed("GET", "/pets/77/vet") == (200, {"vet": "Dr. Who"})


# == declared kinds: a small issue tracker ==================================================

USER = {
    "type": "object",
    "required": ["login"],
    "properties": {"login": {"type": "string"}, "id": {"type": "integer"}},
}
LABEL = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "color": {"type": "string"}},
}
REPO = {
    "type": "object",
    "required": ["full_name"],
    "properties": {
        "id": {"type": "integer"},
        "full_name": {"type": "string"},
        "name": {"type": "string"},
        "owner": {"type": "string"},
        "open_issues": {"type": "integer"},
    },
}
COMMENT = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "integer"},
        "body": {"type": "string"},
        "user": {"type": "string"},
        "votes": {"type": "integer"},
    },
}
NULLABLE_USER = {"anyOf": [_ref("User"), {"type": "null"}]}
ISSUE = {
    "type": "object",
    "required": ["number", "title", "state"],
    "properties": {
        "id": {"type": "integer"},
        "number": {"type": "integer"},
        "title": {"type": "string"},
        "body": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": ["open", "closed"]},
        "labels": {"type": "array", "items": _ref("Label")},
        "assignee": NULLABLE_USER,
        "user": NULLABLE_USER,
        "closed_at": {"type": ["string", "null"]},
        "closed_by": NULLABLE_USER,
        "closure": {
            "type": "object",
            "properties": {"by": {"type": "string"}, "at": {"type": "string"}},
        },
        "url": {"type": "string"},
        "comments": {"type": "integer"},
        "commenters": {"type": "array", "items": {"type": "string"}},
        "last_comment": {"type": ["integer", "null"]},
        "votes": {"type": "integer"},
        "first_comment": {"anyOf": [_ref("Comment"), {"type": "null"}]},
        "mine": {"type": "boolean"},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
    },
}
ISSUE_IN = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "body": {"type": "string"},
        "state": {"type": "string"},
        "labels": {"type": "array", "items": {"type": "string"}},
        "assignee": {"type": "string"},
    },
}
ISSUES_OF = {"type": "array", "items": _ref("Issue")}
LABELS_OF = {"type": "array", "items": _ref("Label")}
REPO_PATH = _path("owner", "repo")
ISSUE_PATH = _path("owner", "repo", "number", integer=("number",))
TRACKER: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "tracker", "version": "1"},
    "servers": [{"url": "https://api.tracker.example"}],
    "paths": {
        "/repos/{owner}/{repo}": {
            "get": {
                "operationId": "getRepo",
                "parameters": REPO_PATH,
                "responses": {**_answer(_ref("Repo")), **NOT_FOUND},
            }
        },
        "/repos/{owner}/{repo}/labels": {
            "parameters": REPO_PATH,
            "get": {"operationId": "listLabels", "responses": _answer(LABELS_OF)},
            "post": {
                "operationId": "createLabel",
                "requestBody": _json_body(LABEL),
                "responses": _answer(_ref("Label"), "201"),
            },
        },
        "/repos/{owner}/{repo}/issues": {
            "parameters": REPO_PATH,
            "get": {
                "operationId": "listIssues",
                "parameters": [{"name": "state", "in": "query", "schema": {"type": "string"}}],
                "responses": {**_answer(ISSUES_OF), **NOT_FOUND},
            },
            "post": {
                "operationId": "createIssue",
                "requestBody": _json_body(ISSUE_IN),
                "responses": {**_answer(_ref("Issue"), "201"), **NOT_FOUND},
            },
        },
        "/repos/{owner}/{repo}/issues/{number}": {
            "parameters": ISSUE_PATH,
            "get": {
                "operationId": "getIssue",
                "responses": {**_answer(_ref("Issue")), **NOT_FOUND},
            },
            "patch": {
                "operationId": "updateIssue",
                "requestBody": _json_body(ISSUE_IN),
                "responses": {**_answer(_ref("Issue")), **NOT_FOUND},
            },
        },
        "/repos/{owner}/{repo}/issues/{number}/labels": {
            "parameters": ISSUE_PATH,
            "post": {
                "operationId": "addLabels",
                "requestBody": _json_body({"type": "array", "items": {"type": "string"}}),
                "responses": {**_answer(LABELS_OF), **NOT_FOUND},
            },
            "put": {
                "operationId": "setLabels",
                "requestBody": _json_body(
                    {"type": "object", "properties": {"labels": {"type": "array"}}}
                ),
                "responses": {**_answer(LABELS_OF), **NOT_FOUND},
            },
            "delete": {
                "operationId": "clearLabels",
                "responses": {"204": {"description": "gone"}, **NOT_FOUND},
            },
        },
        "/repos/{owner}/{repo}/issues/{number}/labels/{name}": {
            "parameters": [*ISSUE_PATH, *_path("name")],
            "delete": {
                "operationId": "removeLabel",
                "responses": {**_answer(LABELS_OF), **NOT_FOUND},
            },
        },
        "/repos/{owner}/{repo}/issues/{number}/comments": {
            "parameters": ISSUE_PATH,
            "get": {
                "operationId": "listComments",
                "responses": {**_answer({"type": "array", "items": _ref("Comment")}), **NOT_FOUND},
            },
            "post": {
                "operationId": "createComment",
                "requestBody": _json_body(COMMENT),
                "responses": {**_answer(_ref("Comment"), "201"), **NOT_FOUND},
            },
        },
        "/search/issues": {
            "get": {
                "operationId": "searchIssues",
                "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
                "responses": _answer(
                    {
                        "type": "object",
                        "properties": {
                            "total_count": {"type": "integer"},
                            "items": ISSUES_OF,
                        },
                    }
                ),
            }
        },
    },
    "components": {
        "schemas": {
            "User": USER,
            "Label": LABEL,
            "Repo": REPO,
            "Issue": ISSUE,
            "Comment": COMMENT,
        }
    },
    "x-doppel": {
        "closed_world": True,
        "sequences": {"ids": 5001},
        "references": [
            {"params": ["owner", "repo"], "kind": "repo", "key": "{req.owner}/{req.repo}"},
            {"params": ["owner", "repo", "number"], "kind": "issue", "key": "{req.number}"},
        ],
        "errors": {
            "not_found": {"status": 404, "body": {"message": "Not Found", "why": "{detail}"}},
            "invalid_request": {
                "status": 422,
                "body": {"message": "Validation Failed", "errors": "{errors}"},
                "item": {"resource": "{resource}", "field": "{field}", "code": "{code}"},
                "codes": {"missing": "missing_field"},
            },
            "conflict": {
                "status": 422,
                "body": {
                    "message": "Validation Failed",
                    "errors": [{"resource": "{resource}", "field": "{field}", "code": "{code}"}],
                },
            },
        },
        "resources": {
            "user": {
                "key": "login",
                "schema": "#/components/schemas/User",
                "title": "User",
                "create": {"id": "{seq:ids}"},
            },
            "repo": {
                "key": "full_name",
                "schema": "getRepo",
                "title": "Repository",
                "create": {"id": "{seq:ids}", "full_name": "{item.owner}/{item.name}"},
                "computed": {
                    "open_issues": {
                        "of": "issue",
                        "count": True,
                        "scope": {"owner": "{item.owner}", "repo": "{item.name}"},
                        "where": {"state": "open"},
                    }
                },
            },
            "label": {
                "key": "name",
                "scope": ["owner", "repo"],
                "schema": "#/components/schemas/Label",
                "title": "Label",
                "unique": {"name": "already_exists"},
                "create": {"color": "ededed"},
            },
            "comment": {
                "key": "id",
                "scope": ["owner", "repo"],
                "schema": "#/components/schemas/Comment",
                "title": "IssueComment",
                "create": {"id": "{seq:ids}", "user": "{me.login}", "votes": 0},
            },
            "issue": {
                "key": "number",
                "scope": ["owner", "repo"],
                "schema": "#/components/schemas/Issue",
                "title": "Issue",
                "create": {
                    "number": "{seq}",
                    "id": "{seq:ids}",
                    "state": "open",
                    "labels": [],
                    "assignee": None,
                    "user": "{me.login}",
                    "closed_at": None,
                    "closed_by": None,
                    "created_at": "{now}",
                    "updated_at": "{now}",
                },
                "update": {"updated_at": "{now}"},
                "relations": {
                    "labels": {"kind": "label", "by": "name", "create": True},
                    "assignee": {"kind": "user", "by": "login", "code": "invalid"},
                    "user": {"kind": "user", "by": "login"},
                    "closed_by": {"kind": "user", "by": "login"},
                },
                "transitions": [
                    {
                        "when": {"state": "closed"},
                        "was": {"state": "open"},
                        "set": {"closed_at": "{now}", "closed_by": "{me.login}"},
                    },
                    {
                        "when": {"state": "open"},
                        "was": {"state": "closed"},
                        "set": {"closed_at": None, "closed_by": None},
                    },
                ],
                "computed": {
                    "url": "{base}/repos/{scope.owner}/{scope.repo}/issues/{item.number}",
                    "comments": {
                        "of": "comment",
                        "count": True,
                        "where": {"@issue": "{item.number}"},
                    },
                    "commenters": {
                        "of": "comment",
                        "distinct": "user",
                        "where": {"@issue": "{item.number}"},
                    },
                    "last_comment": {
                        "of": "comment",
                        "max": "id",
                        "where": {"@issue": "{item.number}"},
                    },
                    "votes": {
                        "of": "comment",
                        "sum": "votes",
                        "where": {"@issue": "{item.number}"},
                    },
                    "first_comment": {
                        "of": "comment",
                        "first": True,
                        "where": {"@issue": "{item.number}"},
                    },
                    "mine": {"holds": {"user.login": "{me.login}"}},
                    "closure": {
                        "@when": {"state": "closed"},
                        "by": "{item.closed_by.login}",
                        "at": "{item.closed_at}",
                    },
                },
                "filters": {"state": {"field": ["state"], "default": "open", "all": "all"}},
            },
        },
        "operations": {
            "getRepo": {"kind": "repo", "action": "read", "key": "{req.owner}/{req.repo}"},
            "listLabels": {"kind": "label", "action": "list"},
            "createLabel": {"kind": "label", "action": "create"},
            "listIssues": {"kind": "issue", "action": "list"},
            "createIssue": {"kind": "issue", "action": "create"},
            "getIssue": {"kind": "issue", "action": "read", "key": "{req.number}"},
            "updateIssue": {"kind": "issue", "action": "update", "key": "{req.number}"},
            "addLabels": {
                "kind": "issue",
                "action": "append",
                "key": "{req.number}",
                "field": "labels",
            },
            "setLabels": {
                "kind": "issue",
                "action": "replace",
                "key": "{req.number}",
                "field": "labels",
                "value": "{req.labels}",
            },
            "clearLabels": {
                "kind": "issue",
                "action": "clear",
                "key": "{req.number}",
                "field": "labels",
            },
            "removeLabel": {
                "kind": "issue",
                "action": "remove",
                "key": "{req.number}",
                "field": "labels",
                "value": "{req.name}",
                "errors": {
                    "not_found": {"status": 404, "body": {"message": "Label does not exist"}}
                },
            },
            "listComments": {
                "kind": "comment",
                "action": "list",
                "where": {"@issue": "{req.number}"},
            },
            "createComment": {
                "kind": "comment",
                "action": "create",
                "set": {"@issue": "{req.number}"},
                "requires": [
                    {
                        "any_of": ["body"],
                        "error": "invalid_request",
                        "field": "body",
                        "code": "missing_field",
                        "detail": "a comment needs a body",
                    }
                ],
            },
            "searchIssues": {
                "kind": "issue",
                "action": "search",
                "envelope": "items",
                "search": {
                    "scope": {"repo": ["owner", "repo"]},
                    "qualifiers": {
                        "is": {"open": {"state": "open"}, "closed": {"state": "closed"}},
                        "label": "labels[].name",
                        "author": "user.login",
                    },
                    "words": ["title", "body"],
                    "total": "total_count",
                },
            },
        },
    },
}
TRACKER_FIXTURES: dict[str, Any] = {
    "me": {"kind": "user", "key": "octo"},
    "world": [
        {"kind": "user", "items": [{"login": "octo"}, {"login": "hubot"}]},
        {"kind": "repo", "items": [{"name": "rocket", "owner": "acme"}]},
        {
            "kind": "label",
            "scope": {"owner": "acme", "repo": "rocket"},
            "items": [{"name": "bug", "color": "d73a4a"}],
        },
        {
            "kind": "issue",
            "scope": {"owner": "acme", "repo": "rocket"},
            "items": [
                {"title": "Crash on start", "labels": ["bug"], "user": "hubot"},
                {"title": "Write the docs", "body": "usage", "user": "octo", "state": "closed"},
            ],
        },
    ],
}
ROCKET = "/repos/acme/rocket"


@pytest.fixture(scope="module")
def tracker_spec() -> CompiledSpec:
    return compile_spec(TRACKER)


@pytest.fixture(scope="module")
def tracker_world(tracker_spec: CompiledSpec) -> World:
    return build_world(tracker_spec, TRACKER_FIXTURES, 0, START)


@pytest.fixture
def tracker(tracker_spec: CompiledSpec, tracker_world: World) -> Sandbox:
    return Sandbox(tracker_spec, world=tracker_world)


# -- building a world -----------------------------------------------------------------------


def _decoded(world: World, collection: str) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in world.items[collection].items()}


def test_a_world_is_built_with_ids_from_the_create_templates(tracker_world: World) -> None:
    users = _decoded(tracker_world, "user")
    assert users == {"octo": {"login": "octo", "id": 5001}, "hubot": {"login": "hubot", "id": 5002}}
    issues = _decoded(tracker_world, "issue:acme/rocket")
    assert [(k, i["number"], i["id"]) for k, i in issues.items()] == [
        ("1", 1, 5004),
        ("2", 2, 5005),
    ]
    assert _decoded(tracker_world, "repo")["acme/rocket"]["full_name"] == "acme/rocket"


def test_a_world_expands_relations_by_name(tracker_world: World) -> None:
    crash = _decoded(tracker_world, "issue:acme/rocket")["1"]
    assert crash["labels"] == [{"name": "bug", "color": "d73a4a"}]
    assert crash["user"] == {"login": "hubot", "id": 5002}


def test_a_worlds_me_names_one_of_its_items(tracker_world: World) -> None:
    assert tracker_world.me == {"login": "octo", "id": 5001}


def test_a_world_leaves_its_sequences_where_the_sandbox_continues(tracker: Sandbox) -> None:
    issue = tracker.ok("POST", f"{ROCKET}/issues", {"title": "Third"})
    assert (issue["number"], issue["id"]) == (3, 5006)


def test_a_world_of_literal_me_and_no_kinds(tracker_spec: CompiledSpec) -> None:
    world = build_world(tracker_spec, {"me": {"login": "agent"}}, 0, START)
    assert (world.me, dict(world.items)) == ({"login": "agent"}, {})


@pytest.mark.parametrize(
    ("fixtures", "pointer", "words"),
    [
        pytest.param(
            {"world": [{"kind": "ticket", "items": []}]},
            "/world/0/kind",
            "comment, issue, label, repo, user",
            id="an-unknown-kind",
        ),
        pytest.param({"world": [{"items": []}]}, "/world/0/kind", "needs a `kind`", id="no-kind"),
        pytest.param({"world": "users"}, "/world", "a list", id="world-not-a-list"),
        pytest.param(
            {"world": [{"kind": "user", "items": ["octo"]}]},
            "/world/0/items/0",
            "an item is an object",
            id="an-item-not-an-object",
        ),
        pytest.param(
            {"world": [{"kind": "issue", "scope": "acme", "items": []}]},
            "/world/0",
            "`scope` is an object",
            id="scope-not-an-object",
        ),
        pytest.param(
            {
                "world": [
                    {
                        "kind": "issue",
                        "scope": {"owner": "acme", "repo": "rocket"},
                        "items": [{"title": "x", "assignee": "ghost"}],
                    }
                ]
            },
            "/world/0/items/0",
            "no User 'ghost'",
            id="a-relation-to-nothing",
        ),
        pytest.param({"me": {"kind": "user", "key": "ghost"}}, "/me", "'ghost'", id="me-missing"),
        pytest.param(
            {"me": {"kind": "bot", "key": "x"}}, "/me/kind", "'bot'", id="me-unknown-kind"
        ),
        pytest.param({"me": "octo"}, "/me", "an object", id="me-not-an-object"),
    ],
)
def test_a_bad_world_is_refused_with_a_pointer(
    tracker_spec: CompiledSpec, fixtures: dict[str, Any], pointer: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_world(tracker_spec, fixtures, 0, START)
    assert [e.pointer for e in caught.value.errors] == [pointer]
    assert words in str(caught.value)


def test_a_world_item_whose_key_cannot_be_made_is_refused(tracker_spec: CompiledSpec) -> None:
    with pytest.raises(ConfigError) as caught:
        build_world(tracker_spec, {"world": [{"kind": "repo", "items": [{"name": "x"}]}]}, 0, START)
    assert [e.pointer for e in caught.value.errors] == ["/world/0/items/0"]


# -- references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "why"),
    [
        pytest.param("GET", "/repos/acme/nope", "no Repository 'acme/nope'", id="the-item"),
        pytest.param("GET", "/repos/acme/nope/issues", "no Repository 'acme/nope'", id="below-it"),
        pytest.param("POST", "/repos/acme/nope/labels", "no Repository", id="a-create-below-it"),
        pytest.param("GET", f"{ROCKET}/issues/99", "no Issue '99'", id="an-issue"),
        pytest.param("GET", f"{ROCKET}/issues/99/comments", "no Issue '99'", id="below-an-issue"),
        pytest.param(
            "DELETE", f"{ROCKET}/issues/99/labels", "no Issue '99'", id="clear-on-nothing"
        ),
    ],
)
def test_references_answer_not_found_for_what_the_world_lacks(
    tracker: Sandbox, method: str, path: str, why: str
) -> None:
    status, body = tracker(method, path, {"name": "x"} if method == "POST" else None)
    assert status == 404
    assert body["message"] == "Not Found" and why in body["why"]
    assert tracker.state == {}


# -- relations ----------------------------------------------------------------------------


def test_relations_turn_names_into_the_related_items(tracker: Sandbox) -> None:
    issue = tracker.ok(
        "POST", f"{ROCKET}/issues", {"title": "New", "labels": ["bug"], "assignee": "hubot"}
    )
    assert issue["labels"] == [{"name": "bug", "color": "d73a4a"}]
    assert issue["assignee"] == {"login": "hubot", "id": 5002}
    assert issue["user"] == {"login": "octo", "id": 5001}  # `{me.login}` made an object too


def test_a_relation_that_may_create_makes_the_missing_item(tracker: Sandbox) -> None:
    issue = tracker.ok("POST", f"{ROCKET}/issues", {"title": "New", "labels": ["ui"]})
    assert issue["labels"] == [{"name": "ui", "color": "ededed"}]
    assert tracker.items("label:acme/rocket")["ui"] == {"name": "ui", "color": "ededed"}
    assert [label["name"] for label in tracker.ok("GET", f"{ROCKET}/labels")] == ["bug", "ui"]


def test_a_relation_to_nothing_is_refused_naming_the_field(tracker: Sandbox) -> None:
    status, body = tracker("POST", f"{ROCKET}/issues", {"title": "New", "assignee": "ghost"})
    assert (status, body) == (
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": "Issue", "field": "assignee", "code": "invalid"}],
        },
    )
    assert tracker.state == {}


# -- computed fields --------------------------------------------------------------------


def test_computed_templates_use_the_mocks_base_and_the_scope(tracker: Sandbox) -> None:
    issue = tracker.ok("GET", f"{ROCKET}/issues/1")
    assert issue["url"] == "http://mock/repos/acme/rocket/issues/1"


def test_aggregates_are_computed_on_every_read(tracker: Sandbox) -> None:
    empty = tracker.ok("GET", f"{ROCKET}/issues/1")
    assert (empty["comments"], empty["commenters"], empty["votes"]) == (0, [], 0)
    assert (empty["last_comment"], empty["first_comment"]) == (None, None)
    first = tracker.ok("POST", f"{ROCKET}/issues/1/comments", {"body": "one", "votes": 2})
    tracker.ok("POST", f"{ROCKET}/issues/1/comments", {"body": "two", "votes": 3})
    tracker.ok("POST", f"{ROCKET}/issues/2/comments", {"body": "elsewhere", "votes": 7})
    issue = tracker.ok("GET", f"{ROCKET}/issues/1")
    assert issue["comments"] == 2
    assert issue["commenters"] == ["octo"]
    assert issue["last_comment"] == first["id"] + 1
    assert issue["votes"] == 5
    assert issue["first_comment"] == first
    assert [c["body"] for c in tracker.ok("GET", f"{ROCKET}/issues/1/comments")] == ["one", "two"]


def test_an_aggregate_may_count_in_another_scope(tracker: Sandbox) -> None:
    assert tracker.ok("GET", ROCKET)["open_issues"] == 1
    tracker.ok("POST", f"{ROCKET}/issues", {"title": "More"})
    assert tracker.ok("GET", ROCKET)["open_issues"] == 2


def test_a_check_holds_or_not_for_each_item(tracker: Sandbox) -> None:
    assert tracker.ok("GET", f"{ROCKET}/issues/1")["mine"] is False  # hubot's
    assert tracker.ok("GET", f"{ROCKET}/issues/2")["mine"] is True


def test_a_conditional_field_appears_only_when_its_condition_holds(tracker: Sandbox) -> None:
    assert "closure" not in tracker.ok("GET", f"{ROCKET}/issues/1")
    tracker.ok("PATCH", f"{ROCKET}/issues/1", {"state": "closed"}, at=T2)
    assert tracker.ok("GET", f"{ROCKET}/issues/1")["closure"] == {
        "by": "octo",
        "at": "2026-05-02T09:30:00Z",
    }


def test_computed_fields_are_not_stored(tracker: Sandbox) -> None:
    tracker.ok("POST", f"{ROCKET}/issues", {"title": "New"})
    stored = tracker.state["issue:acme/rocket"]["3"]
    assert not {"url", "comments", "mine"} & set(stored)


# -- transitions --------------------------------------------------------------------------


def test_closing_stamps_and_reopening_clears(tracker: Sandbox) -> None:
    closed = tracker.ok("PATCH", f"{ROCKET}/issues/1", {"state": "closed"}, at=T2)
    assert (closed["closed_at"], closed["closed_by"]) == (
        "2026-05-02T09:30:00Z",
        {"login": "octo", "id": 5001},
    )
    assert closed["updated_at"] == "2026-05-02T09:30:00Z"
    again = tracker.ok("PATCH", f"{ROCKET}/issues/1", {"state": "closed"}, at=T1)
    assert again["closed_at"] == "2026-05-02T09:30:00Z"  # `was` no longer holds
    reopened = tracker.ok("PATCH", f"{ROCKET}/issues/1", {"state": "open"})
    assert (reopened["closed_at"], reopened["closed_by"]) == (None, None)


def test_an_item_made_in_the_final_state_has_no_transition(tracker: Sandbox) -> None:
    issue = tracker.ok("POST", f"{ROCKET}/issues", {"title": "Done", "state": "closed"})
    assert issue["closed_at"] is None


# -- lists and creates --------------------------------------------------------------------


def test_a_declared_filter_default_narrows_the_list(tracker: Sandbox) -> None:
    assert [i["number"] for i in tracker.ok("GET", f"{ROCKET}/issues")] == [1]
    assert [i["number"] for i in tracker.ok("GET", f"{ROCKET}/issues", query="state=all")] == [1, 2]


def test_unique_fields_refuse_a_second_item_with_the_same_value(tracker: Sandbox) -> None:
    status, body = tracker("POST", f"{ROCKET}/labels", {"name": "bug"})
    assert (status, body["errors"]) == (
        422,
        [{"resource": "Label", "field": "name", "code": "already_exists"}],
    )
    assert tracker("POST", f"{ROCKET}/labels", {"name": "ui"})[0] == 201


# -- array fields ------------------------------------------------------------------------


def _label_names(labels: list[dict[str, Any]]) -> list[str]:
    return [label["name"] for label in labels]


def test_append_adds_each_value_once(tracker: Sandbox) -> None:
    added = tracker.ok("POST", f"{ROCKET}/issues/1/labels", ["ui", "bug"])
    assert _label_names(added) == ["bug", "ui"]
    again = tracker.ok("POST", f"{ROCKET}/issues/1/labels", ["ui"])
    assert _label_names(again) == ["bug", "ui"]
    assert _label_names(tracker.ok("GET", f"{ROCKET}/issues/1")["labels"]) == ["bug", "ui"]


def test_remove_takes_a_value_out_or_answers_the_operations_own_not_found(tracker: Sandbox) -> None:
    assert tracker.ok("DELETE", f"{ROCKET}/issues/1/labels/bug") == []
    assert tracker("DELETE", f"{ROCKET}/issues/1/labels/bug") == (
        404,
        {"message": "Label does not exist"},
    )


def test_replace_sets_and_clear_empties_the_field(tracker: Sandbox) -> None:
    replaced = tracker.ok("PUT", f"{ROCKET}/issues/1/labels", {"labels": ["docs", "ui"]})
    assert _label_names(replaced) == ["docs", "ui"]
    assert tracker("DELETE", f"{ROCKET}/issues/1/labels") == (204, None)
    assert tracker.ok("GET", f"{ROCKET}/issues/1")["labels"] == []


# -- search ---------------------------------------------------------------------------------


@pytest.fixture
def searchable(tracker: Sandbox) -> Sandbox:
    tracker.ok("POST", f"{ROCKET}/issues", {"title": "Crash on save", "labels": ["ui"]})
    tracker.ok("POST", "/repos/acme/rocket/issues", {"title": "Slow start", "body": "it crashes"})
    return tracker


@pytest.mark.parametrize(
    ("q", "numbers"),
    [
        pytest.param("is:open", [1, 3, 4], id="a-named-condition"),
        pytest.param("label:bug", [1], id="a-path-qualifier"),
        pytest.param("label:BUG", [1], id="ignoring-case"),
        pytest.param("-label:bug", [2, 3, 4], id="negated"),
        pytest.param("author:octo", [2, 3, 4], id="another-path"),
        pytest.param("crash", [1, 3, 4], id="a-word-in-title-or-body"),
        pytest.param("crash save", [3], id="every-word"),
        pytest.param("repo:acme/rocket start", [1, 4], id="scope-from-repo"),
        pytest.param("repo:acme/other crash", [], id="another-scope"),
        pytest.param("unknown:thing crash", [1, 3, 4], id="an-unknown-qualifier-narrows-nothing"),
        pytest.param('"on save"', [3], id="a-quoted-phrase"),
    ],
)
def test_search_qualifiers_negation_words_and_scope(
    searchable: Sandbox, q: str, numbers: list[int]
) -> None:
    found = searchable.ok("GET", "/search/issues", query={"q": q})
    assert sorted(i["number"] for i in found["items"]) == numbers
    assert found["total_count"] == len(numbers)


def test_search_finds_closed_items_when_asked(searchable: Sandbox) -> None:
    found = searchable.ok("GET", "/search/issues", query={"q": "is:closed"})
    assert [i["number"] for i in found["items"]] == [2]


# -- error shapes --------------------------------------------------------------------------


def test_a_not_found_fills_detail_into_the_providers_shape(tracker: Sandbox) -> None:
    assert tracker("GET", f"{ROCKET}/issues/42") == (
        404,
        {"message": "Not Found", "why": "no Issue '42' in this sandbox"},
    )


def test_a_failed_requirement_is_the_providers_validation_error(tracker: Sandbox) -> None:
    status, body = tracker("POST", f"{ROCKET}/issues/1/comments", {"votes": 1})
    assert status == 422
    assert body["message"] == "Validation Failed"
    assert [(e["resource"], e["field"]) for e in body["errors"]] == [("IssueComment", "body")]


def test_a_requirements_code_reaches_each_field_error(tracker: Sandbox) -> None:
    _, body = tracker("POST", f"{ROCKET}/issues/1/comments", {"votes": 1})
    assert body["errors"] == [
        {"resource": "IssueComment", "field": "body", "code": "missing_field"}
    ]


def test_request_validation_errors_take_the_shapes_codes(tracker_spec: CompiledSpec) -> None:
    document = json.loads(json.dumps(TRACKER))
    schema = document["paths"]["/repos/{owner}/{repo}/issues"]["post"]["requestBody"]
    schema["content"]["application/json"]["schema"] = {**ISSUE_IN, "required": ["title"]}
    spec = compile_spec(document)
    world = build_world(spec, TRACKER_FIXTURES, 0, START)
    request = MockRequest(
        "POST", f"{ROCKET}/issues", "", {"content-type": "application/json"}, b'{"body": "x"}'
    )
    context = MockContext(world=world, closed_world=True, validate_requests=True)
    response, _ = respond(spec, request, context)
    assert (response.status, response.json()) == (
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
        },
    )


# == a chat service: grouped entries, unique renames, references by name ====================


def _ok_answer(**props: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, **props}}
    return {
        "200": {
            "description": "ok",
            "content": {"application/json": {"schema": schema, "example": {"ok": True}}},
        }
    }


CHANNEL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "is_member": {"type": "boolean"},
    },
}
CHAT_MESSAGE = {
    "type": "object",
    "properties": {
        "ts": {"type": "string"},
        "text": {"type": "string"},
        "user": {"type": "string"},
        "thread_ts": {"type": "string"},
        "reply_count": {"type": "integer"},
        "reactions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "users": {"type": "array", "items": {"type": "string"}},
                    "count": {"type": "integer"},
                },
            },
        },
    },
}


def _method(operation_id: str, answer: dict[str, Any], /, **inputs: str) -> dict[str, Any]:
    body = _form_body(**inputs)
    return {"post": {"operationId": operation_id, "requestBody": body, "responses": answer}}


CHAT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "chat", "version": "1"},
    "paths": {
        "/chat.postMessage": _method(
            "postMessage",
            _ok_answer(ts={"type": "string"}, message=CHAT_MESSAGE),
            channel="string",
            text="string",
            thread_ts="string",
        ),
        "/chat.history": _method(
            "history",
            _ok_answer(messages={"type": "array", "items": CHAT_MESSAGE}),
            channel="string",
        ),
        "/reactions.add": _method(
            "addReaction", _ok_answer(), channel="string", timestamp="string", name="string"
        ),
        "/reactions.remove": _method(
            "removeReaction", _ok_answer(), channel="string", timestamp="string", name="string"
        ),
        "/reactions.get": _method(
            "getReactions", _ok_answer(message=CHAT_MESSAGE), channel="string", timestamp="string"
        ),
        "/conversations.create": _method(
            "createChannel", _ok_answer(channel=CHANNEL), name="string"
        ),
        "/conversations.rename": _method(
            "renameChannel", _ok_answer(channel=CHANNEL), channel="string", name="string"
        ),
    },
    "x-doppel": {
        "closed_world": True,
        "errors": {
            kind: {"status": 200, "body": {"ok": False, "error": "{code}"}}
            for kind in ("not_found", "conflict", "refused", "invalid_request")
        },
        "references": [
            {
                "params": ["channel"],
                "kind": "channel",
                "key": "{req.channel}",
                "match": ["name"],
                "trim": "#",
            }
        ],
        "resources": {
            "channel": {
                "key": "id",
                "schema": "#/paths/~1conversations.create/post/responses/200/content/"
                "application~1json/schema/properties/channel",
                "not_found": "channel_not_found",
                "unique": {"name": "name_taken"},
                "create": {"id": "C{hex:10|upper}", "@members": ["{me.id}"]},
                "computed": {"is_member": {"holds": {"@members": "{me.id}"}}},
            },
            "message": {
                "key": "ts",
                "scope": ["channel"],
                "schema": "#/paths/~1chat.postMessage/post/responses/200/content/"
                "application~1json/schema/properties/message",
                "not_found": "message_not_found",
                "order": "desc",
                "create": {"ts": "{ts}", "user": "{me.id}"},
                "computed": {
                    "reply_count": {
                        "of": "message",
                        "count": True,
                        "where": {"@parent": "{item.ts}"},
                        "omit_empty": True,
                    },
                    "thread_ts": {
                        "@when": {"reply_count": {"present": True}},
                        "@value": "{item.ts}",
                    },
                },
            },
        },
        "operations": {
            "postMessage": {
                "kind": "message",
                "action": "create",
                "envelope": "message",
                "requires": [{"any_of": ["text"], "code": "no_text"}],
                "set": {"@parent": "{req.thread_ts}", "thread_ts": "{req.thread_ts}"},
                "answer": {"ok": True, "ts": "{item.ts}"},
            },
            "history": {
                "kind": "message",
                "action": "list",
                "where": {"@parent": {"absent": True}},
                "envelope": "messages",
                "answer": {"ok": True},
            },
            "addReaction": {
                "kind": "message",
                "action": "append",
                "key": "{req.timestamp}",
                "field": "reactions",
                "group": {
                    "by": "name",
                    "members": "users",
                    "count": "count",
                    "member": "{me.id}",
                    "name": "{req.name}",
                    "exists": "already_reacted",
                },
                "result": "none",
            },
            "removeReaction": {
                "kind": "message",
                "action": "remove",
                "key": "{req.timestamp}",
                "field": "reactions",
                "group": {
                    "by": "name",
                    "members": "users",
                    "count": "count",
                    "member": "{me.id}",
                    "name": "{req.name}",
                    "absent": "no_reaction",
                },
                "result": "none",
            },
            "getReactions": {
                "kind": "message",
                "action": "read",
                "key": "{req.timestamp}",
                "envelope": "message",
                "answer": {"ok": True},
            },
            "createChannel": {
                "kind": "channel",
                "action": "create",
                "envelope": "channel",
                "answer": {"ok": True},
            },
            "renameChannel": {
                "kind": "channel",
                "action": "update",
                "key": "{req.channel}",
                "inputs": False,
                "set": {"name": "{req.name}"},
                "envelope": "channel",
                "answer": {"ok": True},
            },
        },
    },
}
CHAT_FIXTURES = {
    "me": {"id": "U1", "name": "agent"},
    "world": [
        {
            "kind": "channel",
            "items": [
                {"id": "C1", "name": "general", "@members": ["U1"]},
                {"id": "C2", "name": "random", "@members": ["U2"]},
            ],
        }
    ],
}
TS0 = "1777636800.000000"


@pytest.fixture
def chat() -> Sandbox:
    spec = compile_spec(CHAT)
    return Sandbox(spec, world=build_world(spec, CHAT_FIXTURES, 0, START))


def test_a_reference_finds_its_item_by_id_or_by_name(chat: Sandbox) -> None:
    for channel in ("C1", "general", "#general"):
        assert chat.ok("POST", "/chat.postMessage", form={"channel": channel, "text": "hi"})["ok"]
    assert set(chat.state["message:C1"]) == {TS0, "1777636800.000001", "1777636800.000002"}
    assert chat("POST", "/chat.postMessage", form={"channel": "#nope", "text": "x"}) == (
        200,
        {"ok": False, "error": "channel_not_found"},
    )


def test_a_requirement_refuses_with_the_providers_code(chat: Sandbox) -> None:
    assert chat("POST", "/chat.postMessage", form={"channel": "C1"}) == (
        200,
        {"ok": False, "error": "no_text"},
    )


def test_grouped_entries_add_and_remove_members(chat: Sandbox) -> None:
    chat.ok("POST", "/chat.postMessage", form={"channel": "C1", "text": "hi"})
    react = {"channel": "C1", "timestamp": TS0, "name": "eyes"}
    assert chat.ok("POST", "/reactions.add", form=react) == {"ok": True}
    message = chat.ok("POST", "/reactions.get", form={"channel": "C1", "timestamp": TS0})
    assert message["message"]["reactions"] == [{"name": "eyes", "users": ["U1"], "count": 1}]
    assert chat("POST", "/reactions.add", form=react) == (
        200,
        {"ok": False, "error": "already_reacted"},
    )
    assert chat.ok("POST", "/reactions.remove", form=react) == {"ok": True}
    message = chat.ok("POST", "/reactions.get", form={"channel": "C1", "timestamp": TS0})
    assert message["message"]["reactions"] == []
    assert chat("POST", "/reactions.remove", form=react) == (
        200,
        {"ok": False, "error": "no_reaction"},
    )


def test_an_unknown_item_of_a_field_action_is_the_kinds_not_found(chat: Sandbox) -> None:
    assert chat(
        "POST", "/reactions.add", form={"channel": "C1", "timestamp": "1.0", "name": "x"}
    ) == (
        200,
        {"ok": False, "error": "message_not_found"},
    )


def test_replies_are_counted_and_mark_their_thread(chat: Sandbox) -> None:
    chat.ok("POST", "/chat.postMessage", form={"channel": "C1", "text": "parent"})
    chat.ok("POST", "/chat.postMessage", form={"channel": "C1", "text": "other"})
    chat.ok("POST", "/chat.postMessage", form={"channel": "C1", "text": "re", "thread_ts": TS0})
    history = chat.ok("POST", "/chat.history", form={"channel": "C1"})["messages"]
    assert [m["text"] for m in history] == ["other", "parent"]  # newest first, no replies
    other, parent = history
    assert (parent["reply_count"], parent["thread_ts"]) == (1, TS0)
    assert "reply_count" not in other and "thread_ts" not in other


def test_a_create_and_a_rename_refuse_a_taken_unique_name(chat: Sandbox) -> None:
    assert chat("POST", "/conversations.create", form={"name": "general"}) == (
        200,
        {"ok": False, "error": "name_taken"},
    )
    assert chat("POST", "/conversations.rename", form={"channel": "C2", "name": "general"}) == (
        200,
        {"ok": False, "error": "name_taken"},
    )
    renamed = chat.ok("POST", "/conversations.rename", form={"channel": "C2", "name": "fun"})
    assert renamed["channel"] == {"id": "C2", "name": "fun", "is_member": False}


def test_a_created_item_starts_from_its_templates(chat: Sandbox) -> None:
    created = chat.ok("POST", "/conversations.create", form={"name": "dev"})["channel"]
    assert re.fullmatch("C[0-9A-F]{10}", created["id"])
    assert (created["name"], created["is_member"]) == ("dev", True)
    assert chat.items("channel")[created["id"]]["@members"] == ["U1"]


def _chat_with_edits(*, undeclared: bool) -> Sandbox:
    """CHAT with an edit whose description declares a narrower message (text alone), and a
    message kind that shows `edited`, which its schema has no place for (Slack's
    chat.update and objs_message), when `undeclared`; lists that refuse a missing input."""
    document = json.loads(json.dumps(CHAT))
    narrow = {"type": "object", "properties": {"text": {"type": "string"}}}
    document["paths"]["/chat.update"] = _method(
        "update", _ok_answer(ts={"type": "string"}, message=narrow), ts="string", text="string"
    )
    declared = document["x-doppel"]
    declared["errors"]["invalid_request"] = {
        "status": 200,
        "body": {"ok": False, "error": "{code}", "response_metadata": {"messages": "{messages}"}},
        "code": "invalid_arguments",
    }
    declared["operations"]["history"]["requires"] = [
        {"any_of": ["channel"], "error": "invalid_request", "field": "channel"}
    ]
    declared["operations"]["update"] = {
        "kind": "message",
        "action": "update",
        "key": "{req.ts}",
        "envelope": "message",
        "set": {"edited": {"user": "{me.id}"}},
        "undeclared": undeclared,
        "answer": {
            "ok": True,
            "ts": "{item.ts}",
            "message": {"text": "{item.text}", "user": "{item.user}", "edited": "{item.edited}"},
        },
    }
    if undeclared:
        declared["resources"]["message"]["undeclared"] = ["edited"]
    spec = compile_spec(document)
    return Sandbox(spec, world=build_world(spec, CHAT_FIXTURES, 0, START))


@pytest.mark.parametrize("undeclared", [True, False])
def test_undeclared_members_are_answered_and_read_back_only_where_declared(
    undeclared: bool,
) -> None:
    chat = _chat_with_edits(undeclared=undeclared)
    chat.ok("POST", "/chat.postMessage", form={"channel": "C1", "text": "draft"})
    updated = chat.ok("POST", "/chat.update", form={"channel": "C1", "ts": TS0, "text": "final"})
    history = chat.ok("POST", "/chat.history", form={"channel": "C1"})["messages"]
    edited = {"user": "U1"}
    if undeclared:
        assert updated["message"] == {"text": "final", "user": "U1", "edited": edited}
        assert history == [{"ts": TS0, "text": "final", "user": "U1", "edited": edited}]
    else:  # as the operation and the kind's schema declare them
        assert updated["message"] == {"text": "final"}
        assert history == [{"ts": TS0, "text": "final", "user": "U1"}]


def test_a_required_input_not_sent_is_a_missing_field() -> None:
    chat = _chat_with_edits(undeclared=True)
    assert chat("POST", "/chat.history", form={}) == (
        200,
        {
            "ok": False,
            "error": "invalid_arguments",
            "response_metadata": {"messages": ["[ERROR] missing required field: channel"]},
        },
    )
    sent_empty = chat("POST", "/chat.history", form={"channel": ""})  # names no channel
    assert sent_empty == (200, {"ok": False, "error": "channel_not_found"})


# == files on branches: read_many, upsert, effects, fallback scopes =======================

FILE = {
    "type": "object",
    "required": ["path"],
    "properties": {
        "path": {"type": "string"},
        "content": {"type": "string"},
        "sha": {"type": "string"},
        "size": {"type": "integer"},
    },
}
BRANCH = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "base": {"type": ["string", "null"]},
        "head": {"type": "string"},
        "merged": {"type": "boolean"},
    },
}
NODE = {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}
FILES: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "files", "version": "1"},
    "paths": {
        "/nodes": {
            "get": {
                "operationId": "getNodes",
                "parameters": [{"name": "ids", "in": "query", "schema": {"type": "string"}}],
                "responses": _answer(
                    {
                        "type": "object",
                        "properties": {
                            "nodes": {
                                "type": "object",
                                "additionalProperties": {"anyOf": [_ref("Node"), {"type": "null"}]},
                            }
                        },
                    }
                ),
            }
        },
        "/branches": {
            "post": {
                "operationId": "createBranch",
                "requestBody": _json_body(BRANCH),
                "responses": _answer(_ref("Branch"), "201"),
            }
        },
        "/branches/{branch}": {
            "get": {
                "operationId": "getBranch",
                "parameters": _path("branch"),
                "responses": {**_answer(_ref("Branch")), **NOT_FOUND},
            }
        },
        "/branches/{branch}/merge": {
            "post": {
                "operationId": "merge",
                "parameters": _path("branch"),
                "responses": {**_answer(_ref("Branch")), **NOT_FOUND},
            }
        },
        "/branches/{branch}/files": {
            "get": {
                "operationId": "listFiles",
                "parameters": _path("branch"),
                "responses": _answer({"type": "array", "items": _ref("File")}),
            }
        },
        "/branches/{branch}/files/{path}": {
            "parameters": _path("branch", "path"),
            "get": {"operationId": "getFile", "responses": {**_answer(_ref("File")), **NOT_FOUND}},
            "put": {
                "operationId": "putFile",
                "requestBody": _json_body(
                    {"type": "object", "properties": {"content": {"type": "string"}}}
                ),
                "responses": {**_answer(_ref("File")), **_answer(_ref("File"), "201"), **NOT_FOUND},
            },
            "delete": {
                "operationId": "deleteFile",
                "responses": {"204": {"description": "gone"}, **NOT_FOUND},
            },
        },
    },
    "components": {"schemas": {"File": FILE, "Branch": BRANCH, "Node": NODE}},
    "x-doppel": {
        "closed_world": True,
        "errors": {"not_found": {"status": 404, "body": {"message": "{detail}"}}},
        "resources": {
            "node": {"key": "id", "schema": "#/components/schemas/Node"},
            "branch": {
                "key": "name",
                "schema": "getBranch",
                "create": {"head": "{hex:40}", "base": None, "merged": False},
            },
            "file": {
                "key": "path",
                "scope": ["branch"],
                "schema": "getFile",
                "title": "File",
                "fallback": {
                    "var": "branch",
                    "kind": "branch",
                    "key": "{scope.branch}",
                    "field": "base",
                },
            },
        },
        "operations": {
            "getNodes": {
                "kind": "node",
                "action": "read_many",
                "keys": "{req.ids|split:,}",
                "wrap": {"document": "{item}"},
                "envelope": "nodes",
            },
            "createBranch": {"kind": "branch", "action": "create"},
            "getBranch": {"kind": "branch", "action": "read", "key": "{req.branch}"},
            "merge": {
                "kind": "branch",
                "action": "update",
                "key": "{req.branch}",
                "inputs": False,
                "set": {"merged": True},
                "effects": [
                    {
                        "kind": "file",
                        "action": "copy",
                        "scope": {"branch": "{req.branch}"},
                        "to": {"branch": "{item.base}"},
                    },
                    {
                        "kind": "branch",
                        "action": "update",
                        "key": "{item.base}",
                        "set": {"head": "{item.head}"},
                    },
                ],
            },
            "listFiles": {"kind": "file", "action": "list"},
            "getFile": {"kind": "file", "action": "read", "key": "{req.path}"},
            "putFile": {
                "kind": "file",
                "action": "upsert",
                "key": "{req.path}",
                "set": {
                    "path": "{req.path}",
                    "sha": "{req.content|blob_sha}",
                    "size": "{req.content|len}",
                },
            },
            "deleteFile": {"kind": "file", "action": "delete", "key": "{req.path}"},
        },
    },
}
FILES_FIXTURES = {
    "world": [
        {"kind": "node", "items": [{"id": "1:2", "name": "Frame"}, {"id": "1:3", "name": "Text"}]},
        {"kind": "branch", "items": [{"name": "main"}, {"name": "feature", "base": "main"}]},
        {
            "kind": "file",
            "scope": {"branch": "main"},
            "items": [{"path": "README.md", "content": "hello\n"}],
        },
    ]
}
README = {"path": "README.md", "content": "hello\n"}


@pytest.fixture
def files() -> Sandbox:
    spec = compile_spec(FILES)
    return Sandbox(spec, world=build_world(spec, FILES_FIXTURES, 0, START))


def test_read_many_maps_each_key_to_its_item_or_null(files: Sandbox) -> None:
    assert files.ok("GET", "/nodes", query={"ids": "1:2,9:9,1:3"}) == {
        "nodes": {
            "1:2": {"document": {"id": "1:2", "name": "Frame"}},
            "9:9": None,
            "1:3": {"document": {"id": "1:3", "name": "Text"}},
        }
    }


def test_upsert_creates_then_updates(files: Sandbox) -> None:
    status, created = files("PUT", "/branches/main/files/new.txt", {"content": "new\n"})
    assert (status, created["size"]) == (201, 4)
    status, updated = files("PUT", "/branches/main/files/new.txt", {"content": "hello\n"})
    assert (status, updated["size"]) == (200, 6)
    assert updated["sha"] == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert files.ok("GET", "/branches/main/files/new.txt") == updated


def test_a_branch_reads_through_to_its_base_until_it_writes(files: Sandbox) -> None:
    assert files.ok("GET", "/branches/feature/files/README.md") == README
    assert files.ok("GET", "/branches/feature/files") == [README]
    assert files("PUT", "/branches/feature/files/README.md", {"content": "bye\n"})[0] == 200
    assert files.ok("GET", "/branches/feature/files/README.md")["content"] == "bye\n"
    assert files.ok("GET", "/branches/main/files/README.md") == README
    assert set(files.state) - {SEQUENCES} == {"file:feature"}


def test_a_branch_hides_what_it_deletes_from_its_base(files: Sandbox) -> None:
    assert files("DELETE", "/branches/feature/files/README.md")[0] == 204
    status, body = files("GET", "/branches/feature/files/README.md")
    assert status == 404 and body == {"message": "no File 'README.md' in this sandbox"}
    assert files.ok("GET", "/branches/feature/files") == []
    assert files.ok("GET", "/branches/main/files") == [README]


def test_a_new_branch_reads_through_from_its_first_request(files: Sandbox) -> None:
    assert files("POST", "/branches", {"name": "fix", "base": "feature"})[0] == 201
    assert files.ok("GET", "/branches/fix/files/README.md") == README  # via feature, then main


def test_effects_copy_a_scope_and_update_another_item(files: Sandbox) -> None:
    files.ok("PUT", "/branches/feature/files/new.txt", {"content": "new\n"})
    feature = files.ok("GET", "/branches/feature")
    merged = files.ok("POST", "/branches/feature/merge")
    assert merged["merged"] is True
    assert [f["path"] for f in files.ok("GET", "/branches/main/files")] == ["README.md", "new.txt"]
    assert files.ok("GET", "/branches/main")["head"] == feature["head"]
    assert files.ok("GET", "/branches/main")["merged"] is False
