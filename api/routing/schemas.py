"""Bodies of lead intake, the lead views and the review queue."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from api.matching.schemas import LEAD_EXAMPLE, LeadIn, MatchOut
from api.schemas import GIVEN_EMAIL, GIVEN_ID, GIVEN_TEXT, ErrorOut, Id, IsoTime, Name, OptionalId, Text, one_of_given
from config.vocabulary import ActivityType

INTAKE_EXAMPLE = {"id": "web-2026-12-02-0001", "source": "web-form", "campaign_id": "CMP-42",
                  "occurred_at": "2026-11-30T09:30:00Z", **LEAD_EXAMPLE}

SlaState = Literal["pending", "met", "missed", "none"]


class LeadIntakeIn(LeadIn):
    """A lead to take in: the ``/v1/match`` body plus the source's lead id. Sending the same id
    again is idempotent; the same id with other content updates the lead (and routes it again only
    if its account changed)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={
        "examples": [INTAKE_EXAMPLE],
        "anyOf": one_of_given(email=GIVEN_EMAIL, company=GIVEN_TEXT)})

    id: Id = Field(description="the source's lead id (idempotency key)")
    source: Text(100) = Field(None, description="where it came from: web-form, tradeshow, crm, ...")
    campaign_id: Text(64) = None
    occurred_at: IsoTime | None = Field(None, description="when the person filled the form (default: now)")
    activity_type: ActivityType = Field("form_fill", description="the ledger event the lead is recorded as")


class SkipOut(BaseModel):
    member: str
    reason: str


class LeadRouteOut(BaseModel):
    owner: str | None = Field(description="the person who gets the lead, or null when a queue does")
    queue: str | None
    rule: str = Field(description="the routing step that decided: account_owner, opportunity_owner, "
                                  "territory:<id>, round_robin:<pool>, overflow:<queue>, catch_all, review")
    reason: str = Field(description="one sentence a seller reads")
    pool: str | None = None
    turn: int | None = None
    considered: list[SkipOut] = Field(description="members passed over, and why")
    sla_due_at: datetime | None


class LeadOut(BaseModel):
    lead_id: str
    match: MatchOut
    contact_id: str | None = Field(description="the contact the lead became (matched leads)")
    route: LeadRouteOut
    sla_due_at: datetime | None
    outcome: Literal["created", "unchanged", "updated", "rerouted"] = Field(
        description="created; unchanged (same id and content: the stored outcome); updated (new content, "
                    "same account: route kept); rerouted (its account changed)")


class RoutingEventOut(BaseModel):
    at: datetime
    kind: Literal["routed", "rerouted", "reassigned", "escalated", "resolved"]
    owner: str | None
    queue: str | None
    rule: str
    reason: str
    pool: str | None
    turn: int | None
    considered: list[SkipOut]
    sla_due_at: datetime | None
    by: str | None


class SlaOut(BaseModel):
    state: SlaState
    due_at: datetime | None
    acted_at: datetime | None
    first_action_minutes: float | None = Field(description="business minutes from routing to the first action")
    reassignments: int
    escalated_at: datetime | None


class LeadDetailOut(BaseModel):
    lead_id: str
    lead: dict = Field(description="the lead as it was sent")
    source: str | None
    campaign_id: str | None
    occurred_at: datetime
    received_at: datetime
    updated_at: datetime
    decision: Literal["matched", "review", "no_match"]
    account_id: str | None
    match: MatchOut
    contact_id: str | None
    route: LeadRouteOut
    sla: SlaOut
    review_state: Literal["open", "resolved"] | None
    resolution: dict | None
    history: list[RoutingEventOut] = Field(description="every routing decision, oldest first")


class LeadSummaryOut(BaseModel):
    lead_id: str
    received_at: datetime
    decision: Literal["matched", "review", "no_match"]
    account_id: str | None
    owner: str | None
    queue: str | None
    rule: str
    sla_state: SlaState
    sla_due_at: datetime | None
    review_state: Literal["open", "resolved"] | None


class LeadPageOut(BaseModel):
    items: list[LeadSummaryOut]
    next_after: str | None = Field(description="pass as `after` for the next page")


class BulkLeadItemOut(BaseModel):
    index: int
    result: LeadOut | None = None
    error: ErrorOut | None = None


class BulkLeadsOut(BaseModel):
    results: list[BulkLeadItemOut]
    counts: dict[str, int]


class ActedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: IsoTime | None = Field(None, description="when the owner acted (default: now)")
    by: Text(300) = None
    note: Text(1000) = None


class ReviewItemOut(BaseModel):
    lead_id: str
    received_at: datetime
    lead: dict
    confidence: float
    candidates: list[dict]
    reasons: list[str]


class ReviewPageOut(BaseModel):
    items: list[ReviewItemOut]
    next_after: str | None


class ResolveIn(BaseModel):
    """What a person decided: `account` (a candidate or any stored account: `account_id`), `new_account`
    (create an account from the lead: `account_id` for the new id, optional `account_name`, `owner`),
    or `junk` (not a real lead: it is closed and routed nowhere)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        # the rule of _account_when_needed, so that a client knows it before the server says so
        "anyOf": [{"properties": {"action": {"const": "junk"}}},
                  {"required": ["account_id"], "properties": {"account_id": GIVEN_ID}}]})

    action: Literal["account", "new_account", "junk"]
    account_id: OptionalId = None
    account_name: Text(300) = None
    owner: Text(300) = None
    by: Name(300) = Field(description="who decided (kept with the resolution)")
    learn: bool = Field(True, description="remember a confirmed spelling or domain for next time")

    @model_validator(mode="after")
    def _account_when_needed(self) -> "ResolveIn":
        if self.action in ("account", "new_account") and self.account_id is None:
            raise PydanticCustomError("account_needed", "account_id is required for action '{action}'",
                                      {"action": self.action})
        return self


class ResolveOut(BaseModel):
    lead: LeadOut
    learned: list[dict] = Field(description="aliases and domains learned from this decision")
    not_learned: list[str] = Field(description="what was not learned, and why")
