"""Lead intake (POST /v1/leads, /v1/leads/bulk), the lead views (GET /v1/leads...), the SLA's
"acted" event and the review queue (GET /v1/review, POST /v1/review/{lead_id}/resolve).

What happens to a lead is ``api/routing/service.py``'s docstring."""
from __future__ import annotations

from typing import Annotated, Any, Callable, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.convertors import Convertor, register_url_convertor

from api.db import discard_after_commit, session_scope
from api.db.bulk import InvalidItems, utc_now
from api.deps import Services, ServicesDep, SessionDep
from api.errors import (Conflict, FieldError, NotFound, check_item_count, check_period,
                        error_responses, invalid_items, pydantic_errors)
from api.matching import service as matching_service
from api.routing import review, service, store
from api.routing.schemas import (INTAKE_EXAMPLE, ActedIn, BulkLeadsOut, LeadDetailOut, LeadIntakeIn, LeadOut,
                                 LeadPageOut, ResolveIn, ResolveOut, ReviewPageOut, SlaState)
from api.schemas import Rfc3339Time, operation

router = APIRouter(prefix="/v1", tags=["leads"])


class LeadIdConvertor(Convertor):
    """A lead id in a path, any but "bulk": ``/v1/leads/bulk`` is the bulk intake, not a lead (without
    this, GET /v1/leads/{lead_id} would claim that path too and OPTIONS would list GET for it)."""

    regex = "(?!bulk$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("lead_id", LeadIdConvertor())

# any id but "bulk" (see LeadIdConvertor), spelled without look-ahead, which pydantic's regex lacks
NOT_BULK = "^([^b]|b[^u]|bu[^l]|bul[^k]|bulk.|b$|bu$|bul$)"
LeadId = Annotated[str, Path(min_length=1, max_length=64, pattern=NOT_BULK, examples=["web-2026-12-02-0001"])]


def _no_lead(lead_id: str) -> NotFound:
    return NotFound(f"lead {lead_id!r} not found", [FieldError("lead_id", "no such lead")])


_LEAD_LINKS = {"links": {
    "GetLead": {"operationRef": operation("get", "/v1/leads/{lead_id}"),
                "parameters": {"lead_id": "$response.body#/lead_id"}},
    "LeadActed": {"operationRef": operation("post", "/v1/leads/{lead_id}/acted"),
                  "parameters": {"lead_id": "$response.body#/lead_id"}},
}}


@router.post(
    "/leads", response_model=LeadOut, responses={200: _LEAD_LINKS, **error_responses(422, 413, 503)},
    summary="Take in one lead: match, convert, route, record",
    description=(
        "The web-form path. The lead is matched (the `/v1/match` answer is `match`); a matched lead "
        "becomes or updates a contact on its account (`contact_id`) and its form fill (with "
        "`campaign_id`) goes into the activity ledger; then the routing ladder picks the owner or "
        "queue (`route`: the `rule` that fired, a `reason`, every member passed over and why) and "
        "the SLA deadline (`sla_due_at`, in the owner's business hours). Sending the same `id` "
        "with the same content again returns the stored outcome (`outcome: unchanged`); the same "
        "`id` with other content updates the lead and routes it again only if its account changed."
    ),
)
def post_lead(lead: Annotated[LeadIntakeIn, Body(openapi_examples={"web form": {"value": INTAKE_EXAMPLE}})],
              session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    if not services.index.ready:
        raise matching_service.index_not_ready()
    try:
        answer = take_in(session, services, lead)
    except InvalidItems as exc:
        # the ledger refused the lead's own event (e.g. occurred_at too far ahead): the lead's field
        raise invalid_items(exc, item="") from None
    _count(services, answer)
    return answer


def take_in(session: Session, services: Services, lead: LeadIntakeIn) -> dict[str, Any]:
    """``service.intake`` as the whole of the session's transaction, started over once when a
    concurrent delivery of the same new lead stored it first (``service.LeadTaken``)."""
    try:
        return service.intake(session, services, lead)
    except service.LeadTaken:
        session.rollback()
        discard_after_commit(session)
        return service.intake(session, services, lead)


def _count(services, answer: dict[str, Any]) -> None:  # noqa: ANN001 - Services
    services.metrics.leads.labels(answer["outcome"], answer["route"]["rule"].split(":")[0] or "none").inc()


_BULK_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "array", "items": {
        "anyOf": [{"$ref": "#/components/schemas/LeadIntakeIn"}, {}],
        "description": "a lead (LeadIntakeIn); anything else gets an error entry in `results`"}},
    "example": [INTAKE_EXAMPLE, {"id": "web-2", "email": "not-an-email"}]}}}}


@router.post(
    "/leads/bulk", response_model=BulkLeadsOut, responses=error_responses(413, 422, 503), openapi_extra=_BULK_BODY,
    summary="Take in a JSON array of leads",
    description=(
        "Each lead as in `POST /v1/leads`, each in its own transaction: an invalid lead gets an "
        "`error` entry (field paths such as `items[3].email`) and the others are taken in. "
        "`results[i]` answers `items[i]`. At most `bulk_max_items`."
    ),
)
def post_leads_bulk(items: Annotated[list[Any], Body()], services: ServicesDep) -> dict[str, Any]:
    check_item_count(len(items), services.settings.bulk_max_items, "leads")
    if not services.index.ready:
        raise matching_service.index_not_ready()
    results: list[dict[str, Any]] = []
    counts = {"created": 0, "unchanged": 0, "updated": 0, "rerouted": 0, "error": 0}
    for i, item in enumerate(items):
        try:
            lead = LeadIntakeIn.model_validate(item)
            with session_scope(services.sessions) as session:
                answer = take_in(session, services, lead)
        except ValidationError as exc:
            fields = pydantic_errors(exc.errors(), root=f"items[{i}]")
        except InvalidItems as exc:
            fields = invalid_items(exc, item=f"items[{i}]").fields
        else:
            _count(services, answer)
            counts[answer["outcome"]] += 1
            results.append({"index": i, "result": answer, "error": None})
            continue
        counts["error"] += 1
        results.append({"index": i, "result": None, "error": {
            "error": "; ".join(f"{f.field}: {f.message}" for f in fields), "fields": [f.to_dict() for f in fields]}})
    return {"results": results, "counts": counts}


