"""Why an open opportunity is on the pipeline review (matcher/pipeline/review.py), by hand: the
cut-off is now - 30 days; a touch on the cut-off is too old; a next step is its text or its date;
a date before now is overdue, one at now is not."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from matcher.pipeline.review import review_reasons

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
CUT = NOW - timedelta(days=30)

CASES = [
    # (last touch, next step, its date, reasons)
    (NOW - timedelta(days=1), None, None, ["no_next_step"]),
    (NOW - timedelta(days=40), "demo", NOW + timedelta(days=5), ["no_touch"]),
    (NOW - timedelta(days=2), "proposal", NOW + timedelta(days=3), []),
    (NOW - timedelta(days=3), "security review", NOW - timedelta(days=2), ["next_step_overdue"]),
    (None, None, NOW - timedelta(days=1), ["no_touch", "next_step_overdue"]),
    (None, None, None, ["no_touch", "no_next_step"]),
    (CUT, "call", None, ["no_touch"]),                      # on the cut-off: too old
    (CUT + timedelta(seconds=1), "call", None, []),         # a step without a date is never overdue
    (NOW, "call", NOW, []),                                  # due now: not yet overdue
    (NOW, "call", NOW - timedelta(microseconds=1), ["next_step_overdue"]),
]


@pytest.mark.parametrize(("last", "step", "at", "expected"), CASES)
def test_reasons(last: datetime | None, step: str | None, at: datetime | None, expected: list[str]) -> None:
    assert review_reasons(last_touch_at=last, quiet_since=CUT, next_step=step, next_step_at=at, now=NOW) == expected
