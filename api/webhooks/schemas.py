"""Bodies of the webhook outbox's ops view."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

State = Literal["pending", "delivered", "dead"]


class OutboxRowOut(BaseModel):
    id: int
    event_id: str
    event_type: str
    url: str
    idempotency_key: str
    state: State
    attempts: int = Field(description="attempts made so far (the successful one included)")
    created_at: datetime
    next_attempt_at: datetime = Field(description="when a pending event is due to be sent (again)")
    locked_until: datetime | None = Field(description="a deliverer holds the row until then")
    delivered_at: datetime | None
    last_status: int | None = Field(description="HTTP status of the last attempt (null: no answer)")
    last_error: str | None
    body: str = Field(description="the exact JSON text POSTed and signed")


class OutboxPageOut(BaseModel):
    items: list[OutboxRowOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null on the last page")
