"""Bodies of the operations routes."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthOut(BaseModel):
    status: Literal["ok"]


class Check(BaseModel):
    ok: bool
    detail: str | None = None


class ReadyOut(BaseModel):
    ready: bool
    # an optional dependency (Redis) is unreachable: still ready, answering from the database
    degraded: bool = False
    checks: dict[str, Check]


