"""After the close: close records, win/loss interviews, account dispositions, gone-dark episodes,
the content catalogue.

Revision ID: 0011_after_close
Revises: 0010_leads
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_after_close"
down_revision = "0010_leads"
branch_labels = None
depends_on = None

# api.db.rows.UTCDateTime is this type with UTC conversion on the way in and out
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "close_records",
        sa.Column("opportunity_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(300)),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("closed_at", UTC_DATETIME, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("answered_at", UTC_DATETIME),
        sa.Column("answered_by", sa.String(300)),
        sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_reminded_at", UTC_DATETIME),
        sa.Column("next_reminder_at", UTC_DATETIME),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_close_records_account_id", "close_records", ["account_id"])
    op.create_index("ix_close_records_state_owner", "close_records", ["state", "owner"])
    op.create_index("ix_close_records_reminder", "close_records", ["state", "next_reminder_at"])
    op.create_index("ix_close_records_closed_at", "close_records", ["closed_at"])
    op.create_table(
        "win_loss_interviews",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column("opportunity_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(300)),
        sa.Column("competitor", sa.String(300)),
        sa.Column("heard_from", sa.String(300)),
        sa.Column("notes", sa.Text()),
        sa.Column("interviewed_at", UTC_DATETIME, nullable=False),
        sa.Column("interviewer", sa.String(300)),
        sa.Column("recorded_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_win_loss_interviews_opportunity_id", "win_loss_interviews", ["opportunity_id"])
    op.create_index("ix_win_loss_interviews_account_id", "win_loss_interviews", ["account_id"])
    op.create_table(
        "account_dispositions",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("opportunity_id", sa.String(64)),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("until", UTC_DATETIME),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("by", sa.String(300)),
        sa.Column("superseded_at", UTC_DATETIME),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_account_dispositions_account_at", "account_dispositions", ["account_id", "at"])
    op.create_index("ix_account_dispositions_until", "account_dispositions", ["until"])
    op.create_table(
        "gone_dark_episodes",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("opportunity_id", sa.String(64)),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(300)),
        sa.Column("stage", sa.String(100)),
        sa.Column("dark_since", UTC_DATETIME, nullable=False),
        sa.Column("flagged_at", UTC_DATETIME, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("cadence", sa.JSON(), nullable=False),
        sa.Column("next_step_at", UTC_DATETIME),
        sa.Column("ended_at", UTC_DATETIME),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
    )
    op.create_index("ix_gone_dark_state_next", "gone_dark_episodes", ["state", "next_step_at"])
    op.create_index("ix_gone_dark_opportunity", "gone_dark_episodes", ["opportunity_id"])
    op.create_index("ix_gone_dark_episodes_account_id", "gone_dark_episodes", ["account_id"])
    op.create_table(
        "content_assets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32)),
        sa.Column("url", sa.Text()),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
    )


def downgrade() -> None:
    for table in ("content_assets", "gone_dark_episodes", "account_dispositions", "win_loss_interviews",
                  "close_records"):
        op.drop_table(table)
