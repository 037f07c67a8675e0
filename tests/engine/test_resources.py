"""A user's own description with template power: a declared kind refines the collection its
`path` names, a binding without `action` refines what is inferred, new items start unset,
HTTP Basic credentials, answers streamed piece by piece, a spec's own world, the
provider's error shapes, and items of a `oneOf` fitted to their one branch. Pure: the
engine's `respond` against small descriptions."""

from __future__ import annotations

import base64
import json
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from doppel.engine import CompiledSpec, MockContext, MockRequest, compile_spec, respond
from doppel.engine.actions import build_world
from doppel.engine.auth import check_credentials, presented
from doppel.engine.context import AuthMode
from doppel.engine.expressions import MISSING
from doppel.engine.shape import unset
from doppel.engine.world import EMPTY_WORLD, World
from doppel.errors import SpecError
from doppel.specs import SpecCache
from doppel.templates import Template
from tests.engine.test_world import FORM, START, T1, T2, _answer, _json_body, _path, _ref

TOKEN = "0123456789abcdef0123456789abcdef"  # an issued auth token: 32 hex


def _basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Client:
    """One sandbox of one service, its state kept as the dataplane keeps it; requests may
    carry headers, and the sandbox may check credentials and requests."""

    def __init__(
        self,
        spec: CompiledSpec | dict[str, Any],
        *,
        world: World = EMPTY_WORLD,
        closed: bool | None = None,
        validate: bool = False,
        auth: AuthMode = "off",
    ) -> None:
        self.spec = spec if isinstance(spec, CompiledSpec) else compile_spec(spec)
        self.world = world
        self.closed = self.spec.switches.get("closed_world", False) if closed is None else closed
        self.validate = validate
        self.auth: AuthMode = auth
        self.state: dict[str, dict[str, Any]] = {}

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        at: datetime = T1,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        raw = b""
        if form is not None:
            sent["content-type"] = FORM
            raw = urlencode(form, doseq=True).encode()
        elif body is not None:
            sent["content-type"] = "application/json"
            raw = json.dumps(body).encode()
        context = MockContext(
            base_url="http://mock",
            now=START,
            state=self.state,
            world=self.world,
            closed_world=self.closed,
            at=at,
            validate_requests=self.validate,
            auth=self.auth,
            tokens=frozenset({TOKEN}),
        )
        request = MockRequest(method, path, urlencode(query or {}, doseq=True), sent, raw)
        response, report = respond(self.spec, request, context)
        for change in report.changes:
            self.state.setdefault(change.collection, {})[change.key] = change.value
        return response.status, json.loads(response.body) if response.body else None

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        status, payload = self(method, path, body, **kwargs)
        assert 200 <= status < 300, (method, path, status, payload)
        return payload


# == a Twilio-like description: Messages.json beside Messages/{Sid}.json ===================

MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sid": {"type": "string", "pattern": "^SM[0-9a-f]{32}$", "nullable": True},
        "account_sid": {"type": "string", "nullable": True},
        "to": {"type": "string", "nullable": True},
        "body": {"type": "string", "nullable": True},
        "status": {"type": "string", "enum": ["queued", "sent", "canceled"], "nullable": True},
        "num_media": {"type": "string", "nullable": True},
        "date_created": {"type": "string", "format": "date-time-rfc-2822", "nullable": True},
        "date_updated": {"type": "string", "format": "date-time-rfc-2822", "nullable": True},
        "uri": {"type": "string", "nullable": True},
        "price": {"type": "string", "nullable": True},
    },
}
MESSAGE_FORM = {
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "required": ["To"],
                "properties": {
                    "To": {"type": "string"},
                    "Body": {"type": "string"},
                    "MediaUrl": {"type": "array", "items": {"type": "string"}},
                },
            }
        }
    }
}
MESSAGES_PAGE = {
    "type": "object",
    "properties": {
        "messages": {"type": "array", "items": _ref("Message")},
        "page": {"type": "integer"},
        "page_size": {"type": "integer"},
        "uri": {"type": "string"},
        "next_page_uri": {"type": "string", "nullable": True},
    },
}
ACCOUNT = _path("AccountSid")
NOT_FOUND_SHAPE = {
    "status": 404,
    "body": {"code": 20404, "message": "The requested resource {path} was not found"},
}
INVALID_SHAPE = {
    "status": 400,
    "code": "20001",
    "body": {"code": "{code|int}", "message": "{detail}", "field": "{field}"},
}
MESSAGE_KIND: dict[str, Any] = {
    "path": "/Accounts/{AccountSid}/Messages.json",
    "key": "sid",
    "title": "Message",
    "order": "desc",
    "create": {
        "account_sid": "{scope.AccountSid}",
        "status": "queued",
        "num_media": "{req.MediaUrl|len|default:0|str}",
    },
}


