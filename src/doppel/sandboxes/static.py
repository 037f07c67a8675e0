"""Static mode, the old contract behind the feature flag: one always-on instance per template,
shared by every agent, each on a fixed port (4010, 4011, 4012… by default)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from doppel.dataplane import ServiceInstance
from doppel.errors import StaticStartError
from doppel.runtimes import InstanceHandle, InstanceSpec, Runtime, RuntimeStartError
from doppel.settings import Settings
from doppel.specs import SpecCache
from doppel.templates import TemplateRegistry

STATIC_ID = "static"  # the id the shared sandbox answers with; dynamic ids are 16 hex digits
DEFAULT_BASE_PORT = 4010
_ITEM = re.compile(r"^(?:(?P<name>[a-z][a-z0-9_-]*)=)?(?P<port>\d{1,5})$")


def static_ports(available: Sequence[str], services: str, ports: str) -> dict[str, int]:
    """Which templates static mode serves and on which port, in template order.

    `services` is a comma-separated list of template names (empty: all of `available`);
    `ports` holds `name=port` items and at most one bare port, the base from which the
    services not named count up (4010 when absent), skipping ports already given.
    """
    chosen = [s.strip() for s in services.split(",") if s.strip()] or list(available)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise StaticStartError(
            f"DOPPEL_STATIC_SERVICES names {', '.join(map(repr, unknown))}, which no template "
            f"provides; available: {', '.join(available)}"
        )
    if len(set(chosen)) != len(chosen):
        raise StaticStartError("DOPPEL_STATIC_SERVICES names a service more than once")
    named: dict[str, int] = {}
    base: int | None = None
    for item in (i.strip() for i in ports.split(",") if i.strip()):
        match = _ITEM.match(item)
        port = int(match["port"]) if match else 0
        if match is None or not 0 < port <= 65535:
            raise StaticStartError(
                f"DOPPEL_STATIC_PORTS item {item!r} is neither NAME=PORT nor a base PORT "
                "(1-65535), e.g. figma=4010,slack=4011 or 4010"
            )
        if match["name"] is None:
            if base is not None:
                raise StaticStartError("DOPPEL_STATIC_PORTS holds more than one base port")
            base = port
        elif match["name"] not in chosen:
            raise StaticStartError(
                f"DOPPEL_STATIC_PORTS names {match['name']!r}, which static mode does not "
                f"serve; it serves: {', '.join(chosen)}"
            )
        else:
            named[match["name"]] = port
    taken = list(named.values())
    if len(set(taken)) != len(taken):
        raise StaticStartError(f"DOPPEL_STATIC_PORTS gives one port to two services: {ports}")
    result: dict[str, int] = {}
    next_port = DEFAULT_BASE_PORT if base is None else base
    for name in chosen:
        if name in named:
            result[name] = named[name]
            continue
        while next_port in named.values():
            next_port += 1
        if next_port > 65535:
            raise StaticStartError(f"no port left above the base for static service {name!r}")
        result[name] = next_port
        next_port += 1
    return result


@dataclass(frozen=True, slots=True)
class StaticService:
    name: str
    port: int
    instance: ServiceInstance


class StaticSandboxes:
    """The shared instances of static mode: started once at start-up, stopped at shutdown."""

    def __init__(
        self, settings: Settings, templates: TemplateRegistry, runtime: Runtime, cache: SpecCache
    ) -> None:
        self.settings = settings
        self.templates = templates
        self.runtime = runtime
        self.cache = cache
        self.services: dict[str, StaticService] = {}
        self.started_at = datetime.now(UTC).replace(microsecond=0)
        self._handles: list[InstanceHandle] = []

    async def start(self) -> None:
        """Bind every static service on its fixed port and probe it; all or nothing: a port
        that cannot be bound is an error naming the port and the service."""
        plan = static_ports(
            self.templates.names(), self.settings.static_services, self.settings.static_ports
        )
        try:
            for name, port in plan.items():
                instance = self._instance(name)
                try:
                    handle = await self.runtime.start(
                        InstanceSpec(instance, port, {"doppel.static": name})
                    )
                except RuntimeStartError as exc:
                    raise StaticStartError(
                        f"static service {name!r} cannot bind its port {port}: {exc.detail}; "
                        f"free the port or choose another with DOPPEL_STATIC_PORTS={name}=PORT",
                        service=name,
                        port=port,
                    ) from exc
                self._handles.append(handle)
                self.services[name] = StaticService(name, handle.port, instance)
            for handle in self._handles:
                await self.runtime.wait_ready(handle, timeout=self.settings.probe_timeout)
        except BaseException:
            await self.close()
            raise

    def _instance(self, name: str) -> ServiceInstance:
        template = self.templates.get(name)
        compiled = template.compile(self.cache)
        config = template.resolve_config({})
        overlay = template.overlay(compiled, config, day=self.started_at.date())
        return ServiceInstance.of(
            name,
            compiled,
            overlay.stubs,
            config,
            seed=0,
            started_at=self.started_at,
            sandbox_id=STATIC_ID,
            world=lambda: overlay.world,
        )

    def instance(self, name: str) -> ServiceInstance | None:
        service = self.services.get(name)
        return service.instance if service else None

    @property
    def ports(self) -> Mapping[str, int]:
        return {name: s.port for name, s in self.services.items()}

    async def close(self) -> None:
        handles, self._handles = self._handles, []
        self.services.clear()
        for handle in handles:
            with contextlib.suppress(Exception):
                await self.runtime.stop(handle, timeout=self.settings.stop_timeout)
