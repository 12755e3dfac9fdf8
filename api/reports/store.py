"""What the reports read, filtered and aggregated in SQL so that a report over a million accounts
and twenty million events fetches only what its definition needs (docs/reports.md): the
opportunities of the period, the touches of their accounts in their windows (counted or reduced
to first times where the definition allows), the status entries of the period.

Every query takes the same filters: ``owner`` is the opportunity's owner for the opportunity
reports and the account owner's name for the account reports (never-responded, mqa-volume,
funnel); ``segment`` is one account attribute and its value (``SEGMENT_FIELDS``). The indexes
these reads use are declared on the rows and created by migration 0013_reports.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from api.db.bulk import upsert
from api.db.rows import AccountRow, OwnerRow
from api.db.rows.base import UTCDateTime
from api.db.rows.closing import CloseRecordRow, ContentAssetRow, GoneDarkEpisodeRow, WinLossInterviewRow
from api.db.rows.qualification import (ActivityRow, ContactStatusRow, OpportunityRow, OpportunityStageChangeRow,
                                       StatusTransitionRow)
from matcher.reports.types import Opportunity, Period, StageEntry

OPP = OpportunityRow.__table__
ACT = ActivityRow.__table__
ACC = AccountRow.__table__
TRANS = StatusTransitionRow.__table__
CLOSED_STATES = ("won", "lost")
_UTC = UTCDateTime()

# what `segment=field:value` may filter on: the account's column
SEGMENT_FIELDS = {"fit_tier": ACC.c.fit_tier, "industry": ACC.c.industry, "country": ACC.c.country}
SEGMENT_PATTERN = "^(" + "|".join(SEGMENT_FIELDS) + "):.+$"


@dataclass(frozen=True, slots=True)
class Filters:
    period: Period
    owner: str | None = None
    segment: tuple[str, str] | None = None  # (field of SEGMENT_FIELDS, value)


# ---------------------------------------------------------------- filters


def _segment_accounts(filters: Filters) -> Select | None:
    if filters.segment is None:
        return None
    name, value = filters.segment
    return select(ACC.c.id).where(SEGMENT_FIELDS[name] == value)


def _opportunity_filters(filters: Filters) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if filters.owner is not None:
        out.append(OPP.c.owner == filters.owner)
    segment = _segment_accounts(filters)
    if segment is not None:
        out.append(OPP.c.account_id.in_(segment))
    return out


def _account_filters(account_id: ColumnElement, filters: Filters) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if filters.owner is not None:
        owned = select(ACC.c.id).join(OwnerRow, OwnerRow.id == ACC.c.owner_id).where(OwnerRow.name == filters.owner)
        out.append(account_id.in_(owned))
    segment = _segment_accounts(filters)
    if segment is not None:
        out.append(account_id.in_(segment))
    return out


def _closed_in_period(filters: Filters, states: Sequence[str] = CLOSED_STATES) -> list[ColumnElement[bool]]:
    return [OPP.c.state.in_(states), OPP.c.closed_at >= filters.period.start, OPP.c.closed_at < filters.period.end,
            *_opportunity_filters(filters)]


def minus_days(session: Session, column: ColumnElement, n: int) -> ColumnElement:
    """``column - n days`` in SQL, comparable with stored times on both databases (SQLite keeps
    'YYYY-MM-DD HH:MM:SS.ffffff' text: the shifted seconds keep the stored fraction)."""
    if session.get_bind().dialect.name == "postgresql":
        return column - func.make_interval(0, 0, 0, n)
    return func.strftime("%Y-%m-%d %H:%M:%S", column, f"-{n} days").op("||")(func.substr(column, 20))


# ---------------------------------------------------------------- opportunities


def _opportunity(r: Any, stages: tuple[StageEntry, ...] = (), source: str | None = None) -> Opportunity:
    return Opportunity(id=r.id, account_id=r.account_id, owner=r.owner, type=r.type, state=r.state,
                       opened_at=r.opened_at, closed_at=r.closed_at, stages=stages, close_source=source)


def closed_opportunities(session: Session, filters: Filters, states: Sequence[str] = CLOSED_STATES) -> list[Opportunity]:
    """Won or lost with ``closed_at`` in the period, with their close record's source."""
    stmt = (select(OPP.c.id, OPP.c.account_id, OPP.c.owner, OPP.c.type, OPP.c.state, OPP.c.opened_at,
                   OPP.c.closed_at, CloseRecordRow.source)
            .outerjoin(CloseRecordRow, CloseRecordRow.opportunity_id == OPP.c.id)
            .where(*_closed_in_period(filters, states)).order_by(OPP.c.id))
    return [_opportunity(r, (), r.source) for r in session.execute(stmt).all()]


