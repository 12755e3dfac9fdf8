"""Activities: the engagement ledger, bulk and idempotent by event id."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api import ledger_store, store
from api.deps import ServicesDep, SessionDep
from api.routes._common import check_item_count, error_responses, future_tolerance, invalid_items
from api.schemas import ACTIVITY_EXAMPLE, ActivityIn, ActivityIngestOut

router = APIRouter(prefix="/v1", tags=["qualification"])

_EXAMPLES = {
    "known contacts": {"summary": "Events of stored contacts", "value": [
        ACTIVITY_EXAMPLE,
        {"id": "evt-20261120-0002", "type": "page_view", "occurred_at": "2026-11-20T09:41:12Z",
         "contact_id": "C9001", "page_kind": "pricing", "channel": "web"},
        {"id": "evt-20261120-0003", "type": "content_download", "occurred_at": "2026-11-20T10:02:00+01:00",
         "contact_id": "C9002", "asset_id": "whitepaper-zero-trust", "campaign_id": "CMP-42"}]},
    "unmatched person": {"summary": "By email: kept, attaches when a contact with that email is stored",
                         "value": [{"id": "evt-20261120-0004", "type": "webinar",
                                    "occurred_at": "2026-11-20T16:00:00Z", "email": "new.person@acme.de",
                                    "campaign_id": "CMP-43"}]},
}


@router.post(
    "/activities", response_model=ActivityIngestOut, responses=error_responses(413, 422),
    summary="Record engagement events in bulk (idempotent by event id, atomic)",
    description=(
        "A JSON array of events, at most `bulk_max_items`. Each names its person by `contact_id` "
        "(a stored contact) or by `email`; an email that is no contact's yet is kept (`unmatched`) "
        "and attaches to the contact that later arrives with that email. Sending an event again "
        "with the same content is a no-op (`unchanged`); the same `id` with different content, "
        "an unknown `type` or `contact_id`, or an `occurred_at` further in the future than "
        "`future_tolerance_seconds` is a 422 naming `items[i].field`, and nothing is stored. "
        "The statuses of the accounts concerned are re-evaluated in the same transaction."
    ),
)
def post_activities(items: Annotated[list[ActivityIn], Body(openapi_examples=_EXAMPLES)], session: SessionDep,
                    services: ServicesDep) -> dict[str, int]:
    check_item_count(len(items), services.settings.bulk_max_items, "activities")
    try:
        report, touched = ledger_store.ingest_activities(
            session, [a.to_activity() for a in items], future_tolerance=future_tolerance(services.settings))
    except store.InvalidItems as exc:
        raise invalid_items(exc) from None
    services.requalify(session, touched)
    return {"created": report.created, "unchanged": report.unchanged, "unmatched": report.unmatched}
