"""The default runtime: every instance is a listening socket in the control plane's own loop."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping
from typing import ClassVar

import httpx

from doppel.dataplane import HEALTH_PATH, Dataplane, Listeners, PortInUseError
from doppel.runtimes.base import (
    InstanceHandle,
    InstanceSpec,
    InstanceState,
    RuntimeReadyError,
    RuntimeStartError,
)


class InProcessRuntime:
    name: ClassVar[str] = "inprocess"

    def __init__(self, dataplane: Dataplane, host: str = "127.0.0.1") -> None:
        self.dataplane = dataplane
        self.listeners = Listeners(dataplane, host)
        self._host = host
        self._labels: dict[int, Mapping[str, str]] = {}
        self._client = httpx.AsyncClient(trust_env=False, timeout=5.0)

    async def start(self, spec: InstanceSpec) -> InstanceHandle:
        try:
            port = await self.listeners.open(spec.instance, spec.port)
        except PortInUseError as exc:
            raise RuntimeStartError(str(exc)) from exc
        self._labels[port] = dict(spec.labels)
        return InstanceHandle(port, self._labels[port])

    async def wait_ready(self, handle: InstanceHandle, *, timeout: float) -> None:
        """A real HTTP health check on the instance's own port."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        url = f"http://{host}:{handle.port}{HEALTH_PATH}"
        deadline = asyncio.get_running_loop().time() + timeout
        last = "no answer"
        while asyncio.get_running_loop().time() < deadline:
            try:
                response = await self._client.get(url, timeout=timeout)
                if response.status_code == 200:
                    return
                last = f"health check answered {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"health check failed: {exc!r}"
            await asyncio.sleep(0.01)
        raise RuntimeReadyError(f"port {handle.port}: {last}")

    async def status(self, handle: InstanceHandle) -> InstanceState:
        return "running" if handle.port in self.dataplane.by_port else "stopped"

    async def stop(self, handle: InstanceHandle, *, timeout: float) -> None:
        self._labels.pop(handle.port, None)
        await self.listeners.close(handle.port)

    async def list(self, labels: Mapping[str, str]) -> builtins.list[InstanceHandle]:
        return [
            InstanceHandle(port, own)
            for port, own in self._labels.items()
            if all(own.get(k) == v for k, v in labels.items())
        ]

    async def close(self) -> None:
        await self.listeners.close_all()
        self._labels.clear()
        await self._client.aclose()
