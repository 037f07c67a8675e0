"""The control plane's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from doppel.store import SandboxRecord
from doppel.templates import TEMPLATE_NAME

ServiceName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


class CreateSandbox(BaseModel):
    """The user's contract, verbatim: services, a TTL, and per-service custom configs."""

    model_config = ConfigDict(extra="forbid")

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
    model_config = ConfigDict(extra="forbid")

    ttl_minutes: float = Field(gt=0, allow_inf_nan=False, description="Minutes to add.")


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

    @classmethod
    def of(cls, record: SandboxRecord, host: str) -> SandboxOut:
        shown = f"[{host}]" if ":" in host else host
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
                )
                for name, s in record.services.items()
            },
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
    sandboxes: list[SandboxOut]


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

    model_config = ConfigDict(extra="forbid")

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
