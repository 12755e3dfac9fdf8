"""Lead intake: every lead as it arrived, its match, conversion, route and SLA, and the history of
its routing decisions (``api/routing/store.py`` reads and writes them)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.rows.base import CODE_LEN, ID_LEN, NAME_LEN, Base, UTCDateTime


class LeadRow(Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_owner_received", "owner", "received_at"),
        Index("ix_leads_queue_received", "queue", "received_at"),
        Index("ix_leads_sla_due", "sla_state", "sla_due_at"),
        Index("ix_leads_review", "review_state", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)  # the source's lead id
    content_hash: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the lead as it was sent
    source: Mapped[str | None] = mapped_column(String(100))
    campaign_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision: Mapped[str] = mapped_column(String(CODE_LEN))
    account_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    match: Mapped[dict[str, Any]] = mapped_column(JSON)  # the /v1/match answer
    contact_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    owner: Mapped[str | None] = mapped_column(String(NAME_LEN))
    queue: Mapped[str | None] = mapped_column(String(NAME_LEN))
    rule: Mapped[str] = mapped_column(String(NAME_LEN))
    reason: Mapped[str] = mapped_column(Text)
    routed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # SLA: 'pending' (clock running), 'met', 'missed', 'none' (a queue holds it: no clock)
    sla_state: Mapped[str] = mapped_column(String(CODE_LEN))
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_action_minutes: Mapped[float | None] = mapped_column(Float)  # business minutes to the first action
    reassignments: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # review queue: 'open' while a person must pick the account, then 'resolved'; NULL: never in review
    review_state: Mapped[str | None] = mapped_column(String(CODE_LEN))
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class LeadRoutingRow(Base):
    """One routing decision of a lead: the first, and each re-route, reassignment, escalation or
    review resolution after it, with the rule that fired and everyone passed over."""

    __tablename__ = "lead_routings"
    # a turn number given twice is looked for by pool and backend (benchmarks/routing/bench_fairness.py)
    __table_args__ = (Index("ix_lead_routings_turn", "pool", "turn_backend", "turn"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(String(ID_LEN), ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # 'routed', 'rerouted' (its account changed), 'reassigned' / 'escalated' (missed SLA), 'resolved'
    kind: Mapped[str] = mapped_column(String(CODE_LEN))
    owner: Mapped[str | None] = mapped_column(String(NAME_LEN))
    queue: Mapped[str | None] = mapped_column(String(NAME_LEN))
    rule: Mapped[str] = mapped_column(String(NAME_LEN))
    reason: Mapped[str] = mapped_column(Text)
    pool: Mapped[str | None] = mapped_column(String(NAME_LEN))
    turn: Mapped[int | None] = mapped_column(Integer)
    turn_backend: Mapped[str | None] = mapped_column(String(16))  # 'database' | 'redis': turns are unique per backend
    considered: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    by: Mapped[str | None] = mapped_column(String(NAME_LEN))  # who, for a review resolution or a manual action
