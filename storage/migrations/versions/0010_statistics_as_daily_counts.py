"""Statistics as daily counts per dimension, instead of one row per counted event.

A row per finished conversation (channel, language, outcome, hour together) could single
out one person at a quiet hour; separate counts per dimension and day cannot be joined back.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_stat_events_hour", table_name="stat_events")
    op.drop_table("stat_events")
    op.create_table(
        "stat_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric", "value", name="pk_stat_counts"),
    )


def downgrade() -> None:
    op.drop_table("stat_counts")
    op.create_table(
        "stat_events",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stat_events"),
    )
    op.create_index("ix_stat_events_hour", "stat_events", ["hour"])
