"""The HTTP baselines: bare FastAPI endpoints beside the real app's, with none of its work.

- ``POST /v1/match`` only validates a lead body and answers: same pydantic body as the real one
  (``api.schemas.LeadIn``: same fields, same length caps, same email check), no matching, no
  middleware. ``bench_match.py http`` measures what the matching itself costs per request.
- ``GET /v1/accounts/{account_id}/status`` answers the same bytes for every id: the file named by
  ``BARE_STATUS_BODY`` (``bench_qualify.py status-http`` writes a real status document there, so
  both answers are the same size), with the same path validation as the real route. It measures
  what the cache lookup, the middleware and everything else of the real route cost per request.

    uvicorn benchmarks.bare_app:app --host 127.0.0.1 --port 8001 --workers 1
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import FastAPI  # noqa: E402
from fastapi import Path as PathParam  # noqa: E402
from starlette.responses import Response  # noqa: E402

from api.matching.schemas import LeadIn  # noqa: E402

app = FastAPI(title="bare baselines")
_STATUS_BODY = (Path(os.environ["BARE_STATUS_BODY"]).read_bytes() if os.environ.get("BARE_STATUS_BODY")
                else b'{"account_id": null, "status": "pre_qualified"}')


@app.post("/v1/match")
async def match(lead: LeadIn) -> dict:
    return {"decision": "no_match", "account_id": None, "confidence": 0.0}


@app.get("/v1/accounts/{account_id}/status")
async def account_status(account_id: Annotated[str, PathParam(min_length=1, max_length=64)]) -> Response:
    return Response(_STATUS_BODY, media_type="application/json")


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
