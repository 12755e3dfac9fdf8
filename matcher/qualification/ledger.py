"""Plain data of account qualification (MQA): the ledger one account's status is derived from.

The edges (``api/``) read rows into these objects; the core (``matcher.qualification.evaluate``) turns an
``AccountLedger`` plus the qualification rules into an ``AccountEvaluation`` (account status,
contact statuses, reasons) without I/O. Keeping the whole input of one account in one value is
what makes "a new event recomputes only its account" and "a rule change recomputes everything"
the same code path, and a recompute reproducible.

Times are timezone-aware UTC ``datetime`` values; contract dates are ``date`` values.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from config.vocabulary import (ACCOUNT_STATUSES, ACTIVITY_TYPES, CONTACT_STATUSES, OPPORTUNITY_STATES,  # noqa: F401 - re-exported vocabulary
                               OPPORTUNITY_TYPES, AccountStatus, ActivityType, ContactStatus, Direction,
                               OpportunityState, OpportunityType)
from matcher.fastdata import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Activity:
    """One immutable engagement event. ``contact_id`` is None while the person is unmatched
    (the edge keeps such events by ``email`` and attaches them once the person is a contact)."""

    id: str
    type: str  # one of ACTIVITY_TYPES
    occurred_at: datetime
    contact_id: str | None = None
    email: str | None = None
    channel: str | None = None
    campaign_id: str | None = None
    asset_id: str | None = None
    page_kind: str | None = None  # "pricing", "product", "blog", ... for page views
    direction: str | None = None  # "inbound" | "outbound" | None


@fast_init
@dataclass(frozen=True, slots=True)
class StageChange:
    stage: str
    at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class Opportunity:
    id: str
    account_id: str
    state: str = "open"  # one of OPPORTUNITY_STATES
    type: str = "new_business"  # one of OPPORTUNITY_TYPES
    stage: str | None = None
    primary_contact_id: str | None = None
    owner: str | None = None
    amount: float | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    stage_changes: tuple[StageChange, ...] = ()  # in time order, first entry = stage at opening


@fast_init
@dataclass(frozen=True, slots=True)
class Contract:
    id: str
    account_id: str
    starts_on: date
    ends_on: date | None = None  # None: open-ended

    def active_on(self, day: date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


@fast_init
@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    account_id: str
    title: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    created_at: datetime | None = None

    @property
    def display_name(self) -> str:
        first, last = self.first_name, self.last_name  # no generator: reasons name many contacts
        if first and last:
            return f"{first} {last}"
        return first or last or self.email or self.id


@fast_init
@dataclass(frozen=True, slots=True)
class ManualContactMove:
    """A seller's move of a contact (``POST /v1/contacts/{id}/status``), kept as a ledger entry
    so that a recompute replays it at its time instead of forgetting it."""

    contact_id: str
    status: str  # one of CONTACT_STATUSES
    at: datetime
    by: str | None = None
    note: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class AccountProfile:
    """What qualification needs to know about the account itself: fit and manual flags."""

    id: str
    name: str = ""
    fit_tier: str | None = None  # "1", "2", "3" ... as the CRM sends it
    industry: str | None = None
    employees: int | None = None
    disqualified: bool = False  # manual flag (PUT /v1/accounts/{id}/flags)
    partner: bool = False  # manual flag
    # when each flag was set, if known: gives the account status its `since`; a flag set after
    # the evaluation time does not count yet
    disqualified_at: datetime | None = None
    partner_at: datetime | None = None


# Where an account goes after a close (api/db/rows/closing.py AccountDispositionRow), and what
# qualification makes of each kind (matcher/qualification/conditions.py, docs/qualification.md).
DISPOSITION_KINDS: tuple[str, ...] = ("disqualified", "nurture_track", "top_of_funnel", "recycle", "white_space",
                                      "none")


@fast_init
@dataclass(frozen=True, slots=True)
class Disposition:
    """An entry of the account's ledger: from ``at`` the account is disqualified (for good, or
    re-activated on ``until``), on the closed-lost nurture track, back at the top of the funnel,
    recycled (back by itself on ``until``), engaged for its white space, or nothing of these
    (``none``). The one in force at a time is the latest with ``at`` at or before it that was not
    superseded by then (``superseded_at``); ``id`` orders entries with the same ``at``."""

    kind: str  # one of DISPOSITION_KINDS
    at: datetime
    until: datetime | None = None
    reasons: tuple[str, ...] = ()  # why, as the close's rules or the person overriding said it
    source: str = "rules"  # "rules" | "override"
    by: str | None = None
    superseded_at: datetime | None = None
    id: int = 0


def disposition_in_force(dispositions: tuple[Disposition, ...], t: datetime) -> Disposition | None:
    """The latest disposition with ``at <= t`` not superseded by ``t`` (ties: the higher id)."""
    found = None
    for d in dispositions:
        if d.at <= t and (d.superseded_at is None or t < d.superseded_at) \
                and (found is None or (d.at, d.id) > (found.at, found.id)):
            found = d
    return found


@fast_init
@dataclass(frozen=True, slots=True)
class AccountLedger:
    """Everything one account's status is derived from."""

    account: AccountProfile
    contacts: tuple[Contact, ...] = ()
    activities: tuple[Activity, ...] = ()  # events of this account's contacts, any order
    opportunities: tuple[Opportunity, ...] = ()
    contracts: tuple[Contract, ...] = ()
    manual_moves: tuple[ManualContactMove, ...] = ()
    dispositions: tuple[Disposition, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class Reason:
    """One readable cause of a status: ``rule`` names the configured rule or condition,
    ``text`` is the sentence a seller reads, ``event_ids`` the contributing ledger entries."""

    rule: str
    text: str
    event_ids: tuple[str, ...] = ()
    points: float | None = None
    contact_id: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class ContactState:
    contact_id: str
    status: str  # one of CONTACT_STATUSES
    since: datetime | None
    reasons: tuple[Reason, ...] = ()
    persona: str | None = None  # function: engineering, it, finance, ...
    seniority: str | None = None  # c_level, vp, director, manager, individual_contributor


@fast_init
@dataclass(frozen=True, slots=True)
class AccountEvaluation:
    account_id: str
    status: str  # one of ACCOUNT_STATUSES
    since: datetime | None
    reasons: tuple[Reason, ...]
    contacts: tuple[ContactState, ...] = ()
    engagement_points: float = 0.0
    personas_engaged: tuple[str, ...] = ()
    # the earliest instant after as_of at which the status could change with no new input (a
    # disposition's until, a contract's edges, decay or the coverage window ending MQA); None: never
    review_at: datetime | None = None
