"""Accounts and contacts for CRM sync: bulk idempotent upserts (PUT), read one account (GET, cached),
delete one (DELETE); the names an account learned from reviews (list, forget). A contact's email domain becomes evidence for its account; its title gives its
persona and seniority; events waiting for its email attach to it."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from api import db
from api.accounts import service, store
from api.db.bulk import InvalidItems
from api.deps import ACCOUNT_TTL_SECONDS, ServicesDep, SessionDep, account_cache_key
from api.errors import FieldError, NotFound
from api.qualification import service as qualification_service
from api.responses import JSONBytesResponse
from api.errors import check_item_count, error_responses, invalid_items
from api.accounts.schemas import (ACCOUNT_EXAMPLE, AccountDeletedOut, AccountIn, AccountOut, ContactIn, LearnedNameOut,
                                  LearnedNamesOut, links_to_account)
from api.schemas import AccountId, UpsertOut, operation

router = APIRouter(prefix="/v1", tags=["accounts"])

LearnedId = Annotated[int, Path(ge=1, le=2**31 - 1, examples=[7])]


ACCOUNTS_EXAMPLES = {"a family": {
    "summary": "A parent and its regional child (the parent may also be stored already)",
    "value": [{"id": "A1", "name": "Acme Corporation", "domains": ["acme.com"], "country": "US",
               "owner": "Dana Whitfield"}, ACCOUNT_EXAMPLE]}}


@router.put(
    "/accounts", response_model=UpsertOut,
    responses={200: {"links": {
        **links_to_account("$request.body#/0/id"),
        "SetAccountFlags": {"operationRef": operation("put", "/v1/accounts/{account_id}/flags"),
                            "parameters": {"account_id": "$request.body#/0/id"}},
        "DeleteAccount": {"operationRef": operation("delete", "/v1/accounts/{account_id}"),
                          "parameters": {"account_id": "$request.body#/0/id"}},
        # what refers to an account: its contacts, opportunities and contracts (a link's body is
        # merged into the first item)
        **{name: {"operationRef": operation("put", path), "requestBody": [{"account_id": "$request.body#/0/id"}]}
           for name, path in (("PutContacts", "/v1/contacts"), ("PutOpportunities", "/v1/opportunities"),
                              ("PutContracts", "/v1/contracts"))},
    }}, **error_responses(413, 422)},
    summary="Create or replace accounts in bulk (idempotent, atomic)",
    description=(
        "A JSON array of accounts, at most `bulk_max_items`. Each item replaces the stored account "
        "with that id (fields left out are cleared). All or nothing: if any item is invalid "
        "(e.g. a `parent_id` that is neither stored nor in this request, or a hierarchy cycle) the "
        "answer is 422 naming `items[i].field` and nothing is stored. Sending the same payload again "
        "changes nothing (`unchanged` counts it). Owners are created from the `owner` names."
    ),
)
def put_accounts(items: Annotated[list[AccountIn], Body(openapi_examples=ACCOUNTS_EXAMPLES)], session: SessionDep,
                 services: ServicesDep) -> dict[str, int]:
    check_item_count(len(items), services.settings.bulk_max_items, "accounts")
    data = [store.AccountData(
        id=a.id, name=a.name, domains=tuple(a.domains), country=a.country, region=a.region, city=a.city,
        parent_id=a.parent_id, owner=a.owner, phone=a.phone, aliases=tuple(a.aliases),
        is_customer=a.is_customer, fit_tier=a.fit_tier, industry=a.industry, employees=a.employees,
        attributes=a.attributes) for a in items]
    try:
        report = store.upsert_accounts(session, data)
    except InvalidItems as exc:
        raise invalid_items(exc) from None
    if report.changed_ids:
        db.after_commit(session, lambda: services.accounts_changed(report.changed_ids))
        # fit data (tier, industry, size) feeds the qualifying rules
        services.requalify(session, report.changed_ids)
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}


@router.get("/accounts/{account_id}", response_model=AccountOut, responses=error_responses(404, 422),
            summary="One stored account (cached)")
def get_account(account_id: AccountId, session: SessionDep, services: ServicesDep) -> Any:
    key = account_cache_key(account_id)
    cached = services.cache.get(key)
    if cached is not None:
        return JSONBytesResponse(cached)
    record = store.get_account(session, account_id)
    if record is None:
        raise NotFound(f"account {account_id!r} not found", [FieldError("account_id", "no such account")])
    services.cache.set_json(key, record, ttl=ACCOUNT_TTL_SECONDS)
    return JSONBytesResponse(record)


@router.delete(
    "/accounts/{account_id}", response_model=AccountDeletedOut, responses=error_responses(404, 422),
    summary="Delete an account",
    description="Deletes the account, its domains and its contacts, opportunities, contracts and "
                "statuses. Its child accounts stay and become top-level accounts (their `parent_id` is "
                "cleared); they are listed in the answer. Its contacts' activities are kept as "
                "unmatched events (they attach again if the person reappears as a contact); its "
                "status history stays readable.",
)
def delete_account(account_id: AccountId, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    qualification_service.account_deleted(session, account_id)
    children = store.delete_account(session, account_id)
    if children is None:
        raise NotFound(f"account {account_id!r} not found", [FieldError("account_id", "no such account")])
    db.after_commit(session, lambda: services.accounts_changed(children, removed=[account_id]))
    return {"deleted": account_id, "detached_children": children}


@router.get(
    "/accounts/{account_id}/learned", response_model=LearnedNamesOut, responses=error_responses(404, 422),
    summary="The aliases and domains an account learned from reviews",
    description="Each learned name with its source (the review that taught it) and who resolved it, "
                "oldest first. The index matches on them like on the account's own aliases and domains; "
                "a CRM sync (`PUT /v1/accounts`) leaves them alone.",
)
def get_learned(account_id: AccountId, session: SessionDep) -> dict[str, Any]:
    return {"items": service.learned(session, account_id)}


@router.delete(
    "/accounts/{account_id}/learned/{learned_id}", response_model=LearnedNameOut, responses=error_responses(404, 422),
    summary="Forget one learned alias or domain",
    description="Removes the learned name (answering what was removed); leads stop matching on it at once. "
                "404 naming `account_id` or `learned_id` when either is unknown.",
)
def delete_learned(account_id: AccountId, learned_id: LearnedId, session: SessionDep,
                   services: ServicesDep) -> dict[str, Any]:
    return service.forget(session, account_id, learned_id, services=services)


@router.put(
    "/contacts", response_model=UpsertOut,
    responses={200: {"links": {
        **links_to_account("$request.body#/0/account_id"),
        "MoveContact": {"operationRef": operation("post", "/v1/contacts/{contact_id}/status"),
                        "parameters": {"contact_id": "$request.body#/0/id"}},
        "PostActivities": {"operationRef": operation("post", "/v1/activities"),
                           "requestBody": [{"contact_id": "$request.body#/0/id"}]},
        "PutOpportunities": {"operationRef": operation("put", "/v1/opportunities"), "requestBody": [
            {"account_id": "$request.body#/0/account_id", "primary_contact_id": "$request.body#/0/id"}]},
    }}, **error_responses(413, 422)},
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
    except InvalidItems as exc:
        raise invalid_items(exc) from None
    if touched:
        db.after_commit(session, lambda: services.accounts_changed(sorted(touched)))
    # a moved contact changes the account it left too: ``touched`` has both
    services.requalify(session, touched | qualification_service.contacts_stored(session, report.changed_ids))
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}
