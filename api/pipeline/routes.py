"""Gone dark and the pipeline review over HTTP: the gone-dark episodes and the monthly pipeline
review's list of stale open opportunities. Each route calls ``api/pipeline/service.py``; see
docs/gone_dark.md."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.db.bulk import utc_now
from api.deps import ServicesDep, SessionDep
from api.errors import check_period, error_responses
from api.pipeline import service
from api.pipeline.schemas import EpisodePageOut, EpisodeState, EpisodeSubject, PipelineReviewOut
from api.schemas import Rfc3339Time

router = APIRouter(prefix="/v1", tags=["pipeline"])



@router.get(
    "/gone-dark", response_model=EpisodePageOut, responses=error_responses(422),
    summary="Gone-dark episodes, filtered and paged",
    description="Each time an open opportunity went dark (no two-way touch for its stage's days), or an "
                "account in Qualified / Sales Working with no open opportunity did (`subject` account, the "
                "status in `stage`), the scheduler flagged it: the stage it went dark in, its "
                "re-qualification cadence with each step's adherence, and how it ended (`answered` by a "
                "two-way touch, `closed_lost` past the second limit, `closed` when the opportunity closed "
                "otherwise or the account left the status, `expired`: an account past the second limit). "
                "Ordered by id; "
                "`after` = the `next_after` of the previous page; `from`/`to` filter on `flagged_at` "
                "(`from` inclusive, `to` exclusive).",
)
def list_gone_dark(session: SessionDep,
                   subject: EpisodeSubject | None = None,
                   state: EpisodeState | None = None,
                   owner: Annotated[str | None, Query(max_length=300)] = None,
                   opportunity_id: Annotated[str | None, Query(max_length=64)] = None,
                   account_id: Annotated[str | None, Query(max_length=64)] = None,
                   stage: Annotated[str | None, Query(max_length=100)] = None,
                   flagged_from: Annotated[Rfc3339Time | None, Query(alias="from")] = None,
                   flagged_to: Annotated[Rfc3339Time | None, Query(alias="to")] = None,
                   after: Annotated[int | None, Query(ge=0, le=2**53 - 1)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    check_period(flagged_from, flagged_to)
    return service.list_episodes(session, subject=subject, state=state, owner=owner, opportunity_id=opportunity_id,
                                 account_id=account_id, stage=stage, flagged_from=flagged_from,
                                 flagged_to=flagged_to, after=after, limit=limit)


@router.get(
    "/pipeline-review", response_model=PipelineReviewOut, responses=error_responses(422),
    summary="Stale open opportunities per owner, for the monthly pipeline review",
    description="Open opportunities whose account had no touch in the last `no_touch_days` days (neither a "
                "two-way touch: an inbound reply, meeting, call, form fill, ...; nor an outbound touch of ours: "
                "call, email, social, meeting), or with no next step (neither `next_step` nor `next_step_at` "
                "from `PUT /v1/opportunities`), or whose `next_step_at` is past; per owner (by owner, then id), "
                "each with its `reasons`, its latest touch, its next step and whether it is flagged gone dark. "
                "At most `limit` opportunities.",
)
def pipeline_review(session: SessionDep, services: ServicesDep,
                    owner: Annotated[str | None, Query(max_length=300)] = None,
                    no_touch_days: Annotated[float, Query(gt=0, le=3650)] = 30,
                    limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> dict[str, Any]:
    return service.pipeline_review(session, services, owner=owner, no_touch_days=no_touch_days, now=utc_now(),
                                   limit=limit)
