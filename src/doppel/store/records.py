"""Plain records the store keeps: sandboxes, their service instances, registered templates,
checkpoints, and what each sandbox has used."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class SandboxStatus(enum.StrEnum):
    CREATING = "creating"
    RUNNING = "running"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    DELETED = "deleted"
    FAILED = "failed"

    @property
    def live(self) -> bool:
        return self in (SandboxStatus.CREATING, SandboxStatus.RUNNING)

    @property
    def ended(self) -> bool:
        return self in (SandboxStatus.EXPIRED, SandboxStatus.DELETED, SandboxStatus.FAILED)


@dataclass
class ServiceRecord:
    name: str
    template: str
    port: int | None = None
    status: str = "pending"
    reason: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    token: str | None = None  # issued to this sandbox, in the provider's format


@dataclass
class SandboxRecord:
    id: str
    agent_id: str
    status: SandboxStatus
    created_at: datetime
    expires_at: datetime
    ttl_minutes: float
    seed: int
    services: dict[str, ServiceRecord]
    reason: str | None = None
    ended_at: datetime | None = None


@dataclass
class TemplateRecord:
    """A template registered at run time: the spec exactly as uploaded, and its config schema."""

    name: str
    spec: bytes
    spec_name: str
    config_schema: dict[str, Any] | None = None  # None: the default schema
    fixtures: str | None = None
    source_url: str | None = None
    digest: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CheckpointRecord:
    """A named copy of every service's state (service → collection → key → value)."""

    sandbox_id: str
    name: str
    created_at: datetime
    state: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ServiceUsage:
    """What one service of a sandbox has served: answers, those with status >= 400, and when
    it last answered."""

    requests: int = 0
    errors: int = 0
    last_activity: datetime | None = None


@dataclass(frozen=True)
class Usage:
    """What a sandbox used: its services' answers, and the bytes it holds (`state` and
    `journal` as stored, JSON; `overlays` as rendered, for the services running now)."""

    services: dict[str, ServiceUsage] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=lambda: {"state": 0, "journal": 0, "overlays": 0})

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.services.values())

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.services.values())

    @property
    def last_activity(self) -> datetime | None:
        return max(
            (s.last_activity for s in self.services.values() if s.last_activity), default=None
        )
