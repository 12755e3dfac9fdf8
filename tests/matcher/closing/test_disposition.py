"""The disposition rules, one case per branch, with the expected dates worked out by hand."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from config.closing import load_closing_rules
from matcher.closing.disposition import add_months, decide, recycle_on_problem

RULES = load_closing_rules().disposition
CLOSED = datetime(2026, 8, 31, 15, 0, tzinfo=timezone.utc)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


# description, outcome, answers, rule changes, kind, until, rule
CASES = [
    ("never a fit: disqualified for good", "lost", {"ever_a_fit": "no", "come_back": "short_term"}, {},
     "disqualified", None, "never_a_fit"),
    ("never a fit, re-activated after 2 years", "lost", {"ever_a_fit": "no"}, {"disqualify_for_years": 2},
     "disqualified", _utc(2028, 8, 31, 15), "never_a_fit_until"),
    ("short term: the nurture track", "lost", {"ever_a_fit": "yes", "come_back": "short_term"}, {},
     "nurture_track", None, "short_term"),
    ("short term: the top of the funnel where configured", "lost", {"ever_a_fit": "yes", "come_back": "short_term"},
     {"short_term": "top_of_funnel"}, "top_of_funnel", None, "short_term"),
    ("long term with a date: recycled on it", "lost",
     {"ever_a_fit": "yes", "come_back": "long_term", "recycle_on": "2027-11-02"}, {},
     "recycle", _utc(2027, 11, 2), "long_term"),
    # 2026-08-31 + 12 months = 2027-08-31; + 6 months = 2027-02-28 (no 31 February)
    ("long term without a date: the default months", "lost", {"ever_a_fit": "yes", "come_back": "long_term"}, {},
     "recycle", _utc(2027, 8, 31, 15), "long_term"),
    ("long term, 6 months, end of month", "lost", {"ever_a_fit": "yes", "come_back": "long_term"},
     {"recycle_after_months": 6}, "recycle", _utc(2027, 2, 28, 15), "long_term"),
    ("come back left open, a date given: long term", "lost", {"ever_a_fit": "yes", "recycle_on": "2028-01-15"}, {},
     "recycle", _utc(2028, 1, 15), "long_term"),
    ("come back left open, no date: the default (short term)", "lost", {"ever_a_fit": "yes"}, {},
     "nurture_track", None, "short_term"),
    ("come back left open, no date: the default set to long term", "lost", {"ever_a_fit": "yes"},
     {"come_back_default": "long_term"}, "recycle", _utc(2027, 8, 31, 15), "long_term"),
    ("won with white space", "won", {"white_space": "yes"}, {}, "white_space", None, "white_space"),
    ("won without white space", "won", {"white_space": "no"}, {}, "none", None, "won"),
]


@pytest.mark.parametrize(("description", "outcome", "answers", "changes", "kind", "until", "rule"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_rule(description: str, outcome: str, answers: dict, changes: dict, kind: str,
                   until: datetime | None, rule: str) -> None:
    d = decide(outcome, answers, RULES.model_copy(update=changes), CLOSED)
    assert (d.kind, d.until, d.rule, d.at) == (kind, until, rule, CLOSED)


def test_the_reason_sentences() -> None:
    recycled = decide("lost", {"ever_a_fit": "yes", "come_back": "long_term", "recycle_on": "2027-11-02"},
                      RULES, CLOSED)
    assert recycled.reason == ("lost but a fit, worth another look later (come_back: long_term): recycled on "
                               "2027-11-02")
    nurture = decide("lost", {"ever_a_fit": "yes", "come_back": "short_term"}, RULES, CLOSED)
    assert nurture.reason.endswith("(come_back: short_term): nurture_track")
    timed = decide("lost", {"ever_a_fit": "no"}, RULES.model_copy(update={"disqualify_for_years": 3}), CLOSED)
    assert timed.reason == "lost and not a fit for now (ever_a_fit: no): disqualified until 2029-08-31"


def test_add_months() -> None:
    assert add_months(_utc(2024, 1, 31), 1) == _utc(2024, 2, 29)  # leap year
    assert add_months(_utc(2026, 11, 15), 3) == _utc(2027, 2, 15)
    assert add_months(_utc(2026, 12, 1), 12) == _utc(2027, 12, 1)


def test_a_recycle_date_must_follow_the_close() -> None:
    assert recycle_on_problem({"recycle_on": "2026-08-31"}, CLOSED) == "2026-08-31 is not after the close (2026-08-31)"
    assert recycle_on_problem({"recycle_on": "2026-09-01"}, CLOSED) is None
    assert recycle_on_problem({}, CLOSED) is None
