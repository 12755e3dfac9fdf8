"""POST /v1/match (one lead, the web-form hot path) and POST /v1/match/bulk.

The hot path does no I/O: the index is in memory, metrics are in-process counters. Bulk
requests match in slices and yield to the event loop between slices so one big list does not
hold up single-lead requests.
"""
from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ValidationError

from api.deps import ServicesDep
from api.errors import pydantic_errors
from api.responses import JSONBytesResponse
from api.errors import check_item_count, error_responses
from api.matching import service
from api.matching.schemas import LEAD_EXAMPLE, BulkMatchOut, LeadIn, MatchOut

router = APIRouter(prefix="/v1", tags=["match"])

BULK_SLICE = 50


@router.post("/match", response_model=MatchOut, responses=error_responses(422, 413, 503),
             summary="Match one lead to an account")
async def match_lead(
    lead: Annotated[LeadIn, Body(openapi_examples={
        "work email": {"summary": "Work email and company", "value": LEAD_EXAMPLE},
        "free mail": {"summary": "Free-mail address: matched by company and location",
                      "value": {"email": "jane1987@gmail.com", "company": "Acme", "country": "DE"}},
        "company only": {"summary": "No email at all", "value": {"company": "Acme Corporation", "country": "US"}},
    })],
    services: ServicesDep,
) -> JSONBytesResponse:
    if not services.index.ready:
        raise service.index_not_ready()
    return JSONBytesResponse(service.answer(services, lead))


# An item that is not a valid lead does not fail the request (it gets an error entry), so the
# items are documented as "a LeadIn, or anything else" rather than as LeadIn alone, which would
# promise a 422 the route never gives. minItems/maxItems are filled in from the settings
# (api/app.py), like every bulk body's.
_BULK_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {
            "schema": {"type": "array", "items": {
                "anyOf": [{"$ref": "#/components/schemas/LeadIn"}, {}],
                "description": "a lead (LeadIn); anything else gets an error entry in `results`"}},
            "example": [LEAD_EXAMPLE, {"email": "not-an-email"}, {"company": "Acme Corporation", "country": "US"}],
        }},
    }
}


@router.post(
    "/match/bulk", response_model=BulkMatchOut, responses=error_responses(413, 422, 503),
    openapi_extra=_BULK_BODY_SCHEMA, summary="Match a JSON array of leads",
    description=(
        "A JSON array of leads (the `/v1/match` body), at most `bulk_max_items` (default 1000; "
        "more -> 413 naming the limit). An invalid lead does not fail the request: its entry in "
        "`results` carries an `error` (with field paths such as `items[3].email`) instead of a "
        "`result`, and the other leads are matched. `results[i]` answers `items[i]`."
    ),
)
async def match_bulk(items: Annotated[list[Any], Body()], services: ServicesDep) -> JSONBytesResponse:
    check_item_count(len(items), services.settings.bulk_max_items, "leads")
    index = services.index
    if not index.ready:
        raise service.index_not_ready()
    results: list[dict[str, Any]] = []
    counts = {"matched": 0, "review": 0, "no_match": 0, "error": 0}
    metrics = services.metrics
    for start in range(0, len(items), BULK_SLICE):
        if start:
            await asyncio.sleep(0)  # let single-lead requests through between slices
        for i in range(start, min(start + BULK_SLICE, len(items))):
            try:
                lead = LeadIn.model_validate(items[i])
            except ValidationError as exc:
                fields = pydantic_errors(exc.errors(), root=f"items[{i}]")
                message = "; ".join(f"{f.field}: {f.message}" for f in fields)
                results.append({"index": i, "result": None,
                                "error": {"error": message, "fields": [f.to_dict() for f in fields]}})
                counts["error"] += 1
                continue
            t = time.perf_counter()
            result = index.match(lead.to_lead())
            metrics.observe_match(result.decision, time.perf_counter() - t)
            counts[result.decision] += 1
            results.append({"index": i, "result": result.to_dict(), "error": None})
    return JSONBytesResponse({"results": results, "counts": counts})
