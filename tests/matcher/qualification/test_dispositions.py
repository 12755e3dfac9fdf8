"""Dispositions in the account ledger (after a close) and review_at: the status each kind gives,
its reason, what happens on its until, and the instant a status can next change by itself."""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from matcher.qualification.evaluate import evaluate_account
from matcher.qualification.ledger import Disposition, disposition_in_force
from matcher.qualification.rules import compile_rules
from tests.matcher.qualification.default_rules import rules_with
from tests.matcher.qualification.test_evaluate import (COMPILED, act, at, contract, evaluate, ledger, opp, status_of,
                                                       texts)


def disposition(kind: str, days: float, until: float | None = None, **kw) -> Disposition:
    return Disposition(kind, at(days), at(until) if until is not None else None,
                       reasons=kw.pop("reasons", ("lost to a competitor",)), **kw)


DEMO_JANE = act("E1", "demo_request", 0)  # Jane (VP Engineering, tier 1) qualifies on 2026-11-20


def with_dispositions(*dispositions: Disposition, activities=(DEMO_JANE,), **kw):
    return replace(ledger(*activities, **kw), dispositions=tuple(dispositions))


# ---------------------------------------------------------------- which one is in force

def test_the_latest_not_superseded_disposition_is_in_force():
    first = disposition("nurture_track", 1, id=1)
    second = disposition("recycle", 3, until=30, id=2)
    tie = disposition("top_of_funnel", 3, id=3)
    superseded = disposition("disqualified", 5, superseded_at=at(6), id=4)
    all_ = (superseded, tie, second, first)
    assert disposition_in_force(all_, at(0)) is None
    assert disposition_in_force(all_, at(2)) is first
    assert disposition_in_force(all_, at(4)) is tie  # same `at`: the higher id
    assert disposition_in_force(all_, at(5)) is superseded
    assert disposition_in_force(all_, at(7)) is tie  # superseded on day 6: the one before it again


# ---------------------------------------------------------------- each kind

def test_disqualified_for_good_wins_over_qualification():
    e = evaluate(with_dispositions(disposition("disqualified", 1, by="ana")), at(2))
    assert e.status == "disqualified"
    assert e.since == at(1)
    assert e.reasons[0].rule == "disposition_disqualified"
    assert e.reasons[0].text == "disqualified (never a fit) on 2026-11-21 by ana (lost to a competitor)"
    assert e.review_at is None  # nothing time-driven is left


def test_disqualified_until_a_date_is_re_activated_then():
    ledger_ = with_dispositions(disposition("disqualified", 1, until=10, reasons=()))
    during = evaluate(ledger_, at(5))
    assert during.status == "disqualified"
    assert "to be re-activated on 2026-11-30" in texts(during)
    assert during.review_at == at(10)
    after = evaluate(ledger_, at(11))
    assert after.status == "qualified"  # derived as usual: Jane's demo request still counts
    assert after.since == at(10)
    assert "disqualified (never a fit) on 2026-11-21 by the close's rules; re-activated on 2026-11-30" in texts(after)


def test_manual_partner_flag_wins_over_a_disqualified_disposition():
    e = evaluate(with_dispositions(disposition("disqualified", 1), partner=True), at(2))
    assert e.status == "partner"


def test_nurture_track_is_nurture_and_old_engagement_no_longer_counts():
    e = evaluate(with_dispositions(disposition("nurture_track", 1)), at(2))
    assert e.status == "nurture"
    assert e.since == at(1)
    assert e.reasons[0].rule == "disposition_nurture_track"
    assert e.reasons[0].text == ("put on the closed-lost nurture track on 2026-11-21 by the close's rules "
                                 "(lost to a competitor); engagement before 2026-11-21 no longer counts")
    assert status_of(e, "K1") == "pre_qualified"  # Jane's demo request was before the close


def test_nurture_track_new_qualifying_engagement_qualifies_again():
    bob_demo = act("E2", "demo_request", 3, contact="K2")
    e = evaluate(with_dispositions(disposition("nurture_track", 1), activities=(DEMO_JANE, bob_demo)), at(4))
    assert e.status == "qualified"
    assert e.since == at(3)
    assert "Bob Roe (CFO) requested a demo on 2026-11-23" in texts(e)
    assert "closed-lost nurture track on 2026-11-21" in texts(e)  # the disposition is still named


