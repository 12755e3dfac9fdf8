"""Contacts: bulk idempotent upsert. A contact's email domain becomes evidence for its account;
its title gives its persona and seniority; events waiting for its email attach to it."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api import db, ledger_store, store
from api.deps import ServicesDep, SessionDep
from api.routes._common import check_item_count, error_responses, invalid_items
from api.schemas import ContactIn, UpsertOut

router = APIRouter(prefix="/v1", tags=["accounts"])


@router.put(
    "/contacts", response_model=UpsertOut, responses=error_responses(413, 422),
    summary="Create or replace contacts in bulk (idempotent, atomic)",
    description="A JSON array of contacts, at most `bulk_max_items`. Every `account_id` must be a "
                "stored account (else 422 naming `items[i].account_id` and nothing is stored). "
                "The registrable domain of each contact's email becomes evidence for its account. "
                "Activities recorded for a contact's email before it was a contact attach to it, and "
                "the statuses of the accounts concerned are re-evaluated in the same transaction.",
)
def put_contacts(items: Annotated[list[ContactIn], Body()], session: SessionDep,
                 services: ServicesDep) -> dict[str, int]:
    check_item_count(len(items), services.settings.bulk_max_items, "contacts")
    data = [store.ContactData(id=c.id, account_id=c.account_id, email=c.email, first_name=c.first_name,
                              last_name=c.last_name, title=c.title) for c in items]
    try:
        report, touched = store.upsert_contacts(session, data)
    except store.InvalidItems as exc:
        raise invalid_items(exc) from None
    if touched:
        db.after_commit(session, lambda: services.accounts_changed(sorted(touched)))
    # a moved contact changes the account it left too: ``touched`` has both
    services.requalify(session, touched | ledger_store.follow_contacts(session, report.changed_ids))
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}
