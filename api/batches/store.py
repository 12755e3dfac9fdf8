"""The batch tables (api/db/rows/batches.py): jobs, the upload's pieces, chunk claims with leases.

A chunk is claimed under ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (workers on other machines
take other chunks) and under SQLite's single write lock (``hold_write_lock``) otherwise; a
claim is pending, or running with its lease run out (its worker died). The claim moves the
lease and counts an attempt; the worker's heartbeat and checkpoint name the attempt they own,
so a worker whose chunk was taken over writes nothing.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterator

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from api.db.bulk import hold_write_lock, utc_now
from api.db.rows import BatchChunkRow, BatchFileRow, BatchRow

PIECE_BYTES = 1 << 20  # the upload is stored in pieces of this size
ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")


def new_id() -> str:
    return "b_" + secrets.token_hex(8)


def get(session: Session, batch_id: str, *, for_update: bool = False) -> BatchRow | None:
    if for_update:
        hold_write_lock(session)
        return session.scalars(select(BatchRow).where(BatchRow.id == batch_id).with_for_update()).first()
    return session.get(BatchRow, batch_id)


def same_content(session: Session, sha256: str) -> BatchRow | None:
    """The newest job of this content that is queued, running or done (failed and cancelled jobs
    are not offered again)."""
    return session.scalars(select(BatchRow).where(BatchRow.content_sha256 == sha256,
                                                  BatchRow.state.in_(("queued", "running", "done")))
                           .order_by(BatchRow.created_at.desc()).limit(1)).first()


def page(session: Session, limit: int, before: tuple[datetime, str] | None) -> list[BatchRow]:
    """Newest first; ``before`` (created_at, id) of the last job of the previous page."""
    q = select(BatchRow).order_by(BatchRow.created_at.desc(), BatchRow.id.desc()).limit(limit)
    if before is not None:
        at, bid = before
        q = q.where(or_(BatchRow.created_at < at, and_(BatchRow.created_at == at, BatchRow.id < bid)))
    return list(session.scalars(q))


def add_piece(session: Session, batch_id: str, number: int, data: bytes) -> None:
    session.add(BatchFileRow(batch_id=batch_id, number=number, data=data))
    session.flush()
    session.expunge_all()  # a piece is not kept in the session: an upload is never whole in memory


def pieces(session: Session, batch_id: str) -> Iterator[bytes]:
    numbers = list(session.scalars(select(BatchFileRow.number).where(BatchFileRow.batch_id == batch_id)
                                   .order_by(BatchFileRow.number)))
    for n in numbers:
        yield session.scalars(select(BatchFileRow.data).where(BatchFileRow.batch_id == batch_id,
                                                              BatchFileRow.number == n)).one()


@dataclass(frozen=True, slots=True)
class Claim:
    batch_id: str
    number: int
    worker: str
    attempt: int


def claim_prepare(session: Session, batch_id: str, worker: str, lease: float, now: datetime) -> bool:
    """The prepare step of a queued job whose prepare is nobody's (or whose preparer died)."""
    row = get(session, batch_id, for_update=True)
    if row is None or row.state != "queued" or (row.lease_until is not None and row.lease_until > now):
        return False
    row.worker, row.lease_until = worker, now + timedelta(seconds=lease)
    return True


def claimable(now: datetime):  # noqa: ANN201 - SQL condition
    return or_(BatchChunkRow.state == "pending",
               and_(BatchChunkRow.state == "running", BatchChunkRow.lease_until < now))


def claim_chunk(session: Session, batch_id: str, worker: str, lease: float, now: datetime) -> Claim | None:
    """One chunk of a running job, pending or with its lease run out, for ``worker``."""
    hold_write_lock(session)
    running = select(BatchRow.id).where(BatchRow.id == batch_id, BatchRow.state == "running")
    if session.scalars(running).first() is None:
        return None  # not prepared yet, cancelled or finished: workers stop at the next chunk
    row = session.scalars(select(BatchChunkRow).where(BatchChunkRow.batch_id == batch_id, claimable(now))
                          .order_by(BatchChunkRow.number).limit(1).with_for_update(skip_locked=True)).first()
    if row is None:
        return None
    row.state, row.worker = "running", worker
    row.lease_until = now + timedelta(seconds=lease)
    row.attempts += 1
    return Claim(batch_id, row.number, worker, row.attempts)


