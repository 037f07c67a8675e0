"""Malformed bodies on mock ports: refused in the provider's shape naming why, with request
validation on and off; never a 500, and the port answers the next request as before."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from doppel.dataplane import Dataplane, Listeners, ServiceInstance
from doppel.engine import StubIndex, compile_spec
from doppel.mockserver import build_instance

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
SPEC = compile_spec(
    {
        "openapi": "3.1.0",
        "info": {"title": "notes", "version": "1"},
        "paths": {
            "/notes": {
                "post": {
                    "operationId": "createNote",
                    "requestBody": {
                        "content": {
                            media: {"schema": {"type": "object", "additionalProperties": True}}
                            for media in (JSON, FORM)
                        }
                    },
                    "responses": {"201": {"description": "made", "content": {JSON: {}}}},
                }
            }
        },
    }
)

# (case, content type, body, the reason the answer names)
CASES = [
    ("deep arrays", JSON, b"[" * 100_000, "nested deeper than 64 levels"),
    ("deep but decodable", JSON, b"[" * 900 + b"]" * 900, "nested deeper than 64 levels"),
    ("deep objects", JSON, b'{"a":' * 200 + b"1" + b"}" * 200, "nested deeper than 64 levels"),
    ("huge integer", JSON, b'{"n": 1' + b"0" * 5000 + b"}", "Exceeds the limit"),
    ("infinite float", JSON, b'{"n": 1e99999}', "out of range"),
    ("NaN", JSON, b'{"n": NaN}', "NaN is not a JSON number"),
    ("invalid UTF-8", JSON, b'{"title": "\xff\xfe"}', "not valid UTF-8"),
    ("lone surrogate", JSON, b'{"title": "\\ud800"}', "lone UTF-16 surrogate"),
    ("a form labelled JSON", JSON, b"title=hello", "not valid JSON"),
    ("broken escape", FORM, b"title=%zz", "broken percent-encoding"),
    ("escape cut short", FORM, b"title=ok&body=%4", "broken percent-encoding"),
    ("escaped bytes not UTF-8", FORM, b"title=%ff%fe", "not valid UTF-8"),
]
IDS = [case[0] for case in CASES]


@pytest.fixture
async def listeners() -> AsyncIterator[Listeners]:
    opened = Listeners(Dataplane())
    yield opened
    await opened.close_all()


def _notes(validate: bool) -> ServiceInstance:
    now = datetime.now(UTC)
    return ServiceInstance("notes", SPEC, StubIndex(()), 0, now, validate_requests=validate)


@pytest.mark.parametrize("validate", [False, True], ids=["lenient", "validating"])
@pytest.mark.parametrize(("media", "body", "reason"), [c[1:] for c in CASES], ids=IDS)
async def test_a_plain_spec_answers_400_problem(
    listeners: Listeners, validate: bool, media: str, body: bytes, reason: str
) -> None:
    port = await listeners.open(_notes(validate))
    url = f"http://127.0.0.1:{port}/notes"
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        refused = await client.post(url, content=body, headers={"content-type": media})
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["status"] == 400
        assert reason in problem["detail"]
        assert problem["detail"].startswith("/body: ")
        made = await client.post(url, json={"title": "fine"})
        assert made.status_code == 201, made.text


@pytest.mark.parametrize("validate", [False, True], ids=["lenient", "validating"])
async def test_a_template_refuses_in_its_own_shape(listeners: Listeners, validate: bool) -> None:
    github = dataclasses.replace(build_instance("github"), validate_requests=validate, auth="off")
    port = await listeners.open(github)
    url = f"http://127.0.0.1:{port}/repos/octocat/hello-world/issues"
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        for _, media, body, _ in CASES:
            refused = await client.post(url, content=body, headers={"content-type": media})
            assert refused.status_code == 400, refused.text  # as GitHub answers it
            assert refused.json()["message"] == "Problems parsing JSON"
        after = await client.get(f"http://127.0.0.1:{port}/rate_limit")
        assert after.status_code == 200, after.text
