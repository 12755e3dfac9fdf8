"""The opportunity's next step as the CRM has it: opportunities.next_step (what, free text) and
next_step_at (when), both nullable; the pipeline review lists open opportunities without one or
with one overdue (api/pipeline/, docs/gone_dark.md).

Revision ID: 0014_next_step
Revises: 0013_reports
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_next_step"
down_revision = "0013_reports"
branch_labels = None
depends_on = None

# api.db.rows.UTCDateTime is this type with UTC conversion on the way in and out
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("opportunities") as batch:
        batch.add_column(sa.Column("next_step", sa.Text(), nullable=True))
        batch.add_column(sa.Column("next_step_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("opportunities") as batch:
        batch.drop_column("next_step_at")
        batch.drop_column("next_step")
