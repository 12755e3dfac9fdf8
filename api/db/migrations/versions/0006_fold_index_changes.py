"""PostgreSQL: the writers keep the index change log short themselves.

Migration 0005 appends a row to ``index_changes`` for every statement that changes what the
index reads; only ``leadmatch match-file`` folded the log. A service that never runs it (one
contact write per ingested activity batch, say) would grow the log by hundreds of thousands of
rows a day, and reading the generation (its sum) would slow down with it. Now every 100th
change also folds the log into one row of the same total weight: only the rows no other
transaction is folding at that moment (``FOR UPDATE SKIP LOCKED``: no writer ever waits for
another, so no deadlock) and that this transaction can see, so the sum is kept exactly.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FOLD_EVERY = 100


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE OR REPLACE FUNCTION leadmatch_note_index_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            new_id bigint;
        BEGIN
            INSERT INTO index_changes (weight) VALUES (1) RETURNING id INTO new_id;
            IF new_id % {FOLD_EVERY} = 0 THEN
                WITH gone AS (
                    DELETE FROM index_changes
                    WHERE id IN (SELECT id FROM index_changes FOR UPDATE SKIP LOCKED)
                    RETURNING weight
                )
                INSERT INTO index_changes (weight) SELECT sum(weight) FROM gone HAVING count(*) > 0;
            END IF;
            RETURN NULL;
        END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE OR REPLACE FUNCTION leadmatch_note_index_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO index_changes (weight) VALUES (1);
            RETURN NULL;
        END $$""")
