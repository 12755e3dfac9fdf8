"""The bulk path of qualification: re-derive every account's status from the ledger.

A rule change (``leadmatch rules apply``) or a scheduled ``leadmatch recompute`` evaluates every
account with ``matcher.qualification.evaluate`` (this module decides nothing about statuses) and either only
counts what would move (preview: the transition matrix from the stored statuses to the new ones,
with sample accounts and their reasons) or stores the new statuses and logs every status that
changed under the rule set's version. Both read the ledger table by table, never one account at
a time, through ``api.qualification.ledger_reader`` (the reader of the per-write path too, so
both give the core the same ledger).

PostgreSQL (``_stream_range``): the account ids are cut into a few contiguous ranges (twice as
many as ``workers``, for balance), taken from a queue by ``workers`` spawned processes
(``api.procs``). A process reads
each ledger table of its range once, in one REPEATABLE READ snapshot, through server-side
cursors ordered by account id (code-point order, so Python compares ids as PostgreSQL sorted
them), merge-joins the streams account by account (``ledger_reader.stream_range``), and
evaluates. One sequential scan per table and range: a slice-by-slice range read would fetch the
activities of a few thousand accounts from pages all over the table, again and again (measured
3-4x the database time). Every
``slice_size`` accounts it writes, in one transaction on a second connection:

1. lock the slice's account rows (``FOR UPDATE`` in id order: the lock the per-write path takes
   in ``ledger_store.lock_accounts``), dropping accounts deleted since the snapshot;
2. re-read and re-evaluate, under that lock, the accounts the per-write path re-evaluated since
   the run began (``recompute_touched``, noted by ``api.qualification.rule_sets.FollowingQualifier``): their
   ledger is newer than the snapshot. The run is announced in ``recompute_runs`` before any
   snapshot is taken and waits for the transactions older than the announcement to end, so a
   write the snapshot misses is always a noted one;
3. compare each verdict with the stored rows and write only what differs: COPY into temporary
   tables, ``INSERT ... ON CONFLICT DO UPDATE`` from them, COPY into the transition log, delete
   the rows of contacts no longer at these accounts; commit.

SQLite (``_run_slice``): one slice after another in this process, each a single transaction that
takes SQLite's write lock first (``BEGIN IMMEDIATE``), then reads the slice's ledger with one
range query per table, evaluates and writes with executemany. SQLite admits one writer, so
there is nothing to gain from processes and no write can slip between read and write.

Transactions: this module is the transaction owner of the bulk path (outside a request, where
``api.db.session_scope`` would be; the stores and the reader it calls never commit). Each slice is
one transaction on a connection of its own (``_slice_transaction``), the run's bookkeeping one
``engine.begin()`` each (``_announce_run``, ``_finish_run``), and a range's reading snapshot a
read-only transaction rolled back when the range is done (``_stream_range``).

Consistency given, on both: every slice is atomic, and the last verdict stored for an account
has seen every ledger change the per-write path committed before it was written, under the
active rule set. The run as a whole is not one transaction: while it runs, a reader may see some
slices under the new rules and others under the old ones, and an interrupted run leaves its
finished slices written (running it again completes it). Ledger changes that bypass the per-write
path (CLI imports) are picked up by the next recompute. Comparing before writing makes a second
run with the same rules and ``as_of`` write nothing and log nothing. A preview takes no locks and
writes nothing.
"""
from __future__ import annotations

import gc
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence

import orjson
from sqlalchemy import Connection, Engine, Text, any_, cast, collate, func, insert, select, text, update
from sqlalchemy import column as sql_column, table as sql_table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from api import procs
from api.qualification import ledger_reader, store as ledger_store
from api.qualification.ledger_reader import in_range
from api.qualification.store import status_since  # the per-write path's rule: both store the same row
from api.db.rows import (AccountRow, AccountStatusRow, ContactRow, ContactStatusRow, RecomputeRunRow,
                        RecomputeTouchedRow, StatusTransitionRow)
from api.db import make_engine
from api.db.bulk import chunks, id_array
from config.qualification import QualificationRules
from matcher.qualification import ledger as L
from matcher.qualification.evaluate import evaluate_account
from matcher.qualification.preview import Preview, TransitionTally
from matcher.qualification.rules import CompiledQualification, compile_rules

