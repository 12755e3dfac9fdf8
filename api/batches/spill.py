"""A mapping kept in a temporary SQLite file instead of memory, for state that grows with every
row of an upload (``matcher.batches.output.FirstSeen``: the first line of each email). Kept in
memory, that state was about 600 bytes a row: preparing an 800,000-row list peaked at 635 MiB,
against 166 MiB without it (measured with the upload of benchmarks' distinct leads, see
docs/batches.md "Memory and speed"). On disk the process stays flat whatever the list's length.

Keys are strings; values are what ``marshal`` keeps (tuples, lists, strings, numbers, None):
a value comes back equal, not the same object (a tuple stays a tuple, a list a list). Nothing is
shared between processes or kept after ``close``: the file is deleted with its directory.
"""
from __future__ import annotations

import marshal
import sqlite3
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any


# the pages SQLite keeps in memory: the bound on what this map costs, whatever it holds
CACHE_KIB = 32 * 1024


class DiskMap(MutableMapping[str, Any]):
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="leadmatch-spill-")
        # one private connection, no journal and no syncing: the file is scratch, never read
        # after a crash; one open transaction, so a write is a B-tree insert, not a commit
        self._db = sqlite3.connect(Path(self._dir.name) / "map.sqlite", isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._db.execute("PRAGMA locking_mode = EXCLUSIVE")
        self._db.execute("CREATE TABLE map (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
        self._db.execute("BEGIN")

    def __getitem__(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM map WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return marshal.loads(row[0])

    def get(self, key: str, default: Any = None) -> Any:  # one query, not __contains__ then __getitem__
        row = self._db.execute("SELECT value FROM map WHERE key = ?", (key,)).fetchone()
        return default if row is None else marshal.loads(row[0])

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` (this very object) stored for it: for a new key one
        insert, not a lookup and an insert."""
        if self._db.execute("INSERT OR IGNORE INTO map (key, value) VALUES (?, ?)",
                            (key, marshal.dumps(default))).rowcount == 1:
            return default
        return self[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO map (key, value) VALUES (?, ?)", (key, marshal.dumps(value)))

    def __delitem__(self, key: str) -> None:
        if self._db.execute("DELETE FROM map WHERE key = ?", (key,)).rowcount == 0:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([key for (key,) in self._db.execute("SELECT key FROM map ORDER BY key")])

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM map").fetchone()[0]

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def __enter__(self) -> DiskMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
