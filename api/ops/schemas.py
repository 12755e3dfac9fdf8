"""Bodies of the operations routes."""
from __future__ import annotations

from pydantic import BaseModel

class Check(BaseModel):
    ok: bool
    detail: str | None = None


class ReadyOut(BaseModel):
    ready: bool
    checks: dict[str, Check]


