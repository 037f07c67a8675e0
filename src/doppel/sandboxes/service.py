"""The one place that sequences store and runtime: create, extend, delete, expire, recover;
checkpoints, restores and forks of a sandbox's state."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from doppel.dataplane import ServeEvent, ServiceInstance
from doppel.engine import CompiledSpec
from doppel.engine.auth import issue_token
from doppel.engine.model import StateChange
from doppel.errors import (
    CheckpointExistsError,
    CheckpointNotFoundError,
    ConfigError,
    DoppelError,
    FieldError,
    InvalidRequestError,
    LimitExceededError,
    QuotaExceededError,
    SandboxFailedError,
    SandboxGoneError,
    SandboxNotFoundError,
)
from doppel.runtimes import InstanceHandle, InstanceSpec, Runtime, RuntimeStartError
from doppel.sandboxes.clock import Clock, SystemClock
from doppel.sandboxes.diffs import diff
from doppel.sandboxes.observer import NoObserver, Observer
from doppel.sandboxes.ports import PortAllocator
from doppel.sandboxes.states import check_transition
from doppel.settings import Settings
from doppel.specs import SpecCache
from doppel.store import (
    CheckpointRecord,
    SandboxRecord,
    SandboxStatus,
    ServiceRecord,
    Store,
    Usage,
)
from doppel.templates import Overlay, Template, TemplateRegistry

log = logging.getLogger("doppel.sandboxes")
_BIND_ATTEMPTS = 50
_OVERLAY_CACHE = 512


@dataclass
class _Running:
    """What this process runs for one live sandbox."""

    handles: dict[str, InstanceHandle] = field(default_factory=dict)
    instances: dict[str, ServiceInstance] = field(default_factory=dict)
    overlay_bytes: dict[str, int] = field(default_factory=dict)  # each service's, as rendered


class SandboxService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        runtime: Runtime,
        templates: TemplateRegistry,
        *,
        clock: Clock | None = None,
        cache: SpecCache | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.runtime = runtime
        self.templates = templates
        self.clock = clock or SystemClock()
        self.cache = cache or SpecCache()
        self.observer: Observer = observer or NoObserver()
        self.ports = PortAllocator(*settings.port_range, taken=store.live_ports())
        self.running: dict[str, _Running] = {}
        self._unflushed: list[tuple[str, str, dict[str, Any]]] = []  # journal events to write
        # (sandbox, service) → [answers, errors, last answer's time] not yet written
        self._tally: dict[tuple[str, str], tuple[int, int, datetime]] = {}
        self._overlays: dict[
            tuple[int, int, str, date], tuple[Template, CompiledSpec, Overlay]
        ] = {}

    # -- create -----------------------------------------------------------------------------

    async def create(
        self,
        agent_id: str,
        services: Sequence[str],
        ttl_minutes: float | None = None,
        custom_configs: Mapping[str, Any] | None = None,
    ) -> SandboxRecord:
        """Validate, check the quota, start every service, probe it, persist; all or nothing."""
        ttl = self.settings.default_ttl_minutes if ttl_minutes is None else ttl_minutes
        configs = dict(custom_configs or {})
        self._check_request(services, ttl, configs)
        await self._compiled(services)
        now = self.clock.now()
        record = SandboxRecord(
            id=secrets.token_hex(8),
            agent_id=agent_id,
            status=SandboxStatus.CREATING,
            created_at=now,
            expires_at=now + timedelta(minutes=ttl),
            ttl_minutes=ttl,
            seed=secrets.randbits(31),
            services={},
        )
        instances, overlays = self._prepare(record, services, configs)
        if not self.store.reserve(record, self.settings.max_sandboxes_per_agent):
            limit = self.settings.max_sandboxes_per_agent
            raise QuotaExceededError(
                f"agent {agent_id!r} already has {limit} live sandboxes "
                f"(limit max_sandboxes_per_agent={limit}); delete one or wait for it to expire"
            )
        try:
            await self._start(record, instances, overlays)
        except DoppelError as exc:
            await self._fail(record, str(exc.detail))
            raise SandboxFailedError(
                f"sandbox {record.id} failed: {exc.detail}",
                sandbox_id=record.id,
                reason=exc.detail,
            ) from exc
        except BaseException:
            await self._fail(record, "creation was interrupted")
            raise
        check_transition(record.status, SandboxStatus.RUNNING)
        record.status = SandboxStatus.RUNNING
        self.store.save(record)
        log.info(
            "sandbox %s created for agent %s: %s",
            record.id,
            agent_id,
            ", ".join(services),
            extra=_about(record, services=list(services)),
        )
        return record

    def _check_request(
        self, services: Sequence[str], ttl: float, configs: Mapping[str, Any]
    ) -> None:
        errors: list[FieldError] = []
        available = self.templates.names()
        for i, name in enumerate(services):
            if name not in self.templates:
                errors.append(
                    FieldError(
                        f"/required_services/{i}",
                        f"unknown service {name!r}; available templates: {', '.join(available)}",
                    )
                )
        for name in configs:
            if name not in services:
                errors.append(
                    FieldError(f"/custom_configs/{name}", f"{name!r} is not in required_services")
                )
        if errors:
            raise InvalidRequestError("the sandbox request is invalid", errors=errors)
        limits = self.settings
        if len(services) > limits.max_services_per_sandbox:
            raise LimitExceededError(
                f"{len(services)} services requested; limit max_services_per_sandbox="
                f"{limits.max_services_per_sandbox}",
                pointer="/required_services",
            )
        if ttl > limits.max_ttl_minutes:
            raise LimitExceededError(
                f"ttl_minutes={ttl:g} is above the limit "
                f"max_ttl_minutes={limits.max_ttl_minutes:g}",
                pointer="/ttl_minutes",
            )
        for name, config in configs.items():
            overrides = config.get("mock_responses") if isinstance(config, Mapping) else None
            if isinstance(overrides, Mapping) and len(overrides) > limits.max_overrides:
                raise LimitExceededError(
                    f"{len(overrides)} mock_responses for {name}; limit max_overrides="
                    f"{limits.max_overrides}",
                    pointer=f"/custom_configs/{name}/mock_responses",
                )

    async def _compiled(self, services: Sequence[str]) -> None:
        """Compile off the event loop any spec the cache no longer holds (a large registered
        one can take a second), so other requests keep being answered meanwhile."""
        for name in services:
            template = self.templates.get(name)
            if template.digest not in self.cache:
                await asyncio.to_thread(template.compile, self.cache)

    def _prepare(
        self, record: SandboxRecord, services: Sequence[str], configs: Mapping[str, Any]
    ) -> tuple[dict[str, ServiceInstance], dict[str, Overlay]]:
        """Validate and render every config before anything starts: bad input starts nothing.
        Each service is issued its own token, in its provider's format."""
        instances: dict[str, ServiceInstance] = {}
        overlays: dict[str, Overlay] = {}
        errors: list[FieldError] = []
        for name in services:
            pointer = f"/custom_configs/{name}"
            template = self.templates.get(name)
            token = issue_token(template.compile(self.cache), secrets.token_bytes(64))
            try:
                resolved = template.resolve_config(configs.get(name, {}), pointer)
                instances[name], overlays[name] = self._instance(record, name, resolved, token)
            except ConfigError as exc:
                errors.extend(exc.errors or [FieldError(pointer, exc.detail)])
                continue
            record.services[name] = ServiceRecord(name, template.name, config=resolved, token=token)
        if errors:
            raise InvalidRequestError("a custom_config is invalid", errors=errors)
        return instances, overlays

    def _instance(
        self, record: SandboxRecord, name: str, config: Mapping[str, Any], token: str | None
    ) -> tuple[ServiceInstance, Overlay]:
        template = self.templates.get(name)
        compiled = template.compile(self.cache)
        overlay = self._overlay(template, compiled, config, record.created_at.date())
        instance = ServiceInstance.of(
            name,
            compiled,
            overlay.stubs,
            config,
            seed=record.seed,
            started_at=record.created_at.replace(microsecond=0),
            sandbox_id=record.id,
            world=lambda: overlay.world,
            tokens=frozenset({token}) if token else frozenset(),
        )
        instance.on_change = functools.partial(self._persist_state, record.id, name)
        instance.on_event = functools.partial(self._journal_event, record.id, name)
        instance.on_served = self.observer.served(template.name, record.id)
        return instance, overlay

    def _persist_state(self, sandbox_id: str, service: str, changes: Sequence[StateChange]) -> None:
        """Keep what the agent stored, so a restart brings it back; a failed write costs the
        persistence of this change (logged), never the answer the agent already has."""
        try:
            self.store.save_state(
                sandbox_id, service, [(c.collection, c.key, c.value) for c in changes]
            )
        except Exception:
            log.exception(
                "could not persist state of %s/%s",
                sandbox_id,
                service,
                extra={"sandbox_id": sandbox_id, "service": service},
            )

    def _overlay(
        self, template: Template, compiled: CompiledSpec, config: Mapping[str, Any], day: date
    ) -> Overlay:
        """The rendered overlay (stubs and world), shared by every sandbox with the same
        template and config made the same day: it is immutable, so a thousand identical
        scenarios cost one."""
        key = (id(template), id(compiled), json.dumps(config, sort_keys=True, default=str), day)
        cached = self._overlays.get(key)
        if cached is None:
            overlay = template.overlay(
                compiled, config, f"/custom_configs/{template.name}", day=day
            )
            if len(self._overlays) >= _OVERLAY_CACHE:
                self._overlays.pop(next(iter(self._overlays)))
            # The template and spec ride along so the ids in the key cannot be reused.
            cached = self._overlays[key] = (template, compiled, overlay)
        return cached[2]

    async def _start(
        self,
        record: SandboxRecord,
        instances: Mapping[str, ServiceInstance],
        overlays: Mapping[str, Overlay],
        *,
        fixed: bool = False,
    ) -> None:
        running = self.running.setdefault(record.id, _Running())
        for name, instance in instances.items():
            service = record.services[name]
            handle = await self._bind(record, instance, service.port if fixed else None)
            running.handles[name] = handle
            running.instances[name] = instance
            running.overlay_bytes[name] = overlays[name].size
            service.port = handle.port
        timeout = self.settings.probe_timeout
        await asyncio.gather(
            *(self.runtime.wait_ready(h, timeout=timeout) for h in running.handles.values())
        )
        for name in instances:
            record.services[name].status = "running"

    async def _bind(
        self, record: SandboxRecord, instance: ServiceInstance, port: int | None
    ) -> InstanceHandle:
        labels = {"doppel.sandbox": record.id, "doppel.service": instance.name}
        if port is not None:
            self.ports.claim(port)
            return await self.runtime.start(InstanceSpec(instance, port, labels))
        last: Exception | None = None
        for attempt, candidate in enumerate(self.ports.candidates()):
            if attempt >= _BIND_ATTEMPTS:
                break
            self.ports.claim(candidate)
            try:
                return await self.runtime.start(InstanceSpec(instance, candidate, labels))
            except RuntimeStartError as exc:  # taken by another process: try the next one
                last = exc
        raise RuntimeStartError(f"no bindable port after {_BIND_ATTEMPTS} tries: {last}")

    async def _fail(self, record: SandboxRecord, reason: str) -> None:
        await self._stop_instances(record)
        record.status = SandboxStatus.FAILED
        record.reason = reason
        record.ended_at = self.clock.now()
        for service in record.services.values():
            if service.status != "running":
                service.status, service.reason = "failed", reason
            else:
                service.status = "stopped"
        self.store.save(record)
        log.warning("sandbox %s failed: %s", record.id, reason, extra=_about(record, reason=reason))

    # -- read -------------------------------------------------------------------------------

    def get(self, sandbox_id: str) -> SandboxRecord:
        record = self.store.get(sandbox_id)
        if record is None:
            raise SandboxNotFoundError(f"no sandbox {sandbox_id!r}")
        if record.status in (SandboxStatus.EXPIRED, SandboxStatus.DELETED):
            raise SandboxGoneError(
                f"sandbox {sandbox_id} was {record.status.value}",
                reason=record.status.value,
                sandbox_id=sandbox_id,
            )
        return record

    def find(
        self,
        agent_id: str | None = None,
        status: str | None = None,
        *,
        service: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[SandboxRecord]:
        """Newest first; `service` keeps those holding a service of that name or template."""
        statuses = [status] if status else None
        return self.store.find(
            agent_id=agent_id, statuses=statuses, service=service, offset=offset, limit=limit
        )

    def page(
        self,
        limit: int,
        after: tuple[datetime, str] | None = None,
        *,
        agent_id: str | None = None,
        status: str | None = None,
    ) -> tuple[list[SandboxRecord], bool]:
        """One page, newest first by (created_at, id), past `after`; and whether more follow."""
        statuses = [status] if status else None
        return self.store.page(limit, after, agent_id=agent_id, statuses=statuses)

    def count(
        self, agent_id: str | None = None, status: str | None = None, *, service: str | None = None
    ) -> int:
        statuses = [status] if status else None
        return self.store.count(agent_id=agent_id, statuses=statuses, service=service)

    def instance(self, sandbox_id: str, service: str) -> ServiceInstance | None:
        running = self.running.get(sandbox_id)
        return running.instances.get(service) if running else None

    def journal(self, sandbox_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every exchange each service served, oldest first; kept after the sandbox ends (and
        across restarts) until its tombstone is purged."""
        record = self.store.get(sandbox_id)
        if record is None:
            raise SandboxNotFoundError(f"no sandbox {sandbox_id!r}")
        self.flush_journal()
        events = self.store.load_events(sandbox_id)
        return {name: events.get(name, []) for name in record.services}

    def journal_since(
        self, sandbox_id: str, after: int = 0
    ) -> tuple[list[tuple[int, str, dict[str, Any]]], bool]:
        """(entry id, service, entry) of the entries served after entry `after`, oldest first,
        and whether entry `after` is gone (a reset, or trimmed): then every entry is returned,
        for the reader to start again."""
        if self.store.get(sandbox_id) is None:
            raise SandboxNotFoundError(f"no sandbox {sandbox_id!r}")
        self.flush_journal()
        cleared = after > 0 and not self.store.has_event(sandbox_id, after)
        return self.store.events_after(sandbox_id, 0 if cleared else after), cleared

    @property
    def journal_backlog(self) -> int:
        """Journal events served but not yet written to the store."""
        return len(self._unflushed)

    def flush_journal(self) -> None:
        """Write the journal events served since the last flush (the reaper calls this)."""
        if not self._unflushed and not self._tally:
            return
        pending, self._unflushed = self._unflushed, []
        tally, self._tally = self._tally, {}
        try:
            self.store.save_events(pending, keep=self.settings.journal_limit, tally=tally)
        except Exception:
            log.exception("could not write %d journal events", len(pending))

    def _journal_event(self, sandbox_id: str, service: str, event: ServeEvent) -> None:
        self._unflushed.append((sandbox_id, service, event.as_dict()))
        served, failed, _ = self._tally.get((sandbox_id, service), (0, 0, event.at))
        self._tally[sandbox_id, service] = (served + 1, failed + (event.status >= 400), event.at)

    def _journal_note(self, sandbox_id: str, service: str, path: str, reason: str) -> None:
        """A journal entry for what the control plane did to a service's state (a restore,
        a fork): not an answer the service served, so no usage counts it."""
        event = ServeEvent(
            at=self.clock.now(),
            method="POST",
            path=path,
            query="",
            status=200,
            source="control-plane",
            operation_id=None,
            reason=reason,
            duration_ms=0.0,
            request_body="",
            response_body="",
        )
        self._unflushed.append((sandbox_id, service, event.as_dict()))

    def usage(self, records: Sequence[SandboxRecord]) -> dict[str, Usage]:
        """Each sandbox's usage: what the store counted (once the journal is written) and the
        overlays its running services hold."""
        self.flush_journal()
        found = self.store.usage([r.id for r in records])
        for sandbox_id, usage in found.items():
            running = self.running.get(sandbox_id)
            usage.bytes["overlays"] = sum(running.overlay_bytes.values()) if running else 0
        return found

    def state(self, sandbox_id: str) -> dict[str, dict[str, dict[str, Any]]]:
        """What the agent's requests created, changed and deleted, per service."""
        running = self._live(sandbox_id)
        return {name: instance.state for name, instance in running.instances.items()}

    def diff(self, sandbox_id: str, since: str | None = None) -> dict[str, Any]:
        """What each service created, changed and deleted since the sandbox was created (over
        its template's world) or since checkpoint `since`."""
        running = self._live(sandbox_id)
        base = self._checkpoint(sandbox_id, since, "/since").state if since else {}
        instances = running.instances
        found = diff(
            {name: instance.world for name, instance in instances.items()},
            {name: instance.spec.resources.kinds.keys() for name, instance in instances.items()},
            base,
            {name: instance.state for name, instance in instances.items()},
        )
        return {"sandbox_id": sandbox_id, "since": since or "creation", **found}

    def checkpoint(self, sandbox_id: str, name: str | None = None) -> CheckpointRecord:
        """Name the current state of every service, to diff against or return to later."""
        running = self._live(sandbox_id)
        if name is None:
            taken = {c.name for c in self.store.checkpoints(sandbox_id)}
            number = len(taken) + 1
            while f"checkpoint-{number}" in taken:
                number += 1
            name = f"checkpoint-{number}"
        record = CheckpointRecord(sandbox_id, name, self.clock.now(), _snapshot(running))
        if not self.store.save_checkpoint(record):
            raise CheckpointExistsError(
                f"sandbox {sandbox_id} already has a checkpoint named {name!r}", pointer="/name"
            )
        return record

    def checkpoints(self, sandbox_id: str) -> list[CheckpointRecord]:
        """The sandbox's checkpoints, oldest first (without their state)."""
        self._live(sandbox_id)
        return self.store.checkpoints(sandbox_id)

    def restore(self, sandbox_id: str, checkpoint: str) -> SandboxRecord:
        """Every service's state back to the checkpoint's, persisted; the journal is kept
        and says so."""
        running = self._live(sandbox_id)
        saved = self._checkpoint(sandbox_id, checkpoint, "/checkpoint")
        self._load_state(sandbox_id, running, saved.state)
        for name in running.instances:
            self._journal_note(
                sandbox_id,
                name,
                f"/v1/sandboxes/{sandbox_id}/restore",
                f"state restored to checkpoint {checkpoint!r} of {_when(saved.created_at)}",
            )
        return self.get(sandbox_id)

    async def fork(
        self, sandbox_id: str, agent_id: str | None = None, ttl_minutes: float | None = None
    ) -> SandboxRecord:
        """A new sandbox (new id and URLs, the agent's quota applies) with the source's
        templates, configs and, from then on separately, its state."""
        source = self.get(sandbox_id)
        state = _snapshot(self._live(sandbox_id))  # the state when the fork was asked for
        ttl = min(source.ttl_minutes, self.settings.max_ttl_minutes)
        record = await self.create(
            agent_id or source.agent_id,
            list(source.services),
            ttl if ttl_minutes is None else ttl_minutes,
            {name: service.config for name, service in source.services.items()},
        )
        self._load_state(record.id, self.running[record.id], state)
        for name in record.services:
            path = f"/v1/sandboxes/{sandbox_id}/fork"
            self._journal_note(record.id, name, path, f"forked from sandbox {sandbox_id}")
        return record

    def _checkpoint(self, sandbox_id: str, name: str, pointer: str) -> CheckpointRecord:
        found = self.store.checkpoint(sandbox_id, name)
        if found is None:
            raise CheckpointNotFoundError(
                f"sandbox {sandbox_id} has no checkpoint named {name!r}", pointer=pointer
            )
        return found

    def _load_state(
        self, sandbox_id: str, running: _Running, state: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Make `state` each service's whole state, in memory and in the store."""
        for name, instance in running.instances.items():
            instance.state.clear()
            instance.state.update(_copy(state.get(name, {})))
        self.store.replace_state(
            sandbox_id, {name: i.state for name, i in running.instances.items()}
        )

    # -- change -----------------------------------------------------------------------------

    def reset(self, sandbox_id: str) -> SandboxRecord:
        """Back to the template's answers: every service forgets its state and journal."""
        running = self._live(sandbox_id)
        for instance in running.instances.values():
            instance.reset()
        self.flush_journal()
        self.store.clear_state(sandbox_id)
        self.store.clear_events(sandbox_id)
        record = self.get(sandbox_id)
        log.info("sandbox %s reset", sandbox_id, extra=_about(record))
        return record

    def _live(self, sandbox_id: str) -> _Running:
        self.get(sandbox_id)  # 404 or 410 with the reason
        running = self.running.get(sandbox_id)
        if running is None:
            raise SandboxGoneError(f"sandbox {sandbox_id} is not running", sandbox_id=sandbox_id)
        return running

    async def extend(self, sandbox_id: str, minutes: float) -> SandboxRecord:
        """Push `expires_at` later by `minutes`; the remaining time stays within max TTL."""
        record = self.get(sandbox_id)
        if record.status is not SandboxStatus.RUNNING:
            raise SandboxGoneError(f"sandbox {sandbox_id} is {record.status.value}")
        now = self.clock.now()
        expires = max(record.expires_at, now) + timedelta(minutes=minutes)
        remaining = (expires - now).total_seconds() / 60
        if remaining > self.settings.max_ttl_minutes:
            raise LimitExceededError(
                f"extending by {minutes:g} min leaves {remaining:g} min; limit max_ttl_minutes="
                f"{self.settings.max_ttl_minutes:g}",
                pointer="/ttl_minutes",
            )
        record.expires_at = expires
        record.ttl_minutes = round((expires - record.created_at).total_seconds() / 60, 6)
        self.store.save(record)
        log.info(
            "sandbox %s extended by %g min, to %s",
            sandbox_id,
            minutes,
            expires.isoformat(),
            extra=_about(record, expires_at=expires.isoformat()),
        )
        return record

    async def delete(self, sandbox_id: str) -> SandboxRecord:
        record = self.get(sandbox_id)
        if record.status is SandboxStatus.FAILED:
            return record
        await self._end(record, SandboxStatus.DELETED)
        return record

    async def _end(self, record: SandboxRecord, status: SandboxStatus) -> None:
        check_transition(record.status, status)
        await self._stop_instances(record)
        record.status = status
        record.reason = status.value
        record.ended_at = self.clock.now()
        for service in record.services.values():
            service.status = "stopped"
        self.store.save(record)
        self.observer.ended(record.id, status)
        log.info("sandbox %s %s", record.id, status.value, extra=_about(record))

    async def _stop_instances(self, record: SandboxRecord) -> None:
        running = self.running.pop(record.id, None)
        handles = running.handles.values() if running else ()
        for handle in handles:
            with contextlib.suppress(Exception):
                await self.runtime.stop(handle, timeout=self.settings.stop_timeout)
        for service in record.services.values():
            self.ports.release(service.port)

    # -- time -------------------------------------------------------------------------------

    async def reap(self) -> int:
        """Expire every running sandbox whose time is up and forget old tombstones."""
        now = self.clock.now()
        expired = 0
        for sandbox_id in self.store.due(now):
            record = self.store.get(sandbox_id)
            if record is None or record.status is not SandboxStatus.RUNNING:
                continue
            record.status = SandboxStatus.EXPIRING
            await self._end(record, SandboxStatus.EXPIRED)
            self.observer.reaped((now - record.expires_at).total_seconds())
            expired += 1
        self.flush_journal()
        self.store.purge(now - timedelta(seconds=self.settings.retention_seconds))
        return expired

    async def recover(self) -> None:
        """After a restart: live sandboxes back on their ports, the expired ones reaped."""
        now = self.clock.now()
        for record in self.store.live():
            if record.status is SandboxStatus.CREATING:
                await self._fail(record, "the control plane restarted during creation")
            elif record.expires_at <= now:
                record.status = SandboxStatus.EXPIRING
                await self._end(record, SandboxStatus.EXPIRED)
            else:
                await self._restore(record)
        owned = {r.id for r in self.store.live()}
        for handle in await self.runtime.list({}):
            if handle.labels.get("doppel.sandbox") not in owned:
                await self.runtime.stop(handle, timeout=self.settings.stop_timeout)

    async def _restore(self, record: SandboxRecord) -> None:
        try:
            made = {
                name: self._instance(record, name, service.config, service.token)
                for name, service in record.services.items()
            }
            instances = {name: instance for name, (instance, _) in made.items()}
            for name, state in self.store.load_state(record.id).items():
                if name in instances:
                    instances[name].state.update(state)
            overlays = {name: overlay for name, (_, overlay) in made.items()}
            await self._start(record, instances, overlays, fixed=True)
        except DoppelError as exc:
            await self._fail(record, f"not restored after restart: {exc.detail}")
            return
        self.store.save(record)
        log.info("sandbox %s restored on its ports", record.id, extra=_about(record))

    async def close(self) -> None:
        """Stop serving (the records stay: a restart brings the sandboxes back)."""
        self.flush_journal()
        for sandbox_id in list(self.running):
            running = self.running.pop(sandbox_id)
            for handle in running.handles.values():
                with contextlib.suppress(Exception):
                    await self.runtime.stop(handle, timeout=self.settings.stop_timeout)


def _about(record: SandboxRecord, **more: Any) -> dict[str, Any]:
    """The fields a log line about `record` carries (in `--log-format json`, as members)."""
    return {"sandbox_id": record.id, "agent_id": record.agent_id, **more}


def _snapshot(running: _Running) -> dict[str, dict[str, dict[str, Any]]]:
    """A copy of every service's state that later writes cannot reach."""
    copied: dict[str, dict[str, dict[str, Any]]] = _copy(
        {name: instance.state for name, instance in running.instances.items()}
    )
    return copied


def _copy(value: Any) -> Any:
    # State is JSON: a JSON round trip is the deep copy that cannot alias.
    return json.loads(json.dumps(value))


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
