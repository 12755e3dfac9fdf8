"""Contact and account statuses, one readable test per transition, the reasons, and properties
over random ledgers."""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.qualification import MANUAL_CONTACT_STATES, load_qualification_rules
from matcher.qualification.evaluate import evaluate_account
from matcher.qualification.ledger import (
    ACCOUNT_STATUSES,
    ACTIVITY_TYPES,
    CONTACT_STATUSES,
    AccountEvaluation,
    AccountLedger,
    AccountProfile,
    Activity,
    Contact,
    Contract,
    ManualContactMove,
    Opportunity,
    StageChange,
)
from matcher.qualification.rules import compile_rules
from tests.matcher.qualification.default_rules import RULES, rules_with

COMPILED = compile_rules(RULES)
RECOMPILED = compile_rules(load_qualification_rules())  # the same rules, compiled again
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

JANE = Contact("K1", "A1", title="VP Engineering", first_name="Jane", last_name="Doe")
BOB = Contact("K2", "A1", title="CFO", first_name="Bob", last_name="Roe")
SAM = Contact("K3", "A1", title="Software Engineer", first_name="Sam", last_name="Poe")
MIA = Contact("K4", "A1", title="Marketing Manager", first_name="Mia", last_name="Moe")


def at(days: float = 0) -> datetime:
    return T0 + timedelta(days=days)


def act(id: str, type: str, days: float = 0, contact: str | None = "K1", **kw) -> Activity:  # noqa: A002
    return Activity(id, type, at(days), contact_id=contact, **kw)


def opp(id: str = "O1", days: float = 0, contact: str | None = "K1", **kw) -> Opportunity:  # noqa: A002
    return Opportunity(id, "A1", primary_contact_id=contact, opened_at=at(days), **kw)


def move(status: str, days: float = 0, contact: str = "K1", by: str = "seller") -> ManualContactMove:
    return ManualContactMove(contact, status, at(days), by=by)


def contract(starts: date, ends: date | None, id: str = "C1") -> Contract:  # noqa: A002
    return Contract(id, "A1", starts, ends)


def ledger(*activities: Activity, contacts=(JANE, BOB, SAM, MIA), opportunities=(), contracts=(), moves=(),
           **account) -> AccountLedger:
    profile = AccountProfile("A1", "Acme", **{"fit_tier": "1", **account})
    return AccountLedger(profile, tuple(contacts), tuple(activities), tuple(opportunities), tuple(contracts),
                         tuple(moves))


def evaluate(ledger_: AccountLedger, as_of: datetime | None = None, rules=COMPILED) -> AccountEvaluation:
    return evaluate_account(ledger_, rules, as_of or at(1))


def status_of(evaluation: AccountEvaluation, contact_id: str) -> str:
    return next(c.status for c in evaluation.contacts if c.contact_id == contact_id)


def texts(evaluation: AccountEvaluation) -> str:
    return " | ".join(r.text for r in evaluation.reasons)


# A burst of engagement from two personas above the MQA threshold, without a qualifying action.
MQA_BURST = (
    act("W1", "webinar", -2, "K1"), act("M1", "meeting", -2, "K1"), act("F1", "form_fill", -1, "K1"),
    act("W2", "webinar", -2, "K2"), act("M2", "meeting", -1, "K2"), act("D2", "content_download", -1, "K2"),
)


# ================================================================ contact statuses

def test_a_new_contact_is_pre_qualified_since_it_was_added() -> None:
    added = replace(JANE, created_at=at(-30))
    ev = evaluate(ledger(contacts=[added]))
    (jane,) = ev.contacts
    assert (jane.status, jane.since, jane.reasons) == ("pre_qualified", at(-30), ())
    assert (jane.seniority, jane.persona) == ("vp", "engineering")


def test_first_engagement_moves_a_contact_to_nurture() -> None:
    ev = evaluate(ledger(act("E1", "webinar", -3)))
    (jane,) = [c for c in ev.contacts if c.contact_id == "K1"]
    assert (jane.status, jane.since) == ("nurture", at(-3))
    assert jane.reasons[0].text == "Jane Doe (VP Engineering) first engaged on 2026-11-17 (webinar)"
    assert status_of(ev, "K2") == "pre_qualified"


def test_first_engagement_keeps_pre_qualified_when_configured_off() -> None:
    rules = compile_rules(rules_with(contacts={"engagement_moves_to_nurture": False}))
    assert status_of(evaluate(ledger(act("E1", "webinar", -3)), rules=rules), "K1") == "pre_qualified"


