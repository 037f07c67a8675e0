"""Declared habits of a provider beyond its description: keys compared regardless of case,
anonymous reads, another address of a path (and Link headers naming it), the label of its
JSON answers, bodies read as JSON whatever their label, and references that pick among
matches. Each is a declaration on the small issue tracker of test_world."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from doppel.engine import (
    CompiledSpec,
    MockContext,
    MockRequest,
    MockResponse,
    compile_spec,
    respond,
)
from doppel.engine.actions import build_world
from doppel.engine.context import AuthMode
from doppel.engine.world import World
from tests.engine.test_world import (
    FORM,
    ROCKET,
    START,
    T1,
    TRACKER,
    TRACKER_FIXTURES,
    Sandbox,
    _answer,
)

TOKEN = "tok_" + "a" * 20


def _tracker(**declared: Any) -> dict[str, Any]:
    """The tracker with these `x-doppel` members added (dotted names reach into kinds,
    operations and the like: `resources.label.case_insensitive`)."""
    document = copy.deepcopy(TRACKER)
    for dotted, value in declared.items():
        node = document["x-doppel"]
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return document


def _sandbox(document: dict[str, Any], fixtures: dict[str, Any] = TRACKER_FIXTURES) -> Sandbox:
    spec = compile_spec(document)
    return Sandbox(spec, world=build_world(spec, fixtures, 0, START))


def _call(
    spec: CompiledSpec,
    world: World,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    auth: AuthMode = "off",
    validate: bool = False,
) -> MockResponse:
    context = MockContext(
        base_url="http://mock",
        now=START,
        at=T1,
        world=world,
        closed_world=True,
        auth=auth,
        validate_requests=validate,
    )
    request = MockRequest(method, path, query, headers or {}, body)
    response, _ = respond(spec, request, context)
    return response


# -- keys regardless of case ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("folded", "method", "path", "body", "status", "names"),
    [
        pytest.param(True, "POST", "/labels", {"name": "BUG"}, 422, None, id="create-taken"),
        pytest.param(False, "POST", "/labels", {"name": "BUG"}, 201, None, id="create-new"),
        pytest.param(True, "GET", "/labels/BUG", None, 200, None, id="read-as-named"),
        pytest.param(
            True, "POST", "/issues", {"title": "t", "labels": ["Bug"]}, 201, ["bug"], id="relate"
        ),
        pytest.param(
            False, "POST", "/issues", {"title": "t", "labels": ["Bug"]}, 201, ["Bug"], id="new"
        ),
        pytest.param(True, "DELETE", "/issues/1/labels/BUG", None, 200, [], id="remove"),
        pytest.param(False, "DELETE", "/issues/1/labels/BUG", None, 404, None, id="not-on-it"),
    ],
)
def test_a_case_insensitive_kind_names_its_items_regardless_of_case(
    folded: bool,
    method: str,
    path: str,
    body: Any,
    status: int,
    names: list[str] | None,
) -> None:
    document = _tracker(**{"resources.label.case_insensitive": folded})
    document["paths"]["/repos/{owner}/{repo}/labels/{name}"] = {
        "parameters": TRACKER["paths"]["/repos/{owner}/{repo}/labels"]["parameters"]
        + [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
        "get": {
            "operationId": "getLabel",
            "responses": {
                **_answer({"$ref": "#/components/schemas/Label"}),
                "404": {"description": "no"},
            },
        },
    }
    document["x-doppel"]["operations"]["getLabel"] = {
        "kind": "label",
        "action": "read",
        "key": "{req.name}",
    }
    tracker = _sandbox(document)
    got, answer = tracker(method, ROCKET + path, body)
    assert got == status, answer
    if names is not None:
        labels = answer["labels"] if isinstance(answer, dict) else answer
        assert [label["name"] for label in labels] == names
    if path == "/labels/BUG":
        assert answer["name"] == "bug"
    if folded and method == "POST" and path == "/labels":
        assert answer["errors"] == [
            {"resource": "Label", "field": "name", "code": "already_exists"}
        ]
    labels = [label["name"] for label in tracker.ok("GET", f"{ROCKET}/labels")]
    assert labels.count("bug") == 1 and ("BUG" in labels) is (status == 201 and path == "/labels")


# -- a reference that picks among matches ------------------------------------------------


def test_a_matched_reference_finds_the_item_its_where_holds_for_not_the_first() -> None:
    """An open issue of the same title refuses a new one; a closed one before it does not."""
    document = _tracker()
    document["x-doppel"]["operations"]["createIssue"] = {
        "kind": "issue",
        "action": "create",
        "references": {
            "twin": {
                "kind": "issue",
                "key": "{req.title}",
                "match": ["title"],
                "where": {"state": "open"},
                "optional": True,
            }
        },
        "requires": [
            {
                "ref": "twin",
                "unless": {"number": {"present": True}},
                "error": "invalid_request",
                "field": "title",
                "code": "already_exists",
            }
        ],
    }
    tracker = _sandbox(document)
    # #2 "Write the docs" is closed: no twin, though it is the first of that title.
    assert tracker("POST", f"{ROCKET}/issues", {"title": "Write the docs"})[0] == 201
    status, body = tracker("POST", f"{ROCKET}/issues", {"title": "Write the docs"})
    assert status == 422
    assert body["errors"] == [{"resource": "Issue", "field": "title", "code": "already_exists"}]


def test_a_list_checks_what_it_requires() -> None:
    document = _tracker()
    document["x-doppel"]["operations"]["searchIssues"]["requires"] = [
        {"any_of": ["q"], "error": "invalid_request", "field": "q", "code": "missing"}
    ]
    tracker = _sandbox(document)
    status, body = tracker("GET", "/search/issues", query={"q": ""})
    assert status == 422
    # The tracker's shape maps the failure `missing` to its own code.
    assert body["errors"] == [{"resource": "Issue", "field": "q", "code": "missing_field"}]
    assert tracker("GET", "/search/issues", query={"q": "crash"})[1]["total_count"] == 1


# -- anonymous callers ---------------------------------------------------------------------

OK = {"200": {"description": "ok", "content": {"application/json": {"example": {"ok": True}}}}}
NEEDS_A_USER = {**OK, "401": {"description": "Requires authentication"}}


def _get(operation_id: str, responses: dict[str, Any] = OK) -> dict[str, Any]:
    return {"operationId": operation_id, "responses": responses}


ANONYMOUS_SERVICE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "service", "version": "1"},
    "paths": {
        "/things": {"get": _get("listThings"), "post": _get("makeThing")},
        "/me": {"get": _get("getMe", NEEDS_A_USER)},
        "/me/keys": {"get": _get("listKeys")},
        "/meta": {"get": _get("getMeta")},
    },
}


@pytest.mark.parametrize(
    ("auth", "method", "path", "expected"),
    [
        pytest.param({}, "GET", "/things", 401, id="required-all-by-default"),
        pytest.param({"anonymous_methods": ["GET"]}, "GET", "/things", 200, id="a-public-read"),
        pytest.param({"anonymous_methods": ["get"]}, "HEAD", "/things", 200, id="head-as-get"),
        pytest.param({"anonymous_methods": ["GET"]}, "POST", "/things", 401, id="writes-need-one"),
        pytest.param({"anonymous_methods": ["GET"]}, "GET", "/me", 401, id="it-declares-401"),
        pytest.param(
            {"anonymous_methods": ["GET"], "anonymous": ["getMe"]},
            "GET",
            "/me",
            200,
            id="anonymous-names-it-though",
        ),
        pytest.param({"anonymous_methods": ["GET"]}, "GET", "/me/keys", 200, id="unnamed"),
        pytest.param(
            {"anonymous_methods": ["GET"], "authenticated": ["/me"]},
            "GET",
            "/me/keys",
            401,
            id="a-path-below-an-authenticated-one",
        ),
        pytest.param(
            {"anonymous_methods": ["GET"], "authenticated": ["/me"]},
            "GET",
            "/meta",
            200,
            id="a-prefix-is-whole-segments",
        ),
        pytest.param(
            {"anonymous_methods": ["GET"], "authenticated": ["listThings"]},
            "GET",
            "/things",
            401,
            id="an-authenticated-operation",
        ),
    ],
)
def test_which_calls_without_credentials_are_served(
    auth: dict[str, Any], method: str, path: str, expected: int
) -> None:
    document = {
        **ANONYMOUS_SERVICE,
        "x-doppel": {
            "auth": {"required": "all", "credentials": [{"header": "authorization"}], **auth}
        },
    }
    spec = compile_spec(document)
    assert _call(spec, World(), method, path, auth="any").status == expected
    with_token = _call(spec, World(), method, path, auth="any", headers={"authorization": TOKEN})
    assert with_token.status == 200


VAULT_FIXTURES = {
    **TRACKER_FIXTURES,
    "world": [
        *TRACKER_FIXTURES["world"],
        {"kind": "repo", "items": [{"name": "vault", "owner": "acme", "private": True}]},
    ],
}


@pytest.mark.parametrize(
    ("repo", "token", "mode", "expected"),
    [
        pytest.param("rocket", False, "any", 200, id="public-anonymous"),
        pytest.param("vault", False, "any", 404, id="private-anonymous-is-not-found"),
        pytest.param("vault", True, "any", 200, id="private-with-a-token"),
        pytest.param("vault", False, "off", 200, id="private-where-credentials-are-off"),
    ],
)
def test_a_reference_may_hide_what_anonymous_callers_do_not_see(
    repo: str, token: bool, mode: AuthMode, expected: int
) -> None:
    document = copy.deepcopy(TRACKER)
    declared = document["x-doppel"]
    declared["auth"] = {
        "required": "all",
        "credentials": [{"header": "authorization", "schemes": ["token"]}],
        "anonymous_methods": ["GET"],
    }
    declared["references"][0]["where"] = {
        "any": [{"not": {"private": True}}, {"$anonymous": False}]
    }
    spec = compile_spec(document)
    world = build_world(spec, VAULT_FIXTURES, 0, START)
    headers = {"authorization": f"token {TOKEN}"} if token else {}
    for path in (f"/repos/acme/{repo}", f"/repos/acme/{repo}/issues"):
        response = _call(spec, world, "GET", path, headers=headers, auth=mode)
        assert response.status == expected, path


# -- another address of a path ------------------------------------------------------------

PAGED = {
    "pagination.pages": {"style": "page", "size": "per_page", "page": "page", "link": True},
    "resources.issue.pagination": "pages",
}


def _aliased(links: bool) -> Sandbox:
    alias = {
        "kind": "repo",
        "path": "/repos/{item.full_name}",
        "alias": "/repositories/{item.id}",
        "links": links,
    }
    document = _tracker(aliases=[alias], **PAGED)
    document["paths"]["/repos/{owner}/{repo}/issues"]["get"]["parameters"] += [
        {"name": "per_page", "in": "query", "schema": {"type": "integer"}},
        {"name": "page", "in": "query", "schema": {"type": "integer"}},
    ]
    fixtures = copy.deepcopy(TRACKER_FIXTURES)
    issues = fixtures["world"][3]["items"]
    issues += [{"title": f"More {n}"} for n in range(3)]  # four open issues
    return _sandbox(document, fixtures)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/repositories/{id}", 200, id="the-item-itself"),
        pytest.param("/repositories/{id}/issues", 200, id="below-it"),
        pytest.param("/repositories/{id}/issues/1", 200, id="further-below"),
        pytest.param("/repositories/999/issues", 404, id="no-such-item"),
        pytest.param("/repositories/{id}/nothing-here", 404, id="no-such-path-below"),
    ],
)
def test_an_alias_serves_the_path_it_names(path: str, status: int) -> None:
    tracker = _aliased(links=False)
    repo = tracker.ok("GET", ROCKET)
    aliased = path.format(id=repo["id"])
    got, body = tracker("GET", aliased)
    assert got == status, body
    if status == 200:
        assert body == tracker.ok(
            "GET", ROCKET + aliased.removeprefix(f"/repositories/{repo['id']}")
        )


@pytest.mark.parametrize(
    ("links", "via_alias", "named_by"),
    [
        pytest.param(True, False, "/repositories/{id}/issues", id="links-name-the-alias"),
        pytest.param(True, True, "/repositories/{id}/issues", id="from-the-alias-too"),
        pytest.param(False, False, "/repos/acme/rocket/issues", id="else-the-path-as-sent"),
    ],
)
def test_a_lists_pages_may_be_named_by_the_alias(
    links: bool, via_alias: bool, named_by: str
) -> None:
    tracker = _aliased(links=links)
    repo_id = tracker.ok("GET", ROCKET)["id"]
    path = f"/repositories/{repo_id}/issues" if via_alias else f"{ROCKET}/issues"
    context = MockContext(
        base_url="http://mock", now=START, at=T1, world=tracker.world, closed_world=True
    )
    response, _ = respond(tracker.spec, MockRequest("GET", path, "per_page=2"), context)
    expected = named_by.format(id=repo_id)
    assert response.header("link") == (
        f'<http://mock{expected}?per_page=2&page=2>; rel="next", '
        f'<http://mock{expected}?per_page=2&page=2>; rel="last"'
    )


# -- transport -----------------------------------------------------------------------------

UTF8 = "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("labels", "path", "expected"),
    [
        pytest.param({"application/json": UTF8}, ROCKET, UTF8, id="an-answer"),
        pytest.param({"application/json": UTF8}, "/repos/acme/none", UTF8, id="an-error"),
        pytest.param({}, ROCKET, "application/json", id="undeclared"),
        pytest.param(
            {"text/plain": "text/plain; charset=utf-8"}, ROCKET, "application/json", id="other"
        ),
    ],
)
def test_answers_are_labelled_as_the_provider_labels_them(
    labels: dict[str, str], path: str, expected: str
) -> None:
    spec = compile_spec(_tracker(content_types=labels))
    world = build_world(spec, TRACKER_FIXTURES, 0, START)
    assert _call(spec, world, "GET", path).header("content-type") == expected


@pytest.mark.parametrize(
    ("declared", "label", "body", "status"),
    [
        pytest.param(["*/*"], FORM, b'{"title":"curl -d"}', 201, id="any-label"),
        pytest.param([FORM], FORM, b'{"title":"curl -d"}', 201, id="this-label"),
        pytest.param(["text/plain"], FORM, b'{"title":"curl -d"}', 422, id="another-label"),
        pytest.param([], FORM, b'{"title":"curl -d"}', 422, id="undeclared"),
        pytest.param(["*/*"], FORM, b"title=curl+-d", 422, id="a-real-form-stays-one"),
        pytest.param(["*/*"], "", b'{"title":"curl -d"}', 201, id="no-label-at-all"),
    ],
)
def test_a_body_may_be_read_as_json_whatever_its_label(
    declared: list[str], label: str, body: bytes, status: int
) -> None:
    spec = compile_spec(_tracker(json_bodies=declared))
    world = build_world(spec, TRACKER_FIXTURES, 0, START)
    headers = {"content-type": label} if label else {}
    response = _call(
        spec, world, "POST", f"{ROCKET}/issues", headers=headers, body=body, validate=True
    )
    assert response.status == status, response.body
    if status == 201:
        assert json.loads(response.body)["title"] == "curl -d"
