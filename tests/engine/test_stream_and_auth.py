"""Server-sent events from a `text/event-stream` answer, and credentials as a provider takes
them: the token format Doppel issues and the checks of each sandbox's auth mode."""

from __future__ import annotations

import base64
import json
import re
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
from doppel.engine.auth import check_credentials, issue_token
from doppel.engine.context import AuthMode

# -- streaming ----------------------------------------------------------------------------

CHUNK = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["chat.completion.chunk"]},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "delta": {"type": "object", "properties": {"content": {"type": "string"}}},
                },
            },
        },
    },
}
COMPLETION = {
    "type": "object",
    "required": ["id", "object", "model"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["chat.completion"]},
        "model": {"type": "string"},
    },
}


def _completions(streaming: dict[str, Any] | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.0.0",
        "info": {"title": "completions", "version": "1"},
        "paths": {
            "/chat/completions": {
                "post": {
                    "operationId": "createChatCompletion",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "model": {"type": "string"},
                                        "stream": {"type": "boolean"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": COMPLETION},
                                "text/event-stream": {"schema": CHUNK},
                            },
                        }
                    },
                }
            }
        },
    }
    if streaming is not None:
        document["x-doppel"] = {"streaming": streaming}
    return document


@pytest.fixture(scope="module")
def openai() -> CompiledSpec:
    return compile_spec(_completions({"events": 4, "done": "[DONE]"}))


def _complete(spec: CompiledSpec, body: dict[str, Any], **headers: str) -> MockResponse:
    request = MockRequest(
        "POST",
        "/chat/completions",
        "",
        {"content-type": "application/json", **headers},
        json.dumps(body).encode(),
    )
    response, _ = respond(spec, request, MockContext(seed=3))
    return response


def _events(chunks: tuple[bytes, ...]) -> list[str]:
    data = []
    for chunk in chunks:
        text = chunk.decode()
        assert text.startswith("data: ") and text.endswith("\n\n"), text
        data.append(text[len("data: ") : -2])
    return data


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param({"model": "gpt-x", "stream": True}, {}, id="asked-by-the-body-flag"),
        pytest.param({"model": "gpt-x"}, {"accept": "text/event-stream"}, id="asked-by-accept"),
    ],
)
def test_a_stream_answers_events_that_share_their_id_and_end_as_declared(
    openai: CompiledSpec, body: dict[str, Any], headers: dict[str, str]
) -> None:
    response = _complete(openai, body, **headers)
    assert response.status == 200
    assert response.header("content-type") == "text/event-stream"
    assert response.header("cache-control") == "no-cache"
    assert response.body == b"".join(response.chunks)
    *data, done = _events(response.chunks)
    assert done == "[DONE]"
    events = [json.loads(d) for d in data]
    assert len(events) == 4
    assert len({e["id"] for e in events}) == 1 and len({e["created"] for e in events}) == 1
    assert {e["object"] for e in events} == {"chat.completion.chunk"}
    assert {e["model"] for e in events} == {"gpt-x"}  # the request's scalar echoed


def test_a_request_that_does_not_ask_gets_one_json_answer(openai: CompiledSpec) -> None:
    for body in ({"model": "gpt-x"}, {"model": "gpt-x", "stream": False}):
        response = _complete(openai, body)
        assert response.chunks == ()
        assert response.header("content-type") == "application/json"
        assert response.json()["object"] == "chat.completion"


def test_the_flag_must_be_a_json_true(openai: CompiledSpec) -> None:
    assert _complete(openai, {"model": "gpt-x", "stream": "true"}).chunks == ()


def test_a_stream_is_the_same_for_the_same_seed_and_request(openai: CompiledSpec) -> None:
    body = {"model": "gpt-x", "stream": True}
    assert _complete(openai, body).chunks == _complete(openai, body).chunks


