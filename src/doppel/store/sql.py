"""The sandbox store over SQLAlchemy 2: an SQLite file by default, any SQLAlchemy URL otherwise.

Calls are short synchronous transactions. The control plane runs them on its event-loop
thread, so a check-and-insert (the quota) can never interleave with another create.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Engine,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import sessionmaker

from doppel.store.records import (
    CheckpointRecord,
    SandboxRecord,
    SandboxStatus,
    ServiceRecord,
    ServiceUsage,
    TemplateRecord,
    Usage,
)
from doppel.store.tables import (
    CheckpointRow,
    JournalRow,
    SandboxRow,
    ServiceRow,
    StateRow,
    TemplateRow,
)

MIGRATIONS = Path(__file__).parent / "migrations"
_LIVE = (SandboxStatus.CREATING.value, SandboxStatus.RUNNING.value)
_P = ParamSpec("_P")
_R = TypeVar("_R")
_IN_CHUNK = 500  # ids per `IN (...)`: well under every database's bound-parameter limit
# (sandbox id, service) → (answers, of which status >= 400, the last one's time)
Tally = Mapping[tuple[str, str], tuple[int, int, datetime]]


def json_size(value: Any) -> int:
    """Bytes of `value` as JSON, as the store writes it."""
    return len(json.dumps(value).encode())


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timed(method: Callable[Concatenate[Store, _P], _R]) -> Callable[Concatenate[Store, _P], _R]:
    """Report how long each call of `method` took to the store's `observe` hook, by name."""
    name = method.__name__

    def timed(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self.observe is None:
            return method(self, *args, **kwargs)
        started = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.observe(name, time.perf_counter() - started)

    functools.update_wrapper(timed, method)
    return timed


class Store:
    def __init__(self, url: str, *, observe: Callable[[str, float], None] | None = None) -> None:
        # Told (operation, seconds) after every call: the control plane's store latency.
        self.observe = observe
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

    @_timed
    def reserve(self, record: SandboxRecord, quota: int) -> bool:
        """Insert a `creating` sandbox unless its agent already has `quota` live ones."""
        sandboxes, services = _tables()
        with self.engine.begin() as connection:
            live = connection.scalar(
                select(func.count())
                .select_from(sandboxes)
                .where(sandboxes.c.agent_id == record.agent_id, sandboxes.c.status.in_(_LIVE))
            )
            if (live or 0) >= quota:
                return False
            connection.execute(
                insert(sandboxes).values(
                    id=record.id,
                    agent_id=record.agent_id,
                    status=record.status.value,
                    reason=record.reason,
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                    ended_at=record.ended_at,
                    ttl_minutes=record.ttl_minutes,
                    seed=record.seed,
                )
            )
            connection.execute(
                insert(services),
                [
                    {
                        "sandbox_id": record.id,
                        "name": s.name,
                        "position": i,
                        "template": s.template,
                        "port": s.port,
                        "active": record.status.live and s.port is not None,
                        "status": s.status,
                        "reason": s.reason,
                        "config": s.config,
                        "token": s.token,
                    }
                    for i, s in enumerate(record.services.values())
                ],
            )
        return True

    @_timed
    def save(self, record: SandboxRecord) -> None:
        """Write the state of a reserved sandbox and its services as they are now.

        Two Core UPDATEs, not an ORM load-modify-flush: this sits on every create's path.
        """
        sandboxes, services = _tables()
        with self.engine.begin() as connection:
            connection.execute(
                update(sandboxes)
                .where(sandboxes.c.id == record.id)
                .values(
                    status=record.status.value,
                    reason=record.reason,
                    expires_at=record.expires_at,
                    ended_at=record.ended_at,
                    ttl_minutes=record.ttl_minutes,
                )
            )
            connection.execute(
                update(services)
                .where(
                    services.c.sandbox_id == bindparam("sid"), services.c.name == bindparam("sname")
                )
                .values(
                    port=bindparam("port"),
                    status=bindparam("status"),
                    reason=bindparam("reason"),
                    active=bindparam("active"),
                ),
                [
                    {
                        "sid": record.id,
                        "sname": s.name,
                        "port": s.port,
                        "status": s.status,
                        "reason": s.reason,
                        "active": record.status.live and s.port is not None,
                    }
                    for s in record.services.values()
                ],
            )

    # -- state: what agents' requests stored --------------------------------------------

    @_timed
    def save_state(
        self, sandbox_id: str, service: str, changes: Iterable[tuple[str, str, Any]]
    ) -> None:
        """Record (collection, key, value or None once deleted) changes, in arrival order."""
        table = cast(Table, StateRow.__table__)
        with self.engine.begin() as connection:
            seq = connection.scalar(
                select(func.coalesce(func.max(table.c.seq), 0)).where(
                    table.c.sandbox_id == sandbox_id
                )
            )
            _write_state(connection, table, sandbox_id, service, changes, seq or 0)

    @_timed
    def replace_state(
        self, sandbox_id: str, state: Mapping[str, Mapping[str, Mapping[str, Any]]]
    ) -> None:
        """Make `state` (service → collection → key → value) the sandbox's whole state, in
        one transaction (a restore or a fork)."""
        table = cast(Table, StateRow.__table__)
        with self.engine.begin() as connection:
            connection.execute(delete(table).where(table.c.sandbox_id == sandbox_id))
            seq = 0
            for service, collections in state.items():
                changes = [
                    (collection, key, value)
                    for collection, members in collections.items()
                    for key, value in members.items()
                ]
                seq = _write_state(connection, table, sandbox_id, service, changes, seq)

    @_timed
    def load_state(self, sandbox_id: str) -> dict[str, dict[str, dict[str, Any]]]:
        """service → collection → key → value (None once deleted), in arrival order."""
        table = cast(Table, StateRow.__table__)
        query = select(table).where(table.c.sandbox_id == sandbox_id).order_by(table.c.seq)
        state: dict[str, dict[str, dict[str, Any]]] = {}
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                collection = state.setdefault(row.service, {}).setdefault(row.collection, {})
                collection[row.key] = None if row.deleted else row.value
        return state

    @_timed
    def clear_state(self, sandbox_id: str) -> None:
        table = cast(Table, StateRow.__table__)
        with self.engine.begin() as connection:
            connection.execute(delete(table).where(table.c.sandbox_id == sandbox_id))

    # -- the journal ----------------------------------------------------------------------

    @_timed
    def save_events(
        self, events: Sequence[tuple[str, str, Any]], keep: int, tally: Tally | None = None
    ) -> None:
        """Append (sandbox id, service, event) rows, keeping at most `keep` per service, and
        add `tally` to each service's usage, in one transaction."""
        table = cast(Table, JournalRow.__table__)
        with self.engine.begin() as connection:
            if events:
                connection.execute(
                    insert(table),
                    [
                        {"sandbox_id": s, "service": name, "event": e, "size": json_size(e)}
                        for s, name, e in events
                    ],
                )
            _, services = _tables()
            if tally:
                connection.execute(
                    update(services)
                    .where(
                        services.c.sandbox_id == bindparam("sid"),
                        services.c.name == bindparam("sname"),
                    )
                    .values(
                        requests=services.c.requests + bindparam("served"),
                        errors=services.c.errors + bindparam("failed"),
                        last_activity=bindparam("last"),
                    ),
                    [
                        {"sid": s, "sname": n, "served": r, "failed": e, "last": at}
                        for (s, n), (r, e, at) in tally.items()
                    ],
                )
            for sandbox_id, service in {(s, name) for s, name, _ in events}:
                where = (table.c.sandbox_id == sandbox_id) & (table.c.service == service)
                oldest_kept = connection.scalar(
                    select(table.c.id).where(where).order_by(table.c.id.desc()).offset(keep - 1)
                )
                if oldest_kept is not None:
                    connection.execute(delete(table).where(where & (table.c.id < oldest_kept)))

    @_timed
    def load_events(self, sandbox_id: str) -> dict[str, list[Any]]:
        """service → its events, oldest first."""
        table = cast(Table, JournalRow.__table__)
        query = select(table.c.service, table.c.event).where(table.c.sandbox_id == sandbox_id)
        journal: dict[str, list[Any]] = {}
        with self.engine.connect() as connection:
            for service, event in connection.execute(query.order_by(table.c.id)):
                journal.setdefault(service, []).append(event)
        return journal

    @_timed
    def events_after(self, sandbox_id: str, after: int = 0) -> list[tuple[int, str, Any]]:
        """(row id, service, event) of the events past row `after`, oldest first: a reader
        that keeps the last id it saw reads only what is new."""
        table = cast(Table, JournalRow.__table__)
        query = (
            select(table.c.id, table.c.service, table.c.event)
            .where(table.c.sandbox_id == sandbox_id, table.c.id > after)
            .order_by(table.c.id)
        )
        with self.engine.connect() as connection:
            return [(row.id, row.service, row.event) for row in connection.execute(query)]

    @_timed
    def has_event(self, sandbox_id: str, event_id: int) -> bool:
        table = cast(Table, JournalRow.__table__)
        query = select(table.c.id).where(table.c.sandbox_id == sandbox_id, table.c.id == event_id)
        with self.engine.connect() as connection:
            return connection.scalar(query) is not None

    @_timed
    def clear_events(self, sandbox_id: str) -> None:
        table = cast(Table, JournalRow.__table__)
        with self.engine.begin() as connection:
            connection.execute(delete(table).where(table.c.sandbox_id == sandbox_id))

    # -- usage ----------------------------------------------------------------------------

    @_timed
    def usage(self, sandbox_ids: Sequence[str]) -> dict[str, Usage]:
        """Each sandbox's usage as stored: its services' counts and the bytes of its state
        and journal rows (overlays are not stored: the caller knows them)."""
        state, journal = cast(Table, StateRow.__table__), cast(Table, JournalRow.__table__)
        _, services = _tables()
        found: dict[str, dict[str, ServiceUsage]] = {i: {} for i in sandbox_ids}
        held: dict[str, dict[str, int]] = {i: {"state": 0, "journal": 0} for i in sandbox_ids}
        with self.engine.connect() as connection:
            for start in range(0, len(sandbox_ids), _IN_CHUNK):
                ids = list(sandbox_ids[start : start + _IN_CHUNK])
                counted = select(
                    services.c.sandbox_id,
                    services.c.name,
                    services.c.requests,
                    services.c.errors,
                    services.c.last_activity,
                ).where(services.c.sandbox_id.in_(ids))
                for sid, name, requests, errors, last in connection.execute(
                    counted.order_by(services.c.position)
                ):
                    found[sid][name] = ServiceUsage(
                        requests or 0, errors or 0, _utc(last) if last else None
                    )
                for kind, table in (("state", state), ("journal", journal)):
                    sums = (
                        select(table.c.sandbox_id, func.coalesce(func.sum(table.c.size), 0))
                        .where(table.c.sandbox_id.in_(ids))
                        .group_by(table.c.sandbox_id)
                    )
                    for sid, size in connection.execute(sums):
                        held[sid][kind] = int(size)
        return {
            sid: Usage(services=found[sid], bytes={**held[sid], "overlays": 0})
            for sid in sandbox_ids
        }

    # -- checkpoints ----------------------------------------------------------------------

    @_timed
    def save_checkpoint(self, record: CheckpointRecord) -> bool:
        """Keep a checkpoint; False (and nothing written) when its name is taken."""
        table = cast(Table, CheckpointRow.__table__)
        with self.engine.begin() as connection:
            taken = connection.scalar(
                select(func.count())
                .select_from(table)
                .where(table.c.sandbox_id == record.sandbox_id, table.c.name == record.name)
            )
            if taken:
                return False
            connection.execute(
                insert(table).values(
                    sandbox_id=record.sandbox_id,
                    name=record.name,
                    created_at=record.created_at,
                    state=record.state,
                )
            )
        return True

    @_timed
    def checkpoints(self, sandbox_id: str) -> list[CheckpointRecord]:
        """The sandbox's checkpoints, oldest first, without their state."""
        table = cast(Table, CheckpointRow.__table__)
        query = (
            select(table.c.name, table.c.created_at)
            .where(table.c.sandbox_id == sandbox_id)
            .order_by(table.c.id)
        )
        with self.engine.connect() as connection:
            return [
                CheckpointRecord(sandbox_id, name, _utc(created_at))
                for name, created_at in connection.execute(query)
            ]

    @_timed
    def checkpoint(self, sandbox_id: str, name: str) -> CheckpointRecord | None:
        table = cast(Table, CheckpointRow.__table__)
        query = select(table.c.created_at, table.c.state).where(
            table.c.sandbox_id == sandbox_id, table.c.name == name
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return CheckpointRecord(sandbox_id, name, _utc(row.created_at), dict(row.state))

    @_timed
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

    @_timed
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

    @_timed
    def delete_template(self, name: str) -> bool:
        with self._sessions.begin() as session:
            row = session.get(TemplateRow, name)
            if row is None:
                return False
            session.delete(row)
        return True

    # -- reads ----------------------------------------------------------------------------

    @_timed
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

    @_timed
    def get(self, sandbox_id: str) -> SandboxRecord | None:
        with self._sessions() as session:
            row = session.get(SandboxRow, sandbox_id)
            return _to_record(row) if row is not None else None

    @_timed
    def find(
        self,
        *,
        agent_id: str | None = None,
        statuses: Iterable[str] | None = None,
        service: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[SandboxRecord]:
        """Newest first; `service` keeps sandboxes holding a service of that name or template.
        Every match unless the caller asks for a `limit`: nothing is cut off unasked."""
        query = (
            select(SandboxRow)
            .where(*_matching(agent_id, statuses, service))
            .order_by(SandboxRow.created_at.desc(), SandboxRow.id)
            .offset(offset)
            .limit(limit)
        )
        with self._sessions() as session:
            return [_to_record(row) for row in session.scalars(query)]

    @_timed
    def page(
        self,
        limit: int,
        after: tuple[datetime, str] | None = None,
        *,
        agent_id: str | None = None,
        statuses: Iterable[str] | None = None,
        service: str | None = None,
    ) -> tuple[list[SandboxRecord], bool]:
        """Up to `limit` matches, newest first by (created_at, id), starting past `after`
        (the last one of the previous page), and whether more follow. Keyed on a position,
        not an offset: a sandbox made while a caller pages through neither repeats nor
        hides another (it sorts before the first page)."""
        where = _matching(agent_id, statuses, service)
        if after is not None:
            created_at, sandbox_id = after
            where.append(
                or_(
                    SandboxRow.created_at < created_at,
                    and_(SandboxRow.created_at == created_at, SandboxRow.id < sandbox_id),
                )
            )
        query = (
            select(SandboxRow)
            .where(*where)
            .order_by(SandboxRow.created_at.desc(), SandboxRow.id.desc())
            .limit(limit + 1)  # one more than asked says whether there is more
        )
        with self._sessions() as session:
            records = [_to_record(row) for row in session.scalars(query)]
        return records[:limit], len(records) > limit

    @_timed
    def count(
        self,
        *,
        agent_id: str | None = None,
        statuses: Iterable[str] | None = None,
        service: str | None = None,
    ) -> int:
        query = select(func.count()).select_from(SandboxRow)
        with self._sessions() as session:
            return session.scalar(query.where(*_matching(agent_id, statuses, service))) or 0

    def live(self) -> list[SandboxRecord]:
        return self.find(statuses=_LIVE)

    @_timed
    def due(self, now: datetime) -> list[str]:
        """Ids of running sandboxes whose time is up."""
        query = select(SandboxRow.id).where(
            SandboxRow.status == SandboxStatus.RUNNING.value, SandboxRow.expires_at <= now
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    @_timed
    def live_ports(self) -> set[int]:
        query = select(ServiceRow.port).where(ServiceRow.active, ServiceRow.port.is_not(None))
        with self._sessions() as session:
            return {p for p in session.scalars(query) if p is not None}


def _write_state(
    connection: Any,
    table: Table,
    sandbox_id: str,
    service: str,
    changes: Iterable[tuple[str, str, Any]],
    seq: int,
) -> int:
    """Write each change over the row it replaces, numbered after `seq`; the last number."""
    for collection, key, value in changes:
        seq += 1
        where = (
            (table.c.sandbox_id == sandbox_id)
            & (table.c.service == service)
            & (table.c.collection == collection)
            & (table.c.key == key)
        )
        connection.execute(delete(table).where(where))
        connection.execute(
            insert(table).values(
                sandbox_id=sandbox_id,
                service=service,
                collection=collection,
                key=key,
                seq=seq,
                deleted=value is None,
                value=value,
                size=json_size(value),
            )
        )
    return seq


def _tables() -> tuple[Table, Table]:
    return cast(Table, SandboxRow.__table__), cast(Table, ServiceRow.__table__)


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    cursor = connection.cursor()
    # WAL + NORMAL: durable across a process crash (kill -9), fast commits.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _matching(
    agent_id: str | None, statuses: Iterable[str] | None, service: str | None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if agent_id is not None:
        where.append(SandboxRow.agent_id == agent_id)
    if statuses is not None:
        where.append(SandboxRow.status.in_(list(statuses)))
    if service is not None:
        held = or_(ServiceRow.name == service, ServiceRow.template == service)
        where.append(
            select(ServiceRow.sandbox_id)
            .where(ServiceRow.sandbox_id == SandboxRow.id, held)
            .exists()
        )
    return where


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
            s.name: ServiceRecord(
                s.name, s.template, s.port, s.status, s.reason, dict(s.config), s.token
            )
            for s in services
        },
    )
