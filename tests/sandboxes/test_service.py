"""The sandbox service against a real SQLite file and real sockets, with a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from doppel.dataplane import Dataplane
from doppel.errors import (
    InvalidRequestError,
    LimitExceededError,
    QuotaExceededError,
    SandboxFailedError,
    SandboxGoneError,
    SandboxNotFoundError,
)
from doppel.runtimes import InProcessRuntime
from doppel.sandboxes import FakeClock, SandboxService
from doppel.settings import Settings
from doppel.store import SandboxRecord, SandboxStatus, Store
from doppel.templates import TemplateRegistry
from tests.servers import credentials, port_is_closed

PORTS = (22000, 22999)  # below the kernel's ephemeral range: no client socket holds them


def _service(data_dir: Path, clock: FakeClock, **limits: Any) -> SandboxService:
    settings = Settings(data_dir=data_dir, port_range=PORTS, retention_seconds=600, **limits)
    return SandboxService(
        settings,
        Store(settings.sqlalchemy_url),
        InProcessRuntime(Dataplane()),
        TemplateRegistry(),
        clock=clock,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def service(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SandboxService]:
    svc = _service(tmp_path, clock, max_sandboxes_per_agent=10)
    await svc.recover()
    yield svc
    await svc.close()
    await svc.runtime.close()
    svc.store.close()


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(url)


def _slack(record: SandboxRecord) -> tuple[str, dict[str, str]]:
    """The sandbox's Slack Web API base URL, and the bearer token it was issued."""
    service = record.services["slack"]
    assert service.token is not None
    return f"http://127.0.0.1:{service.port}/api", credentials("slack", service.token)


async def test_created_services_answer_on_their_own_ports(service: SandboxService) -> None:
    record = await service.create(
        "agent",
        ["figma", "slack"],
        5,
        {
            "figma": {"mock_responses": {"/me": {"handle": "me"}}},
        },
    )
    ports = {s.port for s in record.services.values()}
    assert record.status is SandboxStatus.RUNNING and len(ports) == 2
    assert all(PORTS[0] <= p <= PORTS[1] for p in ports if p)
    response = await _get(f"http://127.0.0.1:{record.services['figma'].port}/v1/me")
    assert response.json() == {"handle": "me"}


async def test_expiry_with_the_injected_clock_frees_the_ports(
    service: SandboxService, clock: FakeClock
) -> None:
    record = await service.create("agent", ["figma"], 1)
    port = record.services["figma"].port
    assert port is not None
    clock.advance(seconds=59)
    assert await service.reap() == 0
    assert service.get(record.id).status is SandboxStatus.RUNNING
    clock.advance(seconds=1)
    assert await service.reap() == 1
    assert port_is_closed(port)
    assert port not in service.ports
    with pytest.raises(SandboxGoneError) as gone:
        service.get(record.id)
    assert gone.value.extra["reason"] == "expired"


async def test_reads_never_extend_and_extend_does(
    service: SandboxService, clock: FakeClock
) -> None:
    record = await service.create("agent", ["slack"], 2)
    for _ in range(3):
        service.get(record.id)
        service.find("agent")
    assert service.get(record.id).expires_at == record.expires_at
    extended = await service.extend(record.id, 3)
    assert (extended.expires_at - record.expires_at).total_seconds() == 180
    clock.advance(minutes=4)
    assert await service.reap() == 0
    clock.advance(minutes=1)
    assert await service.reap() == 1


async def test_extending_past_the_maximum_ttl_names_the_limit(
    tmp_path: Path, clock: FakeClock
) -> None:
    svc = _service(tmp_path, clock, max_ttl_minutes=10)
    record = await svc.create("agent", ["figma"], 8)
    with pytest.raises(LimitExceededError, match="max_ttl_minutes=10"):
        await svc.extend(record.id, 5)
    with pytest.raises(LimitExceededError, match="max_ttl_minutes=10"):
        await svc.create("agent", ["figma"], 11)
    await svc.close()
    await svc.runtime.close()


async def test_tombstones_answer_gone_then_not_found_after_retention(
    service: SandboxService, clock: FakeClock
) -> None:
    record = await service.create("agent", ["figma"], 5)
    await service.delete(record.id)
    with pytest.raises(SandboxGoneError) as gone:
        service.get(record.id)
    assert gone.value.extra["reason"] == "deleted"
    clock.advance(seconds=601)
    await service.reap()
    with pytest.raises(SandboxNotFoundError):
        service.get(record.id)


async def test_fifty_concurrent_creates_with_a_quota_of_ten_yield_exactly_ten(
    service: SandboxService,
) -> None:
    results = await asyncio.gather(
        *(service.create("racer", ["figma"], 5) for _ in range(50)), return_exceptions=True
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceededError)]
    assert len(created) == 10 and len(refused) == 40
    assert "max_sandboxes_per_agent=10" in refused[0].detail
    assert len(service.find("racer", "running")) == 10
    assert len({r.services["figma"].port for r in created}) == 10
    other = await service.create("someone-else", ["figma"], 5)
    assert other.status is SandboxStatus.RUNNING


