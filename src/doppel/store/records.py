"""Plain records the store keeps: sandboxes, their service instances, registered templates."""

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
