"""One settings object for the control plane; every field is also a `DOPPEL_*` variable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOPPEL_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path(".doppel")
    database_url: str | None = None  # default: SQLite file in data_dir
    public_host: str | None = None  # host name written into service URLs; default: localhost
    port_range: Annotated[tuple[int, int], NoDecode] = (45000, 49999)  # `LOW-HIGH`, not JSON
    templates_dir: str = ""

    # Quotas and limits: defaults a user would accept.
    max_sandboxes_per_agent: int = Field(20, ge=1)
    max_services_per_sandbox: int = Field(10, ge=1)
    max_ttl_minutes: float = Field(24 * 60, gt=0)
    default_ttl_minutes: float = Field(60, gt=0)
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_overrides: int = Field(200, ge=0)
    journal_limit: int = Field(10_000, ge=1)  # events kept per service, newest
    # Template uploads (`POST`/`PUT /v1/templates`) get their own, larger body limit: vendor
    # specs are big (GitHub's is 13 MB).
    max_spec_bytes: int = Field(32 * 1024 * 1024, ge=1024)

    # Importing a spec from a URL: off unless host names are listed (comma-separated).
    import_allowed_hosts: str = ""
    import_timeout: float = Field(10.0, gt=0)

    # The feature flag of the move from static mocks to dynamic sandboxes (docs/migration.md).
    # `dynamic` (the default): a sandbox per agent on demand. `static`: the old contract, one
    # shared instance per template on fixed ports. The design's own `USE_DYNAMIC_SANDBOXES`
    # is honoured too; DOPPEL_MODE wins, and the two may not contradict each other.
    mode: Literal["static", "dynamic"] | None = None
    use_dynamic_sandboxes: bool | None = Field(
        None, validation_alias=AliasChoices("use_dynamic_sandboxes", "USE_DYNAMIC_SANDBOXES")
    )
    static_services: str = ""  # comma-separated template names; empty: every template
    static_ports: str = "4010"  # `figma=4010,slack=4011`, and/or a base port counting up

    # Lifecycle timing, in seconds.
    retention_seconds: float = Field(3600, ge=0)  # 410 for this long after the end, then 404
    reaper_interval: float = Field(0.2, gt=0)
    probe_timeout: float = Field(5.0, gt=0)
    stop_timeout: float = Field(5.0, gt=0)

    # Observability. A sandbox id label on the request metrics is off: each sandbox would add
    # series that outlive it in Prometheus (its own counts are in its `usage`).
    metrics_sandbox_labels: bool = False
    log_format: Literal["text", "json"] = "text"
    access_log: bool = False  # the control-plane port's; mock ports never write one

    @field_validator("port_range", mode="before")
    @classmethod
    def _parse_range(cls, value: object) -> object:
        if isinstance(value, str):
            low, sep, high = value.partition("-")
            if not sep:
                raise ValueError("a port range is LOW-HIGH, e.g. 45000-49999")
            return (int(low), int(high))
        return value

    @field_validator("port_range")
    @classmethod
    def _check_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 0 < low <= high <= 65535:
            raise ValueError("a port range needs 0 < LOW <= HIGH <= 65535")
        return value

    @model_validator(mode="after")
    def _check_mode(self) -> Settings:
        flag = self.use_dynamic_sandboxes
        if self.mode is not None and flag is not None and (self.mode == "dynamic") != flag:
            raise ValueError(
                f"DOPPEL_MODE={self.mode} contradicts USE_DYNAMIC_SANDBOXES={str(flag).lower()}; "
                "set only one of them (DOPPEL_MODE is the one to keep)"
            )
        return self

    @property
    def sandbox_mode(self) -> Literal["static", "dynamic"]:
        """The mode in force: DOPPEL_MODE, else USE_DYNAMIC_SANDBOXES, else dynamic."""
        if self.mode is not None:
            return self.mode
        if self.use_dynamic_sandboxes is False:
            return "static"
        return "dynamic"

    @property
    def import_hosts(self) -> frozenset[str]:
        """The host names `source_url` may name; empty means import from a URL is off."""
        hosts = (h.strip().lower().strip("[]") for h in self.import_allowed_hosts.split(","))
        return frozenset(h for h in hosts if h)

    @property
    def url_host(self) -> str:
        if self.public_host:
            return self.public_host
        return "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::", "::1") else self.host

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'doppel.db'}"
