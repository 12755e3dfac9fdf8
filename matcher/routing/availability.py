"""Whether a member can take a lead at a given time, and the working spans of a day.

Working hours (``config.routing.Schedule``) are wall-clock times in the member's own time zone:
a span "09:00-17:00" is 09:00 to 17:00 local time on every day it is listed for, whatever the
UTC offset is that day (so it moves against UTC when daylight saving time starts or ends).
Times in and out are timezone-aware; the spans come back in UTC so they can be compared and
subtracted (Python ignores the offset when it subtracts two datetimes of the same zone).
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

from config.routing import WEEKDAYS, Member, OutOfOffice, Schedule

__all__ = ["away_until", "is_day_off", "require_aware", "unavailable_reason", "working_spans"]

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ONE_DAY = timedelta(days=1)


def require_aware(name: str, value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value.isoformat()}")
    return value.astimezone(UTC)


def working_spans(day: date, schedule: Schedule, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The schedule's spans on the local ``day`` as (start, end) in UTC, earliest first.

    A span through a clock change keeps its wall-clock ends: "00:00-24:00" on the night clocks go
    back lasts 25 hours, and a span inside the hour that is skipped in spring lasts nothing.
    """
    out = []
    for start, end in schedule.spans(WEEKDAYS[day.weekday()]):
        begin = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
        finish = (datetime.combine(day + _ONE_DAY, time(0), tzinfo=zone) if end is None
                  else datetime.combine(day, end, tzinfo=zone)).astimezone(UTC)
        if finish > begin:
            out.append((begin, finish))
    return out


def away_until(out_of_office: Iterable[OutOfOffice], day: date) -> date | None:
    """The last day of the absence ``day`` falls in (ranges that touch or overlap are one
    absence), or None when ``day`` is not in any."""
    until: date | None = None
    for r in sorted(out_of_office, key=lambda r: r.start):
        if until is None:
            if r.start <= day <= r.end:
                until = r.end
        elif r.start <= until + _ONE_DAY:
            until = max(until, r.end)
    return until


def is_day_off(day: date, schedule: Schedule, out_of_office: Sequence[OutOfOffice] = ()) -> bool:
    """A holiday on the schedule or a day out of office (whatever the weekday's hours say)."""
    return day in schedule.holidays or any(r.start <= day <= r.end for r in out_of_office)


def unavailable_reason(member: Member, schedule: Schedule, now: datetime) -> str | None:
    """None when ``member`` can take a lead at ``now``; else why not, in words a seller reads:
    "paused", "out of office until 2026-12-04", "holiday 2026-12-25",
    "outside working hours (18:05 Europe/Berlin, Thursday)". The day (for holidays and out of
    office) is the member's local day."""
    now = require_aware("now", now)
    if member.paused:
        return "paused"
    zone = ZoneInfo(member.timezone)
    local = now.astimezone(zone)
    today = local.date()
    until = away_until(member.out_of_office, today)
    if until is not None:
        return f"out of office until {until.isoformat()}"
    if today in schedule.holidays:
        return f"holiday {today.isoformat()}"
    if not any(start <= now < end for start, end in working_spans(today, schedule, zone)):
        return f"outside working hours ({local:%H:%M} {member.timezone}, {_DAY_NAMES[local.weekday()]})"
    return None
