"""The control plane's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from doppel.store import SandboxRecord, ServiceUsage, Usage
from doppel.templates import TEMPLATE_NAME

ServiceName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
CHECKPOINT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"
# Request bodies: no unknown fields, and no conversions (`true` is not 1, "5" is not 5): a
# client that sends the wrong type hears so, naming the field, instead of being guessed at.
REQUEST = ConfigDict(extra="forbid", strict=True)


class CreateSandbox(BaseModel):
    """The user's contract, verbatim: services, a TTL, and per-service custom configs."""

    model_config = REQUEST

    required_services: list[ServiceName] = Field(min_length=1)
    ttl_minutes: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Minutes to live; fractions allowed."
    )
    custom_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("required_services")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"each service may appear once; repeated: {', '.join(repeated)}")
        return value


class Extend(BaseModel):
    model_config = REQUEST

    ttl_minutes: float = Field(gt=0, allow_inf_nan=False, description="Minutes to add.")


class ServiceUsageOut(BaseModel):
    requests: int = Field(0, description="Answers served.")
    errors: int = Field(0, description="Answers with status >= 400.")
    last_activity: datetime | None = None

    @classmethod
    def of(cls, usage: ServiceUsage) -> ServiceUsageOut:
        return cls(requests=usage.requests, errors=usage.errors, last_activity=usage.last_activity)


class BytesOut(BaseModel):
    state: int = Field(0, description="The sandbox's stored state, as JSON.")
    journal: int = Field(0, description="Its journal rows, as JSON.")
    overlays: int = Field(
        0, description="Its running services' rendered overlays (stubs and world fixtures)."
    )


class UsageOut(ServiceUsageOut):
    bytes: BytesOut = Field(default_factory=BytesOut)


class ServiceOut(BaseModel):
    url: str | None
    status: str
    port: int | None
    template: str
    token: str | None = Field(
        None,
        description="The credential issued to this sandbox for this service, in the "
        "provider's format (ghp_…, xoxb-…, figd_…); with `auth: issued` only it passes.",
    )
    reason: str | None = None
    usage: ServiceUsageOut = Field(default_factory=ServiceUsageOut)


class SandboxOut(BaseModel):
    sandbox_id: str
    agent_id: str
    mode: Literal["dynamic"] = "dynamic"
    status: str
    reason: str | None = None
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    ttl_minutes: float
    services: dict[str, ServiceOut]
    usage: UsageOut = Field(default_factory=UsageOut)

    @classmethod
    def of(cls, record: SandboxRecord, host: str, usage: Usage | None = None) -> SandboxOut:
        shown = f"[{host}]" if ":" in host else host
        usage = usage or Usage()
        return cls(
            sandbox_id=record.id,
            agent_id=record.agent_id,
            status=record.status.value,
            reason=record.reason,
            created_at=record.created_at,
            expires_at=record.expires_at,
            ended_at=record.ended_at,
            ttl_minutes=record.ttl_minutes,
            services={
                name: ServiceOut(
                    url=f"http://{shown}:{s.port}" if s.port else None,
                    status=s.status,
                    port=s.port,
                    template=s.template,
                    token=s.token,
                    reason=s.reason,
                    usage=ServiceUsageOut.of(usage.services.get(name, ServiceUsage())),
                )
                for name, s in record.services.items()
            },
            usage=UsageOut(
                requests=usage.requests,
                errors=usage.errors,
                last_activity=usage.last_activity,
                bytes=BytesOut(**usage.bytes),
            ),
        )


class StaticServiceOut(BaseModel):
    url: str
    status: str
    port: int
    template: str
    path_url: str = Field(description="The same instance on the control-plane port, by path.")


class StaticSandboxOut(BaseModel):
    """What a create answers in static mode: the shared instances every agent gets."""

    sandbox_id: str
    agent_id: str
    mode: Literal["static"] = "static"
    status: str = "running"
    shared: bool = Field(True, description="Every agent gets these same instances.")
    created_at: datetime
    expires_at: None = Field(None, description="Static instances never expire.")
    services: dict[str, StaticServiceOut]
    notes: list[str] = Field(default_factory=list)


class SandboxList(BaseModel):
    """One page of sandboxes, newest first by (created_at, id)."""

    sandboxes: list[SandboxOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page."
    )
    has_more: bool = Field(False, description="Whether another page follows this one.")


class NewCheckpoint(BaseModel):
    model_config = REQUEST

    name: str | None = Field(
        None,
        pattern=CHECKPOINT_NAME,
        description="Unique in the sandbox; by default `checkpoint-N`.",
    )


class CheckpointOut(BaseModel):
    name: str
    created_at: datetime


class CreatedCheckpoint(CheckpointOut):
    sandbox_id: str


class CheckpointList(BaseModel):
    checkpoints: list[CheckpointOut]


class Restore(BaseModel):
    model_config = REQUEST

    checkpoint: str = Field(min_length=1, max_length=64, description="A checkpoint's name.")


class Fork(BaseModel):
    model_config = REQUEST

    agent_id: str | None = Field(
        None, pattern=AGENT_ID, description="The new sandbox's agent; by default the source's."
    )
    ttl_minutes: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Minutes to live; by default the source's TTL (within the maximum).",
    )


class Created(BaseModel):
    resource: str = Field(description="The resource kind, e.g. `issues`, or an inferred path.")
    key: str = Field(description="The item's key, after its scope: `acme/rocket#7`.")
    after: Any


class Deleted(BaseModel):
    resource: str
    key: str
    before: Any


class Changed(BaseModel):
    resource: str
    key: str
    before: Any
    after: Any
    patch: list[dict[str, Any]] = Field(description="RFC 6902 JSON Patch: before → after.")


class ServiceDiff(BaseModel):
    created: list[Created]
    changed: list[Changed]
    deleted: list[Deleted]


class DiffSummary(BaseModel):
    created: int
    changed: int
    deleted: int


class DiffOut(BaseModel):
    sandbox_id: str
    since: str = Field(description="`creation`, or the checkpoint compared with.")
    summary: DiffSummary
    services: dict[str, ServiceDiff]


class TemplateSummary(BaseModel):
    name: str
    title: str
    origin: str
    operation_count: int
    digest: str = Field(description="SHA-256 of the spec's bytes as registered or bundled.")


class OperationOut(BaseModel):
    method: str
    path: str
    operation_id: str
    summary: str | None = None


class TemplateDetail(TemplateSummary):
    config_schema: dict[str, Any]
    servers: list[str]
    operations: list[OperationOut]


class RegisterTemplate(BaseModel):
    """A template to register: a spec (or a URL to import it from), a config schema, fixtures."""

    model_config = REQUEST

    name: str = Field(
        pattern=TEMPLATE_NAME,
        description="The service name sandboxes will ask for in `required_services`.",
    )
    spec: Any = Field(
        None,
        description="The OpenAPI 3.0/3.1 or Swagger 2.0 document: a JSON object, or a string "
        "holding its YAML or JSON text.",
    )
    config_schema: dict[str, Any] | None = Field(
        None,
        description="A JSON Schema (2020-12) for `custom_config`; by default an object with "
        "only `mock_responses`.",
    )
    fixtures: str | None = Field(
        None, description="Jinja2 text rendering a YAML list of stubs from the config."
    )
    source_url: str | None = Field(
        None,
        max_length=2048,
        description="Import the spec from this URL instead of `spec` (only hosts listed in "
        "DOPPEL_IMPORT_ALLOWED_HOSTS).",
    )
