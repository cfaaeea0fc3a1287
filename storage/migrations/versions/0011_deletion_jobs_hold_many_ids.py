"""Provider deletion jobs hold up to 50 message ids each, instead of one row per id.

A purge queues thousands of ids; writing a row for each was most of its time.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

deletions = sa.table(
    "provider_deletions",
    sa.column("id", sa.String),
    sa.column("channel", sa.String),
    sa.column("provider_id", sa.String),
    sa.column("provider_ids", sa.Text),
    sa.column("status", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("next_attempt_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # Every existing row becomes a job of one id: nothing queued is lost.
    with op.batch_alter_table("provider_deletions") as batch:
        batch.add_column(sa.Column("provider_ids", sa.Text(), nullable=True))
    op.execute(deletions.update().values(provider_ids=deletions.c.provider_id))
    with op.batch_alter_table("provider_deletions") as batch:
        batch.drop_column("provider_id")
        batch.alter_column("provider_ids", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    # Back to a row per id: each job's first id stays on its row, the others get new rows.
    with op.batch_alter_table("provider_deletions") as batch:
        batch.add_column(sa.Column("provider_id", sa.String(64), nullable=True))
    bind = op.get_bind()
    jobs = bind.execute(sa.select(deletions)).mappings().all()
    for job in jobs:
        first, *others = job["provider_ids"].split(" ")
        bind.execute(
            deletions.update().where(deletions.c.id == job["id"]).values(provider_id=first)
        )
        for provider_id in others:
            bind.execute(
                deletions.insert().values(
                    id=secrets.token_hex(16),
                    channel=job["channel"],
                    provider_id=provider_id,
                    provider_ids="",
                    status=job["status"],
                    attempts=job["attempts"],
                    next_attempt_at=job["next_attempt_at"],
                )
            )
    with op.batch_alter_table("provider_deletions") as batch:
        batch.drop_column("provider_ids")
        batch.alter_column("provider_id", existing_type=sa.String(64), nullable=False)
