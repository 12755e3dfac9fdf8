"""The bulk path of qualification: re-derive every account's status from the ledger.

A rule change (``leadmatch rules apply``) or a scheduled ``leadmatch recompute`` evaluates every
account with ``matcher.qualify`` (this module decides nothing about statuses) and either only
counts what would move (preview: the transition matrix from the stored statuses to the new ones,
with sample accounts and their reasons) or stores the new statuses and logs every status that
changed under the rule set's version.

How it reads: the account ids are cut into contiguous ranges ("slices", ``slice_size`` accounts
each, bounds taken from the database's own ordering of ``accounts.id``). A slice's whole ledger
is a handful of range queries, one per table (``account_id >= lo AND account_id < hi``; stage
changes and manual moves through their opportunity's or contact's account), never one query per
account; rows are grouped by account in one pass into ``matcher.ledger.AccountLedger`` values
with the same content and order as ``api.ledger_store.load_ledgers`` gives the per-write path.
On PostgreSQL ``workers`` processes take slices from a queue (each has its own connection and
its own compiled rules); on SQLite the slices run one after another in this process (SQLite
admits one writer at a time, so processes would only queue behind each other).

How it writes (``apply=True``), per slice, in one transaction:

1. lock the slice's account rows (PostgreSQL ``FOR UPDATE`` in id order, the lock the per-write
   path takes in ``ledger_store.lock_accounts``; SQLite ``BEGIN IMMEDIATE``), then read the
   ledger and the stored statuses. An API write to one of these accounts waits for the slice's
   commit and then re-evaluates the account from the ledger it sees, so the last verdict stored
   for an account has always seen every event committed before it was written;
2. compare each verdict with the stored row and write only what differs: PostgreSQL copies the
   new and changed rows into a temporary table (``COPY``) and upserts from it with
   ``INSERT ... ON CONFLICT DO UPDATE``, copies the transition rows straight into the log, and
   deletes the rows of contacts no longer at these accounts; SQLite goes through
   ``ledger_store.save_evaluations``, the per-write path's own executemany writer;
3. commit. A reader sees a slice entirely before or entirely after.

Consistency given: every slice is atomic and serialised with the per-write path on the same
accounts; the run as a whole is not one transaction (a reader may see some slices under the new
rules and others under the old ones while it runs, and an interrupted run leaves the finished
slices written; running it again completes it). Comparing before writing makes a second run
with the same rules and ``as_of`` write nothing and log nothing. A preview takes no locks and
writes nothing; each slice is read in its own read-only transaction.
"""
from __future__ import annotations

import gc
import multiprocessing
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence

import orjson
from sqlalchemy import Engine, and_, func, select, true
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from api import ledger_store
from api import models as m
from api.db import make_engine
from config.qualification import QualificationRules
from matcher import ledger as L
from matcher import qualify

DEFAULT_SLICE_SIZE = 5000
SORT_MEMORY = "256MB"  # PostgreSQL work_mem of a slice's transaction
# (done accounts, total accounts) after each finished slice
Progress = Callable[[int, int], None]

_A, _C, _ACT = m.Account.__table__, m.Contact.__table__, m.Activity.__table__
_O, _S, _K, _MV = (m.Opportunity.__table__, m.OpportunityStageChange.__table__, m.Contract.__table__,
                   m.ManualContactMove.__table__)
_AS, _CS, _T = m.AccountStatus.__table__, m.ContactStatus.__table__, m.StatusTransition.__table__


@dataclass(slots=True)
class RecomputeReport:
    rule_version: str
    as_of: datetime
    applied: bool
    preview: qualify.Preview  # stored status (None: never stored) -> new status, per account
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
    slices: int = 0
    workers: int = 1
    seconds: float = 0.0
    peak_rss_bytes: int = 0  # largest resident set of this process and of any worker process


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
    tally: qualify.TransitionTally | None = None
    # accounts whose stored status rows changed: their cached status views are stale
    changed_ids: list[str] = field(default_factory=list)
    peak_rss_bytes: int = 0


