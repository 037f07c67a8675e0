"""Sandbox records, owned ports, tombstones and registered templates: SQLite by default
(SQLAlchemy 2, Alembic)."""

from doppel.store.records import (
    CheckpointRecord,
    SandboxRecord,
    SandboxStatus,
    ServiceRecord,
    ServiceUsage,
    TemplateRecord,
    Usage,
)
from doppel.store.sql import Store

__all__ = [
    "CheckpointRecord",
    "SandboxRecord",
    "SandboxStatus",
    "ServiceRecord",
    "ServiceUsage",
    "Store",
    "TemplateRecord",
    "Usage",
]
