"""Qualification over HTTP: the activity ledger, opportunities and contracts, account and contact
statuses (read, flags, manual contact moves, history) and rule previews.

``GET /v1/accounts/{id}/status`` is what a CRM asks on every page view, so its cache hit is
answered ahead of the router (``api/qualification/fast_path.py``); a miss comes here, builds the
view in the thread pool and caches it. Every write that changes a status drops the cached view
after its commit."""
from __future__ import annotations

import os
import tomllib
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.accounts import service as account_service
from api.closing import service as closing_service
from api.db.bulk import InvalidItems
from api.accounts.schemas import links_to_account
from api.db import session_scope
from api.deps import STATUS_TTL_SECONDS, Services, ServicesDep, SessionDep, status_cache_key
from api.errors import Conflict, FieldError, NotFound, ValidationFailed
from api.qualification import recompute, rule_sets
from api.qualification import service as qualification
from api.qualification import ledger_reader, store as ledger_store
from api.errors import check_item_count, error_responses, invalid_items
from api.qualification.schemas import (ACTIVITY_EXAMPLE, RULES_DOCUMENT, AccountContactsOut, AccountFlagsIn,
                                       AccountStatusOut, ActivityIn, ActivityIngestOut, ContactMoveIn, ContactMoveOut,
                                       ContractIn, HistoryOut, OpportunityIn, ReasonOut)
from api.schemas import AccountId, Rfc3339Time, UpsertOut
from matcher.qualification.ledger import Contract, ManualContactMove
from matcher.qualification.rules import compile_rules

router = APIRouter(prefix="/v1", tags=["qualification"])

ContactId = Annotated[str, Path(min_length=1, max_length=64, examples=["C9001"])]
# status_transitions.id is an SQL INTEGER (api/db/migrations/versions/0002_qualification.py): a
# larger `before` names no row, and the databases refuse to compare the column with it (500)
MAX_TRANSITION_ID = 2**31 - 1


def _no_account(account_id: str) -> NotFound:
    return NotFound(f"account {account_id!r} not found", [FieldError("account_id", "no such account")])