@dataclass(frozen=True, slots=True)
class _Job:
    """What a worker process needs; plain data, so it pickles for ``spawn``."""

    url: str
    rules: dict[str, Any]  # QualificationRules.model_dump(mode="json"): compiled once per worker
    as_of: datetime
    now: datetime
    apply: bool
    samples_per_cell: int


class _Worker:
    """One process's (or the caller's) engine, compiled rules and job."""

    def __init__(self, job: _Job, engine: Engine | None = None,
                 compiled: qualify.CompiledQualification | None = None) -> None:
        self.job = job
        self.owns_engine = engine is None
        self.engine = engine if engine is not None else make_engine(job.url, pool_size=1, max_overflow=0)
        self.compiled = compiled or qualify.compile_rules(QualificationRules.model_validate(job.rules))
        self.postgres = self.engine.dialect.name == "postgresql"

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()


# ---------------------------------------------------------------- slices


def _in_range(column, lo: str | None, hi: str | None):  # noqa: ANN001, ANN202 - Column -> clause
    conds = []
    if lo is not None:
        conds.append(column >= lo)
    if hi is not None:
        conds.append(column < hi)
    return and_(*conds) if conds else true()


def slice_bounds(engine: Engine, slice_size: int) -> tuple[list[tuple[str | None, str | None]], int]:
    """([(lo, hi), ...], number of accounts): contiguous id ranges of about ``slice_size``
    accounts, in the database's own order of ``accounts.id``. The first range is open below and
    the last open above, so an account created while the run goes on still falls in one."""
    numbered = select(_A.c.id, func.row_number().over(order_by=_A.c.id).label("n")).subquery()
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(_A)) or 0
        starts = list(conn.scalars(select(numbered.c.id).where((numbered.c.n - 1) % slice_size == 0)
                                   .where(numbered.c.n > 1).order_by(numbered.c.id)))
    bounds: list[str | None] = [None, *starts, None]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)], total


# ---------------------------------------------------------------- reading a slice


def _opt_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _rows(conn, stmt) -> list[tuple]:  # noqa: ANN001
    """All rows of a SELECT. PostgreSQL: through the driver's own cursor, one fetchall, no
    per-value processing (the session time zone is UTC, so times arrive as aware UTC values,
    equal to what ``models.UTCDateTime`` gives the per-write path); SQLite: through SQLAlchemy,
    whose column types turn the stored text into aware UTC times."""
    if conn.dialect.name != "postgresql":
        return conn.execute(stmt).all()
    compiled = stmt.compile(dialect=conn.dialect)
    with conn.connection.driver_connection.cursor() as cur:
        cur.execute(str(compiled), compiled.params)
        return cur.fetchall()