def _with_stages(session: Session, where: list[ColumnElement[bool]]) -> list[Opportunity]:
    ids = select(OPP.c.id).where(*where)
    changes: dict[str, list[StageEntry]] = {}
    sc = OpportunityStageChangeRow.__table__
    for opp_id, stage, at in session.execute(select(sc.c.opportunity_id, sc.c.stage, sc.c.at)
                                             .where(sc.c.opportunity_id.in_(ids))
                                             .order_by(sc.c.opportunity_id, sc.c.at, sc.c.id)).all():
        changes.setdefault(opp_id, []).append(StageEntry(stage, at))
    stmt = select(OPP.c.id, OPP.c.account_id, OPP.c.owner, OPP.c.type, OPP.c.state, OPP.c.opened_at,
                  OPP.c.closed_at).where(*where).order_by(OPP.c.id)
    return [_opportunity(r, tuple(changes.get(r.id, ()))) for r in session.execute(stmt).all()]


def entered_stage_in_period(session: Session, filters: Filters) -> list[Opportunity]:
    """Opportunities that entered a stage in the period (opened in it, or a stage change in it),
    with their whole stage history."""
    sc = OpportunityStageChangeRow.__table__
    p = filters.period
    changed = select(sc.c.opportunity_id).where(sc.c.at >= p.start, sc.c.at < p.end)
    return _with_stages(session, [or_(and_(OPP.c.opened_at >= p.start, OPP.c.opened_at < p.end),
                                      OPP.c.id.in_(changed)), *_opportunity_filters(filters)])


def _open_in_period(filters: Filters) -> list[ColumnElement[bool]]:
    p = filters.period
    return [OPP.c.opened_at < p.end,
            or_(OPP.c.state == "open", and_(OPP.c.state.in_(CLOSED_STATES), OPP.c.closed_at > p.start)),
            *_opportunity_filters(filters)]


def open_in_period(session: Session, filters: Filters) -> list[Opportunity]:
    """Opportunities open at some instant of the period, with their stage history."""
    return _with_stages(session, _open_in_period(filters))


def two_way_touches(session: Session, filters: Filters, two_way_types: Sequence[str],
                    max_dark_days: float) -> dict[str, list[datetime]]:
    """The two-way touch times, sorted, of the accounts of the opportunities open in the period
    (gone-dark), each account's from the earliest instant one of its opportunities needs, up to the
    period's end. A lost opportunity closed in the period needs its whole life (the stage it last
    went dark in may lie months back): from ``opened_at``. Any other needs only whether it goes
    dark in the period: from ``max_dark_days`` and a day before the period (a touch before that
    covers at most up to a day before the period, so it cannot change whether the opportunity is
    dark in it or just before it), and never before ``opened_at`` (its first N days open are not
    dark whatever the touches)."""
    p = filters.period
    recent = p.start - timedelta(days=max_dark_days + 1)
    lost_in_period = and_(OPP.c.state == "lost", OPP.c.closed_at >= p.start, OPP.c.closed_at < p.end)
    needed_from = case((lost_in_period, OPP.c.opened_at), (OPP.c.opened_at > recent, OPP.c.opened_at), else_=recent)
    bounds = (select(OPP.c.account_id, func.min(needed_from).label("lo"))
              .where(*_open_in_period(filters)).group_by(OPP.c.account_id).subquery())
    stmt = (select(ACT.c.account_id, ACT.c.occurred_at)
            .join(bounds, and_(ACT.c.account_id == bounds.c.account_id, ACT.c.occurred_at >= bounds.c.lo))
            .where(ACT.c.occurred_at < p.end, ACT.c.direction == "inbound", ACT.c.type.in_(two_way_types))
            .order_by(ACT.c.account_id, ACT.c.occurred_at))
    out: dict[str, list[datetime]] = {}
    for account_id, at in session.execute(stmt).all():
        out.setdefault(account_id, []).append(at)
    return out


