"""SLA arithmetic in business minutes: only time inside a member's working spans counts, in the
member's own time zone, and holidays and days out of office count for nothing.

``due_at`` is when an SLA of so many business minutes falls due; ``business_minutes`` is how many
business minutes passed between two times (the time to first action reports use).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Iterator, Sequence
from zoneinfo import ZoneInfo

from config.routing import OutOfOffice, Schedule
from matcher.routing.availability import is_day_off, require_aware, working_spans

__all__ = ["business_minutes", "due_at"]

_ONE_DAY = timedelta(days=1)
# Past every holiday and absence, a schedule with hours has working time within a week; a few
# days more cover a week whose only span falls in the hour skipped when clocks go forward.
_EMPTY_DAYS_LIMIT = 14


def _open_spans(start: datetime, schedule: Schedule, zone: ZoneInfo,
                out_of_office: Sequence[OutOfOffice]) -> Iterator[tuple[datetime, datetime]]:
    """Working spans in UTC from ``start`` on, the first one cut to begin at ``start``."""
    if not any(schedule.hours.values()):
        raise ValueError("the schedule has no working hours at all: business time never passes")
    last_off = max([*schedule.holidays, *(r.end for r in out_of_office)], default=date.min)
    day = start.astimezone(zone).date()
    empty_days = 0
    while True:
        found = False
        if not is_day_off(day, schedule, out_of_office):
            for begin, end in working_spans(day, schedule, zone):
                begin = max(begin, start)
                if end > begin:
                    found = True
                    yield begin, end
        empty_days = 0 if found or day <= last_off else empty_days + 1
        if empty_days > _EMPTY_DAYS_LIMIT:
            raise ValueError("the schedule has no working time left: business time never passes")
        day += _ONE_DAY


def due_at(start: datetime, minutes: int, schedule: Schedule, tz: str,
           out_of_office: Sequence[OutOfOffice] = ()) -> datetime:
    """``start`` plus ``minutes`` business minutes, in UTC. A start outside working hours starts
    the clock at the next span; a deadline that falls on a span's end stays there (it does not
    move on to the next span)."""
    start = require_aware("start", start)
    remaining = timedelta(minutes=minutes)
    for begin, end in _open_spans(start, schedule, ZoneInfo(tz), out_of_office):
        if end - begin >= remaining:
            return begin + remaining
        remaining -= end - begin
    raise AssertionError("unreachable: _open_spans never ends")


def business_minutes(start: datetime, end: datetime, schedule: Schedule, tz: str,
                     out_of_office: Sequence[OutOfOffice] = ()) -> float:
    """Business minutes from ``start`` to ``end`` (0 when ``end`` is not after ``start``)."""
    start, end = require_aware("start", start), require_aware("end", end)
    total = timedelta(0)
    if end > start:
        for begin, finish in _open_spans(start, schedule, ZoneInfo(tz), out_of_office):
            if begin >= end:
                break
            total += min(finish, end) - begin
    return total.total_seconds() / 60
