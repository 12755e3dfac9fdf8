"""Routing: round-robin state (pool turn counters, per-pool member loads, per-member day and week
counts for the caps) and the stored routing configuration (every version, and the head row a
write locks). See api/db/rows/routing.py.

Revision ID: 0007_routing
Revises: 0006
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_routing"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_pool_turns",
        sa.Column("pool", sa.String(length=100), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pool"),
    )
    op.create_table(
        "routing_pool_loads",
        sa.Column("pool", sa.String(length=100), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("assigned", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pool", "member"),
    )
    op.create_table(
        "routing_member_counts",
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("member", "period"),
    )
    op.create_table(
        "routing_configs",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_table(
        "routing_config_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for table in ("routing_config_head", "routing_configs", "routing_member_counts", "routing_pool_loads",
                  "routing_pool_turns"):
        op.drop_table(table)
