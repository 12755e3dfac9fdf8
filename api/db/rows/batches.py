"""Batch uploads (api/batches/, docs/batches.md): a job, the bytes of its upload, and its chunks.

The upload is kept in the database in pieces (``batch_files``) so that any worker on any machine
can read it: no shared disk is assumed. A chunk (``batch_chunks``) holds its rows' parsed input
and, once done, its part of results.csv and errors.csv exactly as they appear in the files:
the files are the chunks' bytes in chunk order, whoever did which chunk.
"""
from __future__ import annotations

from datetime import datetime


from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.rows.base import CODE_LEN, ID_LEN, NAME_LEN, Base, UTCDateTime


class BatchRow(Base):
    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_created", "created_at"), Index("ix_batches_state", "state"))

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)  # "b_" + 16 hex
    filename: Mapped[str | None] = mapped_column(String(NAME_LEN))
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    # queued (stored, not yet prepared), running, done, failed, cancelled
    state: Mapped[str] = mapped_column(String(CODE_LEN))
    route: Mapped[bool] = mapped_column(Boolean, default=False)
    mapping_requested: Mapped[dict[str, str] | None] = mapped_column(JSON)
    mapping_used: Mapped[dict[str, str] | None] = mapped_column(JSON)  # our field -> their header text
    header: Mapped[list[str] | None] = mapped_column(JSON)
    encoding: Mapped[str | None] = mapped_column(String(CODE_LEN))
    delimiter: Mapped[str | None] = mapped_column(String(8))
    rows_total: Mapped[int | None] = mapped_column(Integer)  # data rows, known once prepared
    chunks_total: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)  # filled in when the job ends
    counts: Mapped[dict[str, int] | None] = mapped_column(JSON)  # idem; read from the chunks meanwhile
    error: Mapped[str | None] = mapped_column(Text)
    # the prepare step's lease: a worker killed while preparing leaves it to expire
    worker: Mapped[str | None] = mapped_column(String(NAME_LEN))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BatchFileRow(Base):
    """The upload's bytes, in pieces of about 1 MiB, numbered from 0."""

    __tablename__ = "batch_files"

    batch_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("batches.id", ondelete="CASCADE"),
                                          primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class BatchChunkRow(Base):
    __tablename__ = "batch_chunks"
    __table_args__ = (Index("ix_batch_chunks_state", "batch_id", "state"),)

    batch_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("batches.id", ondelete="CASCADE"),
                                          primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_line: Mapped[int] = mapped_column(Integer)
    last_line: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)  # records of the file in this chunk (data and bad rows)
    # the parsed input, compact (api/batches/jobs.py ``encode_input``)
    input: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(CODE_LEN), default="pending")  # pending | running | done
    worker: Mapped[str | None] = mapped_column(String(NAME_LEN))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int] | None] = mapped_column(JSON)
    results: Mapped[bytes | None] = mapped_column(LargeBinary)  # this chunk's rows of results.csv
    errors: Mapped[bytes | None] = mapped_column(LargeBinary)  # and of errors.csv
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


__all__ = ["BatchChunkRow", "BatchFileRow", "BatchRow"]
