"""SLA arithmetic in business minutes, worked out by hand. Berlin is UTC+1 in winter and UTC+2 from
29 March to 25 October 2026; the default schedule is Monday to Friday, 09:00-17:00 local."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config.routing import OutOfOffice, Schedule
from matcher.routing.sla import business_minutes, due_at

BERLIN = "Europe/Berlin"
WEEKDAYS_9_TO_5 = Schedule()
CHRISTMAS = Schedule(holidays=["2026-12-25"])
LUNCH_BREAK = Schedule(hours={d: ["09:00-12:00", "13:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")})
AWAY_WED_THU = (OutOfOffice(start="2026-12-02", end="2026-12-03"),)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# description, start (UTC), minutes, schedule, zone, out of office, due (UTC)
DUE = [
    ("over a weekend: Fri 16:00 CET + 60 min Fri + 180 min Mon from 09:00 = Mon 12:00 CET",
     utc(2026, 12, 4, 15), 240, WEEKDAYS_9_TO_5, BERLIN, (), utc(2026, 12, 7, 11)),
    ("a start on Saturday waits for Monday 09:00 CET: 13:00 CET",
     utc(2026, 12, 5, 10), 240, WEEKDAYS_9_TO_5, BERLIN, (), utc(2026, 12, 7, 12)),
    ("a start before hours waits for 09:00 CET the same day: 10:30 CET",
     utc(2026, 12, 7, 6), 90, WEEKDAYS_9_TO_5, BERLIN, (), utc(2026, 12, 7, 9, 30)),
    ("over a holiday: Thu 24th 16:00 CET + 60, Fri 25th off, weekend, Mon 28th 09:00 + 180 = 12:00 CET",
     utc(2026, 12, 24, 15), 240, CHRISTMAS, BERLIN, (), utc(2026, 12, 28, 11)),
    ("over an absence: Tue 11:00-17:00 CET is 360, Wed and Thu away, Fri 09:00 + 120 = 11:00 CET",
     utc(2026, 12, 1, 10), 480, WEEKDAYS_9_TO_5, BERLIN, AWAY_WED_THU, utc(2026, 12, 4, 10)),
    ("over the spring clock change: Fri 16:00 CET + 60, Mon 09:00 CEST + 180 = 12:00 CEST",
     utc(2026, 3, 27, 15), 240, WEEKDAYS_9_TO_5, BERLIN, (), utc(2026, 3, 30, 10)),
    ("a deadline at a span's end stays there: Mon 09:00 CET + 480 = 17:00 CET the same day",
     utc(2026, 12, 7, 8), 480, WEEKDAYS_9_TO_5, BERLIN, (), utc(2026, 12, 7, 16)),
    ("over a lunch break, in UTC: 11:00 + 60 until 12:00, 13:00 + 60 = 14:00",
     utc(2026, 12, 7, 11), 120, LUNCH_BREAK, "UTC", (), utc(2026, 12, 7, 14)),
    ("in New York (EST, UTC-5): Fri 16:30 + 30, Mon 09:00 + 30 = Mon 09:30 EST",
     utc(2026, 12, 4, 21, 30), 60, WEEKDAYS_9_TO_5, "America/New_York", (), utc(2026, 12, 7, 14, 30)),
]


@pytest.mark.parametrize("description,start,minutes,schedule,tz,away,due", DUE, ids=[c[0] for c in DUE])
def test_due_at(description, start, minutes, schedule, tz, away, due):
    got = due_at(start, minutes, schedule, tz, away)
    assert got == due
    assert got.utcoffset().total_seconds() == 0


def test_the_night_clocks_go_back_lasts_25_hours():
    all_sunday = Schedule(hours={"sun": ["00:00-24:00"]})
    # Saturday 24 October 14:00 CEST: the clock starts on Sunday 00:00 CEST (22:00 UTC on the 24th),
    # and Sunday ends at Monday 00:00 CET (23:00 UTC on the 25th): 25 hours, 1500 minutes
    assert due_at(utc(2026, 10, 24, 12), 1500, all_sunday, BERLIN) == utc(2026, 10, 25, 23)
    assert business_minutes(utc(2026, 10, 24, 12), utc(2026, 10, 26, 12), all_sunday, BERLIN) == 1500


# description, start (UTC), end (UTC), schedule, zone, out of office, business minutes
BETWEEN = [
    ("over a weekend: 60 on Friday, 180 on Monday", utc(2026, 12, 4, 15), utc(2026, 12, 7, 11),
     WEEKDAYS_9_TO_5, BERLIN, (), 240),
    ("over a holiday: 60 on the 24th, 90 on the 28th until 10:30 CET", utc(2026, 12, 24, 15), utc(2026, 12, 28, 9, 30),
     CHRISTMAS, BERLIN, (), 150),
    ("over an absence: 0 at Tuesday's end, 30 on Friday until 09:30 CET", utc(2026, 12, 1, 16),
     utc(2026, 12, 4, 8, 30), WEEKDAYS_9_TO_5, BERLIN, AWAY_WED_THU, 30),
    ("inside one span, with seconds", utc(2026, 12, 7, 9), datetime(2026, 12, 7, 9, 45, 30, tzinfo=UTC),
     WEEKDAYS_9_TO_5, "UTC", (), 45.5),
    ("over a lunch break: 11:30-12:00 and 13:00-13:15", utc(2026, 12, 7, 11, 30), utc(2026, 12, 7, 13, 15),
     LUNCH_BREAK, "UTC", (), 45),
    ("all outside hours: Saturday to Sunday", utc(2026, 12, 5, 10), utc(2026, 12, 6, 20),
     WEEKDAYS_9_TO_5, BERLIN, (), 0),
    ("an end before the start", utc(2026, 12, 7, 11), utc(2026, 12, 7, 10), WEEKDAYS_9_TO_5, BERLIN, (), 0),
]


@pytest.mark.parametrize("description,start,end,schedule,tz,away,minutes", BETWEEN, ids=[c[0] for c in BETWEEN])
def test_business_minutes(description, start, end, schedule, tz, away, minutes):
    assert business_minutes(start, end, schedule, tz, away) == minutes


def test_a_schedule_with_no_hours_never_loops():
    # the config refuses it (tests/config/test_routing.py); built around the validator here
    no_hours = Schedule.model_construct(hours={}, holidays=[])
    with pytest.raises(ValueError, match="no working hours"):
        due_at(utc(2026, 12, 7, 9), 60, no_hours, BERLIN)
    with pytest.raises(ValueError, match="no working hours"):
        business_minutes(utc(2026, 12, 7, 9), utc(2026, 12, 8, 9), no_hours, BERLIN)


def test_a_naive_start_is_refused():
    with pytest.raises(ValueError, match="start must be a timezone-aware datetime"):
        due_at(datetime(2026, 12, 7, 9), 60, WEEKDAYS_9_TO_5, BERLIN)
