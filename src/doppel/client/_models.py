"""What the client hands back: sandboxes, their services and usage, and template summaries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from doppel.errors import SandboxFailedError, SandboxGoneError

if TYPE_CHECKING:
    from doppel.client._client import Client


@dataclass(frozen=True, slots=True)
class Usage:
    """What a sandbox (or one of its services) has used: answers served, those with status
    >= 400, when it last answered, and (for a sandbox) the bytes it holds: `state`,
    `journal`, `overlays`."""

    requests: int = 0
    errors: int = 0
    last_activity: datetime | None = None
    bytes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Usage:
        data = data or {}
        last = data.get("last_activity")
        return cls(
            requests=int(data.get("requests", 0)),
            errors=int(data.get("errors", 0)),
            last_activity=datetime.fromisoformat(last) if last else None,
            bytes={str(k): int(v) for k, v in (data.get("bytes") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """One service of a sandbox; `url` and `port` are None for a service that never started."""

    url: str | None
    status: str
    port: int | None
    template: str
    reason: str | None = None
    token: str | None = None  # issued to this sandbox, in the provider's format
    usage: Usage = field(default_factory=Usage)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceInfo:
        port = data.get("port")
        return cls(
            url=data.get("url"),
            status=str(data["status"]),
            port=int(port) if port is not None else None,
            template=str(data["template"]),
            reason=data.get("reason"),
            token=data.get("token"),
            usage=Usage.from_json(data.get("usage")),
        )


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    name: str
    title: str
    origin: str
    operation_count: int
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TemplateInfo:
        return cls(
            name=str(data["name"]),
            title=str(data["title"]),
            origin=str(data["origin"]),
            operation_count=int(data["operation_count"]),
            raw=dict(data),
        )


class Sandbox:
    """A sandbox as the control plane last described it, with the calls that change it.

    Used as a context manager, it is deleted on exit.
    """

    id: str
    agent_id: str
    status: str
    reason: str | None
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ttl_minutes: float
    services: dict[str, ServiceInfo]
    usage: Usage
    raw: dict[str, Any]  # the JSON the control plane sent, for printing as is

    def __init__(self, data: Mapping[str, Any], client: Client) -> None:
        self._client = client
        self._load(data)

    def _load(self, data: Mapping[str, Any]) -> None:
        ended = data.get("ended_at")
        self.id = str(data["sandbox_id"])
        self.agent_id = str(data["agent_id"])
        self.status = str(data["status"])
        self.reason = data.get("reason")
        self.created_at = datetime.fromisoformat(data["created_at"])
        self.expires_at = datetime.fromisoformat(data["expires_at"])
        self.ended_at = datetime.fromisoformat(ended) if ended else None
        self.ttl_minutes = float(data["ttl_minutes"])
        self.services = {
            name: ServiceInfo.from_json(service) for name, service in data["services"].items()
        }
        self.usage = Usage.from_json(data.get("usage"))
        self.raw = dict(data)

    def url(self, service: str) -> str:
        """The base URL of one service, e.g. `sandbox.url("figma")`."""
        try:
            info = self.services[service]
        except KeyError:
            names = ", ".join(sorted(self.services)) or "none"
            raise KeyError(
                f"sandbox {self.id} has no service {service!r}; its services: {names}"
            ) from None
        if info.url is None:
            why = info.reason or f"it is {info.status}"
            raise SandboxFailedError(f"service {service!r} of sandbox {self.id} has no URL: {why}")
        return info.url

    def token(self, service: str) -> str:
        """The credential issued to this sandbox for one service (`ghp_…`, `xoxb-…`)."""
        info = self.services.get(service)
        if info is None or info.token is None:
            raise KeyError(f"sandbox {self.id} has no token for {service!r}")
        return info.token

    def refresh(self) -> None:
        """Read the sandbox again; a deleted or expired one raises SandboxGoneError."""
        self._load(self._client.get_sandbox(self.id).raw)

    def extend(self, minutes: float) -> None:
        """Push `expires_at` later by `minutes`."""
        self._load(self._client.extend_sandbox(self.id, minutes).raw)

    def state(self) -> dict[str, dict[str, dict[str, Any]]]:
        """What the agent created, changed and deleted: service → collection → key → resource."""
        return self._client.state(self.id)

    def reset(self) -> None:
        """Forget every state change and the journal; the TTL is unchanged."""
        self._load(self._client.reset_sandbox(self.id).raw)

    def diff(self, since: str | None = None) -> dict[str, Any]:
        """What the agent created, changed and deleted since creation (or checkpoint
        `since`), per service, with a JSON Patch for each change."""
        return self._client.diff(self.id, since=since)

    def checkpoint(self, name: str | None = None) -> dict[str, Any]:
        """Name the current state, to diff against or restore later."""
        return self._client.checkpoint(self.id, name)

    def restore(self, checkpoint: str) -> None:
        """Every service's state back to the checkpoint's."""
        self._load(self._client.restore(self.id, checkpoint).raw)

    def fork(self, agent_id: str | None = None, ttl_minutes: float | None = None) -> Sandbox:
        """A new sandbox with the same templates, configs and state, on new URLs."""
        return self._client.fork(self.id, agent_id=agent_id, ttl_minutes=ttl_minutes)

    def delete(self) -> None:
        """Stop every service; deleting a sandbox that has already ended is not an error."""
        try:
            self._load(self._client.delete_sandbox(self.id).raw)
        except SandboxGoneError as exc:
            reason = exc.extra.get("reason")
            self.status = reason if isinstance(reason, str) else "deleted"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.delete()

    def __repr__(self) -> str:
        return (
            f"<Sandbox {self.id} agent={self.agent_id!r} status={self.status!r} "
            f"services={sorted(self.services)}>"
        )


@dataclass(frozen=True, slots=True)
class SandboxPage:
    """One page of a sandbox list; `next_cursor` fetches the next while `has_more`."""

    sandboxes: list[Sandbox]
    next_cursor: str | None
    has_more: bool