def test_without_declarations_three_events_and_no_done_marker() -> None:
    spec = compile_spec(_completions(None))
    response = _complete(spec, {"model": "m", "stream": True})
    assert all(json.loads(d)["object"] == "chat.completion.chunk" for d in _events(response.chunks))
    assert len(response.chunks) == 3


def test_a_template_may_switch_the_body_flag_off() -> None:
    spec = compile_spec(_completions({"flag": None}))
    assert _complete(spec, {"model": "m", "stream": True}).chunks == ()
    assert len(_complete(spec, {"model": "m"}, accept="text/event-stream").chunks) == 3


def test_an_event_stream_content_type_always_carries_events(openai: CompiledSpec) -> None:
    response = _complete(openai, {"model": "gpt-x"}, accept="text/event-stream, application/json")
    if response.header("content-type") == "text/event-stream":
        assert response.chunks and _events(response.chunks)[-1] == "[DONE]"


# -- issued tokens -------------------------------------------------------------------------

OK = {"200": {"description": "ok", "content": {"application/json": {"example": {"ok": True}}}}}


def _service(auth: dict[str, Any] | None, security: Any = None) -> dict[str, Any]:
    def get(operation_id: str, **extra: Any) -> dict[str, Any]:
        return {"get": {"operationId": operation_id, "responses": OK, **extra}}

    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "service", "version": "1"},
        "paths": {
            "/user": get("me", security=[{"token": []}]),
            "/zen": get("zen"),
            "/meta": get("meta", security=[{"token": []}]),
            "/maybe": get("maybe", security=[{}, {"token": []}]),
        },
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    }
    if security is not None:
        document["security"] = security
    if auth is not None:
        document["x-doppel"] = {
            "auth": auth,
            "errors": {
                "unauthorized": {"status": 401, "body": {"message": "Requires authentication"}},
                "bad_credentials": {"status": 401, "body": {"message": "Bad credentials"}},
            },
        }
    return document


GITHUB_AUTH = {
    "required": "declared",
    "credentials": [
        {"header": "authorization", "schemes": ["token", "bearer"]},
        {"header": "x-api-key"},
        {"param": "token"},
    ],
    "token": "ghp_{alnum:36}",
    "pattern": "ghp_[A-Za-z0-9]{36}",
    "anonymous": ["meta"],
}


@pytest.fixture(scope="module")
def github() -> CompiledSpec:
    return compile_spec(_service(GITHUB_AUTH))


@pytest.mark.parametrize(
    ("template", "pattern"),
    [
        pytest.param("ghp_{alnum:36}", "ghp_[A-Za-z0-9]{36}", id="github"),
        pytest.param(
            "xoxb-{digits:13}-{digits:13}-{alnum:24}",
            "xoxb-[0-9]{13}-[0-9]{13}-[A-Za-z0-9]{24}",
            id="slack",
        ),
        pytest.param("figd_{hex:40}", "figd_[0-9a-f]{40}", id="hex"),
        pytest.param("sk_test_{alnum:24}", "sk_test_[A-Za-z0-9]{24}", id="stripe"),
    ],
)
def test_issued_tokens_follow_the_declared_format(template: str, pattern: str) -> None:
    spec = compile_spec(_service({"token": template}))
    tokens = {issue_token(spec, bytes(range(n, n + 64))) for n in range(5)}
    assert len(tokens) == 5
    assert all(re.fullmatch(pattern, t) for t in tokens), tokens


def test_a_spec_without_declarations_issues_doppel_tokens() -> None:
    token = issue_token(compile_spec(_service(None)), bytes(range(64)))
    assert re.fullmatch("doppel_[A-Za-z0-9]{32}", token)


def test_issued_tokens_come_from_the_callers_entropy_alone(github: CompiledSpec) -> None:
    entropy = bytes(range(100, 164))
    assert issue_token(github, entropy) == issue_token(github, entropy)
    assert issue_token(github, entropy) != issue_token(github, bytes(64))


# -- checking credentials -------------------------------------------------------------------

