"""``leadmatch match-file``: every lead of a CSV matched against the index (built from the database,
or restored from its snapshot), distinct leads only, in forked processes when there are several cores."""
from __future__ import annotations

import contextlib
import gc
import os
import time
from pathlib import Path
from typing import Annotated, Iterable, Iterator

import typer

from api import console, procs

# leads read per step; their distinct answers are matched together, one step ahead of the
# writing (``distinct.match_distinct_ahead``): small enough that the matching processes start
# soon after the file is opened and the last step's writing is short
MATCH_CHUNK = 4000
OUT_COLUMNS = ("lead_id", "decision", "account_id", "confidence", "owner", "reasons")


def build_index(long_lived: bool = True, snapshot: bool = False):  # noqa: ANN201 - matcher.AccountIndex
    """The account index of the database named by DATABASE_URL: built from it, or with
    ``snapshot``, read from a current snapshot when there is one (and saved after a build)."""
    return _index_or_snapshot(long_lived, snapshot, 0)


def _index_or_snapshot(long_lived: bool, snapshot: bool, hand_over_bytes: int):  # noqa: ANN202
    """``build_index``; or, when a current snapshot's body is at most ``hand_over_bytes``, that
    ``index_snapshot.Snapshot`` itself, for the matching processes to restore."""
    # what a run from a snapshot needs; SQLAlchemy, the ORM and the loaders only for a build
    from api.matching import index_snapshot
    from config import load_matching_rules
    from matcher.matching.index import bulk_building

    settings = console.settings()
    rules = load_matching_rules(settings.matching_rules)
    started = time.perf_counter()
    generation = _index_generation(settings.database_url) if snapshot else None  # before the accounts are read
    path = index_snapshot.snapshot_path(index_snapshot.snapshot_dir(settings.cache_dir), settings.database_url)
    if generation is not None:
        found = index_snapshot.read(path, rules, generation)
        if found is not None and len(found.body) <= hand_over_bytes:
            console.err.print(f"index: {found.accounts} accounts in the snapshot {path}, restored by each matching process")
            return found
        if found is not None:
            with bulk_building():
                index = index_snapshot.restore(found, rules)
            if index is not None:
                index.settle(collect=long_lived)
                console.err.print(f"index: {len(index)} accounts from the snapshot {path} in "
                          f"{time.perf_counter() - started:.2f} s")
                return index
    from api.matching import index_load
    from api.matching import store
    from api.db import make_engine

    engine = make_engine(settings.database_url)

    with engine.connect() as conn:
        total = store.count_accounts(conn)
    with console.progress(transient=True) as progress:
        task = progress.add_task("loading accounts", total=total)
        index = index_load.build_index(engine, rules, progress=lambda n: progress.advance(task, n),
                                       long_lived=long_lived)
    if generation is not None:
        try:
            index_snapshot.save(path, index, generation)
            console.err.print(f"index: {len(index)} accounts built in {time.perf_counter() - started:.2f} s, "
                      f"snapshot saved to {path}")
        except Exception as exc:  # noqa: BLE001 - a cache: the run goes on without it
            console.err.print(f"[yellow]warning:[/] index snapshot not saved ({exc})")
    engine.dispose()
    return index


def _index_generation(database_url: str) -> tuple[str, int] | None:
    from api.matching import index_snapshot

    found = index_snapshot.read_sqlite_generation(database_url)
    if found is not None:
        return found
    from sqlalchemy.exc import DBAPIError

    from api.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return index_snapshot.read_generation(conn)
    except DBAPIError:
        console.err.print("[yellow]warning:[/] this database has no index generation yet (run `leadmatch migrate`); "
                  "building the index without a snapshot")
        return None
    finally:
        engine.dispose()


def _answer_columns(r) -> tuple[str, str, str, str, str]:  # noqa: ANN001 - a MatchResult
    """decision, account_id, confidence, owner, reasons of one answer, as the file shows them."""
    owner = r.route.owner if r.route is not None else None
    return (r.decision, r.account_id or "", f"{r.confidence:.4f}", owner or "", " | ".join(r.reasons))


def _result_rows(items: list, answers: list) -> Iterator[tuple]:
    """Output rows in input order: the answers of the readable leads, an error row for the rest."""
    from api import csvio

    answers_left = iter(answers)
    for it in items:
        if isinstance(it, csvio.RowError):
            where = f"line {it.line}" + (f": {it.field}" if it.field else "")
            yield (it.row_id or "", "error", "", "", "", f"{where}: {it.message}")
        else:
            yield (it.lead_id, *next(answers_left))