def test_a_demo_request_at_a_fitting_account_qualifies_the_contact() -> None:
    ev = evaluate(ledger(act("E1", "webinar", -3), act("E2", "demo_request", 0)))
    (jane,) = [c for c in ev.contacts if c.contact_id == "K1"]
    assert (jane.status, jane.since) == ("qualified", at(0))
    assert jane.reasons[0].rule == "demo_request"
    assert jane.reasons[0].event_ids == ("E2",)
    assert jane.reasons[0].text == "Jane Doe (VP Engineering) requested a demo on 2026-11-20; account is ICP tier 1"


def test_a_demo_request_at_an_account_outside_the_fit_gate_only_engages() -> None:
    ev = evaluate(ledger(act("E2", "demo_request", 0), fit_tier="3"))
    assert status_of(ev, "K1") == "nurture"


@pytest.mark.parametrize(("contact", "qualified"), [("K1", True), ("K2", True), ("K3", False)],
                         ids=["vp", "c_level", "individual_contributor"])
def test_a_pricing_page_view_qualifies_only_a_senior_person(contact: str, qualified: bool) -> None:
    ev = evaluate(ledger(act("P1", "page_view", 0, contact, page_kind="pricing")))
    assert status_of(ev, contact) == ("qualified" if qualified else "nurture")


def test_a_blog_page_view_never_qualifies() -> None:
    assert status_of(evaluate(ledger(act("P1", "page_view", 0, page_kind="blog"))), "K1") == "nurture"


def test_a_qualifying_action_qualifies_even_when_the_account_has_an_open_opportunity() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", 0, "K2"), opportunities=[opp("O1", -30, contact="K1")]))
    assert status_of(ev, "K2") == "qualified"
    assert ev.status == "opportunity_open"


def test_a_qualified_contact_becoming_primary_contact_of_a_new_opportunity_is_opportunity_open() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -10), opportunities=[opp("O1", -2)]))
    (jane,) = [c for c in ev.contacts if c.contact_id == "K1"]
    assert (jane.status, jane.since) == ("opportunity_open", at(-2))
    assert "primary contact of new business opportunity O1" in jane.reasons[0].text


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_the_opportunity_closing_moves_its_contact_to_nurture(outcome: str) -> None:
    closed = opp("O1", -20, state=outcome, closed_at=at(-1))
    ev = evaluate(ledger(act("E1", "demo_request", -30), opportunities=[closed]))
    (jane,) = [c for c in ev.contacts if c.contact_id == "K1"]
    assert (jane.status, jane.since) == ("nurture", at(-1))
    assert jane.reasons[0].text == f"opportunity O1 of Jane Doe (VP Engineering) was {outcome} on 2026-11-19"


def test_a_contact_in_two_open_opportunities_stays_until_both_close() -> None:
    opps = [opp("O1", -20, state="lost", closed_at=at(-5)), opp("O2", -10)]
    ev = evaluate(ledger(act("E1", "demo_request", -30), opportunities=opps))
    assert status_of(ev, "K1") == "opportunity_open"


def test_a_contact_who_never_qualified_is_not_moved_by_an_opportunity() -> None:
    ev = evaluate(ledger(act("E1", "webinar", -30), opportunities=[opp("O1", -2)]))
    assert status_of(ev, "K1") == "nurture"


def test_a_seller_moves_a_qualified_contact_to_sales_working() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -3), moves=[move("sales_working", -1)]))
    (jane,) = [c for c in ev.contacts if c.contact_id == "K1"]
    assert (jane.status, jane.since) == ("sales_working", at(-1))
    assert jane.reasons[0].text == "Jane Doe (VP Engineering) was moved to sales working by seller on 2026-11-19"


def test_a_contact_being_worked_stays_sales_working_after_another_demo_request() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -3), act("E2", "demo_request", 0),
                         moves=[move("sales_working", -1)]))
    assert status_of(ev, "K1") == "sales_working"


def test_no_longer_with_company_is_sticky() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", 0), moves=[move("no_longer_with_company", -5)],
                         opportunities=[opp("O1", 0.5)]))
    assert status_of(ev, "K1") == "no_longer_with_company"


@pytest.mark.parametrize("manual", ["disqualified", "partner"])
def test_manual_contact_states_are_never_overwritten_by_automation(manual: str) -> None:
    ev = evaluate(ledger(act("E1", "webinar", -9), act("E2", "demo_request", 0), moves=[move(manual, -5)]))
    assert status_of(ev, "K1") == manual


def test_a_disqualified_contact_reactivated_to_nurture_can_qualify_again() -> None:
    ev = evaluate(ledger(act("E2", "demo_request", 0), moves=[move("disqualified", -5), move("nurture", -2)]))
    assert status_of(ev, "K1") == "qualified"


def test_at_the_same_instant_the_action_comes_before_the_opportunity_it_led_to() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -2), opportunities=[opp("O1", -2)]))
    assert status_of(ev, "K1") == "opportunity_open"


