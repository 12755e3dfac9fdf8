"""Time-driven status changes: account_statuses.review_at, the instant the account's status could
next change with no new input (a disposition's until, a contract's edges, decay), and its index
for the scheduler's requalify_due task (api/scheduling/).

Revision ID: 0012_review_at
Revises: 0011_after_close
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_review_at"
down_revision = "0011_after_close"
branch_labels = None
depends_on = None

# api.db.rows.UTCDateTime is this type with UTC conversion on the way in and out
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("account_statuses") as batch:
        batch.add_column(sa.Column("review_at", UTC_DATETIME, nullable=True))
    op.create_index("ix_account_statuses_review_at", "account_statuses", ["review_at"])


def downgrade() -> None:
    op.drop_index("ix_account_statuses_review_at", table_name="account_statuses")
    with op.batch_alter_table("account_statuses") as batch:
        batch.drop_column("review_at")
