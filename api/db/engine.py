"""Engines, sessions and migrations.

``make_engine`` knows the two databases we support: SQLite gets WAL (readers do not block the
writer, so two processes can share one file), a busy timeout and enforced foreign keys;
PostgreSQL gets a pre-ping pool.

Who commits: ``session_scope`` is the transaction owner, for a request (``api.deps.get_session``
opens it around the handler) and for code outside one (the CLI commands, the index's background
refresh). Stores, services and readers take the session or connection they are given and never
commit: whoever opened the transaction decides. The one other owner is the bulk recompute
(``api.qualification.recompute``): Core-level writes of a slice at a time, each slice its own
transaction on its own connection, documented there. Code that only reads may use
``engine.connect()``: leaving it rolls back.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event

if TYPE_CHECKING:  # the ORM is imported by what uses sessions, not by every engine user
    from sqlalchemy.orm import Session, sessionmaker

_ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
_MIGRATIONS = Path(__file__).with_name("migrations")

# Callbacks registered on a session run only after its transaction committed (index updates,
# cache invalidation, Redis notifications must never announce a change that was rolled back).
_AFTER_COMMIT = "leadmatch.after_commit"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs) -> Engine:
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API objects
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker
    # expire_on_commit=False: handlers read attributes after the dependency committed
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's transaction has committed (never on rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        callback()


def discard_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit on success, roll back on error, then run the after-commit callbacks."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        discard_after_commit(session)
        raise
    finally:
        session.close()
    run_after_commit(session)


def alembic_config(database_url: str):  # -> alembic.config.Config, imported lazily
    from alembic.config import Config

    cfg = Config(str(_ALEMBIC_INI))
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    # the URL goes in as an attribute, not through the ini file: '%' in passwords breaks ini parsing
    cfg.attributes["database_url"] = database_url
    return cfg


def migrate(database_url: str, revision: str = "head") -> None:
    """Bring the schema at ``database_url`` up to ``revision`` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)
