"""Storage after the close: close records, win/loss interviews and account dispositions (rows in
``api/db/rows/closing.py``, migration 0011). These functions run in the caller's transaction and
never commit.

A close record is written once per close of an opportunity: ``insert_close`` inserts it unless
one exists (``ON CONFLICT DO NOTHING``, so two concurrent closes of one opportunity store one record
and the other learns it lost); ``answer_close`` turns an unanswered record answered only while it is
unanswered (an UPDATE with that condition, so it too happens once); ``replace_close`` writes a new
close of a re-opened opportunity over its earlier record.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from api.db.bulk import chunks, hold_write_lock, insert_or_skip
from api.db.rows.closing import AccountDispositionRow, CloseRecordRow, WinLossInterviewRow
from api.db.rows.qualification import OpportunityRow

_CLOSES = CloseRecordRow.__table__
_INTERVIEWS = WinLossInterviewRow.__table__
_DISPOSITIONS = AccountDispositionRow.__table__
_OPPORTUNITIES = OpportunityRow.__table__

# An unanswered close is owed only while its opportunity stays closed: a sync that re-opens the
# deal takes the question away (its next close writes a new record, replace_close), so it is
# neither listed nor reminded meanwhile.
_OWED = (_CLOSES.c.state == "unanswered") & ~exists().where(
    _OPPORTUNITIES.c.id == _CLOSES.c.opportunity_id, _OPPORTUNITIES.c.state == "open")


def _plain(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


# ---------------------------------------------------------------- close records


def get_close(session: Session, opportunity_id: str) -> dict[str, Any] | None:
    row = session.execute(select(_CLOSES).where(_CLOSES.c.opportunity_id == opportunity_id)).first()
    return None if row is None else _plain(row)


def insert_close(session: Session, record: dict[str, Any]) -> bool:
    """Store a new close record; False (and nothing written) if the opportunity has one already."""
    stmt = insert_or_skip(session, _CLOSES, ["opportunity_id"]).returning(_CLOSES.c.opportunity_id)
    return session.execute(stmt, record).first() is not None


def get_closes(session: Session, opportunity_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The close records of those of ``opportunity_ids`` that have one."""
    out: list[dict[str, Any]] = []
    for chunk in chunks(opportunity_ids):
        out.extend(_plain(r) for r in session.execute(select(_CLOSES).where(_CLOSES.c.opportunity_id.in_(chunk))))
    return out


def replace_close(session: Session, earlier: dict[str, Any], record: dict[str, Any]) -> bool:
    """Write the close ``record`` of an opportunity over its ``earlier`` one (closed, re-opened by
    a sync, closed again): every column anew. False (nothing written) if the earlier record
    changed meanwhile."""
    result = session.execute(update(_CLOSES).where(
        _CLOSES.c.opportunity_id == earlier["opportunity_id"], _CLOSES.c.updated_at == earlier["updated_at"])
        .values(**{k: v for k, v in record.items() if k != "opportunity_id"}))
    return result.rowcount == 1


def insert_closes(session: Session, records: Sequence[dict[str, Any]]) -> None:
    """Store new close records, skipping opportunities that have one already."""
    for chunk in chunks(records):
        session.execute(insert_or_skip(session, _CLOSES, ["opportunity_id"]), list(chunk))


def answer_close(session: Session, opportunity_id: str, values: dict[str, Any]) -> bool:
    """Complete an unanswered close record with ``values``; False if it is not unanswered (any more)."""
    result = session.execute(update(_CLOSES).where(_CLOSES.c.opportunity_id == opportunity_id,
                                                   _CLOSES.c.state == "unanswered").values(**values))
    return result.rowcount == 1


def list_closes(session: Session, *, state: str | None, owner: str | None, outcome: str | None,
                closed_from: datetime | None, closed_to: datetime | None, after: str | None,
                limit: int) -> list[dict[str, Any]]:
    """Close records by opportunity id (stable paging with ``after``), filtered; the period
    includes ``closed_from`` and excludes ``closed_to``."""
    query = select(_CLOSES)
    for column, value in ((_CLOSES.c.state, state), (_CLOSES.c.owner, owner), (_CLOSES.c.outcome, outcome)):
        if value is not None:
            query = query.where(column == value)
    if closed_from is not None:
        query = query.where(_CLOSES.c.closed_at >= closed_from)
    if closed_to is not None:
        query = query.where(_CLOSES.c.closed_at < closed_to)
    if after is not None:
        query = query.where(_CLOSES.c.opportunity_id > after)
    return [_plain(r) for r in session.execute(query.order_by(_CLOSES.c.opportunity_id).limit(limit))]


