"""Building the account index from the database, on every core for large tables.

Most of a build is preparing accounts (names normalised, domains split by the Public Suffix
List: ``AccountIndex.prepare``), which is pure and independent per account. For a large table
the id order is cut into slices; each slice is read and prepared in its own *spawned* process
(``api.procs``; not forked: the API process has threads and a Redis client, and a fork would copy
their locks mid-use) and sent back in chunks as plain tuples (``matcher.matching.keys.pack_features``).
This process only files them (``AccountIndex.add_prepared``). The result is the index a one-process build
makes: same accounts, same postings, so the same answers.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from typing import Callable, Iterator

from sqlalchemy import Engine

from api import procs
from api.matching import store
from api.db import make_engine
from config.matching import MatchingRules
from matcher.matching.index import AccountIndex
from matcher.matching import keys
from matcher.matching.index import bulk_building

# Below this, starting processes (about a second each) costs more than it saves.
PARALLEL_MIN_ACCOUNTS = 100_000
CHUNK = 2_000
WORKER_TIMEOUT_S = 600  # no chunk for this long: the workers are stuck

Progress = Callable[[int], None]


def build_index(engine: Engine, rules: MatchingRules, *, workers: int | None = None,
                progress: Progress | None = None, long_lived: bool = True) -> AccountIndex:
    """A fresh index of every account; ``progress(n)`` is told how many more are filed.
    ``workers``: preparing processes (default: one per core; 1 = all in this process).
    ``long_lived=False``: for a batch process, skip collecting the load's garbage."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    index = AccountIndex(rules)
    with engine.connect() as conn:
        total = store.count_accounts(conn)
        cuts = store.account_id_quantiles(conn, workers, total) if workers > 1 and total >= PARALLEL_MIN_ACCOUNTS else []
    with bulk_building():
        _fill(index, engine, rules, cuts, progress)
    if len(index) >= 10_000:
        index.settle(collect=long_lived)
        release_free_memory()
    return index


def release_free_memory() -> None:
    """Hand the memory a build freed (rows, chunks, the sets ``settle`` compacted) back to the
    system: glibc keeps freed heap memory for reuse, so the process would go on holding about
    a tenth more than its index. A no-op where the C library has no ``malloc_trim``."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _fill(index: AccountIndex, engine: Engine, rules: MatchingRules, cuts: list[str],
          progress: Progress | None) -> None:
    if not cuts:
        with engine.connect() as conn:
            n = 0
            for account in store.load_accounts(conn):
                index.upsert(account)
                n += 1
                if progress and n % CHUNK == 0:
                    progress(CHUNK)
            if progress and n % CHUNK:
                progress(n % CHUNK)
    else:
        bounds = list(zip([None, *cuts], [*cuts, None]))
        _build_in_processes(engine.url.render_as_string(hide_password=False), rules, bounds, index, progress)


def _build_in_processes(url: str, rules: MatchingRules, bounds: list, index: AccountIndex,
                        progress: Progress | None) -> None:
    # back-pressure: a few chunks per process wait here while this process files
    with procs.Pool(_prepare_slice, processes=len(bounds), start_method="spawn", initializer=_SlicePreparer,
                    initargs=(url, rules), finalizer=_SlicePreparer.close, results_backlog=4 * len(bounds),
                    quiet_timeout=WORKER_TIMEOUT_S, name="index build: a loading process") as pool:
        for chunk in pool.as_completed(bounds):
            for packed in chunk:
                index.add_prepared(keys.unpack_features(packed))
            if progress:
                progress(len(chunk))


class _SlicePreparer:
    """A loading process's engine and preparing index (the process only makes acyclic records,
    then exits: the cyclic GC stays off)."""

    def __init__(self, url: str, rules: MatchingRules) -> None:
        gc.disable()
        self.preparer = AccountIndex(rules)
        self.engine = make_engine(url)

    def close(self) -> None:
        self.engine.dispose()


def _prepare_slice(state: _SlicePreparer, bounds: tuple[str | None, str | None]) -> Iterator[list[tuple]]:
    """In a loading process: the accounts with ``low <= id < high``, prepared and packed, in chunks."""
    chunk: list[tuple] = []
    with state.engine.connect() as conn:
        for account in store.load_accounts(conn, id_range=bounds):
            chunk.append(keys.pack_features(state.preparer.prepare(account)))
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
