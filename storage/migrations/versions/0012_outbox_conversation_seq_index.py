"""The outbox's index on its conversation also holds each row's place in it (seq).

Which rows are due asks, for each pending row, whether an earlier one of its conversation
is still waiting. With the index on the conversation alone, a PostgreSQL that had no
statistics yet (a new database, or one just restored) answered that by reading every
pending row for each pending row: a backlog of 6,000 took 350 ms each second
(docs/benchmarks.md). On (conversation_id, seq) it is one short index probe per row.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_conversation_id_seq", "outbox", ["conversation_id", "seq"])
    op.drop_index("ix_outbox_conversation_id", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_conversation_id", "outbox", ["conversation_id"])
    op.drop_index("ix_outbox_conversation_id_seq", table_name="outbox")
