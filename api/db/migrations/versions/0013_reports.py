"""Indexes the win/loss reports read by (api/reports/store.py): an account's events in a time
window (with the columns the reports test, so PostgreSQL answers from the index alone),
opportunities by close and open time, stage changes and status transitions by time, and each
account's latest status before an instant.

Revision ID: 0013_reports
Revises: 0012_review_at
Create Date: 2026-12-03
"""
from __future__ import annotations

from alembic import op

revision = "0013_reports"
down_revision = "0012_review_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_activities_account_time", "activities", ["account_id", "occurred_at"],
                    postgresql_include=["type", "direction", "contact_id", "asset_id"])
    op.create_index("ix_opportunities_closed_at", "opportunities", ["closed_at"])
    op.create_index("ix_opportunities_opened_at", "opportunities", ["opened_at"])
    op.create_index("ix_opportunity_stage_changes_at", "opportunity_stage_changes", ["at"])
    op.create_index("ix_status_transitions_kind_since", "status_transitions", ["entity_kind", "since"])
    op.create_index("ix_status_transitions_latest", "status_transitions",
                    ["entity_kind", "entity_id", "since", "id"],
                    postgresql_include=["new_status"])


def downgrade() -> None:
    op.drop_index("ix_status_transitions_latest", "status_transitions")
    op.drop_index("ix_status_transitions_kind_since", "status_transitions")
    op.drop_index("ix_opportunity_stage_changes_at", "opportunity_stage_changes")
    op.drop_index("ix_opportunities_opened_at", "opportunities")
    op.drop_index("ix_opportunities_closed_at", "opportunities")
    op.drop_index("ix_activities_account_time", "activities")
