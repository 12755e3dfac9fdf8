"""Bodies of closing an opportunity, the closes' views, win/loss interviews and dispositions."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

from api.schemas import IsoTime, Name, Text
from config.closing import MAX_TEXT_ANSWER, DispositionKind

CloseState = Literal["answered", "unanswered"]
Outcome = Literal["won", "lost"]

# An answer as JSON gives it: text or a choice (a string), a number, the options of a multi-choice
# (a list of strings), or null (not answered). Which one a question takes is the questionnaire's
# (config/closing.toml), checked by matcher/closing/questionnaire.py, each problem a 422 naming
# answers.<question id>.
AnswerText = Annotated[str, Strict(), StringConstraints(max_length=MAX_TEXT_ANSWER + 100)]
AnswerNumber = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Answer = AnswerText | AnswerNumber | Annotated[list[AnswerText], Field(max_length=100)] | None
CLOSE_EXAMPLE = {"outcome": "lost", "closed_at": "2026-11-30T16:00:00Z", "by": "Dana Whitfield",
                 "answers": {"primary_reason": "outsold", "competitor": "Initech", "stalled_stage": "proposal",
                             "heard_from": "event", "reason_confirmed": "yes", "ever_a_fit": "yes",
                             "come_back": "long_term", "recycle_on": "2027-09-01"}}


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CLOSE_EXAMPLE]})

    outcome: Outcome
    closed_at: IsoTime = Field(description="when the deal closed; not before it opened, not in the future")
    answers: Annotated[dict[str, Answer], Field(max_length=100)] = Field(
        default_factory=dict, description="question id -> answer, as GET /v1/closes/questions lists them")
    by: Text(300) = Field(None, description="who answered (a seller)")


class InterviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "reason": "price", "competitor": "Initech", "heard_from": "referral",
        "notes": "Chose the cheaper tool; would revisit after their budget cycle.",
        "interviewed_at": "2026-12-10T15:00:00Z", "interviewer": "Win/loss team"}]})

    reason: Text(300) = Field(None, description="the buyer's primary reason: one of the options of the seller's "
                                                "`primary_reason` question of the opportunity's outcome "
                                                "(GET /v1/closes/questions), so reports can compare the two")
    competitor: Text(300) = Field(None, description="who the buyer chose (lost) or compared us with (won): one of the "
                                                    "options of the seller's `competitor` question when it has "
                                                    "options, else any text")
    heard_from: Text(300) = Field(None, description="how the buyer first heard of us: one of the options of the "
                                                    "seller's `heard_from` question when it has options")
    notes: Text(10000) = Field(None, description="what the buyer said, in their own words")
    interviewed_at: IsoTime | None = Field(None, description="default: now")
    interviewer: Text(300) = None


class DispositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "kind": "recycle", "until": "2027-06-01T00:00:00Z", "reason": "new CIO starts in May",
        "by": "Dana Whitfield"}]})

    kind: DispositionKind
    until: IsoTime | None = Field(None, description="recycle: the day it comes back (required); disqualified: "
                                                    "the day it is re-activated (optional); others: none")
    reason: Name(500)
    by: Text(300) = None


class DispositionReasonOut(BaseModel):
    rule: str
    text: str


class DispositionOut(BaseModel):
    id: int
    account_id: str
    opportunity_id: str | None
    kind: DispositionKind
    at: datetime
    until: datetime | None
    reasons: list[DispositionReasonOut]
    source: Literal["rules", "override"]
    by: str | None
    in_force: bool
    superseded_at: datetime | None
    created_at: datetime


class CloseOut(BaseModel):
    opportunity_id: str
    account_id: str
    owner: str | None
    outcome: Outcome
    closed_at: datetime
    source: Literal["api", "sync", "gone_dark"]
    state: CloseState
    answers: dict[str, Any]
    missing: list[str] = Field(description="mandatory questions still unanswered")
    answered_at: datetime | None
    answered_by: str | None
    reminders_sent: int
    last_reminded_at: datetime | None
    next_reminder_at: datetime | None
    created_at: datetime
    updated_at: datetime


class InterviewOut(BaseModel):
    id: int
    opportunity_id: str
    account_id: str
    reason: str | None
    competitor: str | None
    heard_from: str | None
    notes: str | None
    interviewed_at: datetime
    interviewer: str | None
    recorded_at: datetime


class CloseResultOut(BaseModel):
    close: CloseOut
    disposition: DispositionOut | None = Field(description="where the account goes: once the answers are complete")


class CloseDocumentOut(CloseResultOut):
    interviews: list[InterviewOut] = Field(description="what buyers said, oldest first, beside the seller's answers")


class ClosePageOut(BaseModel):
    items: list[CloseOut]
    next_after: str | None


class OwnerUnansweredOut(BaseModel):
    owner: str | None
    count: int
    items: list[CloseOut] = Field(description="the oldest closes first, at most `per_owner`")


class UnansweredOut(BaseModel):
    owners: list[OwnerUnansweredOut]
    total: int


class DispositionHistoryOut(BaseModel):
    account_id: str
    items: list[DispositionOut] = Field(description="newest first; the one `in_force` has no `superseded_at`")


class QuestionOut(BaseModel):
    id: str
    label: str
    type: Literal["choice", "multi_choice", "text", "number", "date"]
    options: list[str]
    mandatory: bool


class QuestionsOut(BaseModel):
    version: str
    won: list[QuestionOut]
    lost: list[QuestionOut]
