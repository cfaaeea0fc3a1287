"""Handoffs to advocates, dashboard sessions, two-factor, presence, rota, notes, audit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("totp_secret", sa.LargeBinary(), nullable=True))
        users.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        users.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        users.add_column(sa.Column("locked_until", _TZ, nullable=True))
        users.add_column(
            sa.Column("available", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        users.add_column(sa.Column("last_seen_at", _TZ, nullable=True))

    op.create_table(
        "dashboard_sessions",
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("last_seen_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_dashboard_sessions_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_digest", name="pk_dashboard_sessions"),
    )  # fmt: skip
    op.create_index("ix_dashboard_sessions_user_id", "dashboard_sessions", ["user_id"])

    op.create_table(
        "handoffs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("alias", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("claimed_by", sa.String(32), nullable=True),
        sa.Column("claimed_at", _TZ, nullable=True),
        sa.Column("offered_to", sa.String(32), nullable=True),
        sa.Column("offered_at", _TZ, nullable=True),
        sa.Column("offered_before", sa.String(2000), nullable=False),
        sa.Column("escalated_at", _TZ, nullable=True),
        sa.Column("ended_at", _TZ, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"],
            name="fk_handoffs_conversation_id_conversations", ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["users.id"], name="fk_handoffs_claimed_by_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["offered_to"], ["users.id"], name="fk_handoffs_offered_to_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
    )  # fmt: skip
    op.create_index("ix_handoffs_conversation_id", "handoffs", ["conversation_id"])
    op.create_index("ix_handoffs_status", "handoffs", ["status"])
    op.create_index("ix_handoffs_claimed_by", "handoffs", ["claimed_by"])

    op.create_table(
        "handoff_notes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("handoff_id", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("author_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["handoff_id"], ["handoffs.id"], name="fk_handoff_notes_handoff_id_handoffs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"],
            name="fk_handoff_notes_conversation_id_conversations", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name="fk_handoff_notes_author_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_notes"),
    )  # fmt: skip
    op.create_index("ix_handoff_notes_handoff_id", "handoff_notes", ["handoff_id"])
    op.create_index("ix_handoff_notes_conversation_id", "handoff_notes", ["conversation_id"])

    op.create_table(
        "canned_responses",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("body", sa.String(1000), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_canned_responses"),
    )
    op.create_index("ix_canned_responses_language", "canned_responses", ["language"])

    op.create_table(
        "rota_shifts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_rota_shifts_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rota_shifts"),
    )
    op.create_index("ix_rota_shifts_user_id", "rota_shifts", ["user_id"])

    op.create_table(
        "rota_overrides",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("starts_at", _TZ, nullable=False),
        sa.Column("ends_at", _TZ, nullable=False),
        sa.Column("on_call", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_rota_overrides_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rota_overrides"),
    )  # fmt: skip
    op.create_index("ix_rota_overrides_user_id", "rota_overrides", ["user_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("actor_id", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("target", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor_id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])


def downgrade() -> None:
    for table in (
        "audit_log", "rota_overrides", "rota_shifts", "canned_responses", "handoff_notes",
        "handoffs", "dashboard_sessions",
    ):  # fmt: skip
        op.drop_table(table)
    with op.batch_alter_table("users") as users:
        for column in (
            "last_seen_at", "available", "locked_until", "failed_logins", "totp_last_step",
            "totp_secret",
        ):  # fmt: skip
            users.drop_column(column)
