"""mqa-volume: accounts entering Qualified or Customer Engaged (config/pipeline.toml [mqa]), per
ISO week of the moment the status took effect. An account is counted once per week and status
(a recompute may record the same entry again)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Sequence

from matcher.reports.types import Period, Report, Table


@dataclass(frozen=True, slots=True)
class StatusEntry:
    account_id: str
    status: str
    since: datetime


def iso_week(t: datetime) -> str:
    year, week, _ = t.isocalendar()
    return f"{year}-W{week:02d}"


def mqa_volume(entries: Iterable[StatusEntry], period: Period, statuses: Sequence[str]) -> Report:
    seen: dict[str, dict[str, set[str]]] = {}
    starts: dict[str, date] = {}
    for e in entries:
        if e.status not in statuses or not period.contains(e.since):
            continue
        week = iso_week(e.since)
        starts[week] = date.fromisocalendar(*e.since.isocalendar()[:2], 1)
        seen.setdefault(week, {s: set() for s in statuses})[e.status].add(e.account_id)
    rows = []
    for week in sorted(seen):
        by_status = seen[week]
        rows.append((week, starts[week].isoformat(), len(set().union(*by_status.values())),
                     *(len(by_status[s]) for s in statuses)))
    return Report("mqa-volume", (Table("by_week", ("iso_week", "week_start", "accounts", *statuses), tuple(rows)),))