# ================================================================ account statuses

def test_account_never_engaged_is_pre_qualified() -> None:
    ev = evaluate(ledger())
    assert (ev.status, ev.since, ev.engagement_points) == ("pre_qualified", None, 0.0)
    assert texts(ev) == "nobody at the account has engaged yet"


def test_account_engaged_below_the_threshold_is_nurture_since_its_first_engagement() -> None:
    ev = evaluate(ledger(act("E1", "webinar", -3), act("E2", "email_open", -1, "K2")))
    assert (ev.status, ev.since) == ("nurture", at(-3))
    assert ev.reasons[0].rule == "engagement_points"
    assert ev.reasons[0].event_ids == ("E1", "E2")


def test_account_with_a_qualified_contact_is_qualified_and_says_why_in_one_sentence() -> None:
    ev = evaluate(ledger(act("E1", "webinar", -8, "K2"), act("E2", "demo_request", 0, "K1"),
                         act("E3", "email_click", -2, "K4")))
    assert (ev.status, ev.since) == ("qualified", at(0))
    assert ev.reasons[0].text == "Jane Doe (VP Engineering) requested a demo on 2026-11-20; account is ICP tier 1"
    assert "3 personas engaged in the last 30 days: engineering, finance, marketing" in texts(ev)


def test_account_qualified_at_account_level_by_points_from_enough_personas() -> None:
    ev = evaluate(ledger(*MQA_BURST))
    assert all(c.status == "nurture" for c in ev.contacts if c.contact_id in ("K1", "K2"))
    assert ev.status == "qualified"
    assert ev.engagement_points >= RULES.engagement.mqa_points
    assert ev.personas_engaged == ("engineering", "finance")
    assert ev.since == at(-1)  # the day the second burst pushed the points over the threshold
    assert {r.rule for r in ev.reasons} == {"engagement_points", "persona_coverage"}


def test_points_from_a_single_persona_are_not_enough_for_an_account_mqa() -> None:
    one_persona = [replace(a, contact_id="K1") for a in MQA_BURST]
    ev = evaluate(ledger(*one_persona))
    assert ev.engagement_points >= RULES.engagement.mqa_points
    assert ev.status == "nurture"


def test_decay_drops_an_account_back_to_nurture_when_its_points_fade() -> None:
    qualified = evaluate(ledger(*MQA_BURST), as_of=at(1))
    later = evaluate(ledger(*MQA_BURST), as_of=at(40))
    assert qualified.status == "qualified"
    assert later.status == "nurture"
    assert later.engagement_points < RULES.engagement.mqa_points
    assert at(1) < later.since <= at(40)  # the minute decay took it under the threshold
    assert evaluate(ledger(*MQA_BURST), as_of=later.since).status == "nurture"
    assert evaluate(ledger(*MQA_BURST), as_of=later.since - timedelta(minutes=1)).status == "qualified"


@pytest.mark.parametrize(("decay", "params", "gone_after_days"), [
    ("linear", {"lifespan_days": 10}, 10), ("window", {"window_days": 10}, 10),
])
def test_linear_and_window_decay_forget_after_their_span(decay: str, params: dict, gone_after_days: int) -> None:
    rules = compile_rules(rules_with(engagement={"decay": decay, **params}))
    fresh = evaluate(ledger(act("E1", "webinar", 0)), as_of=at(0), rules=rules)
    gone = evaluate(ledger(act("E1", "webinar", 0)), as_of=at(gone_after_days), rules=rules)
    assert fresh.engagement_points == 15 * 1.4 * 1.25  # webinar x vp x tier 1
    assert gone.engagement_points == 0
    assert gone.status == "nurture"  # once engaged, never Pre-Qualified again


def test_caps_hold_an_activity_group_to_its_limit() -> None:
    opens = [act(f"E{i}", "email_open", 0) for i in range(200)]
    ev = evaluate(ledger(*opens), as_of=at(0))
    assert ev.engagement_points == 20  # the "email" cap
    assert ev.status == "nurture"


def test_caps_can_be_per_contact() -> None:
    rules = compile_rules(rules_with(engagement={"caps": [
        {"name": "email", "activity_types": ["email_open"], "max_points": 5, "per": "contact"}]}))
    opens = [act(f"E{i}{c}", "email_open", 0, c) for i in range(50) for c in ("K1", "K2")]
    assert evaluate(ledger(*opens), as_of=at(0), rules=rules).engagement_points == 10


def test_a_tier_multiplier_of_zero_excludes_the_account_from_engagement() -> None:
    ev = evaluate(ledger(*MQA_BURST, act("E9", "demo_request", 0), fit_tier="4"))
    assert ev.engagement_points == 0
    assert ev.status == "pre_qualified"
    assert all(c.status == "pre_qualified" for c in ev.contacts)


