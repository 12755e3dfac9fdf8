"""Qualification: the ledger (activities, opportunities and their stage changes,
contracts, manual contact moves, account flags) and the derived statuses with their log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# api.db.rows.UTCDateTime is this type with UTC conversion on the way in and out
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("disqualified", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("partner", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("disqualified_at", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("partner_at", UTC_DATETIME, nullable=True))

    op.create_table(
        "activities",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", UTC_DATETIME, nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("campaign_id", sa.String(length=64), nullable=True),
        sa.Column("asset_id", sa.String(length=64), nullable=True),
        sa.Column("page_kind", sa.String(length=100), nullable=True),
        sa.Column("direction", sa.String(length=32), nullable=True),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_activities_account_id", "activities", ["account_id"])
    op.create_index("ix_activities_contact_id", "activities", ["contact_id"])
    op.create_index("ix_activities_unmatched_email", "activities", ["email"],
                    sqlite_where=sa.text("contact_id IS NULL"), postgresql_where=sa.text("contact_id IS NULL"))

    op.create_table(
        "opportunities",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("primary_contact_id", sa.String(length=64), nullable=True),
        sa.Column("owner", sa.String(length=300), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("opened_at", UTC_DATETIME, nullable=True),
        sa.Column("closed_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_opportunities_account_id", "opportunities", ["account_id"])
    op.create_table(
        "opportunity_stage_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("opportunity_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_opportunity_stage_changes_opportunity_id", "opportunity_stage_changes", ["opportunity_id"])

    op.create_table(
        "contracts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contracts_account_id", "contracts", ["account_id"])

    op.create_table(
        "manual_contact_moves",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("by", sa.String(length=300), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_manual_contact_moves_contact_id", "manual_contact_moves", ["contact_id"])

    op.create_table(
        "account_statuses",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("since", UTC_DATETIME, nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("engagement_points", sa.Float(), nullable=False),
        sa.Column("personas_engaged", sa.JSON(), nullable=False),
        sa.Column("rule_version", sa.String(length=100), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_index("ix_account_statuses_status", "account_statuses", ["status"])
    op.create_table(
        "contact_statuses",
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("since", UTC_DATETIME, nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("persona", sa.String(length=32), nullable=True),
        sa.Column("seniority", sa.String(length=32), nullable=True),
        sa.Column("rule_version", sa.String(length=100), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("contact_id"),
    )
    op.create_index("ix_contact_statuses_account_id", "contact_statuses", ["account_id"])
    op.create_table(
        "status_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity_kind", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("since", UTC_DATETIME, nullable=False),
        sa.Column("old_status", sa.String(length=32), nullable=True),
        sa.Column("new_status", sa.String(length=32), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("rule_version", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_status_transitions_account_id_id", "status_transitions", ["account_id", "id"])
    op.create_index("ix_status_transitions_entity", "status_transitions", ["entity_kind", "entity_id", "id"])


def downgrade() -> None:
    for table in ("status_transitions", "contact_statuses", "account_statuses", "manual_contact_moves",
                  "contracts", "opportunity_stage_changes", "opportunities", "activities"):
        op.drop_table(table)
    with op.batch_alter_table("accounts") as batch:
        for column in ("partner_at", "disqualified_at", "partner", "disqualified"):
            batch.drop_column(column)
