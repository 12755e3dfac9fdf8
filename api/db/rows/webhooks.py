"""The webhook outbox: one row per event and receiving URL, written in the transaction that made
the event (api/webhooks/service.py emit), sent later by api/webhooks/delivery.py.

``body`` is the exact byte string that is signed and POSTed, stored as text (it is UTF-8 JSON),
so a retry sends the same bytes with the same idempotency key. ``locked_until`` is a lease: a
deliverer that claimed the row owns it until then; a deliverer that died leaves a lease that
simply runs out.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.db.rows.base import Base, CODE_LEN, UTCDateTime

URL_LEN = 2000
KEY_LEN = 200
EVENT_TYPE_LEN = 100

# SQLite gives only an INTEGER PRIMARY KEY its automatic rowid numbering
OUTBOX_ID = BigInteger().with_variant(Integer(), "sqlite")


class WebhookOutboxRow(Base):
    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(OUTBOX_ID, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(EVENT_TYPE_LEN))
    url: Mapped[str] = mapped_column(String(URL_LEN))
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LEN))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(CODE_LEN))  # 'pending' | 'delivered' | 'dead'

    __table_args__ = (
        UniqueConstraint("idempotency_key", "url", name="uq_webhook_outbox_key_url"),
        # what a deliverer claims: pending rows by due time
        Index("ix_webhook_outbox_due", "state", "next_attempt_at"),
    )
