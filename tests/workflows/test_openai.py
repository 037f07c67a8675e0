"""OpenAI chat completions with the official `openai` SDK against `doppel mock` of the
OpenAI-style spec (tests/specs/openai/openapi.yaml): a whole completion, a streamed one, and
the raw server-sent events under it. Judged by what OpenAI answers (notes/provider-facts.md,
OpenAI section 15): `text/event-stream`, every event exactly `data: <compact JSON>` with no
`event:`/`id:` lines, every chunk sharing one id/created/model, the first delta carrying the
role, a last choice chunk with `finish_reason`, then `data: [DONE]`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conftest import SPECS
from tests.servers import MockProcess

API_KEY = "sk-test"
MODEL = "gpt-4o-mini"
MESSAGES: list[Any] = [
    {"role": "developer", "content": "You are terse."},
    {"role": "user", "content": "Say hello in French."},
]


@pytest.fixture(scope="module")
def openai_url() -> Iterator[str]:
    mock = MockProcess([str(SPECS["openai"])])
    try:
        yield mock.url
    finally:
        mock.stop()


@pytest.fixture
def client(openai_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=API_KEY, base_url=openai_url, max_retries=0) as sdk:
        yield sdk


def raw_stream(url: str, body: dict[str, Any]) -> tuple[httpx.Response, str]:
    """POST /chat/completions with stream: true as plain HTTP; the response and its text."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.stream(
        "POST", f"{url}/chat/completions", json=body, headers=headers, trust_env=False
    ) as response:
        return response, response.read().decode()


def data_lines(text: str) -> list[str]:
    """The events' payloads: what follows `data: ` in each blank-line-separated event."""
    events = [event for event in text.split("\n\n") if event.strip()]
    payloads = []
    for event in events:
        lines = event.split("\n")
        assert len(lines) == 1 and lines[0].startswith("data: "), event
        payloads.append(lines[0].removeprefix("data: "))
    return payloads


def compact(payload: str) -> bool:
    """Whether an event's JSON is written compactly, as OpenAI writes it (no spaces)."""
    value = json.loads(payload)
    return payload in {
        json.dumps(value, separators=(",", ":")),
        json.dumps(value, separators=(",", ":"), ensure_ascii=False),
    }


# -- whole completions ----------------------------------------------------------------------


def test_a_completion_without_stream_is_a_chat_completion_with_choices(
    client: openai.OpenAI,
) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert isinstance(completion, ChatCompletion)
    assert completion.object == "chat.completion" and completion.id
    assert completion.model.startswith(MODEL)
    assert len(completion.choices) >= 1
    choice = completion.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in {"stop", "length", "tool_calls", "content_filter"}
    assert completion.usage is not None
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_each_completion_has_its_own_id_and_the_current_time(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    second = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "And in German?"}]
    )
    assert first.id != second.id
    assert abs(first.created - time.time()) < 600


def test_a_completion_without_messages_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[])
    assert caught.value.status_code == 400


def test_a_completion_without_an_api_key_is_a_401(openai_url: str) -> None:
    response = httpx.post(
        f"{openai_url}/chat/completions",
        json={"model": MODEL, "messages": MESSAGES},
        trust_env=False,
    )
    assert response.status_code == 401
    assert set(response.json()["error"]) >= {"message", "type", "param", "code"}


def test_retrieving_an_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


# -- streamed completions -------------------------------------------------------------------


def test_a_streamed_completion_yields_chunks_sharing_one_id_and_ends(
    client: openai.OpenAI,
) -> None:
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with stream:
        chunks = list(islice(stream, 1000))
    assert 1 <= len(chunks) < 1000  # the iteration ended on its own
    assert all(isinstance(chunk, ChatCompletionChunk) for chunk in chunks)
    assert {chunk.id for chunk in chunks} == {chunks[0].id} and chunks[0].id
    assert {chunk.created for chunk in chunks} == {chunks[0].created}
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert all(chunk.model.startswith(MODEL) for chunk in chunks)


def test_the_raw_stream_is_text_event_stream_of_data_events(openai_url: str) -> None:
    response, text = raw_stream(openai_url, {"model": MODEL, "messages": MESSAGES, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = data_lines(text)
    chunks = [json.loads(p) for p in payloads if p != "[DONE]"]
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(compact(p) for p in payloads if p != "[DONE]")
    assert len({c["id"] for c in chunks}) == 1


def test_the_raw_stream_ends_with_data_done(openai_url: str) -> None:
    _, text = raw_stream(openai_url, {"model": MODEL, "messages": MESSAGES, "stream": True})
    assert data_lines(text)[-1] == "[DONE]"
    assert text.endswith("data: [DONE]\n\n")


def test_a_streamed_completion_reads_as_one_answer(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with stream:
        chunks = [c for c in islice(stream, 1000) if c.choices]
    roles = [c.choices[0].delta.role for c in chunks]
    assert roles[0] == "assistant" and not any(roles[1:])
    reasons = [c.choices[0].finish_reason for c in chunks]
    assert reasons[-1] == "stop" and not any(reasons[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