# ---------------------------------------------------------------- windows of closed opportunities


def _closed_window(filters: Filters, states: Sequence[str] = CLOSED_STATES):  # noqa: ANN202 - subquery
    return (select(OPP.c.id, OPP.c.account_id, OPP.c.opened_at, OPP.c.closed_at)
            .where(*_closed_in_period(filters, states)).subquery())


def consumed_assets(session: Session, filters: Filters, content_types: Sequence[str]) -> list[tuple[str, str]]:
    """(opportunity id, asset id): assets the account of an opportunity closed in the period
    consumed between its ``opened_at`` and ``closed_at``."""
    w = _closed_window(filters)
    stmt = (select(w.c.id, ACT.c.asset_id).distinct()
            .join(ACT, and_(ACT.c.account_id == w.c.account_id, ACT.c.occurred_at >= w.c.opened_at,
                            ACT.c.occurred_at <= w.c.closed_at))
            .where(ACT.c.type.in_(content_types), ACT.c.asset_id.is_not(None)))
    return [(r[0], r[1]) for r in session.execute(stmt)]


def outbound_touch_counts(session: Session, filters: Filters, outbound_types: Sequence[str]) -> dict[str, dict[str, int]]:
    """Opportunity id -> activity type -> outbound touches of its account between ``opened_at``
    and ``closed_at``, for the opportunities closed in the period."""
    w = _closed_window(filters)
    stmt = (select(w.c.id, ACT.c.type, func.count())
            .join(ACT, and_(ACT.c.account_id == w.c.account_id, ACT.c.occurred_at >= w.c.opened_at,
                            ACT.c.occurred_at <= w.c.closed_at))
            .where(ACT.c.direction == "outbound", ACT.c.type.in_(outbound_types))
            .group_by(w.c.id, ACT.c.type))
    out: dict[str, dict[str, int]] = {}
    for opp_id, activity_type, n in session.execute(stmt):
        out.setdefault(opp_id, {})[activity_type] = n
    return out


def latest_cadences(session: Session, filters: Filters) -> dict[str, tuple[bool, ...]]:
    """Opportunity id -> done flags of the steps of its latest gone-dark episode, for the
    opportunities closed in the period."""
    ep = GoneDarkEpisodeRow.__table__
    w = _closed_window(filters)
    stmt = (select(ep.c.opportunity_id, ep.c.cadence).where(ep.c.opportunity_id.in_(select(w.c.id)))
            .order_by(ep.c.opportunity_id, ep.c.dark_since, ep.c.id))
    return {opp_id: tuple(bool(step.get("done_at")) for step in (cadence or []))
            for opp_id, cadence in session.execute(stmt)}


def first_engagements(session: Session, filters: Filters, two_way_types: Sequence[str],
                      lookback_days: int) -> dict[str, list[tuple[str, datetime, str | None]]]:
    """Opportunity id -> (contact id, first two-way touch, seniority) of each contact at its
    account with a two-way touch between ``lookback_days`` before ``opened_at`` and ``closed_at``."""
    w = _closed_window(filters)
    cs = ContactStatusRow.__table__
    first = (select(w.c.id.label("opp"), ACT.c.contact_id, func.min(ACT.c.occurred_at).label("at"))
             .join(ACT, and_(ACT.c.account_id == w.c.account_id,
                             ACT.c.occurred_at >= minus_days(session, w.c.opened_at, lookback_days),
                             ACT.c.occurred_at <= w.c.closed_at))
             .where(ACT.c.direction == "inbound", ACT.c.type.in_(two_way_types), ACT.c.contact_id.is_not(None))
             .group_by(w.c.id, ACT.c.contact_id).subquery())
    stmt = (select(first.c.opp, first.c.contact_id, first.c.at, cs.c.seniority)
            .outerjoin(cs, cs.c.contact_id == first.c.contact_id))
    out: dict[str, list[tuple[str, datetime, str | None]]] = {}
    for opp_id, contact_id, at, seniority in session.execute(stmt):
        out.setdefault(opp_id, []).append((contact_id, _aware(at), seniority))
    return out


