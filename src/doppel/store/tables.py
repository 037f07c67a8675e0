"""SQLAlchemy 2 table definitions; the schema itself is created by Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class SandboxRow(Base):
    __tablename__ = "sandboxes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    ttl_minutes: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer)
    services: Mapped[list[ServiceRow]] = relationship(
        back_populates="sandbox",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="ServiceRow.position",
    )


class ServiceRow(Base):
    __tablename__ = "services"
    __table_args__ = (
        # No two live services may own one port.
        Index(
            "ix_services_live_port",
            "port",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    sandbox_id: Mapped[str] = mapped_column(
        ForeignKey("sandboxes.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(String(64))
    port: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(2000))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    token: Mapped[str | None] = mapped_column(String(200))
    # Usage, counted as the journal is written (so it outlives the journal's trimming).
    requests: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    last_activity: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sandbox: Mapped[SandboxRow] = relationship(back_populates="services")


class TemplateRow(Base):
    """A template registered at run time (bundled ones live in the package, not here)."""

    __tablename__ = "templates"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[bytes] = mapped_column(LargeBinary)
    spec_name: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    config_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    fixtures: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StateRow(Base):
    """One resource an agent's requests stored in a sandbox's service (see engine/world.py)."""

    __tablename__ = "service_state"

    sandbox_id: Mapped[str] = mapped_column(
        ForeignKey("sandboxes.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    collection: Mapped[str] = mapped_column(String(2048), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # arrival order: lists show the newest first
    deleted: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    size: Mapped[int] = mapped_column(Integer, default=0)  # bytes of `value` as JSON


class JournalRow(Base):
    """One served exchange (a `ServeEvent` as JSON), kept until the sandbox is purged."""

    __tablename__ = "journal"
    __table_args__ = (Index("ix_journal_sandbox_service", "sandbox_id", "service", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sandbox_id: Mapped[str] = mapped_column(ForeignKey("sandboxes.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(64))
    event: Mapped[Any] = mapped_column(JSON)
    size: Mapped[int] = mapped_column(Integer, default=0)  # bytes of `event` as JSON


class CheckpointRow(Base):
    """A named copy of a sandbox's state, kept until the sandbox is purged."""

    __tablename__ = "checkpoints"
    __table_args__ = (Index("ix_checkpoints_sandbox_name", "sandbox_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sandbox_id: Mapped[str] = mapped_column(ForeignKey("sandboxes.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[Any] = mapped_column(JSON)