def test_account_with_a_contact_being_worked_is_sales_working() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -3), act("E2", "demo_request", -1, "K2"),
                         moves=[move("sales_working", -2)]))
    assert (ev.status, ev.since) == ("sales_working", at(-2))
    assert "moved to sales working" in ev.reasons[0].text


def test_account_whose_qualified_contact_was_sent_back_is_nurture() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -3), moves=[move("nurture", -1)]))
    assert (ev.status, ev.since) == ("nurture", at(-1))


def test_account_with_an_open_opportunity_and_no_contract_is_opportunity_open() -> None:
    ev = evaluate(ledger(act("E1", "webinar", -3), opportunities=[opp("O1", -2, stage="Discovery")]))
    assert (ev.status, ev.since) == ("opportunity_open", at(-2))
    assert ev.reasons[0].text == "new business opportunity O1, stage Discovery open since 2026-11-18"


def test_an_opportunity_opened_after_as_of_does_not_count_yet() -> None:
    assert evaluate(ledger(opportunities=[opp("O1", 5)])).status == "pre_qualified"


def test_account_whose_opportunity_was_lost_falls_back_to_what_its_contacts_say() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -30), opportunities=[
        opp("O1", -20, state="lost", closed_at=at(-1))]))
    assert (ev.status, ev.since) == ("nurture", at(-1))


ACTIVE = contract(date(2025, 1, 1), date(2027, 6, 30))


def test_account_with_an_active_contract_and_nothing_else_is_customer() -> None:
    ev = evaluate(ledger(act("E1", "webinar", -3), contracts=[ACTIVE]))
    assert (ev.status, ev.since) == ("customer", datetime(2025, 1, 1, tzinfo=UTC))
    assert ev.reasons[0].text == "active contract C1 since 2025-01-01, ends 2027-06-30"


def test_customer_with_a_qualified_contact_is_customer_engaged() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", 0), contracts=[ACTIVE]))
    assert (ev.status, ev.since) == ("customer_engaged", at(0))


def test_customer_engaged_ends_when_the_contact_goes_into_an_opportunity() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -5), contracts=[ACTIVE],
                         opportunities=[opp("O1", -1, type="expansion")]))
    assert status_of(ev, "K1") == "opportunity_open"
    assert (ev.status, ev.since) == ("customer_opportunity", at(-1))


def test_customer_with_an_open_expansion_opportunity_is_customer_opportunity() -> None:
    ev = evaluate(ledger(contracts=[ACTIVE], opportunities=[opp("O1", -1, contact=None, type="expansion")]))
    assert ev.status == "customer_opportunity"
    assert "expansion opportunity O1 open since 2026-11-19" in texts(ev)


def test_customer_with_an_untouched_renewal_far_from_the_contract_end_is_customer() -> None:
    ev = evaluate(ledger(contracts=[ACTIVE], opportunities=[opp("O1", -1, contact=None, type="renewal")]))
    assert ev.status == "customer"


def test_customer_whose_renewal_stage_moved_is_customer_opportunity() -> None:
    renewal = opp("O1", -10, contact=None, type="renewal", stage="Negotiation", stage_changes=(
        StageChange("Discovery", at(-10)), StageChange("Negotiation", at(-3))))
    ev = evaluate(ledger(contracts=[ACTIVE], opportunities=[renewal]))
    assert (ev.status, ev.since) == ("customer_opportunity", at(-3))
    assert "renewal opportunity O1 is being worked: stage moved to Negotiation on 2026-11-17" in texts(ev)


def test_customer_whose_contract_ends_within_the_renewal_window_has_its_renewal_worked() -> None:
    ending = contract(date(2025, 1, 1), date(2027, 1, 31))  # 72 days after 2026-11-20
    ev = evaluate(ledger(contracts=[ending], opportunities=[opp("O1", -30, contact=None, type="renewal")]))
    assert (ev.status, ev.since) == ("customer_opportunity", datetime(2026, 11, 2, tzinfo=UTC))
    assert "contract C1 ends on 2027-01-31, within the 90-day renewal window" in texts(ev)


def test_account_whose_contracts_ended_is_churned_since_the_day_after() -> None:
    ended = contract(date(2024, 1, 1), date(2025, 12, 31))
    ev = evaluate(ledger(act("E1", "webinar", -3), contracts=[ended]))
    assert (ev.status, ev.since) == ("churned", datetime(2026, 1, 1, tzinfo=UTC))
    assert ev.reasons[0].text == "contract C1 ended on 2025-12-31"


def test_a_churned_account_with_a_qualified_contact_is_qualified() -> None:
    ended = contract(date(2024, 1, 1), date(2025, 12, 31))
    assert evaluate(ledger(act("E1", "demo_request", 0), contracts=[ended])).status == "qualified"


