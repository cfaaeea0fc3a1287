"""Conversation timers: when a wait times out or the session expires.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("timer_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_conversations_timer_due_at", ["timer_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_timer_due_at")
        batch.drop_column("timer_due_at")
