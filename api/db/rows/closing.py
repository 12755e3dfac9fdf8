"""After the close: the seller's close answers, the buyer's interviews, the dispositions that
decide where a lost (or won) account goes next, the gone-dark episodes of open opportunities with
their re-qualification cadence, and the content catalogue the win/loss reports read.

``api/closing/`` writes them; ``api/reports/`` reads them (domain.md section 6 defines the reports).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.rows.base import CODE_LEN, ID_LEN, NAME_LEN, Base, UTCDateTime


class CloseRecordRow(Base):
    """One per closed opportunity: how it closed and what the seller answered. A close through
    ``POST /v1/opportunities/{id}/close`` is answered; one that arrived through a CRM sync (or the
    gone-dark auto-close) stays ``unanswered`` until its mandatory answers are given, and is
    reminded on ``next_reminder_at``."""
    __tablename__ = "close_records"
    __table_args__ = (
        Index("ix_close_records_state_owner", "state", "owner"),
        Index("ix_close_records_reminder", "state", "next_reminder_at"),
        Index("ix_close_records_closed_at", "closed_at"),
    )

    opportunity_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    owner: Mapped[str | None] = mapped_column(String(NAME_LEN))
    outcome: Mapped[str] = mapped_column(String(CODE_LEN))  # 'won' | 'lost'
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # 'api' (POST .../close), 'sync' (PUT /v1/opportunities), 'gone_dark' (closed lost by the scheduler)
    source: Mapped[str] = mapped_column(String(CODE_LEN))
    # question id -> answer, as config/closing.toml defines the questions (e.g. primary_reason,
    # competitor, stalled_stage, heard_from, heard_from_whom, reason_confirmed, white_space,
    # ever_a_fit, come_back)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(CODE_LEN))  # 'answered' | 'unanswered'
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[str | None] = mapped_column(String(NAME_LEN))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WinLossInterviewRow(Base):
    """What the buyer said in a win/loss interview: kept beside the seller's answers, never over them."""
    __tablename__ = "win_loss_interviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    opportunity_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    reason: Mapped[str | None] = mapped_column(String(NAME_LEN))  # the buyer's primary reason
    competitor: Mapped[str | None] = mapped_column(String(NAME_LEN))
    heard_from: Mapped[str | None] = mapped_column(String(NAME_LEN))  # how they first heard of us
    notes: Mapped[str | None] = mapped_column(Text)
    interviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    interviewer: Mapped[str | None] = mapped_column(String(NAME_LEN))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountDispositionRow(Base):
    """Where an account goes after a close (or a person's override): an entry of the account's
    ledger that qualification honours from ``at`` (until ``until`` where it is timed). The latest
    entry not ``superseded_at`` is in force."""
    __tablename__ = "account_dispositions"
    __table_args__ = (Index("ix_account_dispositions_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN))
    opportunity_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    # 'disqualified' (never a fit; with ``until``: re-activated then), 'nurture_track' (closed-lost
    # nurture), 'top_of_funnel' (back to pre-qualified), 'recycle' (back by itself on ``until``),
    # 'white_space' (won with cross-/up-sell potential: customer engaged), 'none'
    kind: Mapped[str] = mapped_column(String(CODE_LEN))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(CODE_LEN))  # 'rules' | 'override'
    by: Mapped[str | None] = mapped_column(String(NAME_LEN))
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GoneDarkEpisodeRow(Base):
    """An open opportunity (or an account in Qualified / Sales Working) that went dark: no two-way
    touch for its stage's number of days. ``cadence`` holds the re-qualification steps
    ([{"step": 1, "channel": "call", "due_at": ..., "done_at": ..., "activity_id": ...}, ...]);
    the scheduler handles ``next_step_at``."""
    __tablename__ = "gone_dark_episodes"
    __table_args__ = (
        Index("ix_gone_dark_state_next", "state", "next_step_at"),
        Index("ix_gone_dark_opportunity", "opportunity_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(CODE_LEN))  # 'opportunity' | 'account'
    opportunity_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    account_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    owner: Mapped[str | None] = mapped_column(String(NAME_LEN))
    stage: Mapped[str | None] = mapped_column(String(100))  # the stage (or account status) it went dark in
    dark_since: Mapped[datetime] = mapped_column(UTCDateTime)  # when it became dark
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the service noticed
    # 'dark' (cadence running), 'answered' (a two-way touch came), 'closed_lost' (went dark for good), 'closed'
    # (the opportunity closed otherwise, the account left its status), 'expired' (an account past the second limit)
    state: Mapped[str] = mapped_column(String(CODE_LEN))
    cadence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContentAssetRow(Base):
    """The content catalogue (``PUT /v1/content``): the assets whose downloads and views the
    ``content`` report counts (activities carry ``asset_id``)."""
    __tablename__ = "content_assets"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    title: Mapped[str] = mapped_column(String(NAME_LEN))
    kind: Mapped[str | None] = mapped_column(String(CODE_LEN))  # whitepaper, case_study, video, ...
    url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