def test_a_contract_starting_after_as_of_is_not_a_customer_yet() -> None:
    future = contract(date(2027, 1, 1), None)
    assert evaluate(ledger(contracts=[future])).status == "pre_qualified"


@pytest.mark.parametrize(("flag", "status"), [("disqualified", "disqualified"), ("partner", "partner")])
def test_manual_account_flags_win_over_everything(flag: str, status: str) -> None:
    busy = ledger(act("E1", "demo_request", 0), *MQA_BURST, contracts=[ACTIVE],
                  opportunities=[opp("O1", -1, contact=None, type="expansion")],
                  **{flag: True, f"{flag}_at": at(-7)})
    ev = evaluate(busy)
    assert (ev.status, ev.since) == (status, at(-7))
    assert len(ev.reasons) == 1
    assert status_of(ev, "K1") == "qualified"  # contacts still tell their own story


def test_disqualified_wins_over_partner() -> None:
    assert evaluate(ledger(disqualified=True, partner=True)).status == "disqualified"


def test_activities_after_as_of_are_ignored() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", 3)), as_of=at(1))
    assert ev.status == "pre_qualified"


def test_a_custom_decision_list_with_negation() -> None:
    rules = compile_rules(rules_with(account_statuses=[
        {"status": "qualified", "when": ["any_engagement", "not:active_contract"]},
        {"status": "customer", "when": ["active_contract"]},
        {"status": "pre_qualified", "when": []},
    ]))
    assert evaluate(ledger(act("E1", "webinar", 0)), rules=rules).status == "qualified"
    assert evaluate(ledger(act("E1", "webinar", 0), contracts=[ACTIVE]), rules=rules).status == "customer"


def test_as_of_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate_account(ledger(), COMPILED, datetime(2026, 11, 20))


# ================================================================ a qualifying action that did not qualify

DEMO = "Jane Doe (VP Engineering) requested a demo on 2026-11-20, which would qualify, but "


def blocked(evaluation: AccountEvaluation) -> list[str]:
    return [r.text for r in evaluation.reasons if r.rule == "qualifying_action_blocked"]


def test_a_demo_request_at_an_account_of_another_fit_tier_says_why_it_did_not_qualify() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", 0), fit_tier="3"))
    assert ev.status == "nurture"
    # 40 points x 1.4 (vp) x 0.5 (tier 3), one day into a 30-day half-life: 28 x 2^(-1/30) = 27.36
    assert texts(ev) == ("27.4 engagement points (MQA threshold 100) from 1 activity | "
                         "1 persona engaged in the last 30 days: engineering (MQA needs 2) | "
                         + DEMO + "fit tier 3 is not a qualifying tier (1, 2)")
    reason = ev.reasons[-1]
    assert (reason.rule, reason.event_ids, reason.contact_id) == ("qualifying_action_blocked", ("E1",), "K1")


def test_a_demo_request_at_an_account_without_a_fit_tier_says_it_has_none() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", 0), fit_tier=None))
    assert blocked(ev) == [DEMO + "the account has no fit tier (qualifying tiers: 1, 2)"]


def test_a_pricing_page_view_by_a_junior_person_names_the_seniority_it_needs() -> None:
    ev = evaluate(ledger(act("E1", "page_view", 0, "K3", page_kind="pricing")))
    assert blocked(ev) == ["Sam Poe (Software Engineer) viewed the pricing page on 2026-11-20, which would qualify, "
                           "but seniority individual contributor is below the minimum (director)"]


def test_a_pricing_page_view_by_a_title_without_seniority_says_so() -> None:
    barista = Contact("K5", "A1", title="Barista", first_name="Ola", last_name="Nun")
    ev = evaluate(ledger(act("E1", "page_view", 0, "K5", page_kind="pricing"), contacts=[barista]))
    assert blocked(ev) == ["Ola Nun (Barista) viewed the pricing page on 2026-11-20, which would qualify, "
                           "but the title gives no seniority (minimum: director)"]


def test_every_gate_that_refuses_is_named() -> None:
    ev = evaluate(ledger(act("E1", "page_view", 0, "K3", page_kind="pricing"), fit_tier="3"))
    assert blocked(ev) == ["Sam Poe (Software Engineer) viewed the pricing page on 2026-11-20, which would qualify, "
                           "but fit tier 3 is not a qualifying tier (1, 2) and seniority individual contributor "
                           "is below the minimum (director)"]


TECH_DEMO = {"name": "tech_demo", "says": "requested a technical demo", "activity_types": ["demo_request"]}


