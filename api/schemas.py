"""Request and response bodies. Strings are trimmed and length-capped; empty strings count as
absent. Unknown fields: ignored on leads (web forms send all sorts), rejected on accounts and
contacts (a typo in a CRM sync mapping should fail loudly, not silently drop data)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from matcher import normalize
from matcher.ledger import Activity, ActivityType, ContactStatus, Direction, OpportunityState, OpportunityType
from matcher.types import Lead


def _blank_to_none(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def Text(max_length: int):  # noqa: N802 - reads like a type
    return Annotated[Annotated[str, StringConstraints(max_length=max_length)] | None, BeforeValidator(_blank_to_none)]


Short = Text(200)
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                      pattern=r"^[^\s/?#]+$")]


def _check_email(v: str | None) -> str | None:
    if v is not None and not normalize.is_valid_email(v):
        raise ValueError("not a valid email address")
    return v


LEAD_EXAMPLE = {
    "email": "jane.doe@acme.de", "company": "ACME GmbH", "country": "DE", "region": "Bavaria",
    "city": "Munich", "phone": "+49 89 1234567", "website": "https://www.acme.de",
    "first_name": "Jane", "last_name": "Doe", "title": "Head of Procurement",
}


class LeadIn(BaseModel):
    """One incoming lead. Every field is optional, but a lead needs an email or a company."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [LEAD_EXAMPLE]})

    email: Text(320) = None
    company: Text(300) = None
    country: Text(100) = None
    region: Text(100) = None
    city: Text(100) = None
    phone: Text(50) = None
    website: Text(500) = None
    first_name: Text(100) = None
    last_name: Text(100) = None
    title: Text(300) = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return _check_email(v)

    @model_validator(mode="after")
    def _needs_email_or_company(self) -> "LeadIn":
        if self.email is None and self.company is None:
            # reported on field 'email' (see api.errors.MODEL_ERROR_FIELDS)
            raise PydanticCustomError("email_or_company", "a lead needs an email or a company")
        return self

    def to_lead(self) -> Lead:
        return Lead(self.email, self.company, self.country, self.region, self.city, self.phone,
                    self.website, self.first_name, self.last_name, self.title)


class CandidateOut(BaseModel):
    account_id: str
    name: str
    score: float
    evidence: str
    reasons: list[str]


class RouteOut(BaseModel):
    owner: str | None
    account_id: str | None
    queue: str | None = None
    reason: str


class MatchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "decision": "matched", "account_id": "A17", "confidence": 0.99, "evidence": "email_domain",
        "reasons": ["email domain acme.de is a domain of account A17 (Acme GmbH)",
                    "lead country DE selects the regional account Acme GmbH"],
        "candidates": [{"account_id": "A17", "name": "Acme GmbH", "score": 0.99, "evidence": "email_domain",
                        "reasons": ["email domain acme.de is a domain of account A17"]}],
        "route": {"owner": "Lena Vogel", "account_id": "A17", "queue": None,
                  "reason": "owner of the matched account"},
    }]})

    decision: Literal["matched", "review", "no_match"]
    account_id: str | None
    confidence: float = Field(ge=0, le=1)
    evidence: str | None = None
    reasons: list[str]
    candidates: list[CandidateOut]
    route: RouteOut | None


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "error": "invalid request: email: not a valid email address",
        "fields": [{"field": "email", "message": "not a valid email address"}]}]})

    error: str
    fields: list[FieldErrorOut] = []


class BulkItemOut(BaseModel):
    """Either ``result`` or ``error`` is set, never both."""

    index: int
    result: MatchOut | None = None
    error: ErrorOut | None = None


