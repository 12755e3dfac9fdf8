"""SQLAlchemy models: the tables as typed classes, identical on SQLite and PostgreSQL.

Only portable column types are used (``JSON`` becomes ``json`` on PostgreSQL and text on SQLite).
``accounts.parent_id`` deliberately has no enforced foreign key: a CRM sync may send a child
before its parent, so ``api.store`` validates parents (they must exist in the database or in the
same batch, and no cycles) instead of the database. ``contacts.account_id`` has none either, for
the same reason; ``store.upsert_contacts`` checks it and ``store.delete_account`` cleans up.
The Alembic migrations under ``api/migrations`` must be kept in step with this file.

Qualification (issue 4) adds the ledger an account's status is derived from (activities,
opportunities with their stage changes, contracts, manual contact moves, the account flags)
and what is derived from it (current account and contact statuses, the transition log). The
ledger tables carry no JSON and no enforced foreign keys, for the same sync-order reason and so
the bulk recompute can stream them with plain SELECTs; ``api.ledger_store`` validates references.
Their times are ``UTCDateTime``: aware UTC in and out on both databases.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator,
                        false, func, text, true)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Lengths are generous caps, not business rules: they keep one bad row from storing megabytes.
ID_LEN = 64
NAME_LEN = 300
DOMAIN_LEN = 253  # longest DNS name
CODE_LEN = 32  # status codes, activity types, opportunity states: short fixed vocabularies


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC ``datetime`` on both databases.

    SQLite keeps no offset: a plain ``DateTime(timezone=True)`` stores an aware value's wall
    clock and reads it back naive, so 10:00+02:00 would come back as 10:00. This stores UTC and
    reads it back as UTC-aware, so ledger times compare and order the same on SQLite and
    PostgreSQL. Naive values are taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class Owner(Base):
    """A seller who owns accounts. Created automatically from the owner names accounts carry."""

    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)  # the CRM's id
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_customer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    fit_tier: Mapped[str | None] = mapped_column(String(20))
    industry: Mapped[str | None] = mapped_column(String(100))
    employees: Mapped[int | None] = mapped_column(Integer)
    # manual account states (PUT /v1/accounts/{id}/flags); PUT /v1/accounts leaves them alone
    disqualified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    partner: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # when each flag was set (NULL while it is not): the manual status's "since"
    disqualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    partner_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # other firmographics the CRM sends; not interpreted by the matcher
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountDomain(Base):
    """A domain an account owns, stored as the normalised host (lower case, no ``www.``)."""

    __tablename__ = "account_domains"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    domain: Mapped[str] = mapped_column(String(DOMAIN_LEN), primary_key=True)

    # "which account owns acme.com" is the question conflicts and admin tools ask
    __table_args__ = (Index("ix_account_domains_domain", "domain"),)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    # registrable domain of the email (us.ibm.com -> ibm.com): evidence for the account
    email_domain: Mapped[str | None] = mapped_column(String(DOMAIN_LEN))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------- qualification ledger


class Activity(Base):
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
                            postgresql_where=text("contact_id IS NULL")),)


class Opportunity(Base):
    __tablename__ = "opportunities"

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OpportunityStageChange(Base):
    """The time an opportunity entered a stage; appended whenever a sync brings a new stage."""

    __tablename__ = "opportunity_stage_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    opportunity_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    stage: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Contract(Base):
    __tablename__ = "contracts"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)  # NULL: open-ended
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ManualContactMove(Base):
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


class AccountStatus(Base):
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


class ContactStatus(Base):
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


class StatusTransition(Base):
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
                      Index("ix_status_transitions_entity", "entity_kind", "entity_id", "id"))


class RuleSet(Base):
    """A qualification rule set that was applied (``leadmatch rules apply``); the newest row is
    the active one. Kept whole, so the rules behind any logged ``rule_version`` can be read back
    and every process evaluates with the same rules whatever its own settings file says."""

    __tablename__ = "rule_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(100))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(Text)  # the file it came from, for people reading the table
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecomputeRun(Base):
    """A bulk recompute that is writing (``api.recompute``); ``finished_at`` NULL while it runs.
    While one runs, every status write of the per-write path notes its accounts in
    ``recompute_touched``, so the run re-reads those instead of storing a verdict from its older
    snapshot of their ledger."""

    __tablename__ = "recompute_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_version: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecomputeTouched(Base):
    """An account the per-write path re-evaluated while a recompute run was writing."""

    __tablename__ = "recompute_touched"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
