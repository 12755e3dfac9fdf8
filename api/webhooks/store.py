"""The webhook outbox table (api/db/rows/webhooks.py): rows in, claims, outcomes, the ops view.

Claiming is one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED) RETURNING``:
on PostgreSQL two deliverers skip each other's locked rows instead of waiting or both taking
them, and the lease they set keeps the rows theirs after the claim commits; SQLite ignores
``FOR UPDATE`` and runs the single statement under its one write lock, which is as exclusive.
Like every store, this never commits: the caller owns the transaction (api/db/engine.py).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from api.db.bulk import insert_or_skip
from api.db.rows import WebhookOutboxRow

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATES = (PENDING, DELIVERED, DEAD)
# longest last_error kept: the start of an exception message says what went wrong
ERROR_LEN = 500

_T = WebhookOutboxRow.__table__


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One outbox row to store: an event for one URL."""

    event_id: uuid.UUID
    event_type: str
    url: str
    idempotency_key: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row a deliverer has leased and is about to send."""

    id: int
    event_type: str
    url: str
    idempotency_key: str
    body: str
    attempts: int


def insert_events(session: Session, events: Sequence[NewEvent]) -> None:
    """Store the rows; one whose (idempotency_key, url) is stored already is left as it is."""
    if not events:
        return
    session.execute(insert_or_skip(session, _T, ["idempotency_key", "url"]), [
        {"event_id": e.event_id, "event_type": e.event_type, "url": e.url, "idempotency_key": e.idempotency_key,
         "body": e.body, "created_at": e.created_at, "attempts": 0, "next_attempt_at": e.created_at,
         "state": PENDING} for e in events])


def claim_due(session: Session, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
    """Lease up to ``limit`` pending rows that are due at ``now`` and not leased by another
    deliverer, oldest due first, until ``lease_until``."""
    due = (select(_T.c.id)
           .where(_T.c.state == PENDING, _T.c.next_attempt_at <= now,
                  or_(_T.c.locked_until.is_(None), _T.c.locked_until <= now))
           .order_by(_T.c.next_attempt_at, _T.c.id).limit(limit)
           .with_for_update(skip_locked=True))
    rows = session.execute(
        update(_T).where(_T.c.id.in_(due.scalar_subquery())).values(locked_until=lease_until)
        .returning(_T.c.id, _T.c.event_type, _T.c.url, _T.c.idempotency_key, _T.c.body, _T.c.attempts)).all()
    # RETURNING gives no order; send in the order they fell due
    return sorted((Claimed(*r) for r in rows), key=lambda c: c.id)


def mark_delivered(session: Session, row_id: int, now: datetime, status: int) -> None:
    session.execute(update(_T).where(_T.c.id == row_id, _T.c.state == PENDING).values(
        state=DELIVERED, delivered_at=now, attempts=_T.c.attempts + 1, last_status=status, last_error=None,
        locked_until=None))


def mark_failed(session: Session, row_id: int, *, attempts: int, next_attempt_at: datetime, dead: bool,
                status: int | None, error: str) -> None:
    """Record a failed attempt: due again at ``next_attempt_at``, or ``dead``."""
    session.execute(update(_T).where(_T.c.id == row_id, _T.c.state == PENDING).values(
        state=DEAD if dead else PENDING, attempts=attempts, next_attempt_at=next_attempt_at,
        last_status=status, last_error=error[:ERROR_LEN], locked_until=None))


def release(session: Session, row_ids: Sequence[int]) -> None:
    """Give claimed rows back unsent (a deliverer stopping), due at once for whoever comes next."""
    if row_ids:
        session.execute(update(_T).where(_T.c.id.in_(list(row_ids)), _T.c.state == PENDING)
                        .values(locked_until=None))


def count_pending(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(_T).where(_T.c.state == PENDING)) or 0


def _record(row: Any) -> dict[str, Any]:
    return {"id": row.id, "event_id": str(row.event_id), "event_type": row.event_type, "url": row.url,
            "idempotency_key": row.idempotency_key, "state": row.state, "attempts": row.attempts,
            "created_at": row.created_at, "next_attempt_at": row.next_attempt_at, "locked_until": row.locked_until,
            "delivered_at": row.delivered_at, "last_status": row.last_status, "last_error": row.last_error,
            "body": row.body}


def list_rows(session: Session, *, state: str | None, after: int | None, limit: int) -> list[dict[str, Any]]:
    """Rows by id, after ``after``, at most ``limit``, of one state or all."""
    query = select(_T).order_by(_T.c.id).limit(limit)
    if state is not None:
        query = query.where(_T.c.state == state)
    if after is not None:
        query = query.where(_T.c.id > after)
    return [_record(r) for r in session.execute(query)]


def get_row(session: Session, row_id: int) -> dict[str, Any] | None:
    row = session.execute(select(_T).where(_T.c.id == row_id)).first()
    return None if row is None else _record(row)


def requeue_dead(session: Session, row_id: int, now: datetime) -> bool:
    """A dead row becomes pending again, due at ``now``, with a fresh count of attempts; False
    when the row is not dead (or not there)."""
    result = session.execute(update(_T).where(_T.c.id == row_id, _T.c.state == DEAD).values(
        state=PENDING, attempts=0, next_attempt_at=now, locked_until=None))
    return result.rowcount == 1