def _view(session: Session, services: Services, account_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    view = qualification.account_view(session, services.qualifier, account_id)
    if view is None:
        raise _no_account(account_id)
    return view


def _status_bytes(services: Services, account_id: str) -> bytes:
    with session_scope(services.sessions) as session:
        body = qualification.encode(qualification.status_document(account_id, *_view(session, services, account_id)))
    services.cache.set(status_cache_key(account_id), body, ttl=STATUS_TTL_SECONDS)
    return body


@router.get(
    "/accounts/{account_id}/status", response_model=AccountStatusOut, responses=error_responses(404, 422),
    summary="An account's status, since when and why (cached)",
    description=(
        "The account's status code (see docs/qualification.md), since when, the reasons (rules and the "
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
    "/accounts/{account_id}/contacts", response_model=AccountContactsOut, responses=error_responses(404, 422),
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
    "/accounts/{account_id}/history", response_model=HistoryOut, responses=error_responses(404, 422),
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
                        before: Annotated[int | None, Query(ge=1, le=MAX_TRANSITION_ID)] = None,
                        kind: Literal["all", "account", "contact"] = "all") -> dict[str, Any]:
    kinds = ("account", "contact") if kind == "all" else (kind,)
    items = ledger_store.read_history(session, account_id, kinds=kinds, before=before, limit=limit + 1)
    if not items and before is None and not account_service.account_exists(session, account_id):
        raise _no_account(account_id)
    page = items[:limit]
    return {"account_id": account_id, "items": page, "next_before": page[-1]["id"] if len(items) > limit else None}


@router.put(
    "/accounts/{account_id}/flags", response_model=AccountStatusOut, responses=error_responses(404, 413, 422),
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
    "/contacts/{contact_id}/status", response_model=ContactMoveOut, responses=error_responses(404, 409, 413, 422),
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
    tolerance = services.settings.future_tolerance
    if move.at is not None and ledger_store.in_future(move.at, now, tolerance):
        message = f"{move.at.isoformat()} is in the future (future_tolerance_seconds)"
        raise ValidationFailed(f"invalid request: at: {message}", [FieldError("at", message)])
    ledger_store.lock_accounts(session, [account_id])
    ledger = ledger_reader.load_ledger(session, account_id)
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
            session, [a.to_activity() for a in items], future_tolerance=services.settings.future_tolerance)
    except InvalidItems as exc:
        raise invalid_items(exc) from None
    services.requalify(session, touched)
    return {"created": report.created, "unchanged": report.unchanged, "unmatched": report.unmatched}


@router.put(
    "/opportunities", response_model=UpsertOut,
    responses={200: {"links": links_to_account("$request.body#/0/account_id")}, **error_responses(413, 422)},
    summary="Create or replace opportunities in bulk (idempotent, atomic)",
    description=(
        "A JSON array of opportunities, at most `bulk_max_items`. Each replaces the stored one with "
        "that id. A `stage` different from the stored one is recorded as a stage change at "
        "`stage_changed_at` (or now), so the time each stage was entered is kept. `closed_at` is "
        "required for `won`/`lost` and refused for `open`; a left-out `opened_at` keeps the stored "
        "one. `next_step` / `next_step_at` (the next step as the CRM has it, read by "
        "`GET /v1/pipeline-review`) are replaced like the other fields: left out clears them; "
        "`next_step_at` may be in the future. Unknown `account_id` or `primary_contact_id`, bad enum values or future times -> 422 "
        "naming `items[i].field`, nothing stored. The accounts concerned are re-evaluated. An "
        "opportunity this sync moves to `won`/`lost` gets an unanswered close (`GET /v1/closes/unanswered`), "
        "reminded until a seller answers it with `POST /v1/opportunities/{id}/close`."
    ),
)
def put_opportunities(items: Annotated[list[OpportunityIn], Body()], session: SessionDep,
                      services: ServicesDep) -> dict[str, int]:
    check_item_count(len(items), services.settings.bulk_max_items, "opportunities")
    data = [ledger_store.OpportunityData(**o.model_dump()) for o in items]
    closed_before = {i for i, o in qualification.opportunities(session, [o.id for o in data]).items()
                     if o["state"] != "open"}
    now = datetime.now(timezone.utc)
    try:
        report, touched = ledger_store.upsert_opportunities(session, data, now=now,
                                                            future_tolerance=services.settings.future_tolerance)
    except InvalidItems as exc:
        raise invalid_items(exc) from None
    # the CRM is the system of record: its closes are taken, and kept unanswered until a seller answers
    closing_service.record_synced_closes(session, services, data, closed_before=closed_before, now=now)
    services.requalify(session, touched)
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}


@router.put(
    "/contracts", response_model=UpsertOut,
    responses={200: {"links": links_to_account("$request.body#/0/account_id")}, **error_responses(413, 422)},
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
    except InvalidItems as exc:
        raise invalid_items(exc) from None
    services.requalify(session, touched)
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}


TOML_TYPES = ("application/toml", "text/toml", "text/x-toml", "text/plain")
_EXAMPLE_TOML = """version = "qual-2026.12"

[engagement]
mqa_points = 80

[[qualifying_actions]]
name = "demo_request"
says = "requested a demo"
activity_types = ["demo_request"]
fit_tiers = ["1", "2", "3"]
"""


class SampleOut(BaseModel):
    account_id: str
    reasons: list[ReasonOut]


class CellOut(BaseModel):
    before: str | None  # the stored status; null: the account has none stored yet
    after: str
    count: int
    samples: list[SampleOut]  # the lowest account ids of a cell that moves, with their new reasons


class PreviewOut(BaseModel):
    rule_version: str
    active_version: str | None
    as_of: datetime
    applied: bool
    accounts: int
    contacts: int
    activities: int
    accounts_moved: int
    contacts_moved: int
    transitions: int
    cells: list[CellOut]
    seconds: float


def _field(loc: tuple) -> str:
    path = "rules"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _json_integers(value: Any) -> Any:
    """``value`` with every float that has no fraction as an int: JSON Schema's integer (the rules
    document's type of a count) is any number without a fraction, 90.0 as well as 90, and the rules
    are validated strictly. A float field takes an int as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _json_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_integers(v) for v in value]
    return value


def _rules(body: bytes, content_type: str):  # noqa: ANN202 - QualificationRules
    """The rules in the body (JSON object or TOML text), merged over the shipped defaults."""
    media = content_type.split(";")[0].strip().lower()
    try:
        if media in TOML_TYPES:
            document = tomllib.loads(body.decode("utf-8"))
        else:
            document = orjson.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        kind = "TOML" if media in TOML_TYPES else "JSON"
        raise ValidationFailed(f"the body is not valid {kind}: {exc}", [FieldError("rules", str(exc))]) from None
    if not isinstance(document, dict):
        raise ValidationFailed("send the rules as a JSON object or as TOML text (content-type: application/toml)",
                               [FieldError("rules", "expected an object")])
    try:
        return rule_sets.rules_from_document(_json_integers(document), strict=True)
    except ValidationError as exc:
        fields = [FieldError(_field(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        raise ValidationFailed("invalid rules: " + "; ".join(f"{f.field}: {f.message}" for f in fields[:3]),
                               fields) from None


def _preview(services: Services, rules, as_of: datetime | None, samples: int) -> dict[str, Any]:  # noqa: ANN001
    report = recompute.recompute_all(services.engine, compile_rules(rules), as_of, apply=False,
                                     workers=min(2, os.cpu_count() or 1), samples_per_cell=samples)
    return recompute.report_document(report, services.qualifier.version)


@router.post(
    "/rules/preview", response_model=PreviewOut, responses=error_responses(413, 422),
    summary="What a new rule set would do to the account statuses (changes nothing)",
    description=(
        "Evaluates every account from its ledger with the rules in the body and answers the "
        "transition matrix: for each (stored status, new status) pair the number of accounts, "
        "unchanged pairs included, and for the pairs that move up to `samples` accounts (lowest "
        "ids) with the reasons of their new status. The body is a rule set as a JSON object or as "
        "TOML text (`content-type: application/toml`), merged over the shipped defaults like "
        "`LEADMATCH_QUALIFICATION_RULES` (tables merge, lists replace). Nothing is written; "
        "`leadmatch rules apply` makes a rule set active. Takes as long as a full recompute: for "
        "millions of accounts, `leadmatch rules preview` in a terminal is the better tool.\n\n"
        "As TOML (`content-type: application/toml`; `text/toml` and `text/plain` are read as TOML too):"
        "\n\n```toml\n" + _EXAMPLE_TOML + "```"
    ),
    # One schema for both forms: the TOML text holds the same document (contentSchema). The TOML
    # example lives in the description, not in `examples`: a tool that cannot write TOML then skips
    # that form instead of failing on the example.
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{RULES_DOCUMENT}"},
                             "example": {"engagement": {"mqa_points": 80}}},
        "application/toml": {"schema": {"type": "string", "contentMediaType": "application/toml",
                                        "contentSchema": {"$ref": f"#/components/schemas/{RULES_DOCUMENT}"}}}}}},
)
async def preview_rules(request: Request,
                        as_of: Annotated[Rfc3339Time | None,
                                         Query(description="evaluate at this time (default now)")] = None,
                        samples: Annotated[int, Query(ge=0, le=20)] = 3) -> dict[str, Any]:
    services: Services = request.app.state.services
    rules = _rules(await request.body(), request.headers.get("content-type", "application/json"))
    if as_of is not None and as_of.tzinfo is None:
        raise ValidationFailed("as_of needs a time zone (e.g. 2026-11-20T12:00:00Z)",
                               [FieldError("as_of", "needs a time zone")])
    return await run_in_threadpool(_preview, services, rules, as_of, samples)