def _read_ledgers(conn, lo: str | None, hi: str | None) -> tuple[list[L.AccountLedger], dict[str, int]]:  # noqa: ANN001
    """The ledgers of the accounts with ``lo <= id < hi``, in id order, and row counts. Same
    content and order per account as ``ledger_store.load_ledgers``."""
    profiles = [L.AccountProfile(id=r[0], name=r[1], fit_tier=r[2], industry=r[3], employees=r[4],
                                 disqualified=bool(r[5]), partner=bool(r[6]), disqualified_at=r[7], partner_at=r[8])
                for r in _rows(conn, select(_A.c.id, _A.c.name, _A.c.fit_tier, _A.c.industry, _A.c.employees,
                                             m.Account.disqualified, m.Account.partner, m.Account.disqualified_at,
                                             m.Account.partner_at)
                                      .where(_in_range(_A.c.id, lo, hi)).order_by(_A.c.id))]
    parts: dict[str, tuple[list, list, list, list, list]] = {p.id: ([], [], [], [], []) for p in profiles}
    counts = dict.fromkeys(("contacts", "activities", "opportunities", "contracts", "manual_moves"), 0)
    contact_account: dict[str, str] = {}
    for r in _rows(conn, select(_C.c.id, _C.c.account_id, _C.c.title, _C.c.email, _C.c.first_name,
                                 _C.c.last_name, _C.c.created_at)
                          .where(_in_range(_C.c.account_id, lo, hi)).order_by(_C.c.id)):
        p = parts.get(r[1])
        if p is not None:  # contacts.account_id has no enforced foreign key
            contact_account[r[0]] = r[1]
            p[0].append(L.Contact(id=r[0], account_id=r[1], title=r[2], email=r[3], first_name=r[4],
                                  last_name=r[5], created_at=_opt_utc(r[6])))
            counts["contacts"] += 1
    activity = L.Activity
    for r in _rows(conn, select(m.Activity.account_id, *ledger_store.ACTIVITY_COLUMNS)
                          .where(_in_range(_ACT.c.account_id, lo, hi))
                          .order_by(_ACT.c.occurred_at, _ACT.c.id)):
        p = parts.get(r[0])
        if p is not None:
            p[1].append(activity(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10]))
            counts["activities"] += 1
    stage_changes: dict[str, list[L.StageChange]] = {}
    for opp_id, stage, at in _rows(conn, 
            select(_S.c.opportunity_id, _S.c.stage, m.OpportunityStageChange.at)
            .join(_O, _O.c.id == _S.c.opportunity_id).where(_in_range(_O.c.account_id, lo, hi))
            .order_by(_S.c.opportunity_id, _S.c.at, _S.c.id)):
        stage_changes.setdefault(opp_id, []).append(L.StageChange(stage, at))
    for r in _rows(conn, select(m.Opportunity.id, m.Opportunity.account_id, m.Opportunity.primary_contact_id,
                                 m.Opportunity.owner, m.Opportunity.type, m.Opportunity.stage, m.Opportunity.amount,
                                 m.Opportunity.state, m.Opportunity.opened_at, m.Opportunity.closed_at)
                          .where(_in_range(_O.c.account_id, lo, hi)).order_by(_O.c.id)):
        p = parts.get(r[1])
        if p is not None:
            p[2].append(L.Opportunity(id=r[0], account_id=r[1], state=r[7], type=r[4], stage=r[5],
                                      primary_contact_id=r[2], owner=r[3], amount=r[6], opened_at=r[8],
                                      closed_at=r[9], stage_changes=tuple(stage_changes.get(r[0], ()))))
            counts["opportunities"] += 1
    for r in _rows(conn, select(_K.c.id, _K.c.account_id, _K.c.starts_on, _K.c.ends_on)
                          .where(_in_range(_K.c.account_id, lo, hi)).order_by(_K.c.id)):
        p = parts.get(r[1])
        if p is not None:
            p[3].append(L.Contract(id=r[0], account_id=r[1], starts_on=r[2], ends_on=r[3]))
            counts["contracts"] += 1
    for r in _rows(conn, select(_MV.c.contact_id, _MV.c.status, m.ManualContactMove.at, _MV.c.by, _MV.c.note)
                          .join(_C, _C.c.id == _MV.c.contact_id).where(_in_range(_C.c.account_id, lo, hi))
                          .order_by(_MV.c.at, _MV.c.id)):
        account_id = contact_account.get(r[0])
        if account_id is not None:
            parts[account_id][4].append(L.ManualContactMove(contact_id=r[0], status=r[1], at=r[2], by=r[3],
                                                            note=r[4]))
            counts["manual_moves"] += 1
    ledgers = []
    for profile in profiles:
        contacts, activities, opportunities, contracts, moves = parts[profile.id]
        ledgers.append(L.AccountLedger(account=profile, contacts=tuple(contacts), activities=tuple(activities),
                                       opportunities=tuple(opportunities), contracts=tuple(contracts),
                                       manual_moves=tuple(moves)))
    return ledgers, counts


_ACCOUNT_FIELDS = ("status", "since", "reasons", "engagement_points", "personas_engaged", "rule_version")
_CONTACT_FIELDS = ("account_id", "status", "since", "reasons", "persona", "seniority", "rule_version")