def test_top_of_funnel_is_pre_qualified_until_someone_engages_again():
    d = disposition("top_of_funnel", 1, reasons=("timing",))
    e = evaluate(with_dispositions(d), at(2))
    assert e.status == "pre_qualified"
    assert e.since == at(1)
    assert e.reasons[0].text == ("sent back to the top of the funnel on 2026-11-21 by the close's rules (timing); "
                                 "engagement before 2026-11-21 no longer counts")
    sam_open = act("E3", "email_open", 3, contact="K3")
    again = evaluate(with_dispositions(d, activities=(DEMO_JANE, sam_open)), at(4))
    assert again.status == "nurture"
    assert again.since == at(3)


def test_recycle_is_nurture_until_its_date_then_pre_qualified():
    ledger_ = with_dispositions(disposition("recycle", 1, until=30))
    before = evaluate(ledger_, at(2))
    assert before.status == "nurture"
    assert "recycled on 2026-11-21 by the close's rules (lost to a competitor); comes back on 2026-12-20" \
        in before.reasons[0].text
    assert before.review_at == at(30)
    after = evaluate(ledger_, at(31))
    assert after.status == "pre_qualified"
    assert after.since == at(30)
    assert after.reasons[0].rule == "disposition_recycle"
    assert "came back on 2026-12-20: engagement before then no longer counts" in after.reasons[0].text


def test_recycle_engagement_before_its_date_does_not_count_after_it():
    sam_webinar = act("E4", "webinar", 10, contact="K3")  # engagement, not a qualifying action
    e = evaluate(with_dispositions(disposition("recycle", 1, until=30), activities=(DEMO_JANE, sam_webinar)), at(31))
    assert e.status == "pre_qualified"
    assert e.engagement_points == 0


def test_recycle_a_qualifying_action_after_it_still_qualifies_after_the_date():
    bob_demo = act("E2", "demo_request", 10, contact="K2")
    ledger_ = with_dispositions(disposition("recycle", 1, until=30), activities=(DEMO_JANE, bob_demo))
    assert evaluate(ledger_, at(11)).status == "qualified"
    e = evaluate(ledger_, at(31))
    assert e.status == "qualified"
    assert status_of(e, "K2") == "qualified"


def test_white_space_makes_a_customer_engaged():
    active = contract(date(2026, 1, 1), date(2027, 12, 31))
    d = disposition("white_space", 1, reasons=("expansion potential",))
    e = evaluate(with_dispositions(d, activities=(), contracts=(active,)), at(2))
    assert e.status == "customer_engaged"
    assert any(r.text == "marked as having white space to sell into on 2026-11-21 by the close's rules "
                         "(expansion potential)" for r in e.reasons)
    assert evaluate(with_dispositions(activities=(), contracts=(active,)), at(2)).status == "customer"
    expansion = opp("O9", 1.5, type="expansion")
    busy = evaluate(with_dispositions(d, activities=(), contracts=(active,), opportunities=(expansion,)), at(2))
    assert busy.status == "customer_opportunity"  # an open opportunity is caught first


def test_white_space_without_a_contract_changes_nothing():
    e = evaluate(with_dispositions(disposition("white_space", 1)), at(2))
    assert e.status == "qualified"


def test_none_supersedes_and_resets_nothing():
    ledger_ = with_dispositions(disposition("nurture_track", 1, superseded_at=at(3), id=1),
                                disposition("none", 3, reasons=(), id=2))
    assert evaluate(ledger_, at(2)).status == "nurture"
    e = evaluate(ledger_, at(4))
    assert e.status == "qualified"
    assert "nurture track" not in texts(e)


def test_history_since_walks_through_the_disposition():
    # qualified from day 0, nurture from the close on day 1: since is the disposition's at, not day 0
    e = evaluate(with_dispositions(disposition("nurture_track", 1)), at(2))
    assert (e.status, e.since) == ("nurture", at(1))