@router.get("/leads/{lead_id:lead_id}", response_model=LeadDetailOut, responses=error_responses(404, 422),
            summary="One lead: its match, route, SLA and routing history")
def get_lead(lead_id: LeadId, session: SessionDep) -> dict[str, Any]:
    row = store.get_lead(session, lead_id)
    if row is None:
        raise _no_lead(lead_id)
    return service.lead_detail(session, row)


def _page(rows: list[Any], limit: int, view: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """A page of ``limit`` of ``rows`` (read with ``limit + 1``, so one more says there is a next page)."""
    page = rows[:limit]
    return {"items": [view(r) for r in page], "next_after": page[-1].id if len(rows) > limit else None}



@router.get(
    "/leads", response_model=LeadPageOut, responses=error_responses(422),
    summary="Leads, filtered and paged",
    description="Ordered by lead id; `limit` per page, `after` = the `next_after` of the previous page. "
                "`from`/`to` filter on when the lead was received (`from` inclusive, `to` exclusive).",
)
def list_leads(session: SessionDep,
               decision: Literal["matched", "review", "no_match"] | None = None,
               owner: Annotated[str | None, Query(max_length=300)] = None,
               queue: Annotated[str | None, Query(max_length=300)] = None,
               sla_state: SlaState | None = None,
               received_from: Annotated[Rfc3339Time | None, Query(alias="from")] = None,
               received_to: Annotated[Rfc3339Time | None, Query(alias="to")] = None,
               after: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    check_period(received_from, received_to)
    rows = store.list_leads(session, decision=decision, owner=owner, queue=queue, sla_state=sla_state,
                            received_from=received_from, received_to=received_to, after=after, limit=limit + 1)
    return _page(rows, limit, service.summary)


@router.post(
    "/leads/{lead_id}/acted", response_model=LeadDetailOut, responses=error_responses(404, 409, 422),
    summary="The owner acted on the lead: stop its SLA clock",
    description="Records the first action (default: now). Before the deadline the SLA is `met`, after it "
                "`missed`; `first_action_minutes` counts business minutes since the lead was routed. "
                "Acting again changes nothing. A lead that a queue holds has no clock (409).",
)
def post_acted(lead_id: LeadId, session: SessionDep, services: ServicesDep,
               body: Annotated[ActedIn | None, Body()] = None) -> dict[str, Any]:
    row = store.get_lead(session, lead_id, for_update=True)
    if row is None:
        raise _no_lead(lead_id)
    if row.owner is None:
        raise Conflict(f"lead {lead_id!r} is held by queue {row.queue!r}: nobody owns it yet, so no SLA clock runs",
                       [FieldError("lead_id", "no owner")])
    body = body or ActedIn()
    row = service.acted(session, services, row, body.at or utc_now(), body.by)
    return service.lead_detail(session, row)


@router.get(
    "/review", response_model=ReviewPageOut, responses=error_responses(422),
    summary="The review queue: leads whose account a person must pick",
    description="Open reviews ordered by lead id, with the candidates and reasons of their match. "
                "`from`/`to` filter on when the lead was received.",
)
def get_review(session: SessionDep,
               received_from: Annotated[Rfc3339Time | None, Query(alias="from")] = None,
               received_to: Annotated[Rfc3339Time | None, Query(alias="to")] = None,
               after: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    check_period(received_from, received_to)
    rows = store.list_leads(session, review_state="open", received_from=received_from, received_to=received_to,
                            after=after, limit=limit + 1)
    return _page(rows, limit, review.item)


@router.post(
    "/review/{lead_id}/resolve", response_model=ResolveOut, responses=error_responses(404, 409, 422),
    summary="Resolve a lead in review: pick its account, create one, or mark it junk",
    description=(
        "`action: account` with a candidate's or any stored account's `account_id`; `action: new_account` "
        "creates the account `account_id` from the lead (name: `account_name` or the lead's company; "
        "the lead's corporate email domain, country, region and city; `owner`); `action: junk` closes "
        "it. The lead is converted and routed like a matched lead, and the decision is stored with `by`. "
        "With `learn` (default) a confirmed company spelling or email domain becomes a learned alias or "
        "domain of the account (listed under `learned`; `not_learned` says what was not and why), so "
        "the same lead matches by itself next time. Unknown lead -> 404; a lead not in review -> 409; "
        "an unknown `account_id` -> 422; a `new_account` id that exists -> 409."
    ),
)
def post_resolve(lead_id: LeadId, decision: ResolveIn, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    row = store.get_lead(session, lead_id, for_update=True)
    if row is None:
        raise _no_lead(lead_id)
    try:
        return review.resolve(session, services, row, decision)
    except InvalidItems as exc:
        raise invalid_items(exc, item="") from None
