"""The sandbox store over SQLAlchemy 2: an SQLite file by default, any SQLAlchemy URL otherwise.

Calls are short synchronous transactions. The control plane runs them on its event-loop
thread, so a check-and-insert (the quota) can never interleave with another create.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.orm import sessionmaker

from doppel.store.records import SandboxRecord, SandboxStatus, ServiceRecord, TemplateRecord
from doppel.store.tables import SandboxRow, ServiceRow, TemplateRow

MIGRATIONS = Path(__file__).parent / "migrations"
_LIVE = (SandboxStatus.CREATING.value, SandboxStatus.RUNNING.value)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Store:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    # -- writes ---------------------------------------------------------------------------

    def reserve(self, record: SandboxRecord, quota: int) -> bool:
        """Insert a `creating` sandbox unless its agent already has `quota` live ones."""
        with self._sessions.begin() as session:
            live = session.scalar(
                select(func.count())
                .select_from(SandboxRow)
                .where(SandboxRow.agent_id == record.agent_id, SandboxRow.status.in_(_LIVE))
            )
            if (live or 0) >= quota:
                return False
            session.add(_to_row(record))
        return True

    def save(self, record: SandboxRecord) -> None:
        """Write the sandbox and its services as they are now."""
        with self._sessions.begin() as session:
            row = session.get(SandboxRow, record.id)
            if row is None:
                session.add(_to_row(record))
                return
            row.status = record.status.value
            row.reason = record.reason
            row.expires_at = record.expires_at
            row.ended_at = record.ended_at
            row.ttl_minutes = record.ttl_minutes
            by_name = {s.name: s for s in row.services}
            for position, service in enumerate(record.services.values()):
                target = by_name.get(service.name)
                if target is None:
                    row.services.append(_service_row(service, position, record.status.live))
                    continue
                target.port = service.port
                target.status = service.status
                target.reason = service.reason
                target.active = record.status.live and service.port is not None

    def release_ports(self, sandbox_id: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(ServiceRow).where(ServiceRow.sandbox_id == sandbox_id).values(active=False)
            )

    def purge(self, ended_before: datetime) -> int:
        """Forget tombstones older than the retention period."""
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(SandboxRow).where(
                    SandboxRow.ended_at.is_not(None), SandboxRow.ended_at < ended_before
                )
            ).all()
            for row in rows:
                session.delete(row)
            return len(rows)

    def save_template(self, record: TemplateRecord) -> bool:
        """Insert or replace a registered template in one transaction; True if it was new."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            row = session.get(TemplateRow, record.name)
            created = row is None
            if row is None:
                row = TemplateRow(name=record.name, created_at=now)
                session.add(row)
            row.spec = record.spec
            row.spec_name = record.spec_name
            row.digest = record.digest
            row.config_schema = record.config_schema
            row.fixtures = record.fixtures
            row.source_url = record.source_url
            row.updated_at = now
        return created

    def delete_template(self, name: str) -> bool:
        with self._sessions.begin() as session:
            row = session.get(TemplateRow, name)
            if row is None:
                return False
            session.delete(row)
        return True

    # -- reads ----------------------------------------------------------------------------

    def templates(self) -> list[TemplateRecord]:
        """Every registered template, by name."""
        with self._sessions() as session:
            return [
                TemplateRecord(
                    name=row.name,
                    spec=row.spec,
                    spec_name=row.spec_name,
                    config_schema=row.config_schema,
                    fixtures=row.fixtures,
                    source_url=row.source_url,
                    digest=row.digest,
                    updated_at=_utc(row.updated_at),
                )
                for row in session.scalars(select(TemplateRow).order_by(TemplateRow.name))
            ]

    def get(self, sandbox_id: str) -> SandboxRecord | None:
        with self._sessions() as session:
            row = session.get(SandboxRow, sandbox_id)
            return _to_record(row) if row is not None else None

    def find(
        self,
        *,
        agent_id: str | None = None,
        statuses: Iterable[str] | None = None,
        limit: int = 1000,
    ) -> list[SandboxRecord]:
        query = select(SandboxRow).order_by(SandboxRow.created_at.desc()).limit(limit)
        if agent_id is not None:
            query = query.where(SandboxRow.agent_id == agent_id)
        if statuses is not None:
            query = query.where(SandboxRow.status.in_(list(statuses)))
        with self._sessions() as session:
            return [_to_record(row) for row in session.scalars(query)]

    def live(self) -> list[SandboxRecord]:
        return self.find(statuses=_LIVE, limit=1_000_000)

    def due(self, now: datetime) -> list[str]:
        """Ids of running sandboxes whose time is up."""
        query = select(SandboxRow.id).where(
            SandboxRow.status == SandboxStatus.RUNNING.value, SandboxRow.expires_at <= now
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def live_ports(self) -> set[int]:
        query = select(ServiceRow.port).where(ServiceRow.active, ServiceRow.port.is_not(None))
        with self._sessions() as session:
            return {p for p in session.scalars(query) if p is not None}


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    # WAL + NORMAL: durable across a process crash (kill -9), fast commits.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _service_row(service: ServiceRecord, position: int, live: bool) -> ServiceRow:
    return ServiceRow(
        name=service.name,
        position=position,
        template=service.template,
        port=service.port,
        active=live and service.port is not None,
        status=service.status,
        reason=service.reason,
        config=service.config,
    )


def _to_row(record: SandboxRecord) -> SandboxRow:
    return SandboxRow(
        id=record.id,
        agent_id=record.agent_id,
        status=record.status.value,
        reason=record.reason,
        created_at=record.created_at,
        expires_at=record.expires_at,
        ended_at=record.ended_at,
        ttl_minutes=record.ttl_minutes,
        seed=record.seed,
        services=[
            _service_row(s, i, record.status.live) for i, s in enumerate(record.services.values())
        ],
    )


def _to_record(row: SandboxRow) -> SandboxRecord:
    services: Sequence[ServiceRow] = row.services
    return SandboxRecord(
        id=row.id,
        agent_id=row.agent_id,
        status=SandboxStatus(row.status),
        reason=row.reason,
        created_at=_utc(row.created_at),
        expires_at=_utc(row.expires_at),
        ended_at=_utc(row.ended_at) if row.ended_at else None,
        ttl_minutes=row.ttl_minutes,
        seed=row.seed,
        services={
            s.name: ServiceRecord(s.name, s.template, s.port, s.status, s.reason, dict(s.config))
            for s in services
        },
    )
