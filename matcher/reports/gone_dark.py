"""gone-dark, computed from the ledger (not from the gone-dark scheduler's episodes).

An opportunity is *dark* at instant t when it is open at t, has been open for at least N days, and
its account had no two-way touch in the N days up to t (a touch at τ covers [τ, τ + N)); N is the
dark days of the stage it is in at t. It *goes dark in stage S* at an instant where it is dark
while in S and was not dark just before (a stay that begins dark because a shorter N applies from
its first instant goes dark there; one still dark from the previous stage does not).

Report: for each stage S, of the opportunities open in S at some instant of the period, the share
that went dark in S during the period; and for the lost opportunities closed in the period, the
count by the stage in which each last went dark before closing ("never" if it did not).
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Callable, Iterable, Mapping, Sequence

from matcher.pipeline.gone_dark import dark_spells
from matcher.reports.stages import Visit, visits
from matcher.reports.types import Opportunity, Period, Report, Table, closed_in, share

NEVER = "never"


def dark_onsets(opportunity: Opportunity, touches: Sequence[datetime], dark_days: Callable[[str], float],
                horizon: datetime, stays: Sequence[Visit] | None = None) -> list[tuple[datetime, str]]:
    """The instants (before ``horizon``) at which the opportunity went dark, with the stage it
    was in (``matcher/pipeline/gone_dark.py`` ``dark_spells``, the scheduler's definition too).
    ``touches``: its account's two-way touch times, sorted; ``stays``: its ``stages.visits`` when
    the caller has them already. An opportunity with no recorded stage is in no stage: never dark
    here (the scheduler gives it the default days)."""
    if opportunity.opened_at is None:
        return []
    visited = visits(opportunity) if stays is None else stays
    spells = dark_spells(opportunity.opened_at, [(v.stage, v.start, v.end) for v in visited], touches, dark_days,
                         horizon)
    return [(spell.start, spell.stage) for spell in spells]


def gone_dark(opportunities: Iterable[Opportunity], touches: Mapping[str, Sequence[datetime]], period: Period,
              stages: Sequence[str], dark_days: Callable[[str], float]) -> Report:
    """``touches``: two-way touch times by account id, sorted."""
    opportunities = list(opportunities)
    open_in: Counter[str] = Counter()
    went_dark: Counter[str] = Counter()
    last_dark: Counter[str] = Counter()
    lost = {o.id for o in closed_in(opportunities, period) if o.state == "lost"}
    for opp in opportunities:
        if opp.opened_at is None:
            continue
        horizon = period.end
        if opp.closed_at is not None and opp.state != "open":
            horizon = min(horizon, opp.closed_at)
        stays = visits(opp)
        for stage in {v.stage for v in stays if v.start < period.end and min(v.end or horizon, horizon) > period.start}:
            open_in[stage] += 1
        onsets = dark_onsets(opp, touches.get(opp.account_id, ()), dark_days, horizon, stays)
        for stage in {stage for at, stage in onsets if period.contains(at)}:
            went_dark[stage] += 1
        if opp.id in lost:
            last_dark[onsets[-1][1] if onsets else NEVER] += 1
    ordered = list(stages) + sorted(s for s in open_in if s not in stages)
    by_stage = tuple((s, open_in[s], went_dark[s], share(went_dark[s], open_in[s])) for s in ordered)
    last = list(stages) + sorted(s for s in last_dark if s not in stages and s != NEVER) + [NEVER]
    lost_rows = tuple((s, last_dark[s]) for s in last)
    return Report("gone-dark", (
        Table("by_stage", ("stage", "open_in_stage", "went_dark", "gone_dark_rate"), by_stage),
        Table("lost_by_last_dark_stage", ("last_dark_stage", "lost"), lost_rows),
    ))
