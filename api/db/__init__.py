"""The database platform: engines, sessions, the transaction owner and migrations (``engine``),
the ORM rows (``rows``) and the one bulk upsert routine (``bulk``)."""
from api.db.engine import (after_commit, alembic_config, discard_after_commit, is_sqlite, make_engine,
                           make_sessionmaker, migrate, run_after_commit, session_scope)

__all__ = ["after_commit", "alembic_config", "discard_after_commit", "is_sqlite", "make_engine",
           "make_sessionmaker", "migrate", "run_after_commit", "session_scope"]