def _stored_statuses(conn, lo: str | None, hi: str | None, full: bool) -> tuple[dict[str, tuple], dict[str, tuple]]:  # noqa: ANN001
    """(account id -> stored row, contact id -> stored row) for the slice: the accounts' rows and
    the rows of contacts stored under these accounts or now belonging to them. ``full``: every
    compared field (for writing), else just (status,) / (account_id, status)."""
    acc_cols = [getattr(m.AccountStatus, f) for f in (_ACCOUNT_FIELDS if full else ("status",))]
    con_cols = [getattr(m.ContactStatus, f) for f in (_CONTACT_FIELDS if full else ("account_id", "status"))]
    accounts = {r[0]: tuple(r[1:]) for r in _rows(conn, 
        select(m.AccountStatus.account_id, *acc_cols).where(_in_range(_AS.c.account_id, lo, hi)))}
    contacts = {r[0]: tuple(r[1:]) for r in _rows(conn, 
        select(m.ContactStatus.contact_id, *con_cols).where(_in_range(_CS.c.account_id, lo, hi)))}
    # a contact that moved here from another account is still stored under its old account
    moved_in = (select(m.ContactStatus.contact_id, *con_cols).join(_C, _C.c.id == _CS.c.contact_id)
                .where(_in_range(_C.c.account_id, lo, hi)).where(_C.c.account_id != _CS.c.account_id))
    contacts.update((r[0], tuple(r[1:])) for r in _rows(conn, moved_in))
    return accounts, contacts


# ---------------------------------------------------------------- comparing and writing


def _reasons(reasons: Sequence[L.Reason]) -> list[dict[str, Any]]:
    return [ledger_store.reason_json(r) for r in reasons]


def _since(new_since: datetime | None, old_status_since: tuple | None, status: str, now: datetime) -> datetime:
    # the per-write path's rule, so both paths store the same row for the same verdict
    return ledger_store._since(new_since, old_status_since, status, now)  # noqa: SLF001


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
    """What ``ledger_store.save_evaluations`` would write for these verdicts, as rows: a row only
    where a field differs, a transition only where a status differs (contacts' moves first)."""
    out = _Changes()
    evaluated: set[str] = set()
    acc_log: list[tuple] = []
    for e in evaluations:
        old = stored_acc.get(e.account_id)
        row = (e.account_id, e.status, _since(e.since, old, e.status, now), _reasons(e.reasons),
               float(e.engagement_points), list(e.personas_engaged), rule_version)
        if old is None or old[0] != e.status:
            acc_log.append(("account", e.account_id, e.account_id, now, row[2], old[0] if old else None, e.status,
                            row[3], rule_version))
        if old is None or row[1:] != old:
            out.accounts.append((*row, now))
            out.changed_ids.add(e.account_id)
        for c in e.contacts:
            evaluated.add(c.contact_id)
            old_c = stored_con.get(c.contact_id)  # (account_id, status, since, ...)
            row_c = (c.contact_id, e.account_id, c.status, _since(c.since, old_c[1:3] if old_c else None, c.status, now),
                     _reasons(c.reasons), c.persona, c.seniority, rule_version)
            if old_c is None or old_c[1] != c.status:
                out.log.append(("contact", c.contact_id, e.account_id, now, row_c[3], old_c[1] if old_c else None,
                                c.status, row_c[4], rule_version))
            if old_c is None or row_c[1:] != old_c:
                out.contacts.append((*row_c, now))
                out.changed_ids.add(e.account_id)
    accounts = {e.account_id for e in evaluations}
    for contact_id, old_c in stored_con.items():
        if contact_id not in evaluated and old_c[0] in accounts:
            out.gone.append(contact_id)
            out.changed_ids.add(old_c[0])
    out.log.extend(acc_log)
    return out


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _write_postgres(conn, changes: _Changes, lo: str | None, hi: str | None) -> None:  # noqa: ANN001
    """COPY the changed rows into session temp tables, upsert from them, COPY the log rows."""
    cur = conn.connection.driver_connection.cursor()
    try:
        for table, temp, columns, rows, key, json_at in (
                ("account_statuses", "recompute_account_statuses", _AS_COLUMNS, changes.accounts, "account_id",
                 (3, 5)),
                ("contact_statuses", "recompute_contact_statuses", _CS_COLUMNS, changes.contacts, "contact_id",
                 (4,))):
            if not rows:
                continue
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} (LIKE {table}) ON COMMIT DELETE ROWS")
            names = ", ".join(columns)
            with cur.copy(f"COPY {temp} ({names}) FROM STDIN") as copy:
                for row in rows:
                    row = list(row)
                    for i in json_at:
                        row[i] = _json(row[i])
                    copy.write_row(row)
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
            cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} "
                        f"ON CONFLICT ({key}) DO UPDATE SET {updates}")
        if changes.gone:
            # only while still stored under this slice: a slice running beside this one may
            # have just written the contact under its new account
            conds, params = ["contact_id = ANY(%s)"], [changes.gone]
            if lo is not None:
                conds.append("account_id >= %s")
                params.append(lo)
            if hi is not None:
                conds.append("account_id < %s")
                params.append(hi)
            cur.execute(f"DELETE FROM contact_statuses WHERE {' AND '.join(conds)}", params)
        if changes.log:
            with cur.copy(f"COPY status_transitions ({', '.join(_T_COLUMNS)}) FROM STDIN") as copy:
                for row in changes.log:
                    copy.write_row((*row[:7], _json(row[7]), row[8]))
    finally:
        cur.close()