@pytest.mark.parametrize(
    ("services", "configs", "pointer"),
    [
        pytest.param(["figma", "nope"], {}, "/required_services/1", id="unknown-service"),
        pytest.param(["figma"], {"slack": {}}, "/custom_configs/slack", id="config-not-requested"),
        pytest.param(
            ["slack"],
            {"slack": {"channels": "general"}},
            "/custom_configs/slack/channels",
            id="schema-type",
        ),
        pytest.param(
            ["figma"],
            {"figma": {"workspace": "x"}},
            "/custom_configs/figma/workspace",
            id="unknown-config-field",
        ),
        pytest.param(
            ["figma"],
            {"figma": {"mock_responses": {"me": {}}}},
            "/custom_configs/figma/mock_responses/me",
            id="override-key",
        ),
    ],
)
async def test_bad_input_names_the_field_and_starts_nothing(
    service: SandboxService, services: list[str], configs: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await service.create("agent", services, 5, configs)
    assert pointer in [e.pointer for e in caught.value.errors]
    assert service.find("agent") == [] and service.running == {}


async def test_unknown_service_lists_the_available_templates(service: SandboxService) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await service.create("agent", ["jira"], 5)
    assert "figma" in caught.value.errors[0].detail and "slack" in caught.value.errors[0].detail


async def test_a_service_that_cannot_start_fails_the_sandbox_and_leaves_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = Settings(data_dir=tmp_path, port_range=(22989, 22991))
    svc = SandboxService(
        settings,
        Store(settings.sqlalchemy_url),
        InProcessRuntime(Dataplane()),
        TemplateRegistry(),
        clock=clock,
    )
    with contextlib.ExitStack() as stack:
        for port in (22990, 22991):  # another process's listeners on two of the three ports
            sock = stack.enter_context(socket.socket())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past any TIME_WAIT
            sock.bind(("127.0.0.1", port))
            sock.listen()
        try:
            with pytest.raises(SandboxFailedError) as caught:
                await svc.create("agent", ["figma", "slack"], 5)
            sandbox_id = caught.value.extra["sandbox_id"]
            record = svc.get(sandbox_id)
            assert record.status is SandboxStatus.FAILED and "22991" in (record.reason or "")
            assert svc.running == {} and port_is_closed(22989)
            assert svc.store.live_ports() == set()
        finally:
            await svc.close()
            await svc.runtime.close()


async def test_jinja_in_config_values_comes_back_literally(service: SandboxService) -> None:
    record = await service.create(
        "agent",
        ["slack"],
        5,
        {"slack": {"team_name": "{{ 7*7 }}", "channels": ["{{ ''.__class__ }}"]}},
    )
    base, auth = _slack(record)
    async with httpx.AsyncClient(trust_env=False, headers=auth) as client:
        team = (await client.post(f"{base}/auth.test")).json()["team"]
        channels = (await client.post(f"{base}/conversations.list")).json()["channels"]
    assert team == "{{ 7*7 }}"
    assert channels[0]["name"] == "{{ ''.__class__ }}"


async def test_two_agents_never_see_each_others_configuration(service: SandboxService) -> None:
    first = await service.create("alice", ["slack"], 5, {"slack": {"team_name": "Alpha"}})
    second = await service.create("bob", ["slack"], 5, {"slack": {"team_name": "Beta"}})
    async with httpx.AsyncClient(trust_env=False) as client:
        teams = [
            (await client.post(f"{base}/auth.test", headers=auth)).json()["team"]
            for base, auth in map(_slack, (first, second))
        ]
    assert teams == ["Alpha", "Beta"]
    assert [r.id for r in service.find("alice")] == [first.id]


async def test_recovery_restores_live_sandboxes_and_reaps_expired_ones(
    tmp_path: Path, clock: FakeClock
) -> None:
    svc = _service(tmp_path, clock)
    short = await svc.create("agent", ["figma"], 1)
    long = await svc.create("agent", ["slack"], 10, {"slack": {"team_name": "Kept"}})
    await svc.close()  # the process "dies": nothing serves any more
    await svc.runtime.close()
    svc.store.close()
    assert port_is_closed(long.services["slack"].port or 0)

    clock.advance(minutes=2)
    revived = _service(tmp_path, clock)
    await revived.recover()
    try:
        with pytest.raises(SandboxGoneError):
            revived.get(short.id)
        restored = revived.get(long.id)
        assert restored.services["slack"].port == long.services["slack"].port
        response = await _get(f"http://127.0.0.1:{restored.services['slack'].port}/__doppel/health")
        assert response.status_code == 200
        assert restored.services["slack"].token == long.services["slack"].token
        base, auth = _slack(restored)
        async with httpx.AsyncClient(trust_env=False, headers=auth) as client:
            assert (await client.post(f"{base}/auth.test")).json()["team"] == "Kept"
    finally:
        await revived.close()
        await revived.runtime.close()


async def test_any_unicode_in_a_config_value_round_trips(service: SandboxService) -> None:
    name = "launch 🚀 \\ud83d \u2028 ünïcode"
    record = await service.create(
        "agent", ["slack"], 5, {"slack": {"team_name": name, "channels": ["🎉-party"]}}
    )
    base, auth = _slack(record)
    async with httpx.AsyncClient(trust_env=False, headers=auth) as client:
        assert (await client.post(f"{base}/auth.test")).json()["team"] == name
        channels = (await client.post(f"{base}/conversations.list")).json()["channels"]
    assert channels[0]["name"] == "🎉-party"
