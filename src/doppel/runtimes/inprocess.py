"""The default runtime: every instance is a listening socket in the control plane's own loop."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping
from typing import ClassVar

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

    async def start(self, spec: InstanceSpec) -> InstanceHandle:
        try:
            port = await self.listeners.open(spec.instance, spec.port)
        except PortInUseError as exc:
            raise RuntimeStartError(str(exc)) from exc
        self._labels[port] = dict(spec.labels)
        return InstanceHandle(port, self._labels[port])

    async def wait_ready(self, handle: InstanceHandle, *, timeout: float) -> None:
        """A real HTTP health check on the instance's own port, retried until `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        last = "no answer"
        while True:
            try:
                status = await asyncio.wait_for(self._probe(handle.port), timeout)
                if status == 200:
                    return
                last = f"health check answered {status}"
            except (OSError, TimeoutError, ValueError, IndexError) as exc:
                last = f"health check failed: {exc!r}"
            if asyncio.get_running_loop().time() >= deadline:
                raise RuntimeReadyError(f"port {handle.port}: {last}")
            await asyncio.sleep(0.01)

    async def _probe(self, port: int) -> int:
        # One HTTP/1.1 exchange on a fresh connection: what any client would see, without the
        # cost of a pooled client (this runs three times in every create).
        reader, writer = await asyncio.open_connection(self._host, port)
        try:
            writer.write(
                f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: {self._host}:{port}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            status_line = await reader.readline()
        finally:
            writer.close()
        return int(status_line.split()[1])

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