def match_file(
    leads: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with email,company,... columns")],
    out: Annotated[Path, typer.Option("--out", "-o", help="results CSV to write")],
    workers: Annotated[int, typer.Option(min=0, help="matching processes; 0 = one per CPU core")] = 0,
    snapshot: Annotated[bool, typer.Option(
        help="reuse the index snapshot saved by an earlier run while the accounts are unchanged "
             "(kept in LEADMATCH_CACHE_DIR, default ~/.cache/leadmatch)")] = True,
) -> None:
    """Match every lead of a CSV; writes one row per input row, in input order:
    lead_id,decision,account_id,confidence,owner,reasons (an unreadable row: decision=error)."""
    from api import csvio
    from api.matching import index_snapshot
    from matcher.matching import distinct

    workers = workers or os.cpu_count() or 1
    started = time.perf_counter()
    # with several processes and a small snapshot, each process restores the index itself, in
    # parallel and while this one reads the file; a large index is loaded here once and shared
    source = _index_or_snapshot(False, snapshot, HAND_OVER_MAX_BYTES if _can_fork(workers) else 0)
    accounts = source.accounts if isinstance(source, index_snapshot.Snapshot) else len(source)
    loaded = time.perf_counter()
    try:
        total = max(0, _count_lines(leads) - 1)
        counts: dict[str, int] = {}
        memo: dict = {}  # answers so far, by answer key: the index does not change during a file
        with open(out, "w", newline="", encoding="utf-8") as fh, console.progress() as progress, \
                _lead_answerer(source, workers) as (submit, collect):
            writer = csvio.csv_writer(fh)  # CSV injection: docs/batches.md
            writer.writerow(OUT_COLUMNS)
            task = progress.add_task("matching leads", total=total)
            chunks = ((items, [it.lead for it in items if not isinstance(it, csvio.RowError)])
                      for items in _chunks(csvio.iter_leads(leads), MATCH_CHUNK))
            # the next chunk is read and handed to the matching processes before this one's
            # answers are waited for and written: they need not wait for this process
            for items, answers in distinct.match_distinct_ahead(chunks, memo, submit, collect):
                for row in _result_rows(items, answers):
                    writer.writerow(row)
                    counts[row[1]] = counts.get(row[1], 0) + 1
                progress.advance(task, len(items))
            progress.update(task, total=sum(counts.values()), completed=sum(counts.values()))
    except ValueError as exc:
        console.err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    global left_for_exit
    # the results file is closed: nothing is left to flush but stdio. Holding the index here
    # keeps it from being freed when this function returns (see ``api/cli.py`` ``main``).
    left_for_exit = (source, memo)
    n = sum(counts.values())
    took = time.perf_counter() - loaded
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    console.err.print(f"{n} leads ({summary}) matched against {accounts} accounts in {took:.2f} s "
              f"({n / took if took else 0:.0f} leads/s on {workers} process{'es' if workers > 1 else ''}; "
              f"index load {loaded - started:.1f} s) -> {out}")


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# fewer distinct leads than this are matched here when this process has the index
FORK_MIN_LEADS = 64


# a snapshot body up to this size (about 250,000 accounts) is restored by every matching
# process (in parallel, each its own copy); a larger index is loaded once and shared
HAND_OVER_MAX_BYTES = 48 * 2**20


def _can_fork(workers: int) -> bool:
    return workers > 1 and procs.can_fork()


def _restore_in_fork(snapshot, rules):  # noqa: ANN001, ANN202 - index_snapshot.Snapshot, MatchingRules -> AccountIndex | None
    from api.matching import index_snapshot
    from matcher.matching.index import bulk_building

    with bulk_building():
        index = index_snapshot.restore(snapshot, rules)
    if index is not None:
        index.settle(collect=False)
    return _without_cycle_collection(index)


def _without_cycle_collection(index):  # noqa: ANN001, ANN202 - AccountIndex | None
    """A matching process only matches leads, and matching makes no reference cycles
    (``tests/matcher/matching/test_index.py`` checks): the cyclic collector would only walk the
    accounts it unpacks and the answers it makes, again and again, for nothing to free.
    Reference counting still frees everything, and the process ends with the run."""
    gc.disable()
    return index


def _answer_in_fork(index, leads: list) -> list[tuple]:  # noqa: ANN001 - AccountIndex | None
    if index is None:
        raise RuntimeError("the index snapshot could not be restored in a matching process")
    return [_answer_columns(index.match(lead)) for lead in leads]


@contextlib.contextmanager
def _lead_answerer(source, workers: int) -> Iterator[tuple]:  # noqa: ANN001 - AccountIndex | Snapshot
    """``(submit, collect)``: ``submit(leads)`` hands distinct leads over and returns a handle,
    ``collect(handle)`` their output columns, in order. Answered in this process, or spread
    over ``workers`` forked processes (``api.procs``) that share the built index (inherited
    copy-on-write: built once, never pickled) or restore it from the snapshot ``source``;
    there ``submit`` does not wait, so the next leads can be read meanwhile. Only distinct
    leads are sent (``distinct.match_distinct_ahead`` leaves out the ones answered before), so
    the processes carry the matching and this one the reading, deduplicating and writing."""
    from api.matching import index_snapshot

    index = None if isinstance(source, index_snapshot.Snapshot) else source

    def here(leads: list) -> list[tuple]:
        return [_answer_columns(index.match(lead)) for lead in leads]

    if not _can_fork(workers):
        if index is None:
            raise RuntimeError("a snapshot is handed to matching processes only when they can be forked")
        yield here, _answered
        return
    if index is not None:
        # forked: the child's is this one, shared copy-on-write
        initializer, initargs = _without_cycle_collection, (index,)
    else:
        from config import load_matching_rules

        initializer, initargs = _restore_in_fork, (source, load_matching_rules(console.settings().matching_rules))
    with procs.Pool(_answer_in_fork, processes=workers, start_method="fork", initializer=initializer,
                    initargs=initargs, name="a matching process") as pool:

        def submit(leads: list) -> tuple:
            if index is not None and len(leads) < FORK_MIN_LEADS:
                return (here(leads),)
            size = -(-len(leads) // (workers * 2))  # a few parts each, so a slow part does not hold the rest
            return pool.submit([leads[i:i + size] for i in range(0, len(leads), size)])

        def collect(handle) -> list[tuple]:  # noqa: ANN001 - what submit returned
            if handle.__class__ is tuple:
                return handle[0]
            return [columns for part in pool.collect(handle) for columns in part]

        yield submit, collect


def _answered(answers: list) -> list:
    """``collect`` where ``submit`` answers at once."""
    return answers


def _count_lines(path: Path) -> int:
    """Physical lines: a cheap upper bound for the progress bar (quoted newlines may add a few)."""
    with open(path, "rb") as fh:
        return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 20), b""))


# What a command that built a large index leaves behind (match-file): see ``main``.
left_for_exit: object = None