DEFAULT_SLICE_SIZE = 5000  # accounts per write transaction (and per lock)
RANGES_PER_WORKER = 2  # PostgreSQL: read ranges per process; more balance, more table scans
SORT_MEMORY = "256MB"  # PostgreSQL work_mem of the reading transactions
OLD_TRANSACTIONS_TIMEOUT = 60.0  # seconds to wait for transactions older than a run's announcement
# (done accounts, total accounts) after each finished slice
Progress = Callable[[int, int], None]

_A, _C = AccountRow.__table__, ContactRow.__table__
_AS, _CS, _T = AccountStatusRow.__table__, ContactStatusRow.__table__, StatusTransitionRow.__table__
_RUNS, _TOUCHED = RecomputeRunRow.__table__, RecomputeTouchedRow.__table__


@dataclass(slots=True)
class RecomputeReport:
    rule_version: str
    as_of: datetime
    applied: bool
    preview: Preview  # stored status (None: never stored) -> new status, per account
    accounts: int = 0
    contacts: int = 0
    activities: int = 0  # ledger entries read: events of contacts of existing accounts
    opportunities: int = 0
    contracts: int = 0
    manual_moves: int = 0
    accounts_moved: int = 0  # accounts whose status differs from the stored one (or none was stored)
    contacts_moved: int = 0
    rows_written: int = 0  # account and contact status rows inserted, updated or deleted
    transitions: int = 0  # rows appended to the transition log
    reread: int = 0  # accounts re-read under the lock because the per-write path touched them
    slices: int = 0
    workers: int = 1
    seconds: float = 0.0
    peak_rss_bytes: int = 0  # largest resident set of this process and of any worker process
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _SliceResult:
    accounts: int = 0
    contacts: int = 0
    activities: int = 0
    opportunities: int = 0
    contracts: int = 0
    manual_moves: int = 0
    contacts_moved: int = 0
    rows_written: int = 0
    transitions: int = 0
    reread: int = 0
    tally: TransitionTally | None = None
    # accounts whose stored status rows changed: their cached status views are stale
    changed_ids: list[str] = field(default_factory=list)
    peak_rss_bytes: int = 0


@dataclass(frozen=True, slots=True)
class _Job:
    """What a worker process needs; plain data, so it pickles for ``spawn``."""

    url: str
    rules: dict[str, Any]  # QualificationRules.model_dump(mode="json"): compiled once per worker
    as_of: datetime
    as_of_given: bool  # False: as_of is the run's start, and accounts re-read later use their own now
    now: datetime
    apply: bool
    samples_per_cell: int
    slice_size: int
    run_id: int | None  # PostgreSQL apply: the announced run whose touched accounts are re-read


class _Worker:
    """One process's (or the caller's) engine, compiled rules and job."""

    def __init__(self, job: _Job, engine: Engine | None = None,
                 compiled: CompiledQualification | None = None) -> None:
        self.job = job
        self.owns_engine = engine is None
        self.engine = engine if engine is not None else make_engine(job.url, pool_size=2, max_overflow=0)
        self.compiled = compiled or compile_rules(QualificationRules.model_validate(job.rules))
        self.postgres = self.engine.dialect.name == "postgresql"

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()


# ---------------------------------------------------------------- the ledger, table by table


def _count(res: _SliceResult, ledgers: Sequence[L.AccountLedger]) -> None:
    res.accounts += len(ledgers)
    for lg in ledgers:
        res.contacts += len(lg.contacts)
        res.activities += len(lg.activities)
        res.opportunities += len(lg.opportunities)
        res.contracts += len(lg.contracts)
        res.manual_moves += len(lg.manual_moves)


def _compiled(conn, stmt) -> tuple[str, dict]:  # noqa: ANN001
    compiled = stmt.compile(dialect=conn.dialect)
    return str(compiled), compiled.params


def _rows(conn, stmt) -> list[tuple]:  # noqa: ANN001
    """All rows of a SELECT. PostgreSQL: through the driver's own cursor, one fetchall, no
    per-value processing (the session time zone is UTC, so times arrive as aware UTC values,
    equal to what ``UTCDateTime`` gives the per-write path); SQLite: through SQLAlchemy,
    whose column types turn the stored text into aware UTC times."""
    if conn.dialect.name != "postgresql":
        return conn.execute(stmt).all()
    sql, params = _compiled(conn, stmt)
    with conn.connection.driver_connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# ---------------------------------------------------------------- stored statuses


