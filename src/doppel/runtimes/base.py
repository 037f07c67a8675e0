"""The `Runtime` protocol: where service instances run. stop() and close() are idempotent."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

from doppel.dataplane import ServiceInstance
from doppel.errors import DoppelError

InstanceState = Literal["running", "stopped", "unknown"]


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """What to run: a prepared instance, the port it should own (0: any), and its labels."""

    instance: ServiceInstance
    port: int
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstanceHandle:
    port: int
    labels: Mapping[str, str]


class RuntimeStartError(DoppelError):
    status = 503
    slug = "runtime-start-failed"
    title = "A service instance could not be started"


class RuntimeReadyError(DoppelError):
    status = 503
    slug = "runtime-not-ready"
    title = "A service instance did not become healthy in time"


class Runtime(Protocol):
    """Runs service instances."""

    name: ClassVar[str]

    async def start(self, spec: InstanceSpec) -> InstanceHandle: ...
    async def wait_ready(self, handle: InstanceHandle, *, timeout: float) -> None: ...
    async def status(self, handle: InstanceHandle) -> InstanceState: ...
    async def stop(self, handle: InstanceHandle, *, timeout: float) -> None: ...
    async def list(self, labels: Mapping[str, str]) -> builtins.list[InstanceHandle]: ...
    async def close(self) -> None: ...
