"""Opportunities (with the time each stage was entered) and contracts: bulk idempotent upserts."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api import ledger_store, store
from api.deps import ServicesDep, SessionDep
from api.routes._common import check_item_count, error_responses, future_tolerance, invalid_items
from api.schemas import ContractIn, OpportunityIn, UpsertOut
from matcher.ledger import Contract

router = APIRouter(prefix="/v1", tags=["qualification"])


@router.put(
    "/opportunities", response_model=UpsertOut, responses=error_responses(413, 422),
    summary="Create or replace opportunities in bulk (idempotent, atomic)",
    description=(
        "A JSON array of opportunities, at most `bulk_max_items`. Each replaces the stored one with "
        "that id. A `stage` different from the stored one is recorded as a stage change at "
        "`stage_changed_at` (or now), so the time each stage was entered is kept. `closed_at` is "
        "required for `won`/`lost` and refused for `open`; a left-out `opened_at` keeps the stored "
        "one. Unknown `account_id` or `primary_contact_id`, bad enum values or future times -> 422 "
        "naming `items[i].field`, nothing stored. The accounts concerned are re-evaluated."
    ),
)
def put_opportunities(items: Annotated[list[OpportunityIn], Body()], session: SessionDep,
                      services: ServicesDep) -> dict[str, int]:
    check_item_count(len(items), services.settings.bulk_max_items, "opportunities")
    data = [ledger_store.OpportunityData(**o.model_dump()) for o in items]
    try:
        report, touched = ledger_store.upsert_opportunities(session, data,
                                                            future_tolerance=future_tolerance(services.settings))
    except store.InvalidItems as exc:
        raise invalid_items(exc) from None
    services.requalify(session, touched)
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}


@router.put(
    "/contracts", response_model=UpsertOut, responses=error_responses(413, 422),
    summary="Create or replace contracts in bulk (idempotent, atomic)",
    description=(
        "A JSON array of contracts, at most `bulk_max_items`. A contract is active from `starts_on` "
        "through `ends_on` (inclusive; left out: open-ended); active contracts make an account a "
        "customer. Unknown `account_id` or `ends_on` before `starts_on` -> 422, nothing stored."
    ),
)
def put_contracts(items: Annotated[list[ContractIn], Body()], session: SessionDep,
                  services: ServicesDep) -> dict[str, int]:
    check_item_count(len(items), services.settings.bulk_max_items, "contracts")
    data = [Contract(id=c.id, account_id=c.account_id, starts_on=c.starts_on, ends_on=c.ends_on) for c in items]
    try:
        report, touched = ledger_store.upsert_contracts(session, data)
    except store.InvalidItems as exc:
        raise invalid_items(exc) from None
    services.requalify(session, touched)
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}
