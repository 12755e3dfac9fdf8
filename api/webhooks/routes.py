"""The webhook outbox for operators: what is waiting, delivered or dead, and sending a dead event
again."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import SessionDep
from api.errors import error_responses
from api.schemas import SAFE_INTEGER
from api.webhooks import service
from api.webhooks.schemas import OutboxPageOut, OutboxRowOut, State

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.get("/outbox", response_model=OutboxPageOut, responses=error_responses(422),
            summary="Webhook events in the outbox",
            description="Ordered by id; `state` filters, `limit` per page, `after` = the `next_after` of the "
                        "previous page.")
def list_outbox(session: SessionDep, state: Annotated[State | None, Query()] = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                after: Annotated[int | None, Query(ge=0, le=SAFE_INTEGER)] = None) -> dict[str, Any]:
    return service.list_outbox(session, state=state, after=after, limit=limit)


@router.post("/outbox/{id}/retry", response_model=OutboxRowOut, responses=error_responses(404, 409, 422),
             summary="Send a dead webhook event again",
             description="A dead event (it failed `webhook_max_attempts` times) becomes pending, due now, with "
                         "its attempts counted from zero; it keeps its body and idempotency key. 409 if the "
                         "event is not dead.")
def retry(id: Annotated[int, Path(ge=1, le=SAFE_INTEGER)], session: SessionDep) -> dict[str, Any]:  # noqa: A002
    return service.retry(session, id)
