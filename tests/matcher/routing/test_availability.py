"""Availability in the member's own time zone, worked out by hand from the zones' rules for 2026:
Europe/Berlin is UTC+1, and UTC+2 from 29 March to 25 October; America/New_York is UTC-5, and UTC-4
from 8 March to 1 November; Asia/Tokyo is UTC+9 all year."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from config.routing import Member, OutOfOffice, Schedule
from matcher.routing.availability import away_until, unavailable_reason, working_spans

WEEKDAYS_9_TO_5 = Schedule(holidays=["2026-12-25"])
BERLIN = Member(id="Max", timezone="Europe/Berlin")
NEW_YORK = Member(id="Ann", timezone="America/New_York")
TOKYO = Member(id="Kei", timezone="Asia/Tokyo")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# description, member, now (UTC), expected
CASES = [
    ("Berlin winter evening: 17:05 UTC is 18:05 CET", BERLIN, utc(2026, 12, 3, 17, 5),
     "outside working hours (18:05 Europe/Berlin, Thursday)"),
    ("Berlin winter afternoon: 15:59 UTC is 16:59 CET", BERLIN, utc(2026, 12, 3, 15, 59), None),
    ("Berlin winter morning: 07:30 UTC is 08:30 CET", BERLIN, utc(2026, 12, 3, 7, 30),
     "outside working hours (08:30 Europe/Berlin, Thursday)"),
    ("Berlin summer morning: the same 07:30 UTC is 09:30 CEST", BERLIN, utc(2026, 7, 2, 7, 30), None),
    ("the Friday before clocks go forward: 07:00 UTC is 08:00 CET", BERLIN, utc(2026, 3, 27, 7, 0),
     "outside working hours (08:00 Europe/Berlin, Friday)"),
    ("the Monday after: 07:00 UTC is 09:00 CEST, the first minute", BERLIN, utc(2026, 3, 30, 7, 0), None),
    ("the Monday after: 06:59 UTC is 08:59 CEST", BERLIN, utc(2026, 3, 30, 6, 59),
     "outside working hours (08:59 Europe/Berlin, Monday)"),
    ("17:00 local is already after hours", BERLIN, utc(2026, 12, 3, 16, 0),
     "outside working hours (17:00 Europe/Berlin, Thursday)"),
    ("New York on summer time while Berlin is not: 13:30 UTC is 09:30 EDT", NEW_YORK, utc(2026, 3, 16, 13, 30), None),
    ("the same week: 12:30 UTC is 08:30 EDT", NEW_YORK, utc(2026, 3, 16, 12, 30),
     "outside working hours (08:30 America/New_York, Monday)"),
    ("... and 14:30 CET in Berlin", BERLIN, utc(2026, 3, 16, 12, 30), None),
    ("Tokyo's Saturday is UTC's Friday", TOKYO, utc(2026, 12, 4, 23, 30),
     "outside working hours (08:30 Asia/Tokyo, Saturday)"),
    ("a holiday by the local day: 23:00 UTC on the 24th is the 25th in Tokyo", TOKYO, utc(2026, 12, 24, 23, 0),
     "holiday 2026-12-25"),
    ("a holiday in working hours", TOKYO, utc(2026, 12, 25, 1, 0), "holiday 2026-12-25"),
    ("the day before the holiday in Berlin, in hours", BERLIN, utc(2026, 12, 24, 15, 0), None),
]


@pytest.mark.parametrize("description,member,now,expected", CASES, ids=[c[0] for c in CASES])
def test_working_hours_in_the_members_zone(description, member, now, expected):
    assert unavailable_reason(member, WEEKDAYS_9_TO_5, now) == expected


def test_a_time_in_another_zone_is_the_same_instant():
    now = datetime(2026, 12, 3, 12, 5, tzinfo=ZoneInfo("America/New_York"))  # 17:05 UTC, 18:05 CET
    assert unavailable_reason(BERLIN, WEEKDAYS_9_TO_5, now) == "outside working hours (18:05 Europe/Berlin, Thursday)"


AWAY = Member(id="Max", timezone="Europe/Berlin", out_of_office=[
    OutOfOffice(start="2026-12-20", end="2026-12-21"),
    OutOfOffice(start="2026-12-05", end="2026-12-08"),  # starts the day after the first one ends
    OutOfOffice(start="2026-12-01", end="2026-12-04"),
])


def test_out_of_office_until_the_end_of_the_absence():
    # 10:00 UTC on Wednesday 2 December; the two ranges that touch are one absence
    assert unavailable_reason(AWAY, WEEKDAYS_9_TO_5, utc(2026, 12, 2, 10)) == "out of office until 2026-12-08"
    assert unavailable_reason(AWAY, WEEKDAYS_9_TO_5, utc(2026, 12, 21, 10)) == "out of office until 2026-12-21"
    # Monday 14 December, between the absences
    assert unavailable_reason(AWAY, WEEKDAYS_9_TO_5, utc(2026, 12, 14, 10)) is None


def test_out_of_office_by_the_local_day():
    one_range = Member(id="Max", timezone="Europe/Berlin",
                       out_of_office=[OutOfOffice(start="2026-12-01", end="2026-12-04")])
    # 23:30 UTC on 30 November is 00:30 on 1 December in Berlin
    assert unavailable_reason(one_range, WEEKDAYS_9_TO_5, utc(2026, 11, 30, 23, 30)) == "out of office until 2026-12-04"
    # the last day counts to its end: 22:59 UTC is 23:59 on the 4th
    assert unavailable_reason(one_range, WEEKDAYS_9_TO_5, utc(2026, 12, 4, 22, 59)) == "out of office until 2026-12-04"
    assert unavailable_reason(one_range, WEEKDAYS_9_TO_5, utc(2026, 12, 4, 23, 0)) == \
        "outside working hours (00:00 Europe/Berlin, Saturday)"


def test_paused_comes_first():
    paused = Member(id="Max", timezone="Europe/Berlin", paused=True,
                    out_of_office=[OutOfOffice(start="2026-12-01", end="2026-12-04")])
    assert unavailable_reason(paused, WEEKDAYS_9_TO_5, utc(2026, 12, 2, 10)) == "paused"
    assert unavailable_reason(paused, WEEKDAYS_9_TO_5, utc(2026, 12, 14, 10)) == "paused"


def test_a_span_to_midnight():
    late = Schedule(hours={"sat": ["20:00-24:00"]})
    # Saturday 5 December: 22:59 UTC is 23:59 CET; 23:00 UTC is Sunday 00:00
    assert unavailable_reason(BERLIN, late, utc(2026, 12, 5, 22, 59)) is None
    assert unavailable_reason(BERLIN, late, utc(2026, 12, 5, 23, 0)) == \
        "outside working hours (00:00 Europe/Berlin, Sunday)"


def test_working_spans_keep_wall_clock_ends_through_a_clock_change():
    all_sunday = Schedule(hours={"sun": ["00:00-24:00"]})
    # Sunday 25 October 2026: clocks go back at 03:00 CEST, so the day is 25 hours long
    [(start, end)] = working_spans(datetime(2026, 10, 25).date(), all_sunday, ZoneInfo("Europe/Berlin"))
    assert (start, end) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    # Sunday 29 March 2026: 02:00-03:00 local does not exist
    skipped_hour = Schedule(hours={"sun": ["02:00-03:00", "09:00-10:00"]})
    assert working_spans(datetime(2026, 3, 29).date(), skipped_hour, ZoneInfo("Europe/Berlin")) == \
        [(utc(2026, 3, 29, 7), utc(2026, 3, 29, 8))]


def test_away_until_outside_any_absence():
    assert away_until(AWAY.out_of_office, datetime(2026, 12, 9).date()) is None


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        unavailable_reason(BERLIN, WEEKDAYS_9_TO_5, datetime(2026, 12, 3, 17, 5))
