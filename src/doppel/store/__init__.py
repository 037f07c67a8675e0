"""Sandbox records, owned ports, tombstones and registered templates: SQLite by default
(SQLAlchemy 2, Alembic)."""

from doppel.store.records import SandboxRecord, SandboxStatus, ServiceRecord, TemplateRecord
from doppel.store.sql import Store

__all__ = ["SandboxRecord", "SandboxStatus", "ServiceRecord", "Store", "TemplateRecord"]
