from __future__ import annotations

import pytest

from doppel.engine.routing import Router


def _router(*templates: str, multi: frozenset[str] = frozenset()) -> Router[str]:
    router: Router[str] = Router()
    for template in templates:
        router.add(template, "GET", template, multi)
    return router


@pytest.mark.parametrize(
    ("templates", "path", "expected", "captured"),
    [
        pytest.param(
            ("/user/{account_id}", "/user/repos"),
            "/user/repos",
            "/user/repos",
            (),
            id="literal-beats-template",
        ),
        pytest.param(
            ("/user/repos", "/user/{account_id}"),
            "/user/42",
            "/user/{account_id}",
            ("42",),
            id="template-when-no-literal",
        ),
        pytest.param(
            ("/a/{x}/c", "/a/b/{y}"), "/a/b/c", "/a/b/{y}", ("c",), id="literal-prefix-wins-first"
        ),
        pytest.param(
            ("/a/b/d", "/a/{x}/c"),
            "/a/b/c",
            "/a/{x}/c",
            ("b",),
            id="backtracks-out-of-a-literal-dead-end",
        ),
        pytest.param(
            ("/Calls/{Sid}.json", "/Calls/{Sid}"),
            "/Calls/CA1.json",
            "/Calls/{Sid}.json",
            ("CA1",),
            id="literal-suffix",
        ),
        pytest.param(
            ("/compare/{base}...{head}", "/compare/{basehead}"),
            "/compare/main...dev",
            "/compare/{base}...{head}",
            ("main", "dev"),
            id="two-params-in-a-segment",
        ),
        pytest.param(("/pets/{id}",), "/pets/7/", "/pets/{id}", ("7",), id="trailing-slash"),
        pytest.param(
            ("/files/{key}",),
            "/files/a%2Fb",
            "/files/{key}",
            ("a/b",),
            id="encoded-slash-stays-in-segment",
        ),
        pytest.param(("/",), "/", "/", (), id="root"),
    ],
)
def test_route_prefers_the_most_specific_template(
    templates: tuple[str, ...], path: str, expected: str, captured: tuple[str, ...]
) -> None:
    match = next(_router(*templates).match(path))
    assert match.values["GET"] == expected
    assert match.captured == captured


def test_multi_segment_parameter_spans_slashes() -> None:
    router = _router("/repos/{o}/{r}/contents/{path}", multi=frozenset({"path"}))
    match = next(router.match("/repos/a/b/contents/docs/guide/intro.md"))
    assert match.captured == ("a", "b", "docs/guide/intro.md")


def test_unknown_path_matches_nothing() -> None:
    assert list(_router("/pets", "/pets/{id}").match("/owners/1")) == []


def test_methods_share_one_node() -> None:
    router: Router[str] = Router()
    router.add("/pets", "GET", "list")
    router.add("/pets", "POST", "create")
    assert dict(next(router.match("/pets")).values) == {"GET": "list", "POST": "create"}
