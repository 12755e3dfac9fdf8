"""Building the account index from the database, on every core for large tables.

Most of a build is preparing accounts (names normalised, domains split by the Public Suffix
List: ``AccountIndex.prepare``), which is pure and independent per account. For a large table
the id order is cut into slices; each slice is read and prepared in its own *spawned* process
(not forked: the API process has threads and a Redis client, and a fork would copy their locks
mid-use; as with any spawn, the program's main module must be import-safe, i.e. guarded by
``if __name__ == "__main__"``, as the ``leadmatch`` script, uvicorn and pytest are) and sent back in chunks as plain tuples (``matcher.matching.keys.pack_features``). This process
only files them (``AccountIndex.add_prepared``). The result is the index a one-process build
makes: same accounts, same postings, so the same answers.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import multiprocessing
import os
import queue as queue_mod
import time
import traceback
from typing import Callable

from sqlalchemy import Engine

from api.matching import store
from api.db import make_engine
from config.matching import MatchingRules
from matcher.matching.index import AccountIndex
from matcher.matching import keys
from matcher.matching.index import bulk_building

# Below this, starting processes (about a second each) costs more than it saves.
PARALLEL_MIN_ACCOUNTS = 100_000
CHUNK = 2_000
WORKER_TIMEOUT_S = 600  # no chunk for this long: the worker is stuck or dead

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
    ctx = multiprocessing.get_context("spawn")
    chunks = ctx.Queue(maxsize=4 * len(bounds))  # back-pressure: workers wait while we file
    procs = [ctx.Process(target=_prepare_slice, args=(url, rules, low, high, chunks), daemon=True)
             for low, high in bounds]
    for p in procs:
        p.start()
    try:
        running = len(procs)
        quiet_since = time.monotonic()
        while running:
            try:
                msg = chunks.get(timeout=1.0)
            except queue_mod.Empty:
                # a process that died without a word (killed, or it could not even start)
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"index build: a loading process failed (exit code {dead[0].exitcode})") from None
                if time.monotonic() - quiet_since > WORKER_TIMEOUT_S:
                    raise RuntimeError("index build: the loading processes sent nothing for "
                                       f"{WORKER_TIMEOUT_S} s") from None
                continue
            quiet_since = time.monotonic()
            if msg is None:
                running -= 1
            elif isinstance(msg, str):
                raise RuntimeError(f"index build: a loading process failed:\n{msg}")
            else:
                for packed in msg:
                    index.add_prepared(keys.unpack_features(packed))
                if progress:
                    progress(len(msg))
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()


def _prepare_slice(url: str, rules: MatchingRules, low: str | None, high: str | None,
                   out: "multiprocessing.Queue") -> None:
    """In a spawned process: read the accounts with ``low <= id < high``, prepare them and
    send them in chunks; then None (done) or a traceback (failed)."""
    gc.disable()  # this process only makes acyclic records, then exits
    try:
        preparer = AccountIndex(rules)
        engine = make_engine(url)
        chunk: list[tuple] = []
        with engine.connect() as conn:
            for account in store.load_accounts(conn, id_range=(low, high)):
                chunk.append(keys.pack_features(preparer.prepare(account)))
                if len(chunk) >= CHUNK:
                    out.put(chunk)
                    chunk = []
        if chunk:
            out.put(chunk)
        engine.dispose()
        out.put(None)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        out.put(traceback.format_exc())
