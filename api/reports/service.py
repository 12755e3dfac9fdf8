"""The reports' service: reads what a report needs (``store.py``, filtered in SQL) and hands it
to the report's pure function (``matcher/reports/``). Used by ``GET /v1/reports/{name}``, by
``leadmatch report`` and by the monthly review pack."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.orm import Session

from api.db.bulk import Problem, raise_if_any
from api.errors import FieldError, NotFound, ValidationFailed
from api.reports import store
from api.reports.store import Filters
from config.pipeline import CHANNELS, PipelineRules, load_pipeline_rules
from config.vocabulary import ACCOUNT_STATUSES
from matcher import reports
from matcher.reports.contact_sequence import LOOKBACK, EngagedContact, SequenceOpportunity
from matcher.reports.content import Asset
from matcher.reports.follow_up import FollowUpOpportunity
from matcher.reports.loss_reasons import LossRecord
from matcher.reports.mqa_volume import StatusEntry
from matcher.reports.never_responded import QualifiedAccount
from matcher.reports.types import Period, Report

NAMES = reports.NAMES


@lru_cache(maxsize=8)
def pipeline_rules(path: Path | None) -> PipelineRules:
    return load_pipeline_rules(path)


def period(start: datetime, end: datetime) -> Period:
    """The period [start, end); 422 naming ``from`` when it does not end after it starts."""
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    if start >= end:
        msg = f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()})"
        raise ValidationFailed(msg, [FieldError("query.from", msg)])
    return Period(start, end)


def parse_segment(text: str | None) -> tuple[str, str] | None:
    """``fit_tier:A``, ``industry:Software``, ``country:DE`` -> (field, value); 422 naming ``segment``."""
    if text is None:
        return None
    name, sep, value = text.partition(":")
    if not sep or name not in store.SEGMENT_FIELDS or not value:
        msg = (f"{text!r} is not a segment: write field:value with field one of "
               f"{', '.join(store.SEGMENT_FIELDS)} (e.g. fit_tier:A)")
        raise ValidationFailed(msg, [FieldError("query.segment", msg)])
    return name, value


def run(session: Session, name: str, filters: Filters, rules: PipelineRules) -> Report:
    build = _BUILDERS.get(name)
    if build is None:
        raise NotFound(f"no report {name!r}; the reports are {', '.join(NAMES)}",
                       [FieldError("name", f"one of {', '.join(NAMES)}")])
    return build(session, filters, rules)


# ---------------------------------------------------------------- one builder a report


def _velocity(session: Session, f: Filters, rules: PipelineRules) -> Report:
    return reports.velocity(store.closed_opportunities(session, f), f.period)


def _close_rate(session: Session, f: Filters, rules: PipelineRules) -> Report:
    return reports.close_rate(store.closed_opportunities(session, f), f.period)


def _stage_conversion(session: Session, f: Filters, rules: PipelineRules) -> Report:
    return reports.stage_conversion(store.entered_stage_in_period(session, f), f.period, rules.stages)


def _gone_dark(session: Session, f: Filters, rules: PipelineRules) -> Report:
    opportunities = store.open_in_period(session, f)
    longest = max([rules.dark_days.default, *rules.dark_days.stages.values()])
    touches = store.two_way_touches(session, f, rules.touches.two_way_types, longest)
    return reports.gone_dark(opportunities, touches, f.period, rules.stages, rules.dark_days_in)


def _never_responded(session: Session, f: Filters, rules: PipelineRules) -> Report:
    rows = store.qualification_entries(session, f, rules.never_responded.statuses, rules.touches.two_way_types)
    return reports.never_responded(
        [QualifiedAccount(r["account_id"], r["owner"], r["at"], r["touch"], r["closing"]) for r in rows], f.period)


def _content(session: Session, f: Filters, rules: PipelineRules) -> Report:
    catalogue = [Asset(id_, title) for id_, title, _, _ in store.assets(session)]
    return reports.content(catalogue, store.closed_opportunities(session, f),
                           store.consumed_assets(session, f, rules.content.types), f.period)


def _answer(answers: dict[str, Any], key: str) -> str | None:
    value = answers.get(key)
    if isinstance(value, list):  # a multi-choice answer: its first choice is the primary one
        value = value[0] if value else None
    return None if value in (None, "") else str(value)


def _loss_reasons(session: Session, f: Filters, rules: PipelineRules) -> Report:
    records = []
    for opp_id, answers, interview in store.loss_answers(session, f):
        confirmed = answers.get("reason_confirmed")
        records.append(LossRecord(
            opportunity_id=opp_id, seller_reason=_answer(answers, "primary_reason"),
            seller_competitor=_answer(answers, "competitor"),
            seller_confirmed=confirmed is True or str(confirmed).strip().lower() == "yes",
            interviewed=interview is not None,
            buyer_reason=interview.reason if interview is not None else None,
            buyer_competitor=interview.competitor if interview is not None else None))
    return reports.loss_reasons(records)


def _contact_sequence(session: Session, f: Filters, rules: PipelineRules) -> Report:
    ranks, unknown = rules.seniority_ranks, rules.contacts.unknown_rank

    def rank(seniority: str | None) -> int:
        return ranks.get(seniority or "", unknown)
    engaged = store.first_engagements(session, f, rules.touches.two_way_types, LOOKBACK.days)
    departed = store.departures(session, f)
    opportunities = [SequenceOpportunity(
        o.id, o.state, o.closed_at,  # type: ignore[arg-type] - closed in the period: closed_at is set
        tuple(EngagedContact(c, at, rank(s)) for c, at, s in engaged.get(o.id, ())),
        tuple(rank(s) for s in departed.get(o.id, ()))) for o in store.closed_opportunities(session, f)]
    return reports.contact_sequence(opportunities, f.period)


def _follow_up(session: Session, f: Filters, rules: PipelineRules) -> Report:
    channels_of = rules.touches.outbound_channels
    counts = store.outbound_touch_counts(session, f, list(channels_of))
    cadences = store.latest_cadences(session, f)
    opportunities = [FollowUpOpportunity(o.id, o.owner, o.closed_at, o.close_source == "gone_dark",
                                         counts.get(o.id, {}), cadences.get(o.id))
                     for o in store.closed_opportunities(session, f)]
    return reports.follow_up(opportunities, f.period, channels_of, CHANNELS)


def _mqa_volume(session: Session, f: Filters, rules: PipelineRules) -> Report:
    entries = [StatusEntry(a, s, t) for a, s, t in store.status_entries(session, f, rules.mqa.statuses)]
    return reports.mqa_volume(entries, f.period, rules.mqa.statuses)


def _funnel(session: Session, f: Filters, rules: PipelineRules) -> Report:
    return reports.funnel(store.statuses_at(session, f), store.status_moves(session, f), ACCOUNT_STATUSES)


_BUILDERS: dict[str, Callable[[Session, Filters, PipelineRules], Report]] = {
    "velocity": _velocity, "close-rate": _close_rate, "stage-conversion": _stage_conversion,
    "gone-dark": _gone_dark, "never-responded": _never_responded, "content": _content,
    "loss-reasons": _loss_reasons, "contact-sequence": _contact_sequence, "follow-up": _follow_up,
    "mqa-volume": _mqa_volume, "funnel": _funnel,
}
assert tuple(_BUILDERS) == NAMES


# ---------------------------------------------------------------- the content catalogue


def put_assets(session: Session, items: list[dict[str, Any]], now: datetime):  # noqa: ANN201 - UpsertReport
    """Upsert catalogue assets; the same id twice in one request is a 422 naming the second."""
    seen: set[str] = set()
    problems = []
    for i, item in enumerate(items):
        if item["id"] in seen:
            problems.append(Problem(i, "id", f"asset {item['id']!r} is given twice in this request"))
        seen.add(item["id"])
    raise_if_any(problems)
    return store.upsert_assets(session, items, now)


def list_assets(session: Session) -> list[dict[str, Any]]:
    return [{"id": i, "title": t, "kind": k, "url": u} for i, t, k, u in store.assets(session)]