def test_a_persona_gate_names_the_personas_it_admits() -> None:
    rules = compile_rules(rules_with(qualifying_actions=[{**TECH_DEMO, "personas": ["engineering", "it"]}]))
    ev = evaluate(ledger(act("E1", "demo_request", 0, "K2")), rules=rules)
    assert blocked(ev) == ["Bob Roe (CFO) requested a technical demo on 2026-11-20, which would qualify, "
                           "but persona finance is not a qualifying persona (engineering, it)"]
    barista = Contact("K5", "A1", title="Barista", first_name="Ola", last_name="Nun")
    ev = evaluate(ledger(act("E1", "demo_request", 0, "K5"), contacts=[barista]), rules=rules)
    assert blocked(ev) == ["Ola Nun (Barista) requested a technical demo on 2026-11-20, which would qualify, "
                           "but the title gives no persona (qualifying personas: engineering, it)"]


@pytest.mark.parametrize(("account", "why"), [
    ({"industry": "Retail"}, "industry Retail is not a qualifying industry (Software, Healthcare)"),
    ({"industry": None}, "the account has no industry (qualifying industries: Software, Healthcare)"),
])
def test_an_industry_gate_names_the_industries_it_admits(account: dict, why: str) -> None:
    rules = compile_rules(rules_with(qualifying_actions=[{**TECH_DEMO, "industries": ["Software", "Healthcare"]}]))
    ev = evaluate(ledger(act("E1", "demo_request", 0), **account), rules=rules)
    assert blocked(ev) == ["Jane Doe (VP Engineering) requested a technical demo on 2026-11-20, which would qualify, "
                           f"but {why}"]


@pytest.mark.parametrize(("bounds", "employees", "why"), [
    ({"min_employees": 500}, 120, "120 employees is not a qualifying size (at least 500)"),
    ({"max_employees": 100}, 120, "120 employees is not a qualifying size (at most 100)"),
    ({"min_employees": 500, "max_employees": 5000}, 9000, "9000 employees is not a qualifying size (500 to 5000)"),
    ({"min_employees": 500}, None, "the account's employee count is unknown (qualifying: at least 500)"),
])
def test_a_size_gate_names_the_sizes_it_admits(bounds: dict, employees: int | None, why: str) -> None:
    rules = compile_rules(rules_with(qualifying_actions=[{**TECH_DEMO, **bounds}]))
    ev = evaluate(ledger(act("E1", "demo_request", 0), employees=employees), rules=rules)
    assert blocked(ev) == ["Jane Doe (VP Engineering) requested a technical demo on 2026-11-20, which would qualify, "
                           f"but {why}"]


def test_a_demo_request_by_a_disqualified_contact_says_the_status_is_manual() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", 0), moves=[move("disqualified", -5)]))
    assert blocked(ev) == [DEMO + "the contact's status was disqualified at the time "
                                  "(a manual status: only a seller moves a contact out of it)"]


def test_a_contact_in_a_status_qualifying_actions_do_not_move_says_from_where_they_do() -> None:
    rules = compile_rules(rules_with(contacts={"qualifying_action_moves_from": ["pre_qualified"]}))
    ev = evaluate(ledger(act("E1", "webinar", -3), act("E2", "demo_request", 0)), rules=rules)
    assert status_of(ev, "K1") == "nurture"
    assert blocked(ev) == [DEMO + "the contact's status was nurture at the time "
                                  "(qualifying actions move contacts only from: pre qualified)"]


def test_a_contact_already_being_worked_is_not_a_blocked_qualification() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -3), act("E2", "demo_request", 0),
                         moves=[move("sales_working", -1)]))
    assert blocked(ev) == []


def test_one_reason_per_blocked_action_the_latest_occurrence() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", -2, "K1"), act("E2", "demo_request", -1, "K2"),
                         act("E3", "demo_request", -3, "K4"), act("E4", "contact_us", -4, "K1"), fit_tier="3"))
    assert blocked(ev) == [
        "Bob Roe (CFO) requested a demo on 2026-11-19, which would qualify, but fit tier 3 is not a qualifying "
        "tier (1, 2)",
        "Jane Doe (VP Engineering) asked to be contacted on 2026-11-16, which would qualify, but fit tier 3 is not "
        "a qualifying tier (1, 2)",
    ]
    assert [r.event_ids for r in ev.reasons if r.rule == "qualifying_action_blocked"] == [("E2",), ("E4",)]


def test_an_action_that_qualified_is_not_reported_as_blocked() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", 0)))
    assert ev.status == "qualified"
    assert blocked(ev) == []


def test_a_blocked_action_that_earned_no_points_keeps_the_no_engagement_reason() -> None:
    ev = evaluate(ledger(act("E1", "demo_request", 0), fit_tier="4"))  # tier 4: engagement earns nothing
    assert texts(ev) == "nobody at the account has engaged yet | " + DEMO + "fit tier 4 is not a qualifying tier (1, 2)"


