"""A service instance: one template (or spec) serving inside one sandbox, with its journal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from doppel.engine import CompiledSpec, MatchReport, MockRequest, MockResponse, StubIndex
from doppel.engine.context import AuthMode
from doppel.engine.model import NearMiss, StateChange
from doppel.engine.world import EMPTY_WORLD, World


@dataclass(frozen=True, slots=True)
class ServeEvent:
    """One journal entry: the request, what answered it and why, and how long it took."""

    at: datetime
    method: str
    path: str
    query: str
    status: int
    source: str
    operation_id: str | None
    reason: str
    duration_ms: float
    request_body: str
    response_body: str
    notes: tuple[str, ...] = ()
    changes: tuple[StateChange, ...] = ()
    path_template: str | None = None
    near_misses: tuple[NearMiss, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "source": self.source,
            "operation_id": self.operation_id,
            "path_template": self.path_template,
            "reason": self.reason,
            "duration_ms": round(self.duration_ms, 3),
            "request_body": self.request_body,
            "response_body": self.response_body,
            "notes": list(self.notes),
            "changes": [c.as_dict() for c in self.changes],
            "near_misses": [
                {"method": m.method, "path": m.path, "reason": m.reason} for m in self.near_misses
            ],
        }


_BODY_PREVIEW = 4096
# Told of every answer as (operationId or None, status, seconds): the control plane's
# request metrics. Plain arguments, so counting allocates nothing per request.
ServedHook = Callable[[str | None, int, float], None]
SWITCHES = ("validate_requests", "enforce_auth", "closed_world", "auth")
AUTH_MODES = ("off", "any", "issued")


@dataclass
class ServiceInstance:
    """Everything the dataplane needs to answer for one (sandbox, service)."""

    name: str
    spec: CompiledSpec
    stubs: StubIndex
    seed: int
    started_at: datetime
    sandbox_id: str = ""
    validate_requests: bool = False
    closed_world: bool = False
    auth: AuthMode = "off"
    # What the template's fixtures put here (shared, immutable), built when first needed.
    world_of: Callable[[], World] = lambda: EMPTY_WORLD
    tokens: frozenset[str] = frozenset()  # issued to this sandbox for this service
    requests_served: int = 0
    # {collection path: {key: resource, or None once deleted}}: what the agent's writes made.
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Told of every state change once applied, and of every exchange: the control plane
    # persists both (the journal is kept there, not here).
    on_change: Callable[[tuple[StateChange, ...]], None] | None = None
    on_event: Callable[[ServeEvent], None] | None = None
    on_served: ServedHook | None = None

    @classmethod
    def of(
        cls,
        name: str,
        spec: CompiledSpec,
        stubs: StubIndex,
        config: Mapping[str, Any],
        *,
        seed: int,
        started_at: datetime,
        sandbox_id: str = "",
        world: Callable[[], World] = lambda: EMPTY_WORLD,
        tokens: frozenset[str] = frozenset(),
    ) -> ServiceInstance:
        """An instance whose switches come from its config, else from the template's
        declarations: `auth` is `any` where the template declares how tokens travel (or
        asks to enforce its security schemes), else `off`."""
        return cls(
            name,
            spec,
            stubs,
            seed,
            started_at,
            sandbox_id,
            validate_requests=bool(
                config.get("validate_requests", spec.switches.get("validate_requests", False))
            ),
            closed_world=bool(config.get("closed_world", spec.switches.get("closed_world", False))),
            auth=auth_mode(spec, config),
            world_of=world,
            tokens=tokens,
        )

    @property
    def world(self) -> World:
        return self.world_of()

    @property
    def enforce_auth(self) -> bool:
        return self.auth != "off"

    def reset(self) -> None:
        """Back to the template's answers: forget every state change."""
        self.state.clear()

    def record(
        self,
        at: datetime,
        request: MockRequest,
        response: MockResponse,
        report: MatchReport,
        duration_ms: float,
    ) -> None:
        self.requests_served += 1
        if self.on_served is not None:
            self.on_served(report.operation_id, response.status, duration_ms / 1000)
        for change in report.changes:
            self.state.setdefault(change.collection, {})[change.key] = change.value
        if report.changes and self.on_change is not None:
            self.on_change(report.changes)
        if self.on_event is None:
            return
        self.on_event(
            ServeEvent(
                at=at,
                method=request.method,
                path=request.path,
                query=request.query,
                status=response.status,
                source=report.source,
                operation_id=report.operation_id,
                reason=report.reason,
                duration_ms=duration_ms,
                request_body=request.body[:_BODY_PREVIEW].decode("utf-8", "replace"),
                response_body=response.body[:_BODY_PREVIEW].decode("utf-8", "replace"),
                notes=report.notes,
                changes=report.changes,
                path_template=report.path_template,
                near_misses=report.near_misses,
            )
        )


def auth_mode(spec: CompiledSpec, config: Mapping[str, Any]) -> AuthMode:
    chosen = config.get("auth")
    if chosen in AUTH_MODES:
        return chosen  # type: ignore[no-any-return]
    if "enforce_auth" in config:
        return "any" if config["enforce_auth"] else "off"
    if "enforce_auth" in spec.switches:  # the template's own word, whatever else it declares
        return "any" if spec.switches["enforce_auth"] else "off"
    return "any" if spec.declarations.auth is not None else "off"
