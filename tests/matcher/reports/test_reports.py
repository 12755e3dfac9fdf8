"""Each report of matcher/reports on a small hand-made data set, its answer worked out by hand
from the definitions in domain.md section 6 (the comments show the arithmetic)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from matcher import reports
from matcher.reports.contact_sequence import EngagedContact, SequenceOpportunity
from matcher.reports.content import Asset
from matcher.reports.follow_up import FollowUpOpportunity
from matcher.reports.gone_dark import dark_onsets
from matcher.reports.loss_reasons import LossRecord
from matcher.reports.mqa_volume import StatusEntry
from matcher.reports.never_responded import QualifiedAccount
from matcher.reports.types import Opportunity, Period, StageEntry

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)  # a Sunday
MARCH = Period(T0, datetime(2026, 4, 1, tzinfo=timezone.utc))
STAGES = ("discovery", "evaluation", "proposal", "negotiation")


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def opp(id: str, state: str, opened: float, closed: float | None = None, owner: str = "ann", type: str = "new_business",  # noqa: A002
        stages: tuple[tuple[str, float], ...] = (), account: str | None = None, source: str | None = None) -> Opportunity:
    return Opportunity(id=id, account_id=account or f"A-{id}", owner=owner, type=type, state=state, opened_at=day(opened),
                       closed_at=None if closed is None else day(closed),
                       stages=tuple(StageEntry(s, day(t)) for s, t in stages), close_source=source)


def rows(report, table: str | None = None) -> list[tuple]:
    return list((report.tables[0] if table is None else report.table(table)).rows)


# ---------------------------------------------------------------- velocity


def test_velocity_counts_median_and_mean_per_outcome_closed_in_period() -> None:
    data = [
        opp("w1", "won", -10, 5),        # 15 days
        opp("w2", "won", 0, 12),         # 12 days
        opp("w3", "won", -30, 6.5),      # 36.5 days
        opp("l1", "lost", -2, 2),        # 4 days
        opp("l2", "lost", 1, 21),        # 20 days
        opp("x1", "won", -40, -1),       # closed before `from`: out
        opp("x2", "lost", 0, 31),        # closed at `to` (2026-04-01): excluded
        opp("x3", "open", 0),            # open: out
    ]
    # won: 12, 15, 36.5 -> median 15, mean 63.5 / 3; lost: 4, 20 -> median 12, mean 12
    assert rows(reports.velocity(data, MARCH)) == [("won", 3, 15.0, pytest.approx(63.5 / 3)),
                                                   ("lost", 2, 12.0, 12.0)]


def test_velocity_days_are_fractional() -> None:
    # 1 day and 12 hours = 1.5 days
    assert rows(reports.velocity([opp("w", "won", 0, 1.5)], MARCH))[0] == ("won", 1, 1.5, 1.5)


# ---------------------------------------------------------------- close-rate


def test_close_rate_overall_per_owner_and_type() -> None:
    data = [
        opp("1", "won", 0, 3, owner="ann", type="new_business"),
        opp("2", "lost", 0, 4, owner="ann", type="new_business"),
        opp("3", "lost", 0, 5, owner="ann", type="renewal"),
        opp("4", "won", 0, 6, owner="bob", type="renewal"),
        opp("5", "won", 0, 35, owner="bob", type="renewal"),  # April: out
    ]
    report = reports.close_rate(data, MARCH)
    assert rows(report, "overall") == [("all", 2, 2, 0.5)]          # 2 / (2 + 2)
    assert rows(report, "by_owner") == [("ann", 1, 2, 1 / 3),       # 1 / 3
                                        ("bob", 1, 0, 1.0)]         # 1 / 1
    assert rows(report, "by_type") == [("new_business", 1, 1, 0.5), ("renewal", 1, 1, 0.5)]


def test_close_rate_of_nothing_is_none_not_zero() -> None:
    assert rows(reports.close_rate([], MARCH), "overall") == [("all", 0, 0, None)]


# ---------------------------------------------------------------- stage-conversion


def test_stage_conversion_shares_and_median_days_in_stage() -> None:
    data = [
        # discovery from opened_at (day 1; its recorded change says day 2), evaluation day 4, won day 10
        opp("a", "won", 1, 10, stages=(("discovery", 2), ("evaluation", 4))),
        # discovery day 3, lost day 8 in discovery: left (closed), not converted
        opp("b", "lost", 3, 8, stages=(("discovery", 3),)),
        # discovery day 5 -> proposal day 11 (skips evaluation: later stage) -> still open
        opp("c", "open", 5, stages=(("discovery", 5), ("proposal", 11))),
        # discovery day -10 (before the period: not counted in discovery), evaluation day 2,
        # back to discovery day 6 (entered in the period), open
        opp("d", "open", -10, stages=(("discovery", -10), ("evaluation", 2), ("discovery", 6))),
    ]
    got = {r[0]: r[1:] for r in rows(reports.stage_conversion(data, MARCH, STAGES))}
    # discovery entered in March by a (day 1), b, c, d (day 6) = 4; converted: a (evaluation, won),
    # c (proposal) = 2 -> 0.5; left: a (3 days: 1 -> 4), b (5 days: 3 -> 8), c (6 days: 5 -> 11);
    # d still in discovery -> median of 3, 5, 6 = 5
    assert got["discovery"] == (4, 2, 0.5, 3, 5.0)
    # evaluation entered by a (day 4) and d (day 2) = 2; converted: a (won) = 1; left: a 6 days
    # (4 -> 10), d 4 days (2 -> 6) -> median 5
    assert got["evaluation"] == (2, 1, 0.5, 2, 5.0)
    # proposal: c, still open -> entered 1, converted 0, left 0, no median
    assert got["proposal"] == (1, 0, 0.0, 0, None)
    assert got["negotiation"] == (0, 0, None, 0, None)


# ---------------------------------------------------------------- gone-dark


def N(stage: str) -> float:
    return {"proposal": 10}.get(stage, 21)


def test_dark_onsets_follow_touches_and_the_stage_dark_days() -> None:
    o = opp("a", "open", 0, stages=(("discovery", 0), ("proposal", 30)))
    # touches day 5 and day 20: dark from 20 + 21 = day 41, but at day 30 it enters proposal
    # (N = 10): covered until 20 + 10 = day 30, so it goes dark at day 30 in proposal
    assert dark_onsets(o, [day(5), day(20)], N, day(60)) == [(day(30), "proposal")]
    # no touches: dark at day 21 in discovery, still dark when proposal begins: one onset
    assert dark_onsets(o, [], N, day(60)) == [(day(21), "discovery")]
    # a touch at day 35 ends the darkness; dark again at 35 + 10 = 45 in proposal
    assert dark_onsets(o, [day(35)], N, day(60)) == [(day(21), "discovery"), (day(45), "proposal")]


def test_gone_dark_rate_by_stage_and_lost_by_last_dark_stage() -> None:
    data = [
        # opened Jan 29 (day -31), in evaluation the whole period, last touch day -20 -> dark at
        # day 1 (-20 + 21): goes dark in evaluation in March
        opp("a", "open", -31, stages=(("evaluation", -31),)),
        # evaluation, touches every 10 days up to day 30: never dark
        opp("b", "open", -31, stages=(("evaluation", -31),)),
        # discovery day 0, proposal day 5, lost day 25; no touch: dark in proposal at max(0 + 10,
        # entry day 5) = day 10 (open 10 days, N = 10) -> goes dark in proposal; lost, last dark: proposal
        opp("c", "lost", 0, 25, stages=(("discovery", 0), ("proposal", 5))),
        # lost day 15 after a touch on day 14: dark in discovery at day 21? no: closed first -> never
        opp("d", "lost", 0, 15, stages=(("discovery", 0),)),
        # dark since Feb (day -40 + 21 = -19), lost in March: last went dark in discovery (before the
        # period) and it is not a new onset in March
        opp("e", "lost", -40, 3, stages=(("discovery", -40),)),
        # closed before the period: neither open in it nor lost in it
        opp("f", "lost", -60, -5, stages=(("discovery", -60),)),
    ]
    touches = {"A-a": [day(-20)], "A-b": [day(-31 + 10 * i) for i in range(7)], "A-d": [day(14)]}
    report = reports.gone_dark(data, touches, MARCH, STAGES, N)
    by_stage = {r[0]: r[1:] for r in rows(report, "by_stage")}
    # discovery open in March: c (day 0-5), d, e = 3; went dark in March in discovery: none
    assert by_stage["discovery"] == (3, 0, 0.0)
    # evaluation: a, b open; a went dark -> 1/2
    assert by_stage["evaluation"] == (2, 1, 0.5)
    # proposal: c open and went dark -> 1/1
    assert by_stage["proposal"] == (1, 1, 1.0)
    assert by_stage["negotiation"] == (0, 0, None)
    # lost in March: c (proposal), d (never), e (discovery)
    assert dict(rows(report, "lost_by_last_dark_stage")) == {
        "discovery": 1, "evaluation": 0, "proposal": 1, "negotiation": 0, "never": 1}


# ---------------------------------------------------------------- never-responded


def test_never_responded_until_period_end_or_closing() -> None:
    accounts = [
        # qualified day 2, touch day 9: responded
        QualifiedAccount("A1", "ann", day(2), day(9), None),
        # qualified day 4, no touch: 31 - 4 = 27 days to the period's end
        QualifiedAccount("A2", "bob", day(4), None, None),
        # qualified day 10, its only touch comes on day 33 (after the period): 31 - 10 = 21 days
        QualifiedAccount("A3", None, day(10), day(33), None),
        # qualified day 5, opportunity closed day 8, touch day 12 (after the closing): 8 - 5 = 3 days
        QualifiedAccount("A4", "ann", day(5), day(12), day(8)),
        # qualified before the period: not this period's
        QualifiedAccount("A5", "ann", day(-3), None, None),
    ]
    assert rows(reports.never_responded(accounts, MARCH)) == [
        ("A2", "bob", day(4), 27.0), ("A4", "ann", day(5), 3.0), ("A3", "(no owner)", day(10), 21.0)]


# ---------------------------------------------------------------- content


def test_content_won_vs_lost_shares_and_never_consumed() -> None:
    data = [opp("w1", "won", -20, 3), opp("w2", "won", -20, 4), opp("l1", "lost", -20, 5),
            opp("l2", "lost", -20, 6), opp("l3", "lost", -20, 7), opp("old", "won", -90, -30)]
    assets = [Asset("case", "Case study"), Asset("price", "Pricing"), Asset("dusty", "Old whitepaper")]
    consumed = [("w1", "case"), ("w2", "case"), ("l1", "case"),
                ("l1", "price"), ("l2", "price"), ("w1", "price"),
                ("old", "dusty"),          # closed outside the period: does not count
                ("w1", "not-in-catalogue")]
    report = reports.content(assets, data, consumed, MARCH)
    # 2 won, 3 lost closed in March
    # case: won 2/2 = 1, lost 1/3 -> difference 2/3; price: won 1/2, lost 2/3 -> -1/6
    assert rows(report, "by_asset") == [
        ("case", "Case study", 2, 1.0, 1, pytest.approx(1 / 3), pytest.approx(2 / 3)),
        ("dusty", "Old whitepaper", 0, 0.0, 0, 0.0, 0.0),
        ("price", "Pricing", 1, 0.5, 2, pytest.approx(2 / 3), pytest.approx(-1 / 6)),
    ]
    assert rows(report, "never_consumed") == [("dusty", "Old whitepaper")]


# ---------------------------------------------------------------- loss-reasons


def test_loss_reasons_seller_beside_buyer() -> None:
    losses = [
        LossRecord("1", "price", "Rival", True, True, "Price ", "Rival"),     # agree (case, spaces)
        LossRecord("2", "price", None, False, True, "features", "Other"),     # disagree
        LossRecord("3", "timing", "Rival", True, False, None, None),          # not interviewed
        LossRecord("4", None, None, False, True, "price", None),              # interviewed, seller silent
    ]
    report = reports.loss_reasons(losses)
    # 4 lost; confirmed 2 -> 0.5; interviewed 3 (1, 2, 4), agreeing 1 -> 1/3
    assert rows(report, "summary") == [(4, 2, 0.5, 3, 1, pytest.approx(1 / 3))]
    assert rows(report, "reasons") == [("Price ", 0, 1), ("features", 0, 1), ("price", 2, 1), ("timing", 1, 0)]
    assert rows(report, "competitors") == [("Other", 0, 1), ("Rival", 2, 1)]
    assert rows(report, "matrix") == [("price", "Price ", 1), ("price", "features", 1)]


# ---------------------------------------------------------------- contact-sequence


def ec(cid: str, at: float, rank: int) -> EngagedContact:
    return EngagedContact(cid, day(at), rank)


def test_contact_sequence_per_outcome() -> None:
    data = [
        # won, closed day 40 (in April: out)
        SequenceOpportunity("out", "won", day(40), (ec("x", 1, 5),)),
        # won day 20: order manager(2) day 1, director(3) day 5, VP(4) day 12 -> first 2, last 4;
        # the VP outranks both earlier ones and engaged day 12 >= 20 - 30: senior joined late
        SequenceOpportunity("w1", "won", day(20), (ec("vp", 12, 4), ec("mgr", 1, 2), ec("dir", 5, 3))),
        # won day 25: C-level(5) day -50 first, IC(1) day 24 -> first 5, last 1; nobody outranks
        # the first: not late; a director (3) left during the deal
        SequenceOpportunity("w2", "won", day(25), (ec("ic", 24, 1), ec("ceo", -50, 5)), departed_ranks=(3,)),
        # won day 26, nobody engaged
        SequenceOpportunity("w3", "won", day(26), ()),
        # lost day 30: IC(1) day -40, director(3) day -35: outranks but 65 days before close -> not late
        SequenceOpportunity("l1", "lost", day(30), (ec("ic", -40, 1), ec("dir", -35, 3)), departed_ranks=(2,)),
        # lost day 28: a single VP: no earlier contact, so never "ranked above every earlier one"
        SequenceOpportunity("l2", "lost", day(28), (ec("vp", 27, 4),)),
    ]
    got = {r[0]: r[1:] for r in rows(reports.contact_sequence(data, MARCH))}
    # won: 3 opportunities, 2 with engaged contacts; first ranks 2 and 5 -> 1 of 2 at rank <= 2;
    # median first (2 + 5) / 2 = 3.5, last (4 + 1) / 2 = 2.5; late 1 of 3; senior left 1 of 3
    assert got["won"] == (3, 2, 0.5, 3.5, 2.5, pytest.approx(1 / 3), pytest.approx(1 / 3))
    # lost: 2, both engaged; first ranks 1, 4 -> 1/2; median first 2.5, last (3 + 4) / 2 = 3.5;
    # late 0/2; departed rank 2 is not 3 or above -> 0/2
    assert got["lost"] == (2, 2, 0.5, 2.5, 3.5, 0.0, 0.0)


def test_contact_sequence_ties_by_contact_id() -> None:
    # both first engaged at the same instant: "a" (rank 1) before "b" (rank 4) -> first 1, last 4,
    # and b outranks a, engaged within 30 days of the close -> late
    o = SequenceOpportunity("w", "won", day(10), (ec("b", 5, 4), ec("a", 5, 1)))
    assert rows(reports.contact_sequence([o], MARCH))[0][1:7] == (1, 1, 1.0, 1, 4, 1.0)


# ---------------------------------------------------------------- follow-up


def test_follow_up_touches_per_channel_and_cadence_adherence() -> None:
    channels_of = {"call": "call", "email_open": "email", "email_reply": "email", "social_touch": "social",
                   "meeting": "meeting"}
    data = [
        FollowUpOpportunity("1", "ann", day(3), False, {"call": 4, "email_open": 2, "email_reply": 1}),
        FollowUpOpportunity("2", "ann", day(4), True, {"call": 2, "meeting": 1}, (True, True, True)),
        FollowUpOpportunity("3", "ann", day(5), True, {}, (True, False)),
        FollowUpOpportunity("4", "bob", day(6), True, {"social_touch": 3}, None),
        FollowUpOpportunity("5", "bob", day(45), True, {"call": 9}, (True,)),  # April: out
    ]
    report = reports.follow_up(data, MARCH, channels_of, ("call", "email", "social", "meeting"))
    got = {r[0]: r[1:] for r in rows(report)}
    # ann: 3 opportunities; calls 4 + 2 = 6 -> 2 per opportunity; email 2 + 1 = 3 -> 1; social 0;
    # meeting 1 -> 1/3; gone dark 2 (2, 3), complete 1 (2) -> 0.5
    assert got["ann"] == (3, 6, 2.0, 3, 1.0, 0, 0.0, 1, pytest.approx(1 / 3), 2, 1, 0.5)
    # bob: 1 opportunity, social 3; gone dark without an episode: not complete -> 0/1
    assert got["bob"] == (1, 0, 0.0, 0, 0.0, 3, 3.0, 0, 0.0, 1, 0, 0.0)
    # all: 4 opportunities; call 6 -> 1.5, email 3 -> 0.75, social 3 -> 0.75, meeting 1 -> 0.25;
    # gone dark 3, complete 1
    assert got["(all)"] == (4, 6, 1.5, 3, 0.75, 3, 0.75, 1, 0.25, 3, 1, pytest.approx(1 / 3))


def test_an_episode_without_steps_is_not_a_complete_cadence() -> None:
    o = FollowUpOpportunity("1", "ann", day(3), True, {}, ())
    assert rows(reports.follow_up([o], MARCH, {}, ("call",)))[0][-3:] == (1, 0, 0.0)


# ---------------------------------------------------------------- mqa-volume


def test_mqa_volume_per_iso_week() -> None:
    entries = [
        StatusEntry("A1", "qualified", day(0)),             # Sun 1 March: ISO 2026-W09 (Mon 23 Feb)
        StatusEntry("A2", "qualified", day(1)),             # Mon 2 March: W10
        StatusEntry("A3", "customer_engaged", day(3)),      # W10
        StatusEntry("A2", "qualified", day(4)),             # A2 again in W10: once
        StatusEntry("A2", "customer_engaged", day(5)),      # A2 also entered customer_engaged in W10
        StatusEntry("A4", "sales_working", day(2)),         # not an MQA status
        StatusEntry("A5", "qualified", day(31)),            # 1 April: out
    ]
    assert rows(reports.mqa_volume(entries, MARCH, ("qualified", "customer_engaged"))) == [
        ("2026-W09", "2026-02-23", 1, 1, 0),
        ("2026-W10", "2026-03-02", 2, 1, 2),   # accounts A2, A3; qualified A2; engaged A3, A2
    ]


# ---------------------------------------------------------------- funnel


def test_funnel_orders_statuses_and_names_new_accounts() -> None:
    report = reports.funnel({"qualified": 2, "nurture": 5}, {("nurture", "qualified"): 2, (None, "nurture"): 3},
                            ("pre_qualified", "nurture", "qualified"))
    assert rows(report, "at_end") == [("pre_qualified", 0), ("nurture", 5), ("qualified", 2)]
    assert rows(report, "moves") == [("(new)", "nurture", 3), ("nurture", "qualified", 2)]


def test_contact_sequence_an_equal_rank_is_not_above() -> None:
    # director day -10, another director day 20 (within 30 days of the close on day 25): not ranked
    # above every earlier one -> not late; first and last rank 3
    o = SequenceOpportunity("l", "lost", day(25), (ec("d1", -10, 3), ec("d2", 20, 3)))
    assert rows(reports.contact_sequence([o], MARCH))[1][1:7] == (1, 1, 0.0, 3, 3, 0.0)
