"""Bodies of the batch routes (api/batches/routes.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

State = Literal["queued", "running", "done", "failed", "cancelled"]


class BatchCounts(BaseModel):
    matched: int
    review: int
    no_match: int
    error: int = Field(description="rows that could not be read (errors.csv)")


class BatchLinks(BaseModel):
    self: str
    results: str = Field(description="results.csv, once the job is done")
    errors: str = Field(description="errors.csv, once the job is done")


class BatchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "b_5f0c3e1a9b2d4c6e", "filename": "tradeshow.csv", "state": "running", "route": False,
        "size_bytes": 5123456, "content_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "rows_total": 100000, "rows_done": 45000,
        "counts": {"matched": 30000, "review": 5000, "no_match": 9990, "error": 10},
        "rate": 9000.0, "eta_seconds": 6.1, "mapping": {"email": "Work Email", "company": "Organisation"},
        "encoding": "utf-8", "delimiter": ",", "error": None,
        "created_at": "2026-12-05T09:00:00Z", "started_at": "2026-12-05T09:00:01Z", "finished_at": None,
        "links": {"self": "/v1/batches/b_5f0c3e1a9b2d4c6e", "results": "/v1/batches/b_5f0c3e1a9b2d4c6e/results.csv",
                  "errors": "/v1/batches/b_5f0c3e1a9b2d4c6e/errors.csv"}}]})

    id: str
    filename: str | None
    state: State
    route: bool = Field(description="matched rows are taken in and routed (POST /v1/leads), not only matched")
    size_bytes: int
    content_sha256: str
    rows_total: int | None = Field(description="data rows of the file; null until the job is prepared")
    rows_done: int
    counts: BatchCounts
    rate: float | None = Field(description="rows per second since the job started")
    eta_seconds: float | None = Field(description="seconds left at that rate; null when unknown or finished")
    mapping: dict[str, str] | None = Field(description="the column mapping used: our field -> the file's column")
    encoding: str | None
    delimiter: str | None
    error: str | None = Field(description="why the job failed")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: BatchLinks


class BatchPageOut(BaseModel):
    items: list[BatchOut]
    next: str | None = Field(description="the `before` of the next page (older jobs); null on the last page")


class BatchExistsOut(BaseModel):
    """409: the same file (by content hash) is already a job."""

    error: str
    fields: list[dict[str, str]] = []
    id: str
    url: str
    state: State