_ACCOUNT_FIELDS = ("status", "since", "reasons", "engagement_points", "personas_engaged", "rule_version",
                   "review_at")
_CONTACT_FIELDS = ("account_id", "status", "since", "reasons", "persona", "seniority", "rule_version")
_JSON_FIELDS = frozenset({"reasons", "personas_engaged"})


def _stored_columns(table, fields: Sequence[str]) -> list:  # noqa: ANN001
    # JSON columns as their stored text: compared with the new rows' text, parsed only if it differs
    return [cast(table.c[f], Text) if f in _JSON_FIELDS else table.c[f] for f in fields]


def _stored_statuses(conn, accounts_where, contacts_where: Sequence, full: bool  # noqa: ANN001
                     ) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """(account id -> stored row, contact id -> stored row): the rows of the accounts
    ``accounts_where`` selects (a clause on ``account_statuses.account_id``) and the contact rows
    each of ``contacts_where`` selects. ``full``: every compared field (for writing; JSON as text),
    else just (status,) / (account_id, status)."""
    acc_cols = _stored_columns(_AS, _ACCOUNT_FIELDS if full else ("status",))
    con_cols = _stored_columns(_CS, _CONTACT_FIELDS if full else ("account_id", "status"))
    accounts = {r[0]: tuple(r[1:]) for r in _rows(conn, select(_AS.c.account_id, *acc_cols).where(accounts_where))}
    contacts: dict[str, tuple] = {}
    for where in contacts_where:
        contacts.update((r[0], tuple(r[1:])) for r in _rows(conn, select(_CS.c.contact_id, *con_cols).where(where)))
    return accounts, contacts


def _stored_in_range(conn, lo: str | None, hi: str | None, full: bool) -> tuple[dict[str, tuple], dict[str, tuple]]:  # noqa: ANN001
    # contacts stored under these accounts, and those now here still stored under their old account
    moved_in = _CS.c.contact_id.in_(select(_C.c.id).where(in_range(_C.c.account_id, lo, hi)))
    return _stored_statuses(conn, in_range(_AS.c.account_id, lo, hi),
                            [in_range(_CS.c.account_id, lo, hi), moved_in], full)


def _any(column, values: list[str]):  # noqa: ANN001, ANN202 - Column -> clause
    return column == any_(id_array(values))


def _stored_of(conn, account_ids: list[str], contact_ids: list[str], full: bool  # noqa: ANN001
               ) -> tuple[dict[str, tuple], dict[str, tuple]]:
    # contacts by their id (a contact that moved here is still stored under its old account),
    # plus the few stored under these accounts that are no longer there (gone): their ids are
    # told apart here, a `<> ALL(array)` filter would compare every row with every id
    here = set(contact_ids)
    gone = [r[0] for r in _rows(conn, select(_CS.c.contact_id).where(_any(_CS.c.account_id, account_ids)))
            if r[0] not in here]
    return _stored_statuses(conn, _any(_AS.c.account_id, account_ids),
                            [_any(_CS.c.contact_id, contact_ids + gone)], full)


# ---------------------------------------------------------------- comparing and writing


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _reasons(reasons: Sequence[L.Reason]) -> str:
    return _json([ledger_store.reason_json(r) for r in reasons])


def _differs(new: tuple, old: tuple, json_at: tuple[int, ...]) -> bool:
    """Stored row ``old`` differs from ``new`` (the same fields, JSON as text). JSON written by
    another serializer (the per-write path's) differs in spacing only: compared parsed."""
    if new == old:
        return False
    for i, (a, b) in enumerate(zip(new, old)):
        if a != b and (i not in json_at or a is None or b is None or orjson.loads(a) != orjson.loads(b)):
            return True
    return False


_ACCOUNT_JSON_AT = tuple(i for i, f in enumerate(_ACCOUNT_FIELDS) if f in _JSON_FIELDS)
_CONTACT_JSON_AT = tuple(i for i, f in enumerate(_CONTACT_FIELDS) if f in _JSON_FIELDS)