ISSUED = "ghp_" + "A1b2C3d4" * 4 + "E5f6"
WELL_FORMED = "ghp_" + "z" * 36


def _check(
    spec: CompiledSpec,
    mode: AuthMode,
    *,
    path: str = "/user",
    query: str = "",
    **headers: str,
) -> str | None:
    """The failure's kind, or None when the request passes (both `check_credentials` and
    the pipeline agree on it)."""
    request = MockRequest("GET", path, query, {k.replace("_", "-"): v for k, v in headers.items()})
    context = MockContext(auth=mode, tokens=frozenset({ISSUED}))
    op = spec.operation({"/user": "me", "/zen": "zen", "/meta": "meta", "/maybe": "maybe"}[path])
    failure = check_credentials(spec, op, request, context)
    response, _ = respond(spec, request, context)
    assert (response.status == 401) is (failure is not None), response.body
    return None if failure is None else failure.kind


@pytest.mark.parametrize(
    ("headers", "query", "off", "any_", "issued"),
    [
        pytest.param({}, "", None, "unauthorized", "unauthorized", id="no-credentials"),
        pytest.param(
            {"authorization": f"token {ISSUED}"}, "", None, None, None, id="issued-token-scheme"
        ),
        pytest.param(
            {"authorization": f"Bearer {ISSUED}"}, "", None, None, None, id="issued-bearer-any-case"
        ),
        pytest.param(
            {"authorization": f"token {WELL_FORMED}"},
            "",
            None,
            None,
            "bad_credentials",
            id="well-formed-not-issued",
        ),
        pytest.param(
            {"authorization": "token nope"},
            "",
            None,
            "bad_credentials",
            "bad_credentials",
            id="malformed",
        ),
        pytest.param(
            {"authorization": f"Basic {ISSUED}"},
            "",
            None,
            "unauthorized",
            "unauthorized",
            id="a-scheme-not-declared-is-none-sent",
        ),
        pytest.param(
            {"authorization": "token "}, "", None, "unauthorized", "unauthorized", id="empty-token"
        ),
        pytest.param({"x_api_key": ISSUED}, "", None, None, None, id="a-bare-header"),
        pytest.param(
            {"x_api_key": "nope"},
            "",
            None,
            "bad_credentials",
            "bad_credentials",
            id="bare-malformed",
        ),
        pytest.param({}, f"token={ISSUED}", None, None, None, id="a-token-parameter"),
        pytest.param(
            {}, f"token={WELL_FORMED}", None, None, "bad_credentials", id="parameter-not-issued"
        ),
    ],
)
def test_credentials_by_auth_mode(
    github: CompiledSpec,
    headers: dict[str, str],
    query: str,
    off: str | None,
    any_: str | None,
    issued: str | None,
) -> None:
    for mode, expected in (("off", off), ("any", any_), ("issued", issued)):
        assert _check(github, mode, query=query, **headers) == expected, mode  # type: ignore[arg-type]


def test_a_token_in_a_form_body_counts_as_the_parameter(github: CompiledSpec) -> None:
    request = MockRequest(
        "GET",
        "/user",
        "",
        {"content-type": "application/x-www-form-urlencoded"},
        f"token={ISSUED}".encode(),
    )
    context = MockContext(auth="issued", tokens=frozenset({ISSUED}))
    assert check_credentials(github, github.operation("me"), request, context) is None


def test_failures_take_the_providers_shapes(github: CompiledSpec) -> None:
    context = MockContext(auth="issued", tokens=frozenset({ISSUED}))
    missing, _ = respond(github, MockRequest("GET", "/user"), context)
    wrong, _ = respond(
        github, MockRequest("GET", "/user", "", {"authorization": f"token {WELL_FORMED}"}), context
    )
    assert (missing.status, missing.json()) == (401, {"message": "Requires authentication"})
    assert (wrong.status, wrong.json()) == (401, {"message": "Bad credentials"})


