"""Administration: script versions and drafts, statistics events, settings set in the dashboard.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "script_versions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("script", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=True),
        sa.Column("created_by_name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by_name", sa.String(64), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_script_versions"),
        sa.UniqueConstraint("script", "number", name="uq_script_versions_script"),
    )
    op.create_table(
        "script_drafts",
        sa.Column("script", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("updated_by_name", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("script", name="pk_script_drafts"),
    )
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
    op.create_table(
        "admin_settings",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_by_name", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_admin_settings"),
    )


def downgrade() -> None:
    op.drop_table("admin_settings")
    op.drop_index("ix_stat_events_hour", table_name="stat_events")
    op.drop_table("stat_events")
    op.drop_table("script_drafts")
    op.drop_table("script_versions")