@dataclass(slots=True)
class _Changes:
    accounts: list[tuple] = field(default_factory=list)  # rows to upsert, in _AS_COLUMNS order
    contacts: list[tuple] = field(default_factory=list)  # rows to upsert, in _CS_COLUMNS order
    gone: list[str] = field(default_factory=list)  # contact ids stored under these accounts, no longer here
    log: list[tuple] = field(default_factory=list)  # transition rows, in _T_COLUMNS order
    changed_ids: set[str] = field(default_factory=set)


_AS_COLUMNS = ("account_id", *_ACCOUNT_FIELDS, "updated_at")
_CS_COLUMNS = ("contact_id", *_CONTACT_FIELDS, "updated_at")
_T_COLUMNS = ("entity_kind", "entity_id", "account_id", "at", "since", "old_status", "new_status", "reasons",
              "rule_version")


def _changes(evaluations: Sequence[L.AccountEvaluation], stored_acc: dict[str, tuple], stored_con: dict[str, tuple],
             rule_version: str, now: datetime) -> _Changes:
    """What ``ledger_store.save_evaluations`` would write for these verdicts, as rows (JSON as
    text): a row only where a field differs, a transition only where a status differs (contacts'
    moves first, as there)."""
    out = _Changes()
    evaluated: set[str] = set()
    acc_log: list[tuple] = []
    for e in evaluations:
        old = stored_acc.get(e.account_id)
        row = (e.account_id, e.status, status_since(e.since, old, e.status, now), _reasons(e.reasons),
               float(e.engagement_points), _json(e.personas_engaged), rule_version, e.review_at)
        if old is None or old[0] != e.status:
            acc_log.append(("account", e.account_id, e.account_id, now, row[2], old[0] if old else None, e.status,
                            row[3], rule_version))
        if old is None or _differs(row[1:], old, _ACCOUNT_JSON_AT):
            out.accounts.append((*row, now))
            out.changed_ids.add(e.account_id)
        for c in e.contacts:
            evaluated.add(c.contact_id)
            old_c = stored_con.get(c.contact_id)  # (account_id, status, since, ...)
            row_c = (c.contact_id, e.account_id, c.status,
                     status_since(c.since, old_c[1:3] if old_c else None, c.status, now),
                     _reasons(c.reasons), c.persona, c.seniority, rule_version)
            if old_c is None or old_c[1] != c.status:
                out.log.append(("contact", c.contact_id, e.account_id, now, row_c[3], old_c[1] if old_c else None,
                                c.status, row_c[4], rule_version))
            if old_c is None or _differs(row_c[1:], old_c, _CONTACT_JSON_AT):
                out.contacts.append((*row_c, now))
                out.changed_ids.add(e.account_id)
    accounts = {e.account_id for e in evaluations}
    for contact_id, old_c in stored_con.items():
        if contact_id not in evaluated and old_c[0] in accounts:
            out.gone.append(contact_id)
            out.changed_ids.add(old_c[0])
    out.log.extend(acc_log)
    return out


def _copy_types(columns: Sequence[str]) -> list[str]:
    """PostgreSQL types of a binary COPY row. JSON goes as text: the binary form of ``json`` is
    its text, which the rows already hold (psycopg's json type would encode the string again)."""
    return ["timestamptz" if c in ("since", "at", "updated_at", "review_at") else "float8" if c == "engagement_points" else "text"
            for c in columns]


def _copy(cur, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:  # noqa: ANN001
    # binary: times and numbers are packed by psycopg's C dumpers, no text formatting per value
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_copy_types(columns))
        write = copy.write_row
        for row in rows:
            write(row)


