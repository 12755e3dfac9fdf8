"""Bodies of the qualification routes: the ledger (activities, opportunities, contracts), flags,
manual contact moves, statuses and their history."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from api.schemas import (GIVEN_EMAIL, GIVEN_ID, Amount, Email, Flag, Id, IsoDate, IsoTime, OptionalId, Text,
                         one_of_given)
from config.qualification import QualificationRules
from config.vocabulary import ActivityType, ContactStatus, Direction, OpportunityState, OpportunityType
from matcher.qualification.ledger import Activity

ACTIVITY_EXAMPLE = {
    "id": "evt-20261120-0001", "type": "demo_request", "occurred_at": "2026-11-20T09:30:00Z",
    "contact_id": "C9001", "channel": "web", "campaign_id": "CMP-42", "direction": "inbound"}


class ActivityIn(BaseModel):
    """One engagement event. Name the person by ``contact_id`` or by ``email``; an email that
    is no contact's yet is kept and attaches when a contact with that email is stored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [ACTIVITY_EXAMPLE],
        # the rule of _needs_a_person, so that a client knows it before the server says so
        "anyOf": one_of_given(contact_id=GIVEN_ID, email=GIVEN_EMAIL)})

    id: Id = Field(description="the source's event id: sending it again is a no-op")
    type: ActivityType
    occurred_at: IsoTime
    contact_id: OptionalId = None
    email: Email = None
    channel: Text(100) = None
    campaign_id: Text(64) = None
    asset_id: Text(64) = Field(None, description="the content downloaded (content_download)")
    page_kind: Text(100) = Field(None, description="pricing, product, blog, ... (page_view)")
    direction: Direction | None = None

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
        "opened_at": "2026-11-21T14:00:00Z", "closed_at": None, "next_step": "security review call",
        "next_step_at": "2026-12-02T15:00:00Z"}]})

    id: Id
    account_id: Id
    primary_contact_id: OptionalId = None
    owner: Text(300) = None
    type: OpportunityType = "new_business"
    stage: Text(100) = None
    amount: Amount | None = None
    state: OpportunityState = "open"
    opened_at: IsoTime | None = Field(None, description="left out: the stored value, or now for a new one")
    closed_at: IsoTime | None = Field(None, description="required when state is won or lost")
    stage_changed_at: IsoTime | None = Field(
        None, description="when the current stage was entered; left out: when the service first sees it")
    next_step: Text(2000) = Field(None, description="the next step as the CRM has it; left out (or blank): none "
                                                    "(replaced like the other fields)")
    next_step_at: IsoTime | None = Field(None, description="when the next step is due (may be in the future); "
                                                           "left out: none")


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "K-2026-17", "account_id": "A17", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}]})

    id: Id
    account_id: Id
    starts_on: IsoDate
    ends_on: IsoDate | None = Field(None, description="last day of the contract; left out: open-ended")


class AccountFlagsIn(BaseModel):
    """The manual account states. Both are replaced: a flag left out is cleared."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"disqualified": True, "partner": False}]})

    disqualified: Flag = False
    partner: Flag = False


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
        "rule_version": "2026-11-default", "review_at": "2026-12-18T09:30:00Z",
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
    review_at: datetime | None = Field(
        description="when the status can next change with no new input (a recycle or disqualification date, "
                    "a contract's start or end, engagement decaying); the service re-evaluates the account then. "
                    "null: not by time alone")
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


# ---------------------------------------------------------------- POST /v1/rules/preview's body

RULES_DOCUMENT = "RulesDocument"
_RULES_PREFIX = "Rules"


def rules_document_schemas() -> dict[str, dict[str, Any]]:
    """OpenAPI components for the body of ``POST /v1/rules/preview``: ``RulesDocument`` is
    config/qualification.py's ``QualificationRules`` as an override merged over the shipped
    defaults (api/qualification/rule_sets.py ``rules_from_document``). Tables merge, so no key of
    the top level or of a table under it (``titles``, ``engagement``, ``contacts``) is required and a
    key left out keeps the shipped value (config/qualification.toml; so the models' own defaults,
    which are not the shipped values, are left out too); lists replace, so a list's items are whole.
    The rules' own checks beyond the types (unique names, the decision list's shape, known
    conditions, patterns that compile) are answered with 422 naming ``rules.<path>``."""
    schema = QualificationRules.model_json_schema(ref_template="#/components/schemas/" + _RULES_PREFIX + "{model}")
    defs = {_RULES_PREFIX + name: d for name, d in schema.pop("$defs", {}).items()}
    components = {RULES_DOCUMENT: schema, **defs}

    def without_defaults(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                for prop in properties.values():
                    if isinstance(prop, dict):
                        prop.pop("default", None)
            for value in node.values():
                without_defaults(value)
        elif isinstance(node, list):
            for value in node:
                without_defaults(value)

    def merged_table(table: dict[str, Any]) -> None:
        table.pop("required", None)
        for prop in table.get("properties", {}).values():
            ref = prop.get("$ref", "")
            if ref:  # a sub-model reached through an object key, not through a list: a table
                merged_table(components[ref.rsplit("/", 1)[1]])

    merged_table(schema)
    without_defaults(components)
    schema["title"] = RULES_DOCUMENT
    return components