def _lock_slice(conn, lo: str | None, hi: str | None) -> None:  # noqa: ANN001
    """The per-write path's lock (``ledger_store.lock_accounts``), taken for a whole id range."""
    conn.execute(select(_A.c.id).where(_in_range(_A.c.id, lo, hi)).order_by(_A.c.id).with_for_update()).all()


def _write_sqlite(conn, changes: _Changes) -> None:  # noqa: ANN001
    """The same rows as ``_write_postgres``, as executemany upserts (SQLite >= 3.24)."""
    for table, columns, rows, key in ((_AS, _AS_COLUMNS, changes.accounts, "account_id"),
                                      (_CS, _CS_COLUMNS, changes.contacts, "contact_id")):
        if rows:
            stmt = sqlite_insert(table)
            stmt = stmt.on_conflict_do_update(index_elements=[key],
                                              set_={c: stmt.excluded[c] for c in columns if c != key})
            conn.execute(stmt, [dict(zip(columns, row)) for row in rows])
    for chunk in ledger_store._chunks(changes.gone):  # noqa: SLF001 - the store's IN-list size
        conn.execute(_CS.delete().where(_CS.c.contact_id.in_(chunk)))
    if changes.log:
        conn.execute(_T.insert(), [dict(zip(_T_COLUMNS, row)) for row in changes.log])


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A slice allocates millions of small acyclic objects (rows, ledger records, verdicts): the
    cyclic collector would traverse them again and again (a quarter of the read time) and find
    nothing; reference counting frees them when the slice ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_slice(w: _Worker, lo: str | None, hi: str | None) -> _SliceResult:
    with _cyclic_gc_paused():
        return _run_slice_gc_paused(w, lo, hi)


def _run_slice_gc_paused(w: _Worker, lo: str | None, hi: str | None) -> _SliceResult:
    job = w.job
    tally = qualify.TransitionTally(job.samples_per_cell)
    res = _SliceResult(tally=tally)
    with w.engine.connect() as conn:
        if job.apply:
            if w.postgres:
                _lock_slice(conn, lo, hi)
            else:  # SQLite's write lock before reading: nothing can commit between read and write
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif w.postgres:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        if w.postgres:
            conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")  # see _rows
            # a slice's events are sorted in memory, not in temporary files (the default is 4MB)
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
        ledgers, counts = _read_ledgers(conn, lo, hi)
        stored_acc, stored_con = _stored_statuses(conn, lo, hi, full=job.apply)
        evaluate, compiled, as_of = qualify.evaluate_account, w.compiled, job.as_of
        evaluations = [evaluate(ledger, compiled, as_of) for ledger in ledgers]
        for e in evaluations:
            old = stored_acc.get(e.account_id)
            tally.add(old[0] if old else None, e)
            for c in e.contacts:
                old_c = stored_con.get(c.contact_id)  # (account_id, status, ...)
                if old_c is None or old_c[1] != c.status:
                    res.contacts_moved += 1
        if job.apply:
            changes = _changes(evaluations, stored_acc, stored_con, compiled.version, job.now)
            if w.postgres:
                _write_postgres(conn, changes, lo, hi)
            else:
                _write_sqlite(conn, changes)
            conn.commit()
            res.rows_written = len(changes.accounts) + len(changes.contacts) + len(changes.gone)
            res.transitions = len(changes.log)
            res.changed_ids = sorted(changes.changed_ids)
        else:
            conn.rollback()
    res.accounts = len(ledgers)
    for name, n in counts.items():
        setattr(res, name, n)
    res.peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return res


