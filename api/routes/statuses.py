"""Account and contact statuses: read them (status from cache), set the manual states.

``GET /v1/accounts/{id}/status`` is what a CRM asks on every page view, so its cache hit is
lean: no dependency, no session, the cached bytes go out as they are. A miss builds the view in
the thread pool and caches it; every write that changes a status drops the cached view after
its commit (``Services.requalify``).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api import ledger_store, qualification, store
from api.deps import STATUS_TTL_SECONDS, Services, ServicesDep, SessionDep, status_cache_key
from api.errors import Conflict, FieldError, NotFound, ValidationFailed
from api.routes._common import error_responses, future_tolerance
from api.schemas import (AccountContactsOut, AccountFlagsIn, AccountStatusOut, ContactMoveIn, ContactMoveOut,
                         HistoryOut)
from matcher.ledger import ManualContactMove

router = APIRouter(prefix="/v1", tags=["qualification"])

AccountId = Annotated[str, Path(min_length=1, max_length=64, examples=["A17"])]
ContactId = Annotated[str, Path(min_length=1, max_length=64, examples=["C9001"])]


def _no_account(account_id: str) -> NotFound:
    return NotFound(f"account {account_id!r} not found", [FieldError("account_id", "no such account")])


def _view(session: Session, services: Services, account_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    view = qualification.account_view(session, services.qualifier, account_id)
    if view is None:
        raise _no_account(account_id)
    return view


def _status_bytes(services: Services, account_id: str) -> bytes:
    with services.sessions() as session:
        body = qualification.encode(qualification.status_document(account_id, *_view(session, services, account_id)))
    services.cache.set(status_cache_key(account_id), body, ttl=STATUS_TTL_SECONDS)
    return body


@router.get(
    "/accounts/{account_id}/status", response_model=AccountStatusOut, responses=error_responses(404),
    summary="An account's status, since when and why (cached)",
    description=(
        "The account's status code (domain.md section 4), since when, the reasons (rules and the "
        "events that made them true, with points), a one-sentence `summary`, engagement points, "
        "the personas engaged and a summary of its contacts. Answered from cache (Redis when "
        "`REDIS_URL` is set); every change that affects the account drops the cached answer."
    ),
)
async def get_account_status(account_id: AccountId, request: Request) -> Response:
    services: Services = request.app.state.services
    body = services.cache.get(status_cache_key(account_id))
    if body is None:
        body = await run_in_threadpool(_status_bytes, services, account_id)
    return Response(body, media_type="application/json")


@router.get(
    "/accounts/{account_id}/contacts", response_model=AccountContactsOut, responses=error_responses(404),
    summary="An account's contacts with status, persona and seniority",
    description="Ordered by contact id; `limit` per page, `after` = the `next_after` of the previous page.",
)
def get_account_contacts(account_id: AccountId, session: SessionDep, services: ServicesDep,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                         after: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
    _, contacts = _view(session, services, account_id)
    if after is not None:
        contacts = [c for c in contacts if c["id"] > after]
    page = contacts[:limit]
    return {"account_id": account_id, "items": page,
            "next_after": page[-1]["id"] if len(contacts) > limit else None}


@router.get(
    "/accounts/{account_id}/history", response_model=HistoryOut, responses=error_responses(404),
    summary="The account's status transitions, newest first",
    description=(
        "Every change of the account's status and (`kind=all`, the default) of its contacts' "
        "statuses: when it was recorded (`at`), when the new status took effect (`since`), old and "
        "new status, the reasons and the rule-set version. `limit` per page; `before` = the "
        "`next_before` of the previous page. The history of a deleted account stays readable."
    ),
)
def get_account_history(account_id: AccountId, session: SessionDep,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        before: Annotated[int | None, Query(ge=1)] = None,
                        kind: Literal["all", "account", "contact"] = "all") -> dict[str, Any]:
    kinds = ("account", "contact") if kind == "all" else (kind,)
    items = ledger_store.read_history(session, account_id, kinds=kinds, before=before, limit=limit + 1)
    if not items and before is None and not store.existing_account_ids(session, [account_id]):
        raise _no_account(account_id)
    page = items[:limit]
    return {"account_id": account_id, "items": page, "next_before": page[-1]["id"] if len(items) > limit else None}


@router.put(
    "/accounts/{account_id}/flags", response_model=AccountStatusOut, responses=error_responses(404, 422),
    summary="Set the manual account states (disqualified, partner)",
    description=(
        "Replaces both flags (a flag left out is cleared). Manual states win over every derived "
        "status; clearing them lets the account's status follow its ledger again. Answers the "
        "account's status after the change."
    ),
)
def put_account_flags(account_id: AccountId, flags: AccountFlagsIn, session: SessionDep,
                      services: ServicesDep) -> dict[str, Any]:
    changed = ledger_store.set_account_flags(session, account_id, disqualified=flags.disqualified,
                                             partner=flags.partner)
    if changed is None:
        raise _no_account(account_id)
    if changed:
        services.requalify(session, [account_id])
    return qualification.status_document(account_id, *_view(session, services, account_id))


@router.post(
    "/contacts/{contact_id}/status", response_model=ContactMoveOut, responses=error_responses(404, 409, 422),
    summary="A seller moves a contact (manual status change)",
    description=(
        "Moves the contact to `status` if the rules allow that move from its current status; "
        "otherwise 409 with `current` and the `allowed` target statuses. Moving a contact to the "
        "status it already has changes nothing. The move is kept in the ledger (a recompute "
        "replays it) and answers the contact's and its account's status after the move."
    ),
)
def move_contact(contact_id: ContactId, move: ContactMoveIn, session: SessionDep,
                 services: ServicesDep) -> dict[str, Any]:
    account_id = ledger_store.contact_account(session, contact_id)
    if account_id is None:
        raise NotFound(f"contact {contact_id!r} not found", [FieldError("contact_id", "no such contact")])
    now = datetime.now(timezone.utc)
    tolerance = future_tolerance(services.settings)
    if move.at is not None and ledger_store.in_future(move.at, now, tolerance):
        message = f"{move.at.isoformat()} is in the future (future_tolerance_seconds)"
        raise ValidationFailed(f"invalid request: at: {message}", [FieldError("at", message)])
    ledger_store.lock_accounts(session, [account_id])
    ledger = ledger_store.load_ledger(session, account_id)
    assert ledger is not None  # the contact's account row exists: contacts are checked on upsert
    current = next(c.status for c in services.qualifier.evaluate(ledger, now).contacts if c.contact_id == contact_id)
    if current != move.status:
        allowed = services.qualifier.check_move(current, move.status)
        if allowed is not None:
            message = f"a contact in {current!r} cannot be moved to {move.status!r} by hand"
            raise Conflict(message, [FieldError("status", f"{message}; allowed: {', '.join(allowed) or 'none'}")],
                           current=current, allowed=allowed)
        ledger_store.record_manual_move(session, ManualContactMove(
            contact_id=contact_id, status=move.status, at=move.at or now, by=move.by, note=move.note), now=now)
        services.requalify(session, [account_id])
    account, contacts = _view(session, services, account_id)
    return {"contact": next(c for c in contacts if c["id"] == contact_id),
            "account": qualification.status_document(account_id, account, contacts)}