@pytest.mark.parametrize(
    ("path", "required", "expected"),
    [
        pytest.param("/meta", "declared", None, id="a-declared-anonymous-operation"),
        pytest.param("/zen", "declared", None, id="no-security-needs-none"),
        pytest.param("/zen", "all", "unauthorized", id="required-all-needs-it-everywhere"),
        pytest.param("/meta", "all", None, id="anonymous-even-when-required-all"),
    ],
)
def test_which_operations_need_credentials(path: str, required: str, expected: str | None) -> None:
    spec = compile_spec(_service({**GITHUB_AUTH, "required": required}))
    assert _check(spec, "issued", path=path) == expected


@pytest.mark.parametrize(
    ("auth", "mode"),
    [
        pytest.param(None, "any", id="schemes-any"),
        pytest.param(None, "issued", id="schemes-issued"),
        pytest.param(GITHUB_AUTH, "any", id="declared-any"),
        pytest.param(GITHUB_AUTH, "issued", id="declared-issued"),
    ],
)
def test_optional_security_lets_an_anonymous_request_through(
    auth: dict[str, Any] | None, mode: AuthMode
) -> None:
    spec = compile_spec(_service(auth))
    assert _check(spec, mode, path="/maybe") is None


# -- a spec checked by its own security schemes ------------------------------------------


@pytest.fixture(scope="module")
def schemes() -> CompiledSpec:
    document = _service(None, security=[{"token": []}])
    document["paths"]["/keyed"] = {
        "get": {"operationId": "keyed", "responses": OK, "security": [{"key": []}, {"basic": []}]}
    }
    document["components"]["securitySchemes"] |= {
        "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
        "basic": {"type": "http", "scheme": "basic"},
    }
    return compile_spec(document)


def _basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("path", "headers", "any_", "issued"),
    [
        pytest.param("/user", {}, "unauthorized", "unauthorized", id="nothing-sent"),
        pytest.param("/user", {"authorization": f"Bearer {ISSUED}"}, None, None, id="bearer"),
        pytest.param(
            "/user", {"authorization": "Bearer other"}, None, "bad_credentials", id="not-issued"
        ),
        pytest.param(
            "/user",
            {"authorization": f"Token {ISSUED}"},
            "unauthorized",
            "unauthorized",
            id="the-wrong-scheme",
        ),
        pytest.param("/zen", {}, "unauthorized", "unauthorized", id="the-documents-security"),
        pytest.param("/keyed", {"x-key": ISSUED}, None, None, id="an-api-key"),
        pytest.param("/keyed", {"x-key": "zzz"}, None, "bad_credentials", id="a-key-not-issued"),
        pytest.param(
            "/keyed", {"authorization": _basic(ISSUED)}, None, None, id="basic-user-is-the-key"
        ),
        pytest.param(
            "/keyed",
            {"authorization": "Basic !!"},
            "unauthorized",
            "unauthorized",
            id="malformed-basic",
        ),
    ],
)
def test_a_spec_without_auth_declarations_is_checked_by_its_security_schemes(
    schemes: CompiledSpec, path: str, headers: dict[str, str], any_: str | None, issued: str | None
) -> None:
    for mode, expected in (("off", None), ("any", any_), ("issued", issued)):
        request = MockRequest("GET", path, "", headers)
        context = MockContext(auth=mode, tokens=frozenset({ISSUED}))  # type: ignore[arg-type]
        op = next(o for o in schemes.operations if o.path == path)
        failure = check_credentials(schemes, op, request, context)
        assert (None if failure is None else failure.kind) == expected, mode


def test_a_schemes_failure_names_what_is_missing(schemes: CompiledSpec) -> None:
    response, _ = respond(schemes, MockRequest("GET", "/keyed"), MockContext(auth="any"))
    assert response.status == 401
    detail = response.json()["detail"]
    assert "X-Key" in detail and "basic" in detail