# ---------------------------------------------------------------- worker processes

_WORKER: _Worker | None = None


def _init_process(job: _Job) -> None:
    global _WORKER  # noqa: PLW0603 - one per worker process
    _WORKER = _Worker(job)


def _process_slice(bounds: tuple[str | None, str | None]) -> _SliceResult:
    assert _WORKER is not None
    return _run_slice(_WORKER, *bounds)


def _results(job: _Job, engine: Engine, compiled: qualify.CompiledQualification,
             slices: list[tuple[str | None, str | None]], workers: int) -> Iterator[_SliceResult]:
    if workers <= 1:
        w = _Worker(job, engine, compiled)
        for lo, hi in slices:
            yield _run_slice(w, lo, hi)
        return
    # spawn, not fork: the caller may hold threads (a progress bar, a server's thread pool) and
    # pooled connections that a forked child must not inherit
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_process, initargs=(job,)) as pool:
        yield from pool.imap_unordered(_process_slice, slices)


def recompute_all(engine: Engine, compiled_rules: qualify.CompiledQualification, as_of: datetime | None = None, *,
                  apply: bool, workers: int = 2, progress: Progress | None = None,
                  samples_per_cell: int = 3, slice_size: int = DEFAULT_SLICE_SIZE,
                  on_slice_written: Callable[[list[str]], None] | None = None) -> RecomputeReport:
    """Evaluate every account with ``compiled_rules`` at ``as_of`` (default: now).

    ``apply=False``: nothing is written; the report's ``preview`` is the transition matrix from
    the stored statuses to the new ones. ``apply=True``: also store the new account and contact
    statuses and log each status that changed under ``compiled_rules.version`` (see the module
    docstring for the transactions). ``workers`` processes on PostgreSQL; SQLite runs in this
    process. ``on_slice_written(account_ids)`` is called after each slice's commit with the
    accounts whose stored statuses changed (to drop their cached views).
    """
    started = time.perf_counter()
    now = datetime.now(timezone.utc)
    as_of = as_of or now
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if engine.dialect.name != "postgresql":
        workers = 1
    slices, total = slice_bounds(engine, max(1, slice_size))
    workers = max(1, min(workers, len(slices)))
    job = _Job(url=engine.url.render_as_string(hide_password=False), rules=compiled_rules.rules.model_dump(mode="json"),
               as_of=as_of, now=now, apply=apply, samples_per_cell=samples_per_cell)
    tally = qualify.TransitionTally(samples_per_cell)
    report = RecomputeReport(rule_version=compiled_rules.version, as_of=as_of, applied=apply,
                             preview=qualify.Preview(()), slices=len(slices), workers=workers)
    done = 0
    for res in _results(job, engine, compiled_rules, slices, workers):
        assert res.tally is not None
        tally.merge(res.tally)
        for name in ("accounts", "contacts", "activities", "opportunities", "contracts", "manual_moves",
                     "contacts_moved", "rows_written", "transitions"):
            setattr(report, name, getattr(report, name) + getattr(res, name))
        report.peak_rss_bytes = max(report.peak_rss_bytes, res.peak_rss_bytes)
        if on_slice_written is not None and res.changed_ids:
            on_slice_written(res.changed_ids)
        done += res.accounts
        if progress is not None:
            progress(done, max(total, done))
    report.preview = tally.preview()
    report.accounts_moved = report.preview.changed
    report.peak_rss_bytes = max(report.peak_rss_bytes,
                                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
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