def _write_postgres(conn, changes: _Changes, account_ids: list[str]) -> None:  # noqa: ANN001
    """COPY the changed rows into session temp tables, upsert from them, COPY the log rows."""
    cur = conn.connection.driver_connection.cursor()
    try:
        for table, temp, columns, rows, key in (
                ("account_statuses", "recompute_account_statuses", _AS_COLUMNS, changes.accounts, "account_id"),
                ("contact_statuses", "recompute_contact_statuses", _CS_COLUMNS, changes.contacts, "contact_id")):
            if not rows:
                continue
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} (LIKE {table}) ON COMMIT DELETE ROWS")
            names = ", ".join(columns)
            _copy(cur, temp, columns, rows)
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
            cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} "
                        f"ON CONFLICT ({key}) DO UPDATE SET {updates}")
        if changes.gone:
            # only while still stored under this slice's accounts: a slice written beside this
            # one may have just stored the contact under its new account
            cur.execute("DELETE FROM contact_statuses WHERE contact_id = ANY(%s) AND account_id = ANY(%s)",
                        (changes.gone, account_ids))
        if changes.log:
            _copy(cur, "status_transitions", _T_COLUMNS, changes.log)
    finally:
        cur.close()


def _lock_ids(conn, account_ids: list[str]) -> set[str]:  # noqa: ANN001
    """The per-write path's lock for these accounts, in its order; the ids that still exist."""
    return {r[0] for r in _rows(conn, select(_A.c.id).where(_any(_A.c.id, account_ids)).order_by(_A.c.id)
                                .with_for_update())}


def _as_text_json(table, columns: Sequence[str]):  # noqa: ANN001, ANN202 - Table -> TableClause
    """``table`` with its JSON columns typed as text, so the rows' JSON text is stored as it is
    (the other columns keep their types: times go through ``models.UTCDateTime``)."""
    return sql_table(table.name, *(sql_column(c, Text() if c in _JSON_FIELDS else table.c[c].type) for c in columns))


def _write_sqlite(conn, changes: _Changes) -> None:  # noqa: ANN001
    """The same rows as ``_write_postgres``, as executemany upserts (SQLite >= 3.24)."""
    for table, columns, rows, key in ((_AS, _AS_COLUMNS, changes.accounts, "account_id"),
                                      (_CS, _CS_COLUMNS, changes.contacts, "contact_id")):
        if rows:
            stmt = sqlite_insert(_as_text_json(table, columns))
            stmt = stmt.on_conflict_do_update(index_elements=[key],
                                              set_={c: stmt.excluded[c] for c in columns if c != key})
            conn.execute(stmt, [dict(zip(columns, row)) for row in rows])
    for chunk in chunks(changes.gone):
        conn.execute(_CS.delete().where(_CS.c.contact_id.in_(chunk)))
    if changes.log:
        conn.execute(_as_text_json(_T, _T_COLUMNS).insert(), [dict(zip(_T_COLUMNS, row)) for row in changes.log])




@contextmanager
def _slice_transaction(w: _Worker) -> Iterator[Connection]:
    """The bulk path's transaction owner: a slice is one transaction on a connection of its own,
    committed when the slice's code returns from an apply, rolled back when it raised or only
    previewed (a preview writes nothing). Nothing it calls commits."""
    with w.engine.connect() as conn:
        yield conn  # an exception leaves here: closing the connection rolls back
        if w.job.apply:
            conn.commit()
        else:
            conn.rollback()


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A slice allocates millions of small acyclic objects (rows, ledger records, verdicts): the
    cyclic collector would traverse them again and again (a quarter of the read time) and find
    nothing; reference counting frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _tally(res: _SliceResult, evaluations: Sequence[L.AccountEvaluation], stored_acc: dict[str, tuple],
           stored_con: dict[str, tuple]) -> None:
    assert res.tally is not None
    for e in evaluations:
        old = stored_acc.get(e.account_id)
        res.tally.add(old[0] if old else None, e)
        for c in e.contacts:
            old_c = stored_con.get(c.contact_id)  # (account_id, status, ...)
            if old_c is None or old_c[1] != c.status:
                res.contacts_moved += 1


def _finish(res: _SliceResult, changes: _Changes) -> _SliceResult:
    res.rows_written = len(changes.accounts) + len(changes.contacts) + len(changes.gone)
    res.transitions = len(changes.log)
    res.changed_ids = sorted(changes.changed_ids)
    res.peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return res


# ---------------------------------------------------------------- SQLite: slice by slice