# every kind of gate on one action, to check the checks evaluation applies against the phrases
# that explain them
GATED = compile_rules(rules_with(qualifying_actions=[{
    **TECH_DEMO, "fit_tiers": ["1", "2"], "industries": ["Software"], "min_employees": 100, "max_employees": 5000,
    "min_seniority": "director", "personas": ["engineering", "it", "finance"]}]))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["1", "2", "3", "C", None]), st.sampled_from(["Software", "software", "Retail", None]),
       st.sampled_from([None, 50, 100, 2000, 5000, 9000]),
       st.sampled_from([None, "VP Engineering", "CFO", "Software Engineer", "Head of IT", "Marketing Director",
                        "Vice President", "Barista", "Office Manager"]))
def test_a_qualifying_action_qualifies_exactly_when_no_gate_refuses(tier: str | None, industry: str | None,
                                                                   employees: int | None, title: str | None) -> None:
    person = Contact("K1", "A1", title=title, first_name="Jane", last_name="Doe")
    account = {"fit_tier": tier, "industry": industry, "employees": employees}
    ev = evaluate(ledger(act("E1", "demo_request", 0), contacts=[person], **account), rules=GATED)
    (action,) = GATED.kind("demo_request", None, None)[3]
    refused = action.gate_failures(AccountProfile("A1", **account), *GATED.titles.classify(title))
    assert (status_of(ev, "K1") == "qualified") == (not refused)
    who = f"Jane Doe ({title})" if title else "Jane Doe"
    assert blocked(ev) == ([] if not refused else [
        f"{who} requested a technical demo on 2026-11-20, which would qualify, but {' and '.join(refused)}"])


# ================================================================ properties over random ledgers

TITLES = [None, "VP Engineering", "CFO", "Software Engineer", "Head of IT", "Marketing Manager", "Barista"]
PAGE_KINDS = [None, "pricing", "blog", "product"]
STAGES = ["Discovery", "Proposal", "Negotiation"]
MOVABLE = [s for s in CONTACT_STATUSES if s not in ("pre_qualified", "opportunity_open")]
SORTED_ACTIVITY_TYPES = sorted(ACTIVITY_TYPES)
AS_OF = datetime(2026, 7, 1, tzinfo=UTC)


def when(hours: int) -> datetime:
    # coarse steps on purpose: many entries share a time, so tie-breaking is exercised
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=12 * hours)


