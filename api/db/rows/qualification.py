"""The qualification tables: the ledger an account's status is derived from (activities,
opportunities with their stage changes, contracts, manual contact moves) and what is derived
from it (current account and contact statuses, the transition log), the applied rule sets and
the bulk recompute's bookkeeping.

The ledger tables carry no JSON and no enforced foreign keys, for the same sync-order reason as
the accounts and so the bulk recompute can stream them with plain SELECTs;
``api/qualification/store.py`` validates references. Their times are ``UTCDateTime``: aware UTC
in and out on both databases.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, Index, Integer, JSON, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.rows.base import Base, CODE_LEN, ID_LEN, NAME_LEN, UTCDateTime

class ActivityRow(Base):
    """One engagement event, immutable once stored (idempotent by ``id``, the source's event id).

    ``contact_id`` is NULL while the person is unmatched; ``email`` is kept so the event attaches
    when a contact with that email appears. ``account_id`` is the contact's account, copied here
    so one account's events are one indexed read (``api.ledger_store`` keeps it in step when a
    contact moves). ``content_hash`` covers the event as sent, so a resend is recognised as the
    same event even after it was attached to a contact.
    """

    __tablename__ = "activities"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    type: Mapped[str] = mapped_column(String(CODE_LEN))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    contact_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    account_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    channel: Mapped[str | None] = mapped_column(String(100))
    campaign_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    asset_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    page_kind: Mapped[str | None] = mapped_column(String(100))
    direction: Mapped[str | None] = mapped_column(String(CODE_LEN))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(32))

    # unmatched events waiting for a contact with their email
    __table_args__ = (Index("ix_activities_unmatched_email", "email", sqlite_where=text("contact_id IS NULL"),
                            postgresql_where=text("contact_id IS NULL")),
                      # the reports read an account's events in a time window (api/reports/store.py);
                      # on PostgreSQL the index alone answers them (an index-only scan)
                      Index("ix_activities_account_time", "account_id", "occurred_at",
                            postgresql_include=["type", "direction", "contact_id", "asset_id"]))


class OpportunityRow(Base):
    __tablename__ = "opportunities"
    # the reports' periods: closed in it, open in it (api/reports/store.py)
    __table_args__ = (Index("ix_opportunities_closed_at", "closed_at"), Index("ix_opportunities_opened_at", "opened_at"))

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    primary_contact_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    owner: Mapped[str | None] = mapped_column(String(NAME_LEN))
    type: Mapped[str] = mapped_column(String(CODE_LEN))
    stage: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(CODE_LEN))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the next step as the CRM has it (what, and when it is due): the pipeline review lists open
    # opportunities with none or an overdue one (migration 0014)
    next_step: Mapped[str | None] = mapped_column(Text)
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OpportunityStageChangeRow(Base):
    """The time an opportunity entered a stage; appended whenever a sync brings a new stage."""

    __tablename__ = "opportunity_stage_changes"
    __table_args__ = (Index("ix_opportunity_stage_changes_at", "at"),)  # stages entered in a report's period

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    opportunity_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    stage: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContractRow(Base):
    __tablename__ = "contracts"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)  # NULL: open-ended
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ManualContactMoveRow(Base):
    """A seller's move of a contact, kept so a recompute replays it at its time."""

    __tablename__ = "manual_contact_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LEN))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str | None] = mapped_column(String(NAME_LEN))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


# ---------------------------------------------------------------- derived statuses


class AccountStatusRow(Base):
    """The current status of an account as the core last derived it (one row per account)."""

    __tablename__ = "account_statuses"

    account_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    status: Mapped[str] = mapped_column(String(CODE_LEN), index=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    engagement_points: Mapped[float] = mapped_column(Float, default=0.0)
    personas_engaged: Mapped[list[str]] = mapped_column(JSON, default=list)
    rule_version: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # when the status could next change with no new input (AccountEvaluation.review_at); the
    # scheduler's requalify_due task re-evaluates accounts whose time has come (api/scheduling/)
    review_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class ContactStatusRow(Base):
    __tablename__ = "contact_statuses"

    contact_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    status: Mapped[str] = mapped_column(String(CODE_LEN))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    persona: Mapped[str | None] = mapped_column(String(CODE_LEN))
    seniority: Mapped[str | None] = mapped_column(String(CODE_LEN))
    rule_version: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StatusTransitionRow(Base):
    """One change of an account's or a contact's status, append-only.

    ``at`` is when the service recorded the change, ``since`` when the new status took effect
    according to the ledger (a recompute may find that a status began weeks ago). ``account_id``
    is set on contact rows too, so an account's history includes its contacts' moves.
    """

    __tablename__ = "status_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity_kind: Mapped[str] = mapped_column(String(CODE_LEN))  # "account" | "contact"
    entity_id: Mapped[str] = mapped_column(String(ID_LEN))
    account_id: Mapped[str] = mapped_column(String(ID_LEN))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    old_status: Mapped[str | None] = mapped_column(String(CODE_LEN))
    new_status: Mapped[str] = mapped_column(String(CODE_LEN))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rule_version: Mapped[str] = mapped_column(String(100))

    # history pages read one account newest first (ids grow with time); a contact's own history
    # is read by entity
    __table_args__ = (Index("ix_status_transitions_account_id_id", "account_id", "id"),
                      Index("ix_status_transitions_entity", "entity_kind", "entity_id", "id"),
                      # the reports' statuses in a period (mqa-volume, funnel, never-responded), and
                      # each account's latest status before an instant (funnel), index-only on PostgreSQL
                      Index("ix_status_transitions_kind_since", "entity_kind", "since"),
                      Index("ix_status_transitions_latest", "entity_kind", "entity_id", "since", "id",
                            postgresql_include=["new_status"]))


class RuleSetRow(Base):
    """A qualification rule set that was applied (``leadmatch rules apply``); the newest row is
    the active one. Kept whole, so the rules behind any logged ``rule_version`` can be read back
    and every process evaluates with the same rules whatever its own settings file says."""

    __tablename__ = "rule_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(100))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(Text)  # the file it came from, for people reading the table
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecomputeRunRow(Base):
    """A bulk recompute that is writing (``api.recompute``); ``finished_at`` NULL while it runs.
    While one runs, every status write of the per-write path notes its accounts in
    ``recompute_touched``, so the run re-reads those instead of storing a verdict from its older
    snapshot of their ledger."""

    __tablename__ = "recompute_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_version: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecomputeTouchedRow(Base):
    """An account the per-write path re-evaluated while a recompute run was writing."""

    __tablename__ = "recompute_touched"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