# ---------------------------------------------------------------- review_at

def test_review_at_contract_end_and_renewal_window():
    ending = contract(date(2026, 1, 1), date(2026, 12, 31))
    # the day after the last contract day, at midnight UTC
    assert evaluate(ledger(contracts=(ending,)), at(1)).review_at == datetime(2027, 1, 1, tzinfo=UTC)
    later = contract(date(2026, 1, 1), date(2027, 3, 31))
    # 2027-03-31 minus the 90-day renewal window: 31 (March) + 28 (February) + 31 (January) = 90
    assert evaluate(ledger(contracts=(later,)), at(1)).review_at == datetime(2026, 12, 31, tzinfo=UTC)


def test_review_at_none_when_nothing_is_time_driven():
    assert evaluate(ledger(DEMO_JANE), at(1)).review_at is None  # Jane's 70 points never reach MQA
    assert evaluate(ledger(), at(1)).review_at is None


def _mqa_meetings():
    # points by hand (tier 1 x 1.25): Jane VP 25 x 1.4 x 1.25 = 43.75; Bob CFO 25 x 1.5 x 1.25 =
    # 46.875; Jane's webinar 15 x 1.4 x 1.25 = 26.25; 116.875 at day 0, two personas (engineering,
    # finance): MQA (>= 100) with no contact qualified
    return ledger(act("M1", "meeting", 0), act("M2", "meeting", 0, contact="K2"), act("W1", "webinar", 0))


def test_review_at_half_life_decay_ends_mqa():
    as_of = at(0) + timedelta(hours=1)
    e = evaluate(_mqa_meetings(), as_of)
    assert e.status == "qualified"
    # 116.875 x 2^(-d/30) < 100  <=>  d > 30 x log2(1.16875) days; the first whole minute after
    ends = at(0) + timedelta(days=30 * math.log2(116.875 / 100))
    expected = datetime.fromtimestamp(math.floor(ends.timestamp() / 60) * 60 + 60, UTC)
    assert e.review_at == expected
    assert evaluate(_mqa_meetings(), expected).status == "nurture"
    assert evaluate(_mqa_meetings(), expected - timedelta(minutes=1)).status == "qualified"


def test_review_at_window_decay_and_coverage_window():
    window = compile_rules(rules_with(engagement={"decay": "window", "window_days": 14}))
    e = evaluate_account(_mqa_meetings(), window, at(1))
    assert e.status == "qualified"
    assert e.review_at == at(14)  # full points for 14 days, then none
    # no decay: the two personas leave the 30-day coverage window on day 30
    never = compile_rules(rules_with(engagement={"decay": "none"}))
    assert evaluate_account(_mqa_meetings(), never, at(1)).review_at == at(30)
    one_persona = compile_rules(rules_with(engagement={"decay": "none", "mqa_min_personas": 0}))
    assert evaluate_account(_mqa_meetings(), one_persona, at(1)).review_at is None  # MQA for good


def test_review_at_is_the_earliest_cause():
    ledger_ = replace(_mqa_meetings(), dispositions=(disposition("white_space", 0.5, until=3),),
                      contracts=(contract(date(2026, 1, 1), date(2026, 12, 31)),))
    assert evaluate(ledger_, at(1)).review_at == at(3)  # before MQA ends (day 6.7) and the contract (day 41)


def test_evaluation_without_dispositions_is_unchanged():
    plain = evaluate(ledger(DEMO_JANE), at(2))
    assert plain == evaluate(with_dispositions(), at(2))
    assert plain.status == "qualified" and COMPILED.version


def test_since_is_never_before_the_disposition_that_reset_engagement():
    # lost on day 2, sent back to the top of the funnel on day 5: Pre-Qualified since day 5 (before
    # day 5 it was Nurture by Jane's demo request, which no longer counts), not since the close
    lost = opp("O1", -10, state="lost", closed_at=at(2))
    e = evaluate(with_dispositions(disposition("top_of_funnel", 5), opportunities=(lost,)), at(6))
    assert (e.status, e.since) == ("pre_qualified", at(5))