def _run_slice(w: _Worker, lo: str | None, hi: str | None) -> _SliceResult:
    """One range of accounts, read, evaluated and written in one transaction."""
    job = w.job
    res = _SliceResult(tally=TransitionTally(job.samples_per_cell))
    with _cyclic_gc_paused(), _slice_transaction(w) as conn:
        if job.apply:  # SQLite's write lock before reading: nothing can commit between read and write
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        ledgers = ledger_reader.read_range(conn, lo, hi)
        stored_acc, stored_con = _stored_in_range(conn, lo, hi, full=job.apply)
        evaluations = [evaluate_account(lg, w.compiled, job.as_of) for lg in ledgers]
        _count(res, ledgers)
        _tally(res, evaluations, stored_acc, stored_con)
        if not job.apply:
            return _finish(res, _Changes())
        changes = _changes(evaluations, stored_acc, stored_con, w.compiled.version, job.now)
        _write_sqlite(conn, changes)
    return _finish(res, changes)


def slice_bounds(engine: Engine, slice_size: int, order=None) -> tuple[list[tuple[str | None, str | None]], int]:  # noqa: ANN001
    """([(lo, hi), ...], number of accounts): contiguous id ranges of about ``slice_size``
    accounts (in ``order``, a collation name, else the database's own). The first range is open
    below and the last open above, so an account created while the run goes on falls in one."""
    key = _A.c.id if order is None else collate(_A.c.id, order)
    numbered = select(_A.c.id, func.row_number().over(order_by=key).label("n")).subquery()
    ordered = numbered.c.id if order is None else collate(numbered.c.id, order)
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(_A)) or 0
        starts = list(conn.scalars(select(numbered.c.id).where((numbered.c.n - 1) % max(1, slice_size) == 0)
                                   .where(numbered.c.n > 1).order_by(ordered)))
    bounds: list[str | None] = [None, *starts, None]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)], total


# ---------------------------------------------------------------- PostgreSQL: streamed ranges


def _write_slice(w: _Worker, ledgers: list[L.AccountLedger]) -> _SliceResult:
    """Evaluate a slice of streamed ledgers and (apply) write it in one transaction, re-reading
    under the lock the accounts the per-write path touched since the run began."""
    job = w.job
    res = _SliceResult(tally=TransitionTally(job.samples_per_cell))
    evaluate, compiled = evaluate_account, w.compiled
    evaluations = [evaluate(lg, compiled, job.as_of) for lg in ledgers]
    _count(res, ledgers)
    ids = [e.account_id for e in evaluations]
    with _slice_transaction(w) as conn:
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")  # see _rows
        # Every statement here looks rows up by key. The status tables may have just been filled
        # by this run (the first apply) while their statistics still describe them empty: the
        # planner then scans 2.5M contact rows for 12,000 (measured 0.8 s per slice), and its
        # inflated estimates start JIT compilation (0.2 s per statement).
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL jit = off")
        if job.apply:
            existing = _lock_ids(conn, ids)
            touched = set()
            if job.run_id is not None:
                touched = {r[0] for r in _rows(conn, select(_TOUCHED.c.account_id).where(_TOUCHED.c.run_id == job.run_id)
                                               .where(_any(_TOUCHED.c.account_id, ids)))}
            if touched:
                fresh = ledger_reader.load_ledgers(conn, touched)
                at = job.as_of if job.as_of_given else datetime.now(timezone.utc)
                renewed = {i: evaluate(lg, compiled, at) for i, lg in fresh.items()}
                evaluations = [renewed.get(e.account_id, e) for e in evaluations]
                res.reread = len(renewed)
            evaluations = [e for e in evaluations if e.account_id in existing]  # deleted since the snapshot
            ids = [e.account_id for e in evaluations]
        contact_ids = [c.contact_id for e in evaluations for c in e.contacts]
        stored_acc, stored_con = _stored_of(conn, ids, contact_ids, full=job.apply)
        _tally(res, evaluations, stored_acc, stored_con)
        if not job.apply:
            return _finish(res, _Changes())
        changes = _changes(evaluations, stored_acc, stored_con, compiled.version, job.now)
        _write_postgres(conn, changes, ids)
    return _finish(res, changes)