def _owned(claim: Claim):  # noqa: ANN202 - SQL condition
    return and_(BatchChunkRow.batch_id == claim.batch_id, BatchChunkRow.number == claim.number,
                BatchChunkRow.worker == claim.worker, BatchChunkRow.attempts == claim.attempt,
                BatchChunkRow.state == "running")


def renew(session: Session, claim: Claim, lease: float) -> bool:
    """The heartbeat: the lease moved on, if the chunk is still this claim's."""
    hold_write_lock(session)
    done = session.execute(update(BatchChunkRow).where(_owned(claim))
                           .values(lease_until=utc_now() + timedelta(seconds=lease)))
    return done.rowcount == 1


def renew_prepare(session: Session, batch_id: str, worker: str, lease: float) -> bool:
    hold_write_lock(session)
    done = session.execute(update(BatchRow).where(BatchRow.id == batch_id, BatchRow.worker == worker,
                                                  BatchRow.state == "queued")
                           .values(lease_until=utc_now() + timedelta(seconds=lease)))
    return done.rowcount == 1


def checkpoint(session: Session, claim: Claim, results: bytes, errors: bytes, counts: dict[str, int]) -> bool:
    """The chunk's result bytes, counts and state done, in the caller's transaction; False (nothing
    written) when the chunk is no longer this claim's (its lease ran out and another took it)."""
    hold_write_lock(session)
    done = session.execute(update(BatchChunkRow).where(_owned(claim)).values(
        state="done", results=results, errors=errors, counts=counts, lease_until=None, finished_at=utc_now()))
    return done.rowcount == 1


def chunk_input(session: Session, batch_id: str, number: int) -> bytes:
    return session.scalars(select(BatchChunkRow.input).where(BatchChunkRow.batch_id == batch_id,
                                                             BatchChunkRow.number == number)).one()


def replace_chunks(session: Session, batch_id: str, chunks: list[dict]) -> None:
    session.execute(delete(BatchChunkRow).where(BatchChunkRow.batch_id == batch_id))
    if chunks:
        session.execute(BatchChunkRow.__table__.insert(), [
            {"batch_id": batch_id, "state": "pending", "attempts": 0, **c} for c in chunks])


@dataclass(frozen=True, slots=True)
class Progress:
    rows_done: int
    counts: dict[str, int]
    chunks_left: int
    running_live: int  # chunks being worked on under a live lease


def progress(session: Session, batch_id: str, now: datetime | None = None) -> Progress:
    now = now or utc_now()
    rows_done, counts, left, live = 0, {"matched": 0, "review": 0, "no_match": 0, "error": 0}, 0, 0
    for state, rows, chunk_counts, lease in session.execute(
            select(BatchChunkRow.state, BatchChunkRow.rows, BatchChunkRow.counts, BatchChunkRow.lease_until)
            .where(BatchChunkRow.batch_id == batch_id)):
        if state == "done":
            rows_done += rows
            for k, v in (chunk_counts or {}).items():
                counts[k] = counts.get(k, 0) + v
        else:
            left += 1
            if state == "running" and lease is not None and lease >= now:
                live += 1
    return Progress(rows_done, counts, left, live)


def expired_chunks(session: Session, batch_id: str, now: datetime) -> int:
    return session.scalar(select(func.count()).select_from(BatchChunkRow).where(
        BatchChunkRow.batch_id == batch_id, BatchChunkRow.state == "running", BatchChunkRow.lease_until < now)) or 0


def result_parts(session: Session, batch_id: str, column: str) -> Iterator[bytes]:
    """Each chunk's part of results.csv (``column="results"``) or errors.csv, in chunk order, one
    at a time."""
    numbers = list(session.scalars(select(BatchChunkRow.number).where(BatchChunkRow.batch_id == batch_id)
                                   .order_by(BatchChunkRow.number)))
    col = getattr(BatchChunkRow, column)
    for n in numbers:
        yield session.scalars(select(col).where(BatchChunkRow.batch_id == batch_id,
                                                BatchChunkRow.number == n)).one() or b""


def unfinished(session: Session) -> list[BatchRow]:
    return list(session.scalars(select(BatchRow).where(BatchRow.state.in_(ACTIVE))))
