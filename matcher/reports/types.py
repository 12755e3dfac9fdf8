"""What the reports read and what they answer, as plain frozen data.

A report is a tuple of named tables (columns and rows of plain values): the same shape serves the
JSON answer, the CSV, the Rich tables and the HTML review pack (``api/reports/``). Times are aware
UTC datetimes; days are calendar days, fractional (seconds / 86,400), as domain.md section 6 says.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Union

DAY_SECONDS = 86_400.0
Value = Union[str, int, float, datetime, None]


@dataclass(frozen=True, slots=True)
class Period:
    """Includes ``start`` (the ``from`` instant), excludes ``end`` (the ``to`` instant)."""

    start: datetime
    end: datetime

    def contains(self, t: datetime | None) -> bool:
        return t is not None and self.start <= t < self.end


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


@dataclass(frozen=True, slots=True)
class StageEntry:
    stage: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Opportunity:
    """An opportunity as the reports see it. ``state`` is open, won or lost; ``stages`` are its
    recorded stage changes in time order (the first one is entered at ``opened_at``)."""

    id: str
    account_id: str
    owner: str | None
    type: str
    state: str
    opened_at: datetime | None
    closed_at: datetime | None
    stages: tuple[StageEntry, ...] = ()
    close_source: str | None = None  # close_records.source: api, sync, gone_dark


def days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / DAY_SECONDS


def median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.fmean(values) if values else None


def share(part: int, whole: int) -> float | None:
    """``part / whole``; None (not 0) when there is nothing to divide by."""
    return part / whole if whole else None


def closed_in(opportunities: Iterable[Opportunity], period: Period) -> list[Opportunity]:
    """Won or lost, with ``closed_at`` in the period."""
    return [o for o in opportunities if o.state in ("won", "lost") and period.contains(o.closed_at)]


def owner_label(owner: str | None) -> str:
    return owner if owner else "(no owner)"