@st.composite
def ledgers(draw: st.DrawFn) -> AccountLedger:
    """Random ledgers. Hypothesis draws the sizes and a seed (so it shrinks towards few, small
    entries); the entries come from a seeded generator, which keeps 200 examples a test fast."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    n_contacts, n_activities = draw(st.integers(0, 4)), draw(st.integers(0, 14))
    n_opportunities, n_contracts = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    n_moves = draw(st.integers(0, 3)) if n_contacts else 0
    contacts = tuple(Contact(f"K{i}", "A1", title=rng.choice(TITLES), first_name=f"P{i}") for i in range(n_contacts))
    contact_ids = [c.id for c in contacts] + [None, "K-unknown"]
    activities = tuple(
        Activity(f"E{i}", rng.choice(SORTED_ACTIVITY_TYPES), when(rng.randint(0, 400)),
                 contact_id=rng.choice(contact_ids), page_kind=rng.choice(PAGE_KINDS),
                 direction=rng.choice([None, "inbound", "outbound"]))
        for i in range(n_activities))
    opportunities = []
    for i in range(n_opportunities):
        opened = rng.randint(0, 380)
        closed = rng.choice([None, rng.randint(opened, 400)])
        changes = tuple(StageChange(rng.choice(STAGES), when(h))
                        for h in sorted(rng.randint(opened, 400) for _ in range(rng.randint(0, 3))))
        opportunities.append(Opportunity(
            f"O{i}", "A1", state="open" if closed is None else rng.choice(["won", "lost"]),
            type=rng.choice(["new_business", "expansion", "renewal"]), primary_contact_id=rng.choice(contact_ids),
            opened_at=when(opened), closed_at=None if closed is None else when(closed), stage_changes=changes))
    contracts = []
    for i in range(n_contracts):
        starts = date(2025, 6, 1) + timedelta(days=rng.randint(0, 500))
        ends = rng.choice([None, starts + timedelta(days=rng.randint(0, 400))])
        contracts.append(Contract(f"C{i}", "A1", starts, ends))
    moves = tuple(ManualContactMove(rng.choice(contacts).id, rng.choice(MOVABLE), when(rng.randint(0, 400)),
                                    by=rng.choice(["ann", "raj"]))
                  for _ in range(n_moves))
    flags = rng.choice([{}, {}, {}, {"disqualified": True}, {"partner": True},
                        {"disqualified": True, "disqualified_at": when(100)}])
    profile = AccountProfile("A1", "Acme", fit_tier=rng.choice(["1", "2", "3", "4", None]), **flags)
    return AccountLedger(profile, contacts, activities, tuple(opportunities), tuple(contracts), moves)


def shuffled(ledger_: AccountLedger, seed: int) -> AccountLedger:
    rng = random.Random(seed)

    def mix(items: tuple) -> tuple:
        items = list(items)
        rng.shuffle(items)
        return tuple(items)
    return replace(ledger_, contacts=mix(ledger_.contacts), activities=mix(ledger_.activities),
                   opportunities=mix(ledger_.opportunities), contracts=mix(ledger_.contracts),
                   manual_moves=mix(ledger_.manual_moves))


as_of_times = st.sampled_from([AS_OF, when(150), when(151) + timedelta(hours=3)])
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Rules under which engagement never fades and coverage never ends, with multipliers that are
# binary fractions: MQA only ever switches on, every sum is exact, so `since` can be checked
# against evaluating the ledger at that very time.
STEADY = compile_rules(rules_with(engagement={
    "decay": "none", "coverage_window_days": 100_000,
    "seniority_multipliers": {"c_level": 2, "vp": 1, "director": 1, "manager": 1,
                              "individual_contributor": 0.5, "unknown": 0.5},
    "tier_multipliers": {"1": 1, "2": 1, "3": 0.5, "4": 0, "unknown": 1}}))


@PROPERTY
@given(ledgers(), as_of_times)
def test_every_account_has_exactly_one_valid_status(ledger_: AccountLedger, as_of: datetime) -> None:
    ev = evaluate(ledger_, as_of)
    assert ev.status in ACCOUNT_STATUSES
    assert ev.reasons
    assert ev.since is None or ev.since <= as_of
    assert {c.contact_id for c in ev.contacts} == {c.id for c in ledger_.contacts}
    assert all(c.status in CONTACT_STATUSES for c in ev.contacts)


@PROPERTY
@given(ledgers(), as_of_times)
def test_manual_and_sticky_states_are_never_overwritten_by_automation(ledger_: AccountLedger, as_of: datetime) -> None:
    ev = evaluate(ledger_, as_of)
    for c in ev.contacts:
        moves = sorted((m for m in ledger_.manual_moves if m.contact_id == c.contact_id and m.at <= as_of),
                       key=lambda m: (m.at, m.status, m.by or ""))
        if moves and moves[-1].status in MANUAL_CONTACT_STATES:
            assert c.status == moves[-1].status
        if c.status in MANUAL_CONTACT_STATES:
            assert any(m.status == c.status for m in moves)
    profile = ledger_.account
    if profile.disqualified and (profile.disqualified_at is None or profile.disqualified_at <= as_of):
        assert ev.status == "disqualified"
    elif profile.partner:
        assert ev.status == "partner"
    else:
        assert ev.status not in ("disqualified", "partner")


@PROPERTY
@given(ledgers(), as_of_times, st.integers(0, 2**32))
def test_the_result_does_not_depend_on_the_order_of_the_ledger(ledger_: AccountLedger, as_of: datetime,
                                                                seed: int) -> None:
    assert evaluate(shuffled(ledger_, seed), as_of) == evaluate(ledger_, as_of)


@PROPERTY
@given(ledgers(), as_of_times)
def test_evaluating_twice_gives_the_same_result(ledger_: AccountLedger, as_of: datetime) -> None:
    first = evaluate(ledger_, as_of)
    assert evaluate(ledger_, as_of) == first
    assert evaluate(ledger_, as_of, rules=RECOMPILED) == first


@PROPERTY
@given(ledgers(), as_of_times)
def test_since_is_when_the_status_began(ledger_: AccountLedger, as_of: datetime) -> None:
    ev = evaluate(ledger_, as_of, rules=STEADY)
    if ev.since is not None:
        assert evaluate(ledger_, ev.since, rules=STEADY).status == ev.status
        assert evaluate(ledger_, ev.since - timedelta(microseconds=1), rules=STEADY).status != ev.status


def test_engagement_a_century_before_as_of_is_evaluated_not_an_overflow() -> None:
    """Points decayed to as_of are scaled back to earlier times; for events about 84 years old
    (30-day half-life) that scale overflowed a float and the evaluation failed (a 500)."""
    ev = evaluate(ledger(act("E1", "demo_request", -36600), act("E2", "webinar", -36600, contact="K2"),
                         act("E3", "content_download", -36599, contact="K3")))
    assert status_of(ev, "K1") == "qualified"  # a demo request qualifies whenever it happened
    assert ev.status == "qualified"
