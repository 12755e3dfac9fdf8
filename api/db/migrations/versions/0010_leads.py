"""Lead intake: leads with their match, conversion, route and SLA; the history of their routing.

Revision ID: 0010_leads
Revises: 0009_webhook_outbox
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_leads"
down_revision = "0009_webhook_outbox"
branch_labels = None
depends_on = None

# api.db.rows.UTCDateTime is this type with UTC conversion on the way in and out
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(100)),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("occurred_at", UTC_DATETIME, nullable=False),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(64)),
        sa.Column("match", sa.JSON(), nullable=False),
        sa.Column("contact_id", sa.String(64)),
        sa.Column("owner", sa.String(300)),
        sa.Column("queue", sa.String(300)),
        sa.Column("rule", sa.String(300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("routed_at", UTC_DATETIME, nullable=False),
        sa.Column("sla_state", sa.String(32), nullable=False),
        sa.Column("sla_due_at", UTC_DATETIME),
        sa.Column("acted_at", UTC_DATETIME),
        sa.Column("first_action_minutes", sa.Float()),
        sa.Column("reassignments", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("escalated_at", UTC_DATETIME),
        sa.Column("review_state", sa.String(32)),
        sa.Column("resolution", sa.JSON()),
    )
    op.create_index("ix_leads_account_id", "leads", ["account_id"])
    op.create_index("ix_leads_owner_received", "leads", ["owner", "received_at"])
    op.create_index("ix_leads_queue_received", "leads", ["queue", "received_at"])
    op.create_index("ix_leads_sla_due", "leads", ["sla_state", "sla_due_at"])
    op.create_index("ix_leads_review", "leads", ["review_state", "received_at"])
    op.create_table(
        "lead_routings",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column("lead_id", sa.String(64), sa.ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(300)),
        sa.Column("queue", sa.String(300)),
        sa.Column("rule", sa.String(300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("pool", sa.String(300)),
        sa.Column("turn", sa.Integer()),
        sa.Column("turn_backend", sa.String(16)),
        sa.Column("considered", sa.JSON(), nullable=False),
        sa.Column("sla_due_at", UTC_DATETIME),
        sa.Column("by", sa.String(300)),
    )
    op.create_index("ix_lead_routings_lead_id", "lead_routings", ["lead_id"])
    op.create_index("ix_lead_routings_turn", "lead_routings", ["pool", "turn_backend", "turn"])


def downgrade() -> None:
    op.drop_table("lead_routings")
    op.drop_table("leads")
