"""Bodies of the gone-dark episodes and the pipeline review."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

EpisodeState = Literal["dark", "answered", "closed_lost", "closed", "expired"]
EpisodeSubject = Literal["opportunity", "account"]


class StepOut(BaseModel):
    step: int
    channel: str
    due_at: datetime
    until: datetime = Field(description="the next step's due time: an outbound touch of `channel` before it does the step")
    done_at: datetime | None = Field(description="the outbound touch that did the step (none: not done, or not due yet)")
    activity_id: str | None


class EpisodeOut(BaseModel):
    id: int
    subject: EpisodeSubject
    opportunity_id: str | None = Field(description="none for an account episode")
    account_id: str
    owner: str | None
    stage: str | None = Field(description="the stage it went dark in (an account episode: its status)")
    dark_since: datetime = Field(description="when it became dark (no two-way touch for the stage's days)")
    flagged_at: datetime
    state: EpisodeState
    next_step_at: datetime | None
    ended_at: datetime | None = Field(description="answered: the two-way touch; otherwise when it ended")
    updated_at: datetime
    cadence: list[StepOut]
    cadence_complete: bool = Field(description="every step done")


class EpisodePageOut(BaseModel):
    items: list[EpisodeOut]
    next_after: int | None


ReviewReason = Literal["no_touch", "no_next_step", "next_step_overdue"]


class StaleOut(BaseModel):
    opportunity_id: str
    account_id: str
    stage: str | None
    opened_at: datetime | None
    reasons: list[ReviewReason] = Field(
        description="why it is listed: `no_touch` (no two-way or outbound touch in the last `no_touch_days`), "
                    "`no_next_step` (neither `next_step` nor `next_step_at`), `next_step_overdue` "
                    "(`next_step_at` before now)")
    last_touch_at: datetime | None = Field(description="the account's latest two-way or outbound touch (none: never)")
    next_step: str | None = Field(description="the next step as the CRM sent it (PUT /v1/opportunities)")
    next_step_at: datetime | None = Field(description="when the next step is due")
    gone_dark: bool = Field(description="a gone-dark episode is running for it")


class OwnerReviewOut(BaseModel):
    owner: str | None
    count: int
    items: list[StaleOut]


class PipelineReviewOut(BaseModel):
    as_of: datetime
    no_touch_days: float
    owners: list[OwnerReviewOut]
