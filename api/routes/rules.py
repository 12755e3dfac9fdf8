"""Rule changes: preview what a new qualification rule set would do, before anyone applies it."""
from __future__ import annotations

import os
import tomllib
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from api import recompute, rule_sets
from api.deps import Services
from api.errors import FieldError, ValidationFailed
from api.routes._common import error_responses
from api.schemas import ReasonOut
from matcher.qualify import compile_rules

router = APIRouter(prefix="/v1", tags=["qualification"])

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
        return rule_sets.rules_from_document(document)
    except ValidationError as exc:
        fields = [FieldError(_field(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        raise ValidationFailed("invalid rules: " + "; ".join(f"{f.field}: {f.message}" for f in fields[:3]),
                               fields) from None


def _preview(services: Services, rules, as_of: datetime | None, samples: int) -> dict[str, Any]:  # noqa: ANN001
    report = recompute.recompute_all(services.engine, compile_rules(rules), as_of, apply=False,
                                     workers=min(2, os.cpu_count() or 1), samples_per_cell=samples)
    return recompute.report_document(report, services.qualifier.version)


@router.post(
    "/rules/preview", response_model=PreviewOut, responses=error_responses(422),
    summary="What a new rule set would do to the account statuses (changes nothing)",
    description=(
        "Evaluates every account from its ledger with the rules in the body and answers the "
        "transition matrix: for each (stored status, new status) pair the number of accounts, "
        "unchanged pairs included, and for the pairs that move up to `samples` accounts (lowest "
        "ids) with the reasons of their new status. The body is a rule set as a JSON object or as "
        "TOML text (`content-type: application/toml`), merged over the shipped defaults like "
        "`LEADMATCH_QUALIFICATION_RULES` (tables merge, lists replace). Nothing is written; "
        "`leadmatch rules apply` makes a rule set active. Takes as long as a full recompute: for "
        "millions of accounts, `leadmatch rules preview` in a terminal is the better tool."
    ),
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object"}, "example": {"engagement": {"mqa_points": 80}}},
        "application/toml": {"schema": {"type": "string"}, "example": _EXAMPLE_TOML}}}},
)
async def preview_rules(request: Request,
                        as_of: Annotated[datetime | None, Query(description="evaluate at this time (default now)")] = None,
                        samples: Annotated[int, Query(ge=0, le=20)] = 3) -> dict[str, Any]:
    services: Services = request.app.state.services
    rules = _rules(await request.body(), request.headers.get("content-type", "application/json"))
    if as_of is not None and as_of.tzinfo is None:
        raise ValidationFailed("as_of needs a time zone (e.g. 2026-11-20T12:00:00Z)",
                               [FieldError("as_of", "needs a time zone")])
    return await run_in_threadpool(_preview, services, rules, as_of, samples)
