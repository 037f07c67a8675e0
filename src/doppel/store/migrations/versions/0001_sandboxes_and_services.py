"""Sandboxes and their service instances.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandboxes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(2000)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("ttl_minutes", sa.Float, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
    )
    op.create_index("ix_sandboxes_agent_id", "sandboxes", ["agent_id"])
    op.create_index("ix_sandboxes_status", "sandboxes", ["status"])
    op.create_index("ix_sandboxes_expires_at", "sandboxes", ["expires_at"])
    op.create_index("ix_sandboxes_ended_at", "sandboxes", ["ended_at"])
    op.create_table(
        "services",
        sa.Column(
            "sandbox_id",
            sa.String(40),
            sa.ForeignKey("sandboxes.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("port", sa.Integer),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(2000)),
        sa.Column("config", sa.JSON, nullable=False),
    )
    op.create_index(
        "ix_services_live_port",
        "services",
        ["port"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_table("services")
    op.drop_table("sandboxes")