def _aware(at: Any) -> datetime:
    """A MIN() over a UTCDateTime column comes back untyped on SQLite (text) or aware on PostgreSQL."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return _UTC.process_result_value(at, None)


def departures(session: Session, filters: Filters) -> dict[str, list[str | None]]:
    """Opportunity id -> seniorities of the contacts at its account that became "no longer with
    company" between ``opened_at`` and ``closed_at``."""
    w = _closed_window(filters)
    cs = ContactStatusRow.__table__
    stmt = (select(w.c.id, cs.c.seniority).select_from(w)
            .join(TRANS, and_(TRANS.c.account_id == w.c.account_id, TRANS.c.entity_kind == "contact",
                              TRANS.c.new_status == "no_longer_with_company", TRANS.c.since >= w.c.opened_at,
                              TRANS.c.since <= w.c.closed_at))
            .outerjoin(cs, cs.c.contact_id == TRANS.c.entity_id))
    out: dict[str, list[str | None]] = {}
    for opp_id, seniority in session.execute(stmt):
        out.setdefault(opp_id, []).append(seniority)
    return out


def loss_answers(session: Session, filters: Filters) -> list[tuple[str, dict[str, Any], Any]]:
    """(opportunity id, the seller's answers, the latest interview row or None) of each lost
    opportunity closed in the period. Only interviews held at or after its close count: one from
    before is about an earlier close of a re-opened opportunity (docs/closing.md)."""
    w = _closed_window(filters, ("lost",))
    iv = WinLossInterviewRow.__table__
    interviews: dict[str, Any] = {}
    for r in session.execute(select(iv.c.opportunity_id, iv.c.reason, iv.c.competitor)
                             .join(w, and_(w.c.id == iv.c.opportunity_id, iv.c.interviewed_at >= w.c.closed_at))
                             .order_by(iv.c.opportunity_id, iv.c.interviewed_at, iv.c.id)):
        interviews[r.opportunity_id] = r
    stmt = (select(w.c.id, CloseRecordRow.answers).select_from(w)
            .outerjoin(CloseRecordRow, CloseRecordRow.opportunity_id == w.c.id).order_by(w.c.id))
    return [(opp_id, answers or {}, interviews.get(opp_id)) for opp_id, answers in session.execute(stmt)]


# ---------------------------------------------------------------- account statuses


def qualification_entries(session: Session, filters: Filters, statuses: Sequence[str],
                          two_way_types: Sequence[str]) -> list[dict[str, Any]]:
    """Per account that entered one of ``statuses`` from outside them in the period: its first
    such moment, its owner, its first two-way touch after that moment and the first close of an
    opportunity at the account after it."""
    p = filters.period
    entries = (select(TRANS.c.account_id, func.min(TRANS.c.since).label("at"))
               .where(TRANS.c.entity_kind == "account", TRANS.c.new_status.in_(statuses),
                      or_(TRANS.c.old_status.is_(None), TRANS.c.old_status.not_in(statuses)),
                      TRANS.c.since >= p.start, TRANS.c.since < p.end,
                      *_account_filters(TRANS.c.account_id, filters))
               .group_by(TRANS.c.account_id).subquery())
    first_touch = (select(func.min(ACT.c.occurred_at))
                   .where(ACT.c.account_id == entries.c.account_id, ACT.c.occurred_at > entries.c.at,
                          ACT.c.direction == "inbound", ACT.c.type.in_(two_way_types))
                   .scalar_subquery())
    closing = (select(func.min(OPP.c.closed_at))
               .where(OPP.c.account_id == entries.c.account_id, OPP.c.state.in_(CLOSED_STATES),
                      OPP.c.closed_at > entries.c.at)
               .scalar_subquery())
    stmt = (select(entries.c.account_id, entries.c.at, OwnerRow.name, first_touch.label("touch"),
                   closing.label("closing"))
            .outerjoin(ACC, ACC.c.id == entries.c.account_id)
            .outerjoin(OwnerRow, OwnerRow.id == ACC.c.owner_id))
    return [{"account_id": r.account_id, "at": _aware(r.at), "owner": r.name,
             "touch": None if r.touch is None else _aware(r.touch),
             "closing": None if r.closing is None else _aware(r.closing)} for r in session.execute(stmt)]


