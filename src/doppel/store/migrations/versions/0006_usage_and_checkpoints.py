"""Usage per service (answers, errors, last activity), the stored size of state and journal
rows, and named checkpoints of a sandbox's state.

Revision ID: 0006
Revises: 0005
"""

import json
from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("requests", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("errors", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_activity", sa.DateTime(timezone=True), nullable=True))
    for table in ("journal", "service_state"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("size", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "sandbox_id",
            sa.String(40),
            sa.ForeignKey("sandboxes.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_index(
        "ix_checkpoints_sandbox_name", "checkpoints", ["sandbox_id", "name"], unique=True
    )
    _backfill()


def _backfill() -> None:
    """Rows written before this revision: their sizes, and usage counted from the journal."""
    connection = op.get_bind()
    meta = sa.MetaData()
    journal = sa.Table("journal", meta, autoload_with=connection)
    state = sa.Table("service_state", meta, autoload_with=connection)
    services = sa.Table("services", meta, autoload_with=connection)
    requests: Counter[tuple[str, str]] = Counter()
    errors: Counter[tuple[str, str]] = Counter()
    last: dict[tuple[str, str], datetime] = {}
    rows = connection.execute(
        sa.select(journal.c.id, journal.c.sandbox_id, journal.c.service, journal.c.event)
    )
    for row_id, sandbox_id, service, stored in rows.fetchall():
        event = json.loads(stored) if isinstance(stored, str) else stored
        connection.execute(journal.update().where(journal.c.id == row_id).values(size=_size(event)))
        owner = (sandbox_id, service)
        requests[owner] += 1
        errors[owner] += int(event.get("status", 0) >= 400)
        at = datetime.fromisoformat(event["at"])
        last[owner] = max(last.get(owner, at), at)
    for (sandbox_id, service), count in requests.items():
        connection.execute(
            services.update()
            .where(services.c.sandbox_id == sandbox_id, services.c.name == service)
            .values(
                requests=count,
                errors=errors[sandbox_id, service],
                last_activity=last[sandbox_id, service],
            )
        )
    keys = (state.c.sandbox_id, state.c.service, state.c.collection, state.c.key)
    for *key, value in connection.execute(sa.select(*keys, state.c.value)).fetchall():
        where = sa.and_(*(column == part for column, part in zip(keys, key, strict=True)))
        connection.execute(state.update().where(where).values(size=_size(value)))


def _size(value: Any) -> int:
    return len(json.dumps(value).encode())


def downgrade() -> None:
    op.drop_table("checkpoints")
    for table in ("journal", "service_state"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("size")
    with op.batch_alter_table("services") as batch:
        batch.drop_column("last_activity")
        batch.drop_column("errors")
        batch.drop_column("requests")
