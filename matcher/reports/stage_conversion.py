"""stage-conversion: for each stage S of the configured order, of the opportunities that entered S
in the period, the share that later entered a later stage of the order or were won; and the
median days spent in S over those that left S (open ones still in S are left out).

An opportunity that entered S more than once in the period is counted once, from its first entry
in the period: converted when it entered a later stage after that entry or was won; its days in
S are those of that stay."""
from __future__ import annotations

from typing import Iterable, Sequence

from matcher.reports.stages import visits
from matcher.reports.types import Opportunity, Period, Report, Table, days, median, share


def stage_conversion(opportunities: Iterable[Opportunity], period: Period, stages: Sequence[str]) -> Report:
    order = {s: i for i, s in enumerate(stages)}
    entered = {s: 0 for s in stages}
    converted = {s: 0 for s in stages}
    stays: dict[str, list[float]] = {s: [] for s in stages}
    for opp in opportunities:
        stays_of = visits(opp)
        seen: set[str] = set()
        for i, visit in enumerate(stays_of):
            if visit.stage not in order or visit.stage in seen or not period.contains(visit.start):
                continue
            seen.add(visit.stage)
            entered[visit.stage] += 1
            later = any(order.get(v.stage, -1) > order[visit.stage] for v in stays_of[i + 1:])
            if later or opp.state == "won":
                converted[visit.stage] += 1
            if visit.end is not None:
                stays[visit.stage].append(days(visit.start, visit.end))
    rows = tuple((s, entered[s], converted[s], share(converted[s], entered[s]), len(stays[s]), median(stays[s]))
                 for s in stages)
    return Report("stage-conversion", (Table(
        "stage_conversion",
        ("stage", "entered", "converted", "conversion_rate", "left", "median_days_in_stage"), rows),))