def status_entries(session: Session, filters: Filters, statuses: Sequence[str]) -> list[tuple[str, str, datetime]]:
    """(account id, status, since) of the account transitions into ``statuses`` in the period."""
    p = filters.period
    stmt = (select(TRANS.c.account_id, TRANS.c.new_status, TRANS.c.since)
            .where(TRANS.c.entity_kind == "account", TRANS.c.new_status.in_(statuses),
                   or_(TRANS.c.old_status.is_(None), TRANS.c.old_status != TRANS.c.new_status),
                   TRANS.c.since >= p.start, TRANS.c.since < p.end, *_account_filters(TRANS.c.account_id, filters)))
    return [(r[0], r[1], r[2]) for r in session.execute(stmt)]


def statuses_at(session: Session, filters: Filters) -> dict[str, int]:
    """Status -> accounts (that still exist) whose latest status taking effect before the period's
    end is it. PostgreSQL reads each account's latest transition with DISTINCT ON straight from
    ``ix_status_transitions_latest`` (index-only, no sort: 2.2 s instead of 6 s for a window
    function over 2 M transitions of 1 M accounts on a busy 2-core machine); SQLite numbers the
    rows of each account with the same order."""
    where = (TRANS.c.entity_kind == "account", TRANS.c.since < filters.period.end,
             *_account_filters(TRANS.c.entity_id, filters))
    order = (TRANS.c.since.desc(), TRANS.c.id.desc())
    if session.get_bind().dialect.name == "postgresql":
        # all descending: the index read backwards
        latest = (select(TRANS.c.entity_id, TRANS.c.new_status).where(*where).ext(distinct_on(TRANS.c.entity_id))
                  .order_by(TRANS.c.entity_id.desc(), *order).subquery())
    else:
        ranked = (select(TRANS.c.entity_id, TRANS.c.new_status,
                         func.row_number().over(partition_by=TRANS.c.entity_id, order_by=order).label("rn"))
                  .where(*where).subquery())
        latest = select(ranked.c.entity_id, ranked.c.new_status).where(ranked.c.rn == 1).subquery()
    stmt = (select(latest.c.new_status, func.count()).where(latest.c.entity_id.in_(select(ACC.c.id)))
            .group_by(latest.c.new_status))
    return {status: n for status, n in session.execute(stmt).all()}


def status_moves(session: Session, filters: Filters) -> dict[tuple[str | None, str], int]:
    p = filters.period
    stmt = (select(TRANS.c.old_status, TRANS.c.new_status, func.count())
            .where(TRANS.c.entity_kind == "account", TRANS.c.since >= p.start, TRANS.c.since < p.end,
                   *_account_filters(TRANS.c.account_id, filters))
            .group_by(TRANS.c.old_status, TRANS.c.new_status))
    return {(old, new): n for old, new, n in session.execute(stmt)}


# ---------------------------------------------------------------- content catalogue


def assets(session: Session) -> list[tuple[str, str, str | None, str | None]]:
    t = ContentAssetRow.__table__
    return [tuple(r) for r in session.execute(select(t.c.id, t.c.title, t.c.kind, t.c.url).order_by(t.c.id))]


def upsert_assets(session: Session, rows: Iterable[dict[str, Any]], now: datetime):  # noqa: ANN201 - UpsertReport
    return upsert(session, ContentAssetRow.__table__, list(rows), compare=("title", "kind", "url"), now=now).report()