def _stream_range(w: _Worker, lo: str | None, hi: str | None) -> Iterator[_SliceResult]:
    with _cyclic_gc_paused():
        raw = w.engine.raw_connection()
        try:
            dbapi = raw.driver_connection
            dbapi.rollback()  # out of any transaction the pool's ping began
            # one snapshot for every table of the range, taken after the run was announced
            dbapi.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            dbapi.execute("SET LOCAL TIME ZONE 'UTC'")
            dbapi.execute(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
            batch: list[L.AccountLedger] = []
            for ledger in ledger_reader.stream_range(dbapi, lo, hi):
                batch.append(ledger)
                if len(batch) >= w.job.slice_size:
                    yield _write_slice(w, batch)
                    batch = []
            if batch:
                yield _write_slice(w, batch)
        finally:
            raw.rollback()
            raw.close()


# ---------------------------------------------------------------- runs (PostgreSQL apply)


def _announce_run(engine: Engine, rule_version: str, warnings: list[str]) -> int:
    """Record the run (from now on the per-write path notes the accounts it re-evaluates), then
    wait until every transaction that began before that and has written something is over: it
    may have written a ledger before the announcement, and if it committed after our snapshot
    its change would be neither seen nor noted. (One that has not written yet writes after the
    announcement, so its re-evaluation, which comes after its writes, sees the run and notes.)"""
    with engine.begin() as conn:
        # runs a crash left open: done with, and their notes with them
        conn.execute(update(_RUNS).where(_RUNS.c.finished_at.is_(None))
                     .where(_RUNS.c.started_at < func.now() - text("interval '1 day'"))
                     .values(finished_at=func.now()))
        conn.execute(_TOUCHED.delete().where(_TOUCHED.c.run_id.in_(
            select(_RUNS.c.id).where(_RUNS.c.finished_at.is_not(None)))))
        run_id = conn.execute(insert(_RUNS).values(rule_version=rule_version, started_at=func.now())
                              .returning(_RUNS.c.id)).scalar_one()
    deadline = time.monotonic() + OLD_TRANSACTIONS_TIMEOUT
    with engine.connect() as conn:
        since = conn.scalar(text("SELECT now()"))  # this transaction began after the announcement
        conn.rollback()
        while True:
            older = conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND xact_start < :since "
                "AND backend_xid IS NOT NULL"),
                {"since": since})
            conn.rollback()
            if not older:
                return run_id
            if time.monotonic() > deadline:
                warnings.append(f"{older} transaction(s) older than the run were still open after "
                                f"{OLD_TRANSACTIONS_TIMEOUT:.0f} s; a ledger change they commit may be "
                                "overwritten by this run until its account's next write")
                return run_id
            time.sleep(0.05)


def _finish_run(engine: Engine, run_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(finished_at=func.now()))
        conn.execute(_TOUCHED.delete().where(_TOUCHED.c.run_id == run_id))


def note_touched(session: Session, account_ids: Sequence[str]) -> None:
    """The per-write path's part (``FollowingQualifier.refresh``): while runs are writing, note
    the accounts this transaction re-evaluates, for each run to re-read them."""
    runs = list(session.scalars(select(_RUNS.c.id).where(_RUNS.c.finished_at.is_(None))))
    if runs and account_ids:
        session.execute(text("INSERT INTO recompute_touched (run_id, account_id) VALUES (:run_id, :account_id) "
                             "ON CONFLICT DO NOTHING"),
                        [{"run_id": r, "account_id": a} for r in runs for a in sorted(set(account_ids))])


# ---------------------------------------------------------------- processes


def _stream_slices(w: _Worker, bounds: tuple[str | None, str | None]) -> Iterator[_SliceResult]:
    """In a worker process (``api.procs``): one range, a result per written slice."""
    return _stream_range(w, *bounds)


def _results(job: _Job, engine: Engine, compiled: CompiledQualification,
             ranges: list[tuple[str | None, str | None]], workers: int) -> Iterator[_SliceResult]:
    if engine.dialect.name != "postgresql":
        w = _Worker(job, engine, compiled)
        for lo, hi in ranges:
            yield _run_slice(w, lo, hi)
        return
    if workers <= 1:
        w = _Worker(job, engine, compiled)
        for lo, hi in ranges:
            yield from _stream_range(w, lo, hi)
        return
    # spawn, not fork: the caller may hold threads (a progress bar, a server's thread pool) and
    # pooled connections that a forked child must not inherit
    with procs.Pool(_stream_slices, processes=workers, start_method="spawn", initializer=_Worker, initargs=(job,),
                    finalizer=_Worker.close, name="a recompute worker") as pool:
        yield from pool.as_completed(ranges)


