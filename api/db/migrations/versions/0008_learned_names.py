"""learned_names: aliases and domains of accounts that a person taught through a review.

The index reads this table with the accounts, so its changes count towards the index
generation like those of the other tables it reads (migration 0005's triggers: a row trigger
on SQLite, the statement trigger that appends to ``index_changes`` on PostgreSQL, folded as
migration 0006 does). A learned name goes with its account (ON DELETE CASCADE).

Revision ID: 0008_learned_names
Revises: 0007_routing
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_learned_names"
down_revision = "0007_routing"
branch_labels = None
depends_on = None

TABLE = "learned_names"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("learned_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "kind", "value", name="uq_learned_names_account_kind_value"),
    )
    op.create_index("ix_learned_names_account_id", TABLE, ["account_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TRIGGER leadmatch_index_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION leadmatch_note_index_change()")
    else:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER leadmatch_index_{TABLE}_{event.lower()} AFTER {event} ON {TABLE} "
                       f"BEGIN UPDATE index_generation SET changes = changes + 1 WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS leadmatch_index_change ON {TABLE}")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS leadmatch_index_{TABLE}_{event}")
    op.drop_index("ix_learned_names_account_id", table_name=TABLE)
    op.drop_table(TABLE)
