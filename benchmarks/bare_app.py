"""The HTTP baseline: a bare FastAPI endpoint that only validates a lead body and answers.

Same pydantic body as ``POST /v1/match`` (``api.schemas.LeadIn``: same fields, same length caps,
same email check), no matching, no middleware. ``bench_match.py http`` serves it with uvicorn,
one worker, beside the real app, to show what the matching itself costs per request.

    uvicorn benchmarks.bare_app:app --host 127.0.0.1 --port 8001 --workers 1
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import FastAPI  # noqa: E402

from api.schemas import LeadIn  # noqa: E402

app = FastAPI(title="bare lead validation baseline")


@app.post("/v1/match")
async def match(lead: LeadIn) -> dict:
    return {"decision": "no_match", "account_id": None, "confidence": 0.0}


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