def recompute_all(engine: Engine, compiled_rules: CompiledQualification, as_of: datetime | None = None, *,
                  apply: bool, workers: int = 2, progress: Progress | None = None,
                  samples_per_cell: int = 3, slice_size: int = DEFAULT_SLICE_SIZE,
                  on_slice_written: Callable[[list[str]], None] | None = None) -> RecomputeReport:
    """Evaluate every account with ``compiled_rules`` at ``as_of`` (default: the run's start).

    ``apply=False``: nothing is written; the report's ``preview`` is the transition matrix from
    the stored statuses to the new ones. ``apply=True``: also store the new account and contact
    statuses and log each status that changed under ``compiled_rules.version`` (see the module
    docstring for the transactions). ``workers`` processes on PostgreSQL; SQLite runs in this
    process. ``on_slice_written(account_ids)`` is called after each slice's commit with the
    accounts whose stored statuses changed (to drop their cached views).
    """
    started = time.perf_counter()
    now = datetime.now(timezone.utc)
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    postgres = engine.dialect.name == "postgresql"
    workers = max(1, workers) if postgres else 1
    report = RecomputeReport(rule_version=compiled_rules.version, as_of=as_of or now, applied=apply,
                             preview=Preview(()), workers=workers)
    if postgres:
        with engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(_A)) or 0
        if total < workers * slice_size:
            workers = 1  # less than a slice per process: starting processes would cost more than it saves
        ranges, _ = slice_bounds(engine, -(-max(total, 1) // (workers * RANGES_PER_WORKER)),
                                 ledger_reader.CODE_POINT_ORDER)
        report.workers = workers = min(workers, len(ranges))
    else:
        ranges, total = slice_bounds(engine, max(1, slice_size))
    run_id = _announce_run(engine, compiled_rules.version, report.warnings) if apply and postgres else None
    job = _Job(url=engine.url.render_as_string(hide_password=False), rules=compiled_rules.rules.model_dump(mode="json"),
               as_of=as_of or now, as_of_given=as_of is not None, now=now, apply=apply,
               samples_per_cell=samples_per_cell, slice_size=max(1, slice_size), run_id=run_id)
    tally = TransitionTally(samples_per_cell)
    done = 0
    try:
        for res in _results(job, engine, compiled_rules, ranges, workers):
            assert res.tally is not None
            tally.merge(res.tally)
            for name in ("accounts", "contacts", "activities", "opportunities", "contracts", "manual_moves",
                         "contacts_moved", "rows_written", "transitions", "reread"):
                setattr(report, name, getattr(report, name) + getattr(res, name))
            report.slices += 1
            report.peak_rss_bytes = max(report.peak_rss_bytes, res.peak_rss_bytes)
            if on_slice_written is not None and res.changed_ids:
                on_slice_written(res.changed_ids)
            done += res.accounts
            if progress is not None:
                progress(done, max(total, done))
    finally:
        if run_id is not None:
            _finish_run(engine, run_id)
    report.preview = tally.preview()
    report.accounts_moved = report.preview.changed
    report.peak_rss_bytes = max(report.peak_rss_bytes, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    report.seconds = time.perf_counter() - started
    return report


def report_document(report: RecomputeReport, active_version: str | None = None) -> dict[str, Any]:
    """The report as plain JSON-able data (``POST /v1/rules/preview``): every (before, after)
    cell, unchanged ones included, with the sample accounts of the cells that move."""
    return {
        "rule_version": report.rule_version, "active_version": active_version, "as_of": report.as_of,
        "applied": report.applied, "accounts": report.accounts, "contacts": report.contacts,
        "activities": report.activities, "accounts_moved": report.accounts_moved,
        "contacts_moved": report.contacts_moved, "transitions": report.transitions,
        "cells": [{"before": c.before, "after": c.after, "count": c.count,
                   "samples": [{"account_id": account_id, "reasons": [ledger_store.reason_json(r) for r in reasons]}
                               for account_id, reasons in c.samples]}
                  for c in sorted(report.preview.cells, key=lambda c: (c.before == c.after, -c.count,
                                                                       c.before or "", c.after))],
        "seconds": round(report.seconds, 3),
    }