class BulkMatchOut(BaseModel):
    results: list[BulkItemOut]
    counts: dict[str, int]


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "A17", "name": "Acme GmbH", "domains": ["acme.de"], "country": "DE", "region": "BY",
        "city": "Munich", "parent_id": "A1", "owner": "Lena Vogel", "aliases": ["Acme Deutschland"],
        "is_customer": False, "fit_tier": "A", "industry": "Manufacturing", "employees": 1200,
        "attributes": {"annual_revenue_eur": 250000000}}]})

    id: Id
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    domains: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253)]] = Field(
        default_factory=list, max_length=100)
    country: Annotated[Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True)] | None,
                       BeforeValidator(_blank_to_none)] = Field(
        None, description="ISO 3166-1 alpha-2 code")
    region: Text(100) = None
    city: Text(100) = None
    parent_id: Annotated[Id | None, BeforeValidator(_blank_to_none)] = None
    owner: Text(300) = None
    phone: Text(50) = None
    aliases: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]] = Field(
        default_factory=list, max_length=50)
    is_customer: bool = False
    fit_tier: Text(20) = None
    industry: Text(100) = None
    employees: int | None = Field(None, ge=0)
    attributes: dict[str, Any] = Field(default_factory=dict, description="other firmographics, stored as given")


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "C9001", "account_id": "A17", "email": "max.muster@acme.de", "first_name": "Max",
        "last_name": "Muster", "title": "CFO"}]})

    id: Id
    account_id: Id
    email: Text(320) = None
    first_name: Text(100) = None
    last_name: Text(100) = None
    title: Text(300) = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return _check_email(v)


class UpsertOut(BaseModel):
    created: int
    updated: int
    unchanged: int


class AccountOut(BaseModel):
    id: str
    name: str
    domains: list[str]
    country: str | None
    region: str | None
    city: str | None
    parent_id: str | None
    owner: str | None
    phone: str | None
    aliases: list[str]
    is_customer: bool
    fit_tier: str | None
    industry: str | None
    employees: int | None
    attributes: dict[str, Any]
    contact_count: int
    created_at: str
    updated_at: str


class Check(BaseModel):
    ok: bool
    detail: str | None = None


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, Check]


# ---------------------------------------------------------------- qualification (issue 4)

OptionalId = Annotated[Id | None, BeforeValidator(_blank_to_none)]
IsoTime = Annotated[datetime, Field(description="ISO 8601; a time without an offset is taken as UTC")]

ACTIVITY_EXAMPLE = {
    "id": "evt-20261120-0001", "type": "demo_request", "occurred_at": "2026-11-20T09:30:00Z",
    "contact_id": "C9001", "channel": "web", "campaign_id": "CMP-42", "direction": "inbound"}


class ActivityIn(BaseModel):
    """One engagement event. Name the person by ``contact_id`` or by ``email``; an email that
    is no contact's yet is kept and attaches when a contact with that email is stored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ACTIVITY_EXAMPLE]})

    id: Id = Field(description="the source's event id: sending it again is a no-op")
    type: ActivityType
    occurred_at: IsoTime
    contact_id: OptionalId = None
    email: Text(320) = None
    channel: Text(100) = None
    campaign_id: Text(64) = None
    asset_id: Text(64) = Field(None, description="the content downloaded (content_download)")
    page_kind: Text(100) = Field(None, description="pricing, product, blog, ... (page_view)")
    direction: Direction | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return _check_email(v)

    @model_validator(mode="after")
    def _needs_a_person(self) -> "ActivityIn":
        if self.contact_id is None and self.email is None:
            # reported on field 'contact_id' (see api.errors.MODEL_ERROR_FIELDS)
            raise PydanticCustomError("contact_or_email", "an activity needs a contact_id or an email")
        return self

    def to_activity(self) -> Activity:
        return Activity(id=self.id, type=self.type, occurred_at=self.occurred_at, contact_id=self.contact_id,
                        email=self.email, channel=self.channel, campaign_id=self.campaign_id,
                        asset_id=self.asset_id, page_kind=self.page_kind, direction=self.direction)


class ActivityIngestOut(BaseModel):
    created: int
    unchanged: int = Field(description="events already stored with the same content")
    unmatched: int = Field(description="new events whose email is no contact's yet (kept, attach later)")


class OpportunityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "O-311", "account_id": "A17", "primary_contact_id": "C9001", "owner": "Lena Vogel",
        "type": "new_business", "stage": "discovery", "amount": 48000, "state": "open",
        "opened_at": "2026-11-21T14:00:00Z", "closed_at": None}]})

    id: Id
    account_id: Id
    primary_contact_id: OptionalId = None
    owner: Text(300) = None
    type: OpportunityType = "new_business"
    stage: Text(100) = None
    amount: float | None = Field(None, ge=0)
    state: OpportunityState = "open"
    opened_at: IsoTime | None = Field(None, description="left out: the stored value, or now for a new one")
    closed_at: IsoTime | None = Field(None, description="required when state is won or lost")
    stage_changed_at: IsoTime | None = Field(
        None, description="when the current stage was entered; left out: when the service first sees it")


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "K-2026-17", "account_id": "A17", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}]})

    id: Id
    account_id: Id
    starts_on: date
    ends_on: date | None = Field(None, description="last day of the contract; left out: open-ended")


class AccountFlagsIn(BaseModel):
    """The manual account states. Both are replaced: a flag left out is cleared."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"disqualified": True, "partner": False}]})

    disqualified: bool = False
    partner: bool = False


class ContactMoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "status": "sales_working", "by": "Lena Vogel", "note": "first call booked"}]})

    status: ContactStatus
    at: IsoTime | None = Field(None, description="when the seller made the move; left out: now")
    by: Text(300) = None
    note: Text(2000) = None


class ReasonOut(BaseModel):
    rule: str
    text: str
    event_ids: list[str]
    points: float | None
    contact_id: str | None


class ContactStateOut(BaseModel):
    id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    title: str | None
    status: str
    since: datetime | None
    persona: str | None
    seniority: str | None
    reasons: list[ReasonOut]


class ContactBriefOut(BaseModel):
    id: str
    name: str
    title: str | None
    status: str
    since: datetime | None
    persona: str | None
    seniority: str | None


class ContactsSummaryOut(BaseModel):
    total: int
    by_status: dict[str, int]
    engaged: list[ContactBriefOut] = Field(
        description="contacts in qualified, sales_working or opportunity_open, most recent first (at most 20)")


class AccountStatusOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "account_id": "A17", "status": "qualified", "since": "2026-11-20T09:30:00Z",
        "summary": "Qualified since 2026-11-20: Jane Doe (VP Engineering) requested a demo; "
                   "the account is ICP tier 1",
        "reasons": [{"rule": "demo_request", "text": "Jane Doe (VP Engineering) requested a demo",
                     "event_ids": ["evt-20261120-0001"], "points": None, "contact_id": "C9001"}],
        "engagement_points": 85.0, "personas_engaged": ["engineering", "finance", "it"],
        "rule_version": "2026-11-default",
        "contacts": {"total": 7, "by_status": {"qualified": 1, "nurture": 4, "pre_qualified": 2},
                     "engaged": [{"id": "C9001", "name": "Jane Doe", "title": "VP Engineering",
                                  "status": "qualified", "since": "2026-11-20T09:30:00Z",
                                  "persona": "engineering", "seniority": "vp"}]}}]})

    account_id: str
    status: str
    since: datetime | None
    summary: str
    reasons: list[ReasonOut]
    engagement_points: float
    personas_engaged: list[str]
    rule_version: str
    contacts: ContactsSummaryOut


class AccountContactsOut(BaseModel):
    account_id: str
    items: list[ContactStateOut]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")


class ContactMoveOut(BaseModel):
    contact: ContactStateOut
    account: AccountStatusOut


class TransitionOut(BaseModel):
    id: int
    entity_kind: Literal["account", "contact"]
    entity_id: str
    at: datetime = Field(description="when the change was recorded")
    since: datetime = Field(description="when the new status took effect according to the ledger")
    old_status: str | None
    new_status: str
    reasons: list[ReasonOut]
    rule_version: str


class HistoryOut(BaseModel):
    account_id: str
    items: list[TransitionOut]
    next_before: int | None = Field(description="pass as `before` for the next (older) page; null on the last")
