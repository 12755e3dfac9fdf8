"""``GET /v1/reports/{name}`` (the win/loss reports of domain.md section 6) and the content
catalogue the ``content`` report reads (``PUT`` / ``GET /v1/content``)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from api.db.bulk import InvalidItems, utc_now
from api.deps import ServicesDep, SessionDep
from api.errors import check_item_count, error_responses, invalid_items
from api.reports import render, service, store
from api.reports.schemas import ContentAssetIn, ContentOut, Format, ReportOut
from api.responses import JSONBytesResponse
from api.schemas import IsoTime, Short, UpsertOut

router = APIRouter(tags=["reports"])

_CSV = {"text/csv": {"schema": {"type": "string"}, "example": "table,outcome,count,median_days,mean_days\n"
                                                             "velocity,won,3,15.0,21.1\n"}}


@router.get(
    "/v1/reports/{name}", response_model=ReportOut,
    responses={200: {"content": _CSV, "description": "The report: JSON, or CSV with `format=csv`"},
               **error_responses(404, 422)},
    summary="A win/loss report over a period",
    description=(
        "One of: " + ", ".join(f"`{n}`" for n in service.NAMES) + " (docs/reports.md gives each definition). "
        "The period includes `from` and excludes `to`. `owner` keeps the opportunities of that owner (the "
        "account owner for never-responded, mqa-volume and funnel); `segment` keeps the accounts with one "
        "attribute: `fit_tier:A`, `industry:Software` or `country:DE`. 404 names the reports; 422 names the "
        "field (`from` not before `to`, a malformed `segment`)."),
)
def get_report(name: Annotated[str, Path(max_length=64)], session: SessionDep, services: ServicesDep,
               from_: Annotated[IsoTime, Query(alias="from")], to: Annotated[IsoTime, Query()],
               owner: Annotated[Short | None, Query()] = None, segment: Annotated[str | None, Query(max_length=300, pattern=store.SEGMENT_PATTERN)] = None,
               format: Annotated[Format, Query()] = "json") -> Any:  # noqa: A002
    filters = store.Filters(service.period(from_, to), owner, service.parse_segment(segment))
    report = service.run(session, name, filters, service.pipeline_rules(services.settings.pipeline_rules))
    if format == "csv":
        return Response(render.as_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{report.name}.csv"'})
    return JSONBytesResponse(render.as_dict(report, filters))


@router.put("/v1/content", response_model=UpsertOut, responses=error_responses(413, 422),
            summary="Create or replace content catalogue assets (idempotent, atomic)",
            description="A JSON array of assets, at most `bulk_max_items`; each replaces the stored asset with "
                        "that id. An invalid item is a 422 naming `items[i].field` and nothing is stored.")
def put_content(items: Annotated[list[ContentAssetIn], Body()], session: SessionDep,
                services: ServicesDep) -> dict[str, int]:
    check_item_count(len(items), services.settings.bulk_max_items, "assets")
    try:
        report = service.put_assets(session, [i.model_dump() for i in items], utc_now())
    except InvalidItems as exc:
        raise invalid_items(exc) from None
    return {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}


@router.get("/v1/content", response_model=ContentOut, summary="The content catalogue", responses=error_responses(422))
def get_content(session: SessionDep) -> dict[str, Any]:
    return {"items": service.list_assets(session)}