def _messaging(
    kind: dict[str, Any] | None = None, operations: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The description, its messages refined by `kind` (None: left to inference alone)."""
    document: dict[str, Any] = {
        "openapi": "3.0.1",
        "info": {"title": "messaging", "version": "1"},
        "paths": {
            "/Accounts/{AccountSid}/Messages.json": {
                "parameters": ACCOUNT,
                "get": {
                    "operationId": "ListMessage",
                    "parameters": [
                        {"name": n, "in": "query", "schema": {"type": t}}
                        for n, t in (("To", "string"), ("PageSize", "integer"), ("Page", "integer"))
                    ],
                    "responses": _answer(MESSAGES_PAGE),
                },
                "post": {
                    "operationId": "CreateMessage",
                    "requestBody": MESSAGE_FORM,
                    "responses": _answer(_ref("Message"), "201"),
                },
            },
            "/Accounts/{AccountSid}/Messages/{Sid}.json": {
                "parameters": [*ACCOUNT, *_path("Sid")],
                # No 404 declared: Twilio's description says nothing of unknown messages.
                "get": {
                    "operationId": "FetchMessage",
                    "responses": _answer(_ref("Message"), example={"sid": "SM" + "0" * 32}),
                },
                "post": {
                    "operationId": "UpdateMessage",
                    "requestBody": {
                        "content": {
                            FORM: {
                                "schema": {
                                    "type": "object",
                                    "properties": {"Body": {"type": "string"}},
                                }
                            }
                        }
                    },
                    "responses": _answer(_ref("Message")),
                },
                "delete": {
                    "operationId": "DeleteMessage",
                    "responses": {"204": {"description": "gone"}},
                },
            },
            "/Accounts/{AccountSid}/Balance.json": {
                "parameters": ACCOUNT,
                "get": {
                    "operationId": "FetchBalance",
                    "responses": _answer(
                        {"type": "object", "properties": {"balance": {"type": "string"}}}
                    ),
                },
            },
        },
        "components": {"schemas": {"Message": MESSAGE}},
        "x-doppel": {
            "closed_world": True,
            "errors": {"not_found": NOT_FOUND_SHAPE, "invalid_request": INVALID_SHAPE},
        },
    }
    if kind is not None:
        document["x-doppel"]["resources"] = {"message": kind}
    if operations is not None:
        document["x-doppel"]["operations"] = operations
    return document


MESSAGES = "/Accounts/AC1/Messages"
SID = re.compile("SM[0-9a-f]{32}")


@pytest.fixture(scope="module")
def messaging() -> CompiledSpec:
    return compile_spec(_messaging(MESSAGE_KIND))


# -- a declared kind refines the collection its `path` names -------------------------------


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        pytest.param(lambda spec: spec.resources.kind("message").scope, ["AccountSid"], id="scope"),
        pytest.param(
            lambda spec: spec.resources.schemas["message"],
            "/paths/~1Accounts~1{AccountSid}~1Messages~1{Sid}.json/get/responses/200/content"
            "/application~1json/schema",
            id="schema",
        ),
        pytest.param(
            lambda spec: {
                op.operation_id: (
                    spec.resources.bindings[op.pointer].kind,
                    spec.resources.bindings[op.pointer].action,
                )
                for op in spec.operations
                if op.pointer in spec.resources.bindings
            },
            {
                "ListMessage": ("message", "list"),
                "CreateMessage": ("message", "create"),
                "FetchMessage": ("message", "read"),
                "UpdateMessage": ("message", "update"),
                "DeleteMessage": ("message", "delete"),
            },
            id="operations-bound-to-the-declared-kind",
        ),
        pytest.param(
            lambda spec: "/Accounts/{AccountSid}/Messages.json" in spec.resources.kinds,
            False,
            id="no-second-inferred-kind",
        ),
    ],
)
def test_a_path_kind_is_the_collection_the_spec_describes(
    messaging: CompiledSpec, probe: Any, expected: Any
) -> None:
    assert probe(messaging) == expected


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        pytest.param("sid", SID, id="an-id-in-the-patterns-format"),
        pytest.param("date_created", "Fri, 01 May 2026 12:00:00 +0000", id="created-by-the-clock"),
        pytest.param("date_updated", "Fri, 01 May 2026 12:00:00 +0000", id="updated-by-the-clock"),
        pytest.param(
            "uri", re.compile(r"/Accounts/AC1/Messages/SM[0-9a-f]{32}\.json"), id="its-own-address"
        ),
        pytest.param("account_sid", "AC1", id="a-declared-template-with-the-scope"),
        pytest.param("status", "queued", id="a-declared-literal"),
        pytest.param("num_media", "0", id="a-declared-template-with-a-default"),
        pytest.param("to", "+15550001", id="what-was-sent"),
        pytest.param("price", None, id="null-until-something-gives-it"),
    ],
)
def test_a_path_kind_makes_items_with_inferred_and_declared_templates(
    messaging: CompiledSpec, member: str, expected: Any
) -> None:
    client = Client(messaging)
    sent = client.ok("POST", f"{MESSAGES}.json", form={"To": "+15550001", "Body": "hi"})
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(sent[member]), sent
    else:
        assert sent[member] == expected, sent
    assert client.ok("GET", f"{MESSAGES}/{sent['sid']}.json") == sent


def test_declared_create_templates_stand_over_inferred_ones() -> None:
    kind = {**MESSAGE_KIND, "create": {**MESSAGE_KIND["create"], "uri": "/m/{item.sid}"}}
    sent = Client(_messaging(kind)).ok("POST", f"{MESSAGES}.json", form={"To": "+1"})
    assert sent["uri"] == f"/m/{sent['sid']}"
    assert SID.fullmatch(sent["sid"])  # the inferred ones still apply beneath


def test_an_update_of_a_path_kind_is_stamped_by_the_clock(messaging: CompiledSpec) -> None:
    client = Client(messaging)
    sent = client.ok("POST", f"{MESSAGES}.json", form={"To": "+1", "Body": "a"}, at=T1)
    changed = client.ok("POST", f"{MESSAGES}/{sent['sid']}.json", form={"Body": "b"}, at=T2)
    assert (changed["body"], changed["date_created"], changed["date_updated"]) == (
        "b",
        "Fri, 01 May 2026 12:00:00 +0000",
        "Sat, 02 May 2026 09:30:00 +0000",
    )


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        pytest.param(MESSAGES, {}, ["+3", "+2", "+1"], id="order-desc-newest-first"),
        pytest.param(MESSAGES, {"To": "+2"}, ["+2"], id="an-inferred-filter"),
        pytest.param("/Accounts/AC2/Messages", {}, [], id="an-inferred-scope"),
        pytest.param(MESSAGES, {"PageSize": 2}, ["+3", "+2"], id="an-inferred-pagination"),
    ],
)
def test_a_path_kind_lists_as_the_collection_does(
    messaging: CompiledSpec, path: str, query: dict[str, Any], expected: list[str]
) -> None:
    client = Client(messaging)
    for to in ("+1", "+2", "+3"):
        client.ok("POST", f"{MESSAGES}.json", form={"To": to, "Body": "x"})
    listed = client.ok("GET", f"{path}.json", query=query)
    assert [m["to"] for m in listed["messages"]] == expected


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        pytest.param(
            MESSAGE_KIND,
            (
                404,
                {
                    "code": 20404,
                    "message": f"The requested resource {MESSAGES}/SM{'f' * 32}.json was not found",
                },
            ),
            id="declared-the-templates-provider-knows-no-such-message",
        ),
        pytest.param(
            None, (200, {"sid": "SM" + "0" * 32}), id="inferred-the-descriptions-word-stands"
        ),
    ],
)
def test_a_closed_world_knows_no_unknown_key_of_a_path_kind(
    kind: dict[str, Any] | None, expected: tuple[int, Any]
) -> None:
    client = Client(_messaging(kind))
    assert client("GET", f"{MESSAGES}/SM{'f' * 32}.json") == expected


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/Accounts/{AccountSid}/Calls.json", id="a-path-the-spec-lacks"),
        pytest.param("/Accounts/{AccountSid}/Messages/{Sid}.json", id="the-items-own-path"),
        pytest.param("/Accounts/{AccountSid}/Balance.json", id="a-path-answering-one-object"),
    ],
)
def test_a_path_that_names_no_collection_is_a_spec_error(path: str) -> None:
    with pytest.raises(SpecError) as raised:
        compile_spec(_messaging({**MESSAGE_KIND, "path": path}))
    assert [e.pointer for e in raised.value.errors] == ["/x-doppel/resources/message/path"]


# -- a binding without `action` refines the inferred one ------------------------------------

NEEDS_SOMETHING_TO_SAY = {
    "requires": [
        {
            "any_of": ["Body", "MediaUrl"],
            "error": "invalid_request",
            "code": "21602",
            "field": "Body",
            "detail": "Message body is required.",
        }
    ]
}
OWN_INVALID = {
    "errors": {
        "invalid_request": {
            "status": 400,
            "codes": {"missing": "21604"},
            "body": {"code": "{code|int}", "message": "{detail}", "field": "{field}"},
        }
    }
}


@pytest.mark.parametrize(
    ("operations", "form", "validate", "expected"),
    [
        pytest.param(
            {"CreateMessage": NEEDS_SOMETHING_TO_SAY},
            {"To": "+1"},
            False,
            (400, {"code": 21602, "message": "Message body is required.", "field": "Body"}),
            id="requires-added",
        ),
        pytest.param(
            {"CreateMessage": NEEDS_SOMETHING_TO_SAY},
            {"To": "+1", "Body": "hi"},
            False,
            (201, {"to": "+1", "body": "hi", "status": "queued"}),
            id="the-inferred-create-still-creates",
        ),
        pytest.param(
            {"CreateMessage": OWN_INVALID},
            {"Body": "hi"},
            True,
            (400, {"code": 21604, "field": "To"}),
            id="the-operations-own-error-shape",
        ),
        pytest.param(
            {"FetchMessage": OWN_INVALID},
            {"Body": "hi"},
            True,
            (400, {"code": 20001, "field": "To"}),
            id="another-operations-shape-leaves-this-one-alone",
        ),
    ],
)
def test_a_binding_without_action_refines_the_inferred_binding(
    operations: dict[str, Any],
    form: dict[str, Any],
    validate: bool,
    expected: tuple[int, Any],
) -> None:
    client = Client(_messaging(MESSAGE_KIND, operations), validate=validate)
    status, body = client("POST", f"{MESSAGES}.json", form=form)
    assert (status, {k: body.get(k) for k in expected[1]}) == expected
    assert len(client.state.get("message:AC1", {})) == (status == 201)


def test_refining_an_operation_for_which_nothing_is_inferred_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as raised:
        compile_spec(_messaging(MESSAGE_KIND, {"FetchBalance": {"status": 200}}))
    assert [e.pointer for e in raised.value.errors] == ["/x-doppel/operations/FetchBalance"]


# -- error shapes: `{path}`, and `{code}` and `{field}` from the first field error ----------

UNKNOWN = "/Accounts/AC9/Messages/SMx.json"


@pytest.mark.parametrize(
    ("method", "path", "form", "expected"),
    [
        pytest.param(
            "GET",
            UNKNOWN,
            None,
            (404, {"code": 20404, "message": f"The requested resource {UNKNOWN} was not found"}),
            id="path-the-request-path",
        ),
        pytest.param(
            "POST",
            f"{MESSAGES}.json",
            {"Body": "hi"},
            (400, {"code": 20001, "field": "To"}),
            id="field-from-the-first-field-errors-pointer",
        ),
    ],
)
def test_error_shapes_read_the_request_and_its_field_errors(
    method: str, path: str, form: dict[str, Any] | None, expected: tuple[int, Any]
) -> None:
    client = Client(_messaging(MESSAGE_KIND), validate=True)
    status, body = client(method, path, form=form)
    assert (status, {k: body[k] for k in expected[1]}) == expected


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        pytest.param({"missing": "21604"}, 21604, id="the-first-field-errors-code"),
        pytest.param({"invalid": "21605"}, 20001, id="a-code-for-no-such-failure-the-default"),
        pytest.param(
            {"missing": "21604", "invalid_request": "21600"}, 21604, id="before-the-kinds-code"
        ),
    ],
)
def test_the_code_of_an_error_comes_from_its_first_field_error(
    codes: dict[str, str], expected: int
) -> None:
    document = _messaging(MESSAGE_KIND)
    document["x-doppel"]["errors"]["invalid_request"] = {**INVALID_SHAPE, "codes": codes}
    client = Client(document, validate=True)
    status, body = client("POST", f"{MESSAGES}.json", form={"Body": "hi"})
    assert (status, body["code"]) == (400, expected)


# == new items hold null, not the example's values =========================================

UNSET_ITEM = {
    "type": "object",
    "required": ["id", "owner", "tags", "metadata", "settings", "kind"],
    "properties": {
        "id": {"type": "string"},
        "owner": {"type": "string", "nullable": True},
        "note": {"type": "string", "nullable": True},
        "tags": {"type": "array", "items": {"type": "string"}},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "settings": {"type": "object", "properties": {"theme": {"type": "string"}}},
        "kind": {"type": "string", "enum": ["a", "b"], "nullable": True},
        "status": {"type": "string", "enum": ["x", "y"], "nullable": True},
        "maybe": {"type": "string", "enum": ["x", None], "nullable": True},
        "count": {"type": "integer"},
    },
}
EXAMPLE_ITEM = {
    "id": "item_1",
    "owner": "Jenny Rosen",
    "note": "a note",
    "tags": ["x"],
    "metadata": {"k": "v"},
    "settings": {"theme": "dark"},
    "kind": "b",
    "status": "x",
    "maybe": "x",
    "count": 3,
}


@pytest.fixture(scope="module")
def unset_spec() -> CompiledSpec:
    return compile_spec(
        {
            "openapi": "3.0.3",
            "info": {"title": "unset", "version": "1"},
            "paths": {},
            "components": {"schemas": {"Item": UNSET_ITEM}},
        }
    )


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        pytest.param("owner", None, id="a-required-member-that-may-be-null-is-null"),
        pytest.param("note", None, id="an-optional-member-that-may-be-null-is-null"),
        pytest.param("maybe", None, id="an-enum-naming-null-is-null"),
        pytest.param("tags", [], id="a-required-array-is-empty"),
        pytest.param("metadata", {}, id="a-required-open-map-is-empty"),
        pytest.param("settings", {"theme": "dark"}, id="a-required-object-the-templates"),
        pytest.param("id", "item_1", id="a-required-member-the-templates"),
        pytest.param("kind", "b", id="an-enum-without-null-is-not-null"),
        pytest.param("status", MISSING, id="an-optional-enum-without-null-is-left-out"),
        pytest.param("count", MISSING, id="an-optional-member-is-left-out"),
    ],
)
def test_a_new_item_starts_unset(unset_spec: CompiledSpec, member: str, expected: Any) -> None:
    item = unset(unset_spec, _ref("Item"), EXAMPLE_ITEM)
    assert item.get(member, MISSING) == expected


CUSTOMER = {
    "type": "object",
    "required": ["id", "object", "email", "name", "metadata"],
    "properties": {
        "id": {"type": "string", "pattern": "^cus_[A-Za-z0-9]{14}$"},
        "object": {"type": "string", "enum": ["customer"]},
        "email": {"type": "string", "nullable": True},
        "name": {"type": "string", "nullable": True},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "balance": {"type": "integer"},
    },
}
JENNY = {
    "id": "cus_NffrFeUfNV2Hib",
    "object": "customer",
    "email": "jenny.rosen@example.com",
    "name": "Jenny Rosen",
    "metadata": {"order": "6735"},
    "balance": 0,
}
CUSTOMERS: dict[str, Any] = {
    "openapi": "3.0.0",
    "info": {"title": "customers", "version": "1"},
    "paths": {
        "/v1/customers": {
            "post": {
                "operationId": "PostCustomers",
                "requestBody": {
                    "content": {
                        FORM: {
                            "schema": {
                                "type": "object",
                                "properties": {"email": {"type": "string"}},
                            }
                        }
                    }
                },
                "responses": _answer(_ref("Customer"), example=JENNY),
            }
        },
        "/v1/customers/{customer}": {
            "parameters": _path("customer"),
            "get": {
                "operationId": "GetCustomer",
                "responses": _answer(_ref("Customer"), example=JENNY),
            },
        },
    },
    "components": {"schemas": {"Customer": CUSTOMER}},
}


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        pytest.param("email", "ana@example.com", id="what-was-sent"),
        pytest.param("name", None, id="not-the-examples-name"),
        pytest.param("metadata", {}, id="not-the-examples-metadata"),
        pytest.param("object", "customer", id="the-examples-required-value"),
        pytest.param("balance", MISSING, id="not-the-examples-optional-member"),
    ],
)
def test_an_inferred_create_holds_what_was_sent_and_null(member: str, expected: Any) -> None:
    client = Client(CUSTOMERS)
    created = client.ok("POST", "/v1/customers", form={"email": "ana@example.com"})
    assert created.get(member, MISSING) == expected
    assert re.fullmatch("cus_[A-Za-z0-9]{14}", created["id"]) and created["id"] != JENNY["id"]


# == HTTP Basic: which half is the token, and `{credential.user}` ==========================

ACCOUNT_SCHEMA = {
    "type": "object",
    "properties": {
        "sid": {"type": "string", "pattern": "^AC[0-9a-f]{32}$"},
        "friendly_name": {"type": "string"},
        "owner_account_sid": {"type": "string", "nullable": True},
    },
}


def _accounts(basic: str | None) -> dict[str, Any]:
    credential: dict[str, Any] = {"header": "authorization", "schemes": ["basic"]}
    if basic is not None:
        credential["basic"] = basic
    return {
        "openapi": "3.0.1",
        "info": {"title": "accounts", "version": "1"},
        "paths": {
            "/Accounts.json": {
                "post": {
                    "operationId": "CreateAccount",
                    "requestBody": {
                        "content": {
                            FORM: {
                                "schema": {
                                    "type": "object",
                                    "properties": {"FriendlyName": {"type": "string"}},
                                }
                            }
                        }
                    },
                    "responses": _answer(_ref("Account"), "201"),
                }
            },
            "/Accounts/{Sid}.json": {
                "parameters": _path("Sid"),
                "get": {"operationId": "FetchAccount", "responses": _answer(_ref("Account"))},
            },
        },
        "components": {"schemas": {"Account": ACCOUNT_SCHEMA}},
        "x-doppel": {
            "auth": {
                "required": "all",
                "credentials": [credential],
                "pattern": "[0-9a-f]{32}",
            },
            "resources": {
                "account": {
                    "path": "/Accounts.json",
                    "key": "sid",
                    "create": {
                        "friendly_name": "{req.FriendlyName|default:SubAccount}",
                        "owner_account_sid": "{credential.user}",
                    },
                }
            },
        },
    }


PARENT = "AC" + "1" * 32


@pytest.mark.parametrize(
    ("basic", "authorization", "expected"),
    [
        pytest.param("password", _basic(PARENT, TOKEN), None, id="password-the-token"),
        pytest.param(
            "password", _basic(TOKEN, PARENT), "bad_credentials", id="password-not-the-user"
        ),
        pytest.param("password", _basic(PARENT), "unauthorized", id="password-empty"),
        pytest.param("user", _basic(TOKEN), None, id="user-the-token"),
        pytest.param("user", _basic(TOKEN, "x"), None, id="user-whatever-the-password"),
        pytest.param("user", _basic(PARENT, TOKEN), "bad_credentials", id="user-not-the-password"),
        pytest.param(
            "password", f"Bearer {TOKEN}", "unauthorized", id="another-scheme-is-none-sent"
        ),
    ],
)
def test_basic_credentials_take_the_declared_half(
    basic: str, authorization: str, expected: str | None
) -> None:
    spec = compile_spec(_accounts(basic))
    request = MockRequest("GET", f"/Accounts/{PARENT}.json", "", {"authorization": authorization})
    context = MockContext(auth="issued", tokens=frozenset({TOKEN}))
    failure = check_credentials(spec, spec.operation("FetchAccount"), request, context)
    assert (None if failure is None else failure.kind) == expected


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        pytest.param(
            _basic("ana", "s3:cret"),
            {
                "token": base64.b64encode(b"ana:s3:cret").decode(),
                "user": "ana",
                "password": "s3:cret",
            },
            id="basic-user-and-password-split-at-the-first-colon",
        ),
        pytest.param(
            _basic("ana"),
            {"token": base64.b64encode(b"ana:").decode(), "user": "ana", "password": ""},
            id="basic-without-password",
        ),
        pytest.param("bearer abc", {"token": "abc"}, id="another-scheme-its-token"),
        pytest.param("Basic abc", {"token": "abc"}, id="malformed-basic-its-token"),
        pytest.param("", {}, id="nothing"),
    ],
)
def test_what_a_request_presents(authorization: str, expected: dict[str, str]) -> None:
    headers = {"authorization": authorization} if authorization else {}
    assert presented(MockRequest("GET", "/", "", headers)) == expected


def test_create_templates_read_the_basic_user() -> None:
    client = Client(_accounts("password"), auth="issued")
    created = client.ok(
        "POST",
        "/Accounts.json",
        form={"FriendlyName": "Sub"},
        headers={"authorization": _basic(PARENT, TOKEN)},
    )
    assert re.fullmatch("AC[0-9a-f]{32}", created["sid"])
    assert (created["friendly_name"], created["owner_account_sid"]) == ("Sub", PARENT)


# == streamed answers told piece by piece =====================================================

COMPLETION = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "message": {
                        "type": "object",
                        "properties": {
                            "role": {"type": "string"},
                            "content": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}
HELLO = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there,  world!"}}],
}
TOLD = {
    "done": "[DONE]",
    "text": "choices.0.message.content",
    "first": {"id": "{answer.id}", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
    "each": {"id": "{answer.id}", "choices": [{"index": 0, "delta": {"content": "{piece}"}}]},
    "last": {"id": "{answer.id}", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
}


def _completions(binding: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {
        "type": "object",
        "properties": {"prompt": {"type": "string"}, "stream": {"type": "boolean"}},
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "completions", "version": "1"},
        "paths": {
            "/chat/completions": {
                "post": {
                    "operationId": "createChatCompletion",
                    "requestBody": _json_body(body),
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": COMPLETION, "example": HELLO},
                                "text/event-stream": {"schema": {"type": "object"}},
                            },
                        }
                    },
                }
            }
        },
        "x-doppel": {"streaming": TOLD},
    }
    if binding is not None:
        document["x-doppel"]["operations"] = {"createChatCompletion": binding}
    return document


def _stream(document: dict[str, Any], body: dict[str, Any]) -> list[Any]:
    request = MockRequest(
        "POST",
        "/chat/completions",
        "",
        {"content-type": "application/json"},
        json.dumps({**body, "stream": True}).encode(),
    )
    response, _ = respond(compile_spec(document), request, MockContext(seed=1))
    assert response.status == 200
    assert response.header("content-type") == "text/event-stream"
    assert response.body == b"".join(response.chunks)
    data = []
    for chunk in response.chunks:
        text = chunk.decode()
        assert text.startswith("data: ") and text.endswith("\n\n"), text
        data.append(text[len("data: ") : -2])
    *events, done = data
    return [*(json.loads(e) for e in events), done]


def _told(events: list[Any]) -> str:
    return "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])


@pytest.mark.parametrize(
    ("binding", "body", "probe", "expected"),
    [
        pytest.param(None, {}, _told, "Hello there,  world!", id="pieces-join-back-to-the-text"),
        pytest.param(
            None,
            {},
            lambda events: [e["choices"][0]["delta"].get("content") for e in events[1:-2]],
            ["Hello", " there,", "  world!"],
            id="a-piece-is-a-word-with-the-space-before-it",
        ),
        pytest.param(
            None,
            {},
            lambda events: events[0]["choices"][0]["delta"],
            {"role": "assistant"},
            id="first",
        ),
        pytest.param(
            None,
            {},
            lambda events: events[-2]["choices"][0]["finish_reason"],
            "stop",
            id="last",
        ),
        pytest.param(None, {}, lambda events: events[-1], "[DONE]", id="ended-by-done"),
        pytest.param(
            None,
            {},
            lambda events: {e["id"] for e in events[:-1]},
            {"chatcmpl-1"},
            id="each-reads-the-whole-answer",
        ),
        pytest.param(
            {
                "action": "answer",
                "answer": {
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "{req.prompt}"}}
                    ]
                },
            },
            {"prompt": "You said hi"},
            _told,
            "You said hi",
            id="the-worlds-answer-is-told",
        ),
    ],
)
def test_a_streamed_answer_is_told_piece_by_piece(
    binding: dict[str, Any] | None, body: dict[str, Any], probe: Any, expected: Any
) -> None:
    assert probe(_stream(_completions(binding), body)) == expected


# == a description's own world =============================================================

SPEC_WORLD = [
    {"kind": "message", "scope": {"AccountSid": "AC1"}, "items": [{"sid": "SM" + "a" * 32}]}
]
FIXTURE_WORLD = [
    {"kind": "message", "scope": {"AccountSid": "AC1"}, "items": [{"sid": "SM" + "b" * 32}]}
]


def _own_world(me: Any = None) -> bytes:
    document = _messaging(MESSAGE_KIND)
    document["x-doppel"]["world"] = SPEC_WORLD
    if me is not None:
        document["x-doppel"]["me"] = me
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("me", "fixtures", "keys", "who"),
    [
        pytest.param(None, None, ["SM" + "a" * 32], None, id="the-specs-world-alone"),
        pytest.param({"name": "ana"}, None, ["SM" + "a" * 32], {"name": "ana"}, id="the-specs-me"),
        pytest.param(
            {"name": "ana"},
            {"world": FIXTURE_WORLD},
            ["SM" + "a" * 32, "SM" + "b" * 32],
            {"name": "ana"},
            id="fixtures-add-to-it",
        ),
        pytest.param(
            {"name": "ana"},
            {"world": FIXTURE_WORLD, "me": {"name": "bo"}},
            ["SM" + "a" * 32, "SM" + "b" * 32],
            {"name": "bo"},
            id="the-fixtures-me-stands",
        ),
    ],
)
def test_a_specs_own_world_seeds_every_sandbox(
    me: Any, fixtures: dict[str, Any] | None, keys: list[str], who: Any
) -> None:
    template = Template(
        name="messaging",
        spec_bytes=_own_world(me),
        spec_name="openapi.json",
        fixtures_source=json.dumps(fixtures) if fixtures is not None else None,
    )
    spec = template.compile(SpecCache())
    world = template.overlay(spec, {}, day=date(2026, 4, 1)).world
    assert list(world.items["message:AC1"]) == keys
    assert world.me == who
    fetched = Client(spec, world=world).ok("GET", f"{MESSAGES}/{keys[-1]}.json")
    assert (fetched["sid"], fetched["account_sid"], fetched["status"]) == (
        keys[-1],
        "AC1",
        "queued",
    )


# == an item of a `oneOf` is fitted to its one branch ======================================

COMPONENT = {
    "type": "object",
    "required": ["id", "type", "name"],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string", "enum": ["COMPONENT"]},
        "name": {"type": "string"},
        "key": {"type": "string"},
        "blend": {"type": "string", "enum": ["NORMAL", "MULTIPLY", "SCREEN", "OVERLAY"]},
    },
}
FRAME = {
    "type": "object",
    "required": ["id", "type", "name"],
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string", "enum": ["FRAME"]},
        "name": {"type": "string"},
        "children": {"type": "array", "items": {"type": "string"}},
        "blend": {"type": "string", "enum": ["PASS_THROUGH", "NORMAL", "DARKEN", "LIGHTEN"]},
    },
}
CAT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "pet": {"type": "string"},
        "sound": {"type": "string", "enum": ["meow", "purr", "hiss", "chirp"]},
    },
}
DOG = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "pet": {"type": "string"},
        "sound": {"type": "string", "enum": ["woof", "growl", "howl", "whine"]},
    },
}
PET = {
    "oneOf": [_ref("Cat"), _ref("Dog")],
    "discriminator": {
        "propertyName": "pet",
        "mapping": {"cat": "#/components/schemas/Cat", "dog": "#/components/schemas/Dog"},
    },
}


def _collection(name: str, schema: Any) -> dict[str, Any]:
    return {
        f"/{name}": {
            "post": {
                "operationId": f"create-{name}",
                "requestBody": _json_body(schema),
                "responses": _answer(schema, "201"),
            }
        },
        f"/{name}/{{id}}": {
            "parameters": _path("id"),
            "get": {"operationId": f"get-{name}", "responses": _answer(schema)},
            "patch": {
                "operationId": f"update-{name}",
                "requestBody": _json_body({"type": "object"}),
                "responses": _answer(schema),
            },
        },
    }


BRANCHES: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "branches", "version": "1"},
    "paths": {
        **_collection("nodes", {"oneOf": [_ref("Component"), _ref("Frame")]}),
        **_collection("pets", _ref("Pet")),
    },
    "components": {
        "schemas": {"Component": COMPONENT, "Frame": FRAME, "Cat": CAT, "Dog": DOG, "Pet": PET}
    },
}


@pytest.fixture(scope="module")
def branching() -> CompiledSpec:
    return compile_spec(BRANCHES)


@pytest.mark.parametrize(
    ("path", "sent", "change", "expected"),
    [
        pytest.param(
            "/nodes",
            {"id": "1", "type": "FRAME", "name": "f"},
            None,
            {"id": "1", "type": "FRAME", "name": "f"},
            id="a-tag-the-first-branch-lacks-is-kept",
        ),
        pytest.param(
            "/nodes",
            {"id": "1", "type": "FRAME", "name": "f", "blend": "DARKEN"},
            None,
            {"id": "1", "type": "FRAME", "name": "f", "blend": "DARKEN"},
            id="each-member-fitted-to-the-tags-branch",
        ),
        pytest.param(
            "/nodes",
            {"id": "1", "type": "COMPONENT", "name": "c", "key": "k", "blend": "SCREEN"},
            None,
            {"id": "1", "type": "COMPONENT", "name": "c", "key": "k", "blend": "SCREEN"},
            id="the-first-branch-when-it-is-the-one",
        ),
        pytest.param(
            "/nodes",
            {"id": "1", "type": "FRAME", "name": "f", "children": ["2"]},
            {"name": "g"},
            {"id": "1", "type": "FRAME", "name": "g", "children": ["2"]},
            id="an-update-keeps-the-items-branch",
        ),
        pytest.param(
            "/nodes",
            {"id": "1", "type": "FRAME", "name": "f"},
            {"blend": "LIGHTEN"},
            {"id": "1", "type": "FRAME", "name": "f", "blend": "LIGHTEN"},
            id="an-update-fits-the-items-branch",
        ),
        pytest.param(
            "/pets",
            {"id": "1", "pet": "dog", "sound": "woof"},
            None,
            {"id": "1", "pet": "dog", "sound": "woof"},
            id="the-discriminators-branch",
        ),
    ],
)
def test_an_item_of_a_one_of_is_fitted_to_its_one_branch(
    branching: CompiledSpec,
    path: str,
    sent: dict[str, Any],
    change: dict[str, Any] | None,
    expected: dict[str, Any],
) -> None:
    client = Client(branching, closed=True)
    created = client.ok("POST", path, sent)
    if change is not None:
        client.ok("PATCH", f"{path}/{sent['id']}", change)
    else:
        assert created == expected
    assert client.ok("GET", f"{path}/{sent['id']}") == expected
    assert client.state[path]["1"] == expected  # stored as shown: nothing to invent


def test_a_world_item_of_a_one_of_keeps_its_branch(branching: CompiledSpec) -> None:
    frame = {"id": "1", "type": "FRAME", "name": "f"}
    world = build_world(branching, {"world": [{"kind": "/nodes", "items": [frame]}]}, 0, START)
    assert Client(branching, world=world, closed=True).ok("GET", "/nodes/1") == frame


def test_an_untagged_item_is_fitted_to_the_branch_it_shares_most_with(
    branching: CompiledSpec,
) -> None:
    client = Client(branching, closed=True)
    client.ok("POST", "/nodes", {"id": "1", "name": "f", "children": ["2"], "blend": "DARKEN"})
    assert client.state["/nodes"]["1"] == {
        "id": "1",
        "name": "f",
        "children": ["2"],
        "blend": "DARKEN",
    }


# == what compiling refuses, and the fixes the reference documentation asked for ============


def _one_op(x_doppel: dict[str, Any]) -> dict[str, Any]:
    """A description with a collection of things (inferred) and one RPC-style operation."""
    thing = {"type": "object", "properties": {"id": {"type": "string"}}}
    listed = {"type": "array", "items": thing}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things": {"get": {"operationId": "list", "responses": _answer(listed)}},
            "/things/{id}": {
                "get": {
                    "operationId": "get",
                    "parameters": _path("id"),
                    "responses": _answer(thing),
                }
            },
            "/ping": {"post": {"operationId": "ping", "responses": _answer(thing)}},
        },
        "x-doppel": x_doppel,
    }


@pytest.mark.parametrize(
    ("x_doppel", "pointer"),
    [
        pytest.param(
            {"resources": {"a": {"relations": {"b": {"kind": "nope", "by": "id"}}}}},
            "/x-doppel/resources/a/relations/b/kind",
            id="relation-kind",
        ),
        pytest.param(
            {"resources": {"a": {"computed": {"n": {"of": "nope", "count": True}}}}},
            "/x-doppel/resources/a/computed/n/of",
            id="aggregate-of",
        ),
        pytest.param(
            {"references": [{"params": ["id"], "kind": "nope", "key": "{req.id}"}]},
            "/x-doppel/references/0/kind",
            id="reference-kind",
        ),
        pytest.param(
            {"operations": {"ping": {"action": "answer", "effects": [{"kind": "nope"}]}}},
            "/x-doppel/operations/ping/effects/0/kind",
            id="effect-kind",
        ),
        pytest.param(
            {"operations": {"ping": {"action": "answer", "pagination": "nope"}}},
            "/x-doppel/operations/ping/pagination",
            id="pagination-style",
        ),
        pytest.param(
            {"operations": {"ping": {"action": "answer", "kind": "/things"}}},
            "/x-doppel/operations/ping/kind",
            id="answer-with-a-kind",
        ),
        pytest.param(
            {"operations": {"ping": {"action": "search", "kind": "/things"}}},
            "/x-doppel/operations/ping/search",
            id="search-without-search",
        ),
    ],
)
def test_a_declaration_naming_what_does_not_exist_fails_at_compile(
    x_doppel: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(SpecError) as caught:
        compile_spec(_one_op(x_doppel))
    assert caught.value.errors[0].pointer == pointer


def test_a_relation_may_name_an_inferred_collection_by_its_path() -> None:
    declared = {"resources": {"a": {"relations": {"t": {"kind": "/things", "by": "id"}}}}}
    assert compile_spec(_one_op(declared)).resources.kind("a").relations["t"].kind == "/things"


@pytest.mark.parametrize(
    ("optional", "expected"), [(True, 200), (False, 404)], ids=["optional", "required"]
)
def test_an_optional_reference_that_finds_nothing_refuses_nothing(
    optional: bool, expected: int
) -> None:
    declared = {
        "closed_world": True,
        "resources": {"thing": {"path": "/things"}},
        "references": [
            {"params": ["id"], "kind": "thing", "key": "{req.id}", "optional": optional}
        ],
    }
    document = _one_op(declared)
    document["paths"]["/ping/{id}"] = {
        "post": {
            "operationId": "ping_one",
            "parameters": _path("id"),
            "responses": {**_answer({"type": "object"}), **_answer({"type": "object"}, "404")},
        }
    }
    status, _ = Client(document)("POST", "/ping/nothing-here")
    assert status == expected


def test_a_template_that_declares_auth_but_not_to_enforce_it_takes_any_call() -> None:
    from doppel.dataplane.instance import auth_mode

    declared = {"auth": {"credentials": [{"header": "authorization", "schemes": ["bearer"]}]}}
    assert auth_mode(compile_spec(_one_op(declared)), {}) == "any"
    assert auth_mode(compile_spec(_one_op({**declared, "enforce_auth": False})), {}) == "off"
    assert (
        auth_mode(compile_spec(_one_op({**declared, "enforce_auth": False})), {"auth": "any"})
        == "any"
    )


def test_a_streamed_answer_keeps_what_it_changed() -> None:
    document = _completions({"action": "answer", "answer": {"id": "chatcmpl-{seq}"}})
    spec = compile_spec(document)
    state: dict[str, dict[str, Any]] = {}
    ids = []
    for _ in range(3):
        request = MockRequest(
            "POST", "/chat/completions", "", {"content-type": "application/json"},
            json.dumps({"stream": True}).encode(),
        )  # fmt: skip
        response, report = respond(spec, request, MockContext(seed=1, state=state))
        for change in report.changes:
            state.setdefault(change.collection, {})[change.key] = change.value
        first = json.loads(response.chunks[0].decode()[len("data: ") : -2])
        ids.append(first["id"])
    assert len(set(ids)) == 3, ids


@pytest.mark.parametrize("header", ["Basic !!!!", "Basic abc", "Basic " + "é"])
def test_a_malformed_basic_header_presents_no_user(header: str) -> None:
    found = presented(MockRequest("GET", "/", "", {"authorization": header}, b""))
    assert "user" not in found and "password" not in found


def test_in_an_open_world_listed_newest_first_the_sandboxs_own_items_come_first() -> None:
    document = _one_op({"resources": {"thing": {"path": "/things", "order": "desc"}}})
    thing = {"type": "object", "properties": {"id": {"type": "string"}}}
    document["paths"]["/things"]["get"]["responses"] = _answer(
        {"type": "array", "items": thing}, example=[{"id": "example-1"}, {"id": "example-2"}]
    )
    document["paths"]["/things"]["post"] = {
        "operationId": "create",
        "requestBody": _json_body(thing),
        "responses": _answer(thing, "201"),
    }
    client = Client(document, closed=False)
    client.ok("POST", "/things", {"id": "mine-1"})
    client.ok("POST", "/things", {"id": "mine-2"})
    assert [t["id"] for t in client.ok("GET", "/things")] == [
        "mine-2",
        "mine-1",
        "example-1",  # the spec's own, in its order
        "example-2",
    ]
