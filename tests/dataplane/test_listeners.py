"""The dataplane: many ports in one loop, each a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from doppel.dataplane import Dataplane, Listeners, ServiceInstance
from doppel.dataplane import app as dataplane_app
from doppel.engine import StubIndex, compile_spec, stubs_from_mock_responses
from tests.servers import port_is_closed

SPEC = compile_spec(
    {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/hello": {
                "get": {
                    "operationId": "hello",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"example": {"hi": True}}},
                        }
                    },
                }
            }
        },
    }
)


def _instance(name: str, overrides: dict[str, object] | None = None) -> ServiceInstance:
    stubs = StubIndex(stubs_from_mock_responses(overrides or {}))
    return ServiceInstance(name, SPEC, stubs, 0, datetime.now(UTC))


@pytest.fixture
async def listeners() -> AsyncIterator[Listeners]:
    opened = Listeners(Dataplane())
    yield opened
    await opened.close_all()


async def test_each_port_serves_its_own_instance(listeners: Listeners) -> None:
    ports = [await listeners.open(_instance(f"s{i}", {"/who": {"me": i}})) for i in range(200)]
    assert len(set(ports)) == 200
    async with httpx.AsyncClient(trust_env=False) as client:
        answers = await asyncio.gather(*(client.get(f"http://127.0.0.1:{p}/who") for p in ports))
    assert [a.json()["me"] for a in answers] == list(range(200))


async def test_closing_a_port_frees_it_and_drops_kept_alive_connections(
    listeners: Listeners,
) -> None:
    port = await listeners.open(_instance("a"))
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(f"http://127.0.0.1:{port}/hello")).json() == {"hi": True}
        await listeners.close(port)
        assert port_is_closed(port)
        with pytest.raises(httpx.HTTPError):
            await client.get(f"http://127.0.0.1:{port}/hello")
    await listeners.close(port)  # idempotent


async def test_responses_carry_the_operation_and_a_date(listeners: Listeners) -> None:
    port = await listeners.open(_instance("a"))
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(f"http://127.0.0.1:{port}/hello")
    assert response.headers["x-doppel-operation"] == "hello"
    assert response.headers["date"].endswith("GMT")


async def test_an_engine_failure_costs_one_answer_not_the_server(
    listeners: Listeners, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = await listeners.open(_instance("a"))
    real = dataplane_app.respond

    def broken(*args: object) -> object:
        raise ValueError("boom")

    monkeypatch.setattr(dataplane_app, "respond", broken)
    async with httpx.AsyncClient(trust_env=False) as client:
        failed = await client.get(f"http://127.0.0.1:{port}/hello")
        monkeypatch.setattr(dataplane_app, "respond", real)
        recovered = await client.get(f"http://127.0.0.1:{port}/hello")
    assert failed.status_code == 500 and "ValueError" in failed.json()["detail"]
    assert recovered.status_code == 200


async def test_an_oversized_body_is_413(
    listeners: Listeners, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataplane_app, "MAX_BODY_BYTES", 1000)
    port = await listeners.open(_instance("a"))
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(f"http://127.0.0.1:{port}/hello", content=b"x" * 5000)
    assert response.status_code == 413


async def test_a_taken_port_is_refused_clearly(listeners: Listeners) -> None:
    from doppel.dataplane import PortInUseError

    port = await listeners.open(_instance("a"))
    with pytest.raises(PortInUseError, match=str(port)):
        await listeners.open(_instance("b"), port)


@pytest.mark.parametrize(
    ("spec_switch", "config", "expected"),
    [
        pytest.param(None, {}, False, id="off-by-default"),
        pytest.param(True, {}, True, id="template-turns-it-on"),
        pytest.param(True, {"validate_requests": False}, False, id="sandbox-turns-it-off"),
        pytest.param(None, {"validate_requests": True}, True, id="sandbox-turns-it-on"),
    ],
)
def test_switches_come_from_the_sandbox_config_else_the_template(
    spec_switch: bool | None, config: dict[str, bool], expected: bool
) -> None:
    document: dict[str, object] = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
    }
    if spec_switch is not None:
        document["x-doppel"] = {"validate_requests": spec_switch}
    instance = ServiceInstance.of(
        "t", compile_spec(document), StubIndex(()), config, seed=0, started_at=datetime.now(UTC)
    )
    assert instance.validate_requests is expected and instance.enforce_auth is False