def unanswered_counts(session: Session, owner: str | None) -> list[tuple[str | None, int]]:
    """(owner, number of unanswered closes) per owner, owners in order (no owner last)."""
    query = (select(_CLOSES.c.owner, func.count()).where(_OWED)
             .group_by(_CLOSES.c.owner))
    if owner is not None:
        query = query.where(_CLOSES.c.owner == owner)
    rows = [(r[0], r[1]) for r in session.execute(query)]
    return sorted(rows, key=lambda r: (r[0] is None, r[0] or ""))


def unanswered_of(session: Session, owner: str | None, limit: int) -> list[dict[str, Any]]:
    """An owner's unanswered closes (``None``: those without an owner), oldest close first."""
    who = _CLOSES.c.owner.is_(None) if owner is None else _CLOSES.c.owner == owner
    query = (select(_CLOSES).where(_OWED, who)
             .order_by(_CLOSES.c.closed_at, _CLOSES.c.opportunity_id).limit(limit))
    return [_plain(r) for r in session.execute(query)]


def claim_due_reminders(session: Session, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Unanswered closes whose next reminder is due, locked for this transaction. On PostgreSQL
    ``SKIP LOCKED`` lets several replicas remind side by side, each record by exactly one of them
    (as ``api/routing/store.py`` ``claim_overdue``); the caller moves ``next_reminder_at`` on in
    the same transaction. SQLite has one writer at a time: its write lock is taken before the read."""
    hold_write_lock(session)
    query = (select(_CLOSES).where(_OWED, _CLOSES.c.next_reminder_at <= now)
             .order_by(_CLOSES.c.next_reminder_at, _CLOSES.c.opportunity_id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=_CLOSES, skip_locked=True)
    return [_plain(r) for r in session.execute(query)]


def set_reminded(session: Session, opportunity_id: str, *, sent: int, at: datetime,
                 next_at: datetime | None) -> None:
    session.execute(update(_CLOSES).where(_CLOSES.c.opportunity_id == opportunity_id).values(
        reminders_sent=sent, last_reminded_at=at, next_reminder_at=next_at, updated_at=at))


# ---------------------------------------------------------------- interviews


def add_interview(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    row = session.execute(_INTERVIEWS.insert().returning(*_INTERVIEWS.c), values).one()
    return _plain(row)


def interviews(session: Session, opportunity_id: str) -> list[dict[str, Any]]:
    query = (select(_INTERVIEWS).where(_INTERVIEWS.c.opportunity_id == opportunity_id)
             .order_by(_INTERVIEWS.c.interviewed_at, _INTERVIEWS.c.id))
    return [_plain(r) for r in session.execute(query)]


# ---------------------------------------------------------------- dispositions


def add_disposition(session: Session, values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Store a disposition as the account's one in force: the one in force until now is superseded.
    The caller holds the account's lock (``api/qualification/service.py`` ``lock_accounts``)."""
    session.execute(update(_DISPOSITIONS).where(_DISPOSITIONS.c.account_id == values["account_id"],
                                                _DISPOSITIONS.c.superseded_at.is_(None))
                    .values(superseded_at=now))
    row = session.execute(_DISPOSITIONS.insert().returning(*_DISPOSITIONS.c),
                          {**values, "superseded_at": None, "created_at": now}).one()
    return _plain(row)


def dispositions(session: Session, account_id: str, *, opportunity_id: str | None = None) -> list[dict[str, Any]]:
    """The account's dispositions, newest first (of one opportunity's close, if given)."""
    query = select(_DISPOSITIONS).where(_DISPOSITIONS.c.account_id == account_id)
    if opportunity_id is not None:
        query = query.where(_DISPOSITIONS.c.opportunity_id == opportunity_id)
    return [_plain(r) for r in session.execute(query.order_by(_DISPOSITIONS.c.id.desc()))]
