"""Sandbox records, owned ports and tombstones: SQLite by default (SQLAlchemy 2, Alembic)."""

from doppel.store.records import SandboxRecord, SandboxStatus, ServiceRecord
from doppel.store.sql import Store

__all__ = ["SandboxRecord", "SandboxStatus", "ServiceRecord", "Store"]
