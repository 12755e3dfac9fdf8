"""The migrations build exactly the schema the ORM rows declare (api/db/rows/), on both backends:
tables, columns, nullability and indexes. A row added without its migration (or the other way
round) fails here, not on a fresh deployment."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from api.db.rows import Base


def test_the_migrated_schema_is_the_rows_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = [d for d in compare_metadata(context, Base.metadata) if not _ignored(d)]
    finally:
        engine.dispose()
    assert diff == [], "\n".join(map(str, diff))


# tables that are not rows: Alembic's own, and the index generation kept by triggers (migration
# 0005, read with plain SQL by api/matching/index_snapshot.py)
NOT_ROWS = {"alembic_version", "index_generation", "index_changes"}


def _ignored(entry) -> bool:  # noqa: ANN001 - an alembic diff entry (a tuple or a list of them)
    return isinstance(entry, tuple) and entry[0] == "remove_table" and entry[1].name in NOT_ROWS
