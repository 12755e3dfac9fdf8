"""A generation number for what the matching index is built from, kept by the database itself.

Triggers on every table the index reads (accounts, account_domains, contacts, owners) count
the changes, whoever makes them (the API, an import, a hand-written UPDATE), so an index
snapshot taken at generation N is known to be current while the number is still N
(``api.matching.index_snapshot``). ``instance`` tells one database from another (or from itself
recreated) so a snapshot is never taken for another database's.

- SQLite (one writer at a time): row triggers add 1 to a single counter row.
- PostgreSQL (concurrent writers): statement triggers *append* a row of weight 1 to
  ``index_changes``; the generation is the sum of the weights. Appending takes no shared row
  lock, so concurrent writers neither wait for each other nor deadlock on a counter; the
  writers fold the log into one row of the same sum now and then (migration 0006).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXED_TABLES = ("accounts", "account_domains", "contacts", "owners")


def upgrade() -> None:
    op.create_table(
        "index_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=32), nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("id = 1", name="index_generation_one_row"),
    )
    op.execute(sa.text("INSERT INTO index_generation (id, instance, changes) VALUES (1, :i, 0)")
               .bindparams(i=uuid.uuid4().hex))
    if op.get_bind().dialect.name == "postgresql":
        op.create_table(
            "index_changes",
            sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
            sa.Column("weight", sa.BigInteger(), nullable=False, server_default="1"),
            sa.PrimaryKeyConstraint("id"),
        )
        op.execute("""
            CREATE FUNCTION leadmatch_note_index_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO index_changes (weight) VALUES (1);
                RETURN NULL;
            END $$""")
        for table in INDEXED_TABLES:
            op.execute(f"CREATE TRIGGER leadmatch_index_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION leadmatch_note_index_change()")
    else:
        for table in INDEXED_TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER leadmatch_index_{table}_{event.lower()} AFTER {event} ON {table} "
                           f"BEGIN UPDATE index_generation SET changes = changes + 1 WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in INDEXED_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS leadmatch_index_change ON {table}")
        op.execute("DROP FUNCTION IF EXISTS leadmatch_note_index_change()")
        op.drop_table("index_changes")
    else:
        for table in INDEXED_TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS leadmatch_index_{table}_{event}")
    op.drop_table("index_generation")
