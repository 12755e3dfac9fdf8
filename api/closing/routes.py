"""After the close over HTTP: closing an opportunity with its questionnaire, the closes (all, and
the unanswered ones per owner), win/loss interviews and account dispositions (history, override).
Each route calls ``api/closing/service.py``; see docs/closing.md."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

from api.closing import service
from api.closing.schemas import (CLOSE_EXAMPLE, CloseDocumentOut, CloseIn, ClosePageOut, CloseResultOut, CloseState,
                                 DispositionHistoryOut, DispositionIn, DispositionOut, InterviewIn, InterviewOut,
                                 Outcome, QuestionsOut, UnansweredOut)
from api.db.bulk import utc_now
from api.deps import ServicesDep, SessionDep
from api.errors import check_period, error_responses
from api.schemas import AccountId, Rfc3339Time

router = APIRouter(prefix="/v1", tags=["closing"])

OpportunityId = Annotated[str, Path(min_length=1, max_length=64, examples=["O42"])]


@router.post(
    "/opportunities/{opportunity_id}/close", response_model=CloseResultOut, responses=error_responses(404, 409, 422),
    summary="Close an opportunity won or lost, with the close questionnaire",
    description=(
        "Closes the opportunity `outcome` at `closed_at` with the seller's `answers` to the outcome's "
        "questions (`GET /v1/closes/questions`). Every mandatory question must be answered: a 422 lists "
        "every missing and every invalid answer (`answers.<question id>`), and `closed_at` before the "
        "opportunity opened or in the future. On success, in one transaction: the opportunity is closed, "
        "the close is stored `answered`, the account's disposition follows from the answers "
        "(superseding the one in force), the account is re-qualified and an `opportunity.closed` "
        "webhook is sent. An opportunity a CRM sync closed (its close unanswered) is completed: "
        "`outcome` and `closed_at` must be the stored ones (else 409). Closed and answered already: "
        "409. Nothing is stored on any 4xx."
    ),
)
def close_opportunity(opportunity_id: OpportunityId, body: Annotated[CloseIn, Body(examples=[CLOSE_EXAMPLE])],
                      session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    return service.close_opportunity(session, services, opportunity_id, outcome=body.outcome,
                                     closed_at=body.closed_at, answers=body.answers, source="api", by=body.by,
                                     now=utc_now())


@router.get(
    "/opportunities/{opportunity_id}/close", response_model=CloseDocumentOut, responses=error_responses(404, 422),
    summary="An opportunity's close: answers, what is missing, interviews, disposition",
    description="404 when the opportunity does not exist or has no close record (it is open, or closed "
                "before closes were recorded).",
)
def get_close(opportunity_id: OpportunityId, session: SessionDep, services: ServicesDep) -> dict[str, Any]:
    return service.close_document(session, services, opportunity_id)


@router.post(
    "/opportunities/{opportunity_id}/interview", response_model=InterviewOut, responses=error_responses(404, 409, 422),
    summary="Record a win/loss interview with the buyer",
    description="What the buyer said, kept beside the seller's answers and never over them; an "
                "opportunity may have several. `reason` (and `competitor`, `heard_from` where the seller's "
                "question has options) is one of the options of the seller's question of the opportunity's "
                "outcome (`GET /v1/closes/questions`), so the loss-reasons report can compare buyer and "
                "seller; `notes` keeps the buyer's own words. 404 unknown opportunity; 409 while it is open; "
                "422 naming each field that is not an option, and `interviewed_at` (default now) in the "
                "future. Nothing is stored on any 4xx.",
)
def post_interview(opportunity_id: OpportunityId, body: InterviewIn, session: SessionDep,
                   services: ServicesDep) -> dict[str, Any]:
    return service.record_interview(session, services, opportunity_id, reason=body.reason,
                                    competitor=body.competitor, heard_from=body.heard_from, notes=body.notes,
                                    interviewed_at=body.interviewed_at, interviewer=body.interviewer,
                                    now=utc_now())


@router.get(
    "/closes/questions", response_model=QuestionsOut,
    summary="The close questionnaires (won and lost)",
    description="The questions `POST /v1/opportunities/{id}/close` asks, as configured (config/closing.toml, "
                "`LEADMATCH_CLOSING_RULES`).",
)
def get_questions(services: ServicesDep) -> dict[str, Any]:
    rules = service.rules_for(services.settings)
    return {"version": rules.version, **rules.questions.model_dump(mode="json")}



@router.get(
    "/closes", response_model=ClosePageOut, responses=error_responses(422),
    summary="Closes, filtered and paged",
    description="Ordered by opportunity id; `limit` per page, `after` = the `next_after` of the previous page. "
                "`from`/`to` filter on `closed_at` (`from` inclusive, `to` exclusive).",
)
def list_closes(session: SessionDep, services: ServicesDep,
                state: CloseState | None = None,
                owner: Annotated[str | None, Query(max_length=300)] = None,
                outcome: Outcome | None = None,
                closed_from: Annotated[Rfc3339Time | None, Query(alias="from")] = None,
                closed_to: Annotated[Rfc3339Time | None, Query(alias="to")] = None,
                after: Annotated[str | None, Query(max_length=64)] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    check_period(closed_from, closed_to)
    return service.list_closes(session, services, state=state, owner=owner, outcome=outcome,
                               closed_from=closed_from, closed_to=closed_to, after=after, limit=limit)


@router.get(
    "/closes/unanswered", response_model=UnansweredOut, responses=error_responses(422),
    summary="Unanswered closes per owner, with the questions still open",
    description="Per owner (closes without an owner last): how many closes wait for answers and the oldest "
                "`per_owner` of them with their `missing` questions. They are reminded by webhook "
                "(`close.unanswered`) on the configured cadence until answered.",
)
def list_unanswered(session: SessionDep, services: ServicesDep,
                    owner: Annotated[str | None, Query(max_length=300)] = None,
                    per_owner: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    return service.unanswered_by_owner(session, services, owner=owner, per_owner=per_owner)


@router.put(
    "/accounts/{account_id}/disposition", response_model=DispositionOut, responses=error_responses(404, 422),
    summary="Override where an account goes after its close",
    description="A person's disposition supersedes the one in force (source `override`) and the account is "
                "re-qualified. `recycle` needs `until` (the day the account comes back); `disqualified` may "
                "have one (the day it is re-activated); the other kinds take none. `until` lies in the future.",
)
def put_disposition(account_id: AccountId, body: DispositionIn, session: SessionDep,
                    services: ServicesDep) -> dict[str, Any]:
    return service.override_disposition(session, services, account_id, kind=body.kind, until=body.until,
                                        reason=body.reason, by=body.by, now=utc_now())


@router.get(
    "/accounts/{account_id}/dispositions", response_model=DispositionHistoryOut, responses=error_responses(404, 422),
    summary="An account's dispositions, newest first",
    description="From the rules at each close and from overrides; the one in force has `in_force` true.",
)
def get_dispositions(account_id: AccountId, session: SessionDep) -> dict[str, Any]:
    return {"account_id": account_id, "items": service.disposition_history(session, account_id)}
