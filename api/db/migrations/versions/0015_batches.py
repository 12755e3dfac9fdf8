"""Batch uploads (api/batches/, docs/batches.md): ``batches`` (one row per job), ``batch_files``
(the upload's bytes in ~1 MiB pieces, so any worker on any machine can read it) and
``batch_chunks`` (each chunk's parsed input, lease, and checkpointed part of the result files).

Revision ID: 0015_batches
Revises: 0014_next_step
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_batches"
down_revision = "0014_next_step"
branch_labels = None
depends_on = None

# api.db.rows.UTCDateTime is this type with UTC conversion on the way in and out
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("filename", sa.String(300), nullable=True),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("route", sa.Boolean(), nullable=False),
        sa.Column("mapping_requested", sa.JSON(), nullable=True),
        sa.Column("mapping_used", sa.JSON(), nullable=True),
        sa.Column("header", sa.JSON(), nullable=True),
        sa.Column("encoding", sa.String(32), nullable=True),
        sa.Column("delimiter", sa.String(8), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("chunks_total", sa.Integer(), nullable=True),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(300), nullable=True),
        sa.Column("lease_until", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=True),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
    )
    op.create_index("ix_batches_content_sha256", "batches", ["content_sha256"])
    op.create_index("ix_batches_created", "batches", ["created_at"])
    op.create_index("ix_batches_state", "batches", ["state"])
    op.create_table(
        "batch_files",
        sa.Column("batch_id", sa.String(64), sa.ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "batch_chunks",
        sa.Column("batch_id", sa.String(64), sa.ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("input", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("worker", sa.String(300), nullable=True),
        sa.Column("lease_until", UTC_DATETIME, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("results", sa.LargeBinary(), nullable=True),
        sa.Column("errors", sa.LargeBinary(), nullable=True),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
    )
    op.create_index("ix_batch_chunks_state", "batch_chunks", ["batch_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_batch_chunks_state", "batch_chunks")
    op.drop_table("batch_chunks")
    op.drop_table("batch_files")
    op.drop_index("ix_batches_state", "batches")
    op.drop_index("ix_batches_created", "batches")
    op.drop_index("ix_batches_content_sha256", "batches")
    op.drop_table("batches")
