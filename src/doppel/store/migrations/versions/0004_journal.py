"""The journal: every exchange a sandbox's services served, so it outlives a restart.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "sandbox_id",
            sa.String(40),
            sa.ForeignKey("sandboxes.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("event", sa.JSON, nullable=False),
    )
    op.create_index("ix_journal_sandbox_service", "journal", ["sandbox_id", "service", "id"])


def downgrade() -> None:
    op.drop_table("journal")
