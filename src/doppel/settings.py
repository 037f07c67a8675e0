"""One settings object for the control plane; every field is also a `DOPPEL_*` variable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOPPEL_", extra="ignore")

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
