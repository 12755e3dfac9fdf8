"""The routing ladder, step by step, with a fake take_turn that records its calls.

NOW is Thursday 3 December 2026, 10:00 UTC: 11:00 in Berlin (working hours), 19:00 in Tokyo (not).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Mapping

import pytest

from config.routing import Pool, RoutingRules, Sla
from matcher.matching.types import Lead
from matcher.routing.decide import decide
from matcher.routing.types import AccountFacts, RoutingDecision, RoutingInput, Skip, Turn

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ANN_AWAY = "out of office until 2026-12-04"
KEI_AFTER_HOURS = "outside working hours (19:00 Asia/Tokyo, Thursday)"
CAPPED = "capped: 5 leads today"
DACH_SLA = Sla(minutes=60, action="escalate")

RULES_DOC: dict[str, Any] = {
    "members": [
        {"id": "Max", "timezone": "Europe/Berlin"},
        {"id": "Eva", "timezone": "Europe/Berlin"},
        {"id": "Ann", "timezone": "Europe/Berlin", "out_of_office": [{"start": "2026-12-01", "end": "2026-12-04"}]},
        {"id": "Kei", "timezone": "Asia/Tokyo"},
        {"id": "Jane Doe", "timezone": "Europe/Berlin"},
        {"id": "Bob", "paused": True},
    ],
    "pools": [
        {"id": "sdr-dach", "members": [{"member": "Max", "weight": 2}, {"member": "Eva"}, {"member": "Ann"}],
         "overflow": {"pool": "sdr-emea"}, "sla": DACH_SLA.model_dump()},
        {"id": "sdr-emea", "members": [{"member": "Kei"}, {"member": "Eva"}], "overflow": {"queue": "emea-queue"}},
        {"id": "sdr", "members": [{"member": "Max"}, {"member": "Eva"}]},
    ],
    "default_pool": "sdr",
    "territories": [
        {"id": "big", "when": {"employees": {"min": 5000}}, "member": "Ann"},
        {"id": "dach", "when": {"country": ["DE", "AT", "CH"]}, "pool": "sdr-dach"},
    ],
}
RULES = RoutingRules.model_validate(RULES_DOC)


def rules_with(**changes: Any) -> RoutingRules:
    return RoutingRules.model_validate({**RULES_DOC, **changes})


class FakeTurns:
    """Gives the turn to the first member of the pool who is neither unavailable nor capped (in
    `capped[pool]`), counting turns from 1, and records every call."""

    def __init__(self, capped: Mapping[str, set[str]] | None = None, report_skips: bool = True) -> None:
        self.capped = capped or {}
        self.report_skips = report_skips
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, pool: Pool, unavailable: Mapping[str, str]) -> Turn:
        self.calls.append((pool.id, dict(unavailable)))
        skipped = []
        for pm in pool.members:
            if pm.member in unavailable:
                skipped.append(Skip(pm.member, unavailable[pm.member]))
            elif pm.member in self.capped.get(pool.id, set()):
                skipped.append(Skip(pm.member, CAPPED))
            else:
                return Turn(pm.member, len(self.calls), tuple(skipped) if self.report_skips else ())
        return Turn(None, None, tuple(skipped) if self.report_skips else ())


ACME = AccountFacts("A17", "Acme Corp", owner="Jane Doe", parent_id="A2", country="DE")
NO_OWNER = replace(ACME, owner=None)
PARENT = AccountFacts("A2", "Acme Group", parent_id="A1")
TOP = AccountFacts("A1", "Acme Holding", owner="Zed")
CHILDREN = (
    AccountFacts("A18", "Acme France", owner="Luc", parent_id="A17", country="France"),
    AccountFacts("A19", "Acme Deutschland", owner="Eva", parent_id="A17", country="DE"),
    AccountFacts("A20", "Acme Bayern", owner="Max", parent_id="A17", country="Germany", region="Bavaria"),
    AccountFacts("A21", "Acme Austria", parent_id="A17", country="AT"),  # no owner of its own
)


def matched(account: AccountFacts = ACME, lead: Lead = Lead(company="Acme"), **kw: Any) -> RoutingInput:
    return RoutingInput("matched", lead, account, **kw)


def unmatched(country: str | None = None) -> RoutingInput:
    return RoutingInput("no_match", Lead(email="x@example.org", country=country))


def to_person(owner: str, rule: str, reason: str, sla: Sla = RULES.sla) -> RoutingDecision:
    return RoutingDecision(owner, None, rule, reason, sla=sla)


def test_a_lead_under_review_goes_to_the_review_queue():
    turns = FakeTurns()
    got = decide(RoutingInput("review", Lead(company="Acme"), ACME), RULES, NOW, turns)
    assert got == RoutingDecision(None, "match-review", "review",
                                  "the account needs a human decision: queue match-review")
    assert turns.calls == []


# ---------------------------------------------------------------- account owner, by policy

# description, policy, input, expected
OWNERS = [
    ("account: the account's owner", "account", matched(ancestors=(PARENT, TOP)),
     to_person("Jane Doe", "account_owner", "Jane Doe owns account Acme Corp (A17)")),
    ("account: else the nearest owning ancestor's", "account",
     matched(NO_OWNER, ancestors=(replace(PARENT, owner="Pat"), TOP)),
     to_person("Pat", "account_owner",
               "Pat owns Acme Group (A2), the nearest owning parent of account Acme Corp (A17)")),
    ("account: an ancestor further up", "account", matched(NO_OWNER, ancestors=(PARENT, TOP)),
     to_person("Zed", "account_owner",
               "Zed owns Acme Holding (A1), the nearest owning parent of account Acme Corp (A17)")),
    ("regional: the child in the lead's country", "regional",
     matched(lead=Lead(company="Acme", country="Germany"), children=CHILDREN),
     to_person("Eva", "account_owner",
               "Eva owns Acme Deutschland (A19), the regional account for DE of Acme Corp (A17)")),
    ("regional: and in the lead's region", "regional",
     matched(lead=Lead(company="Acme", country="de", region="bavaria"), children=CHILDREN),
     to_person("Max", "account_owner",
               "Max owns Acme Bayern (A20), the regional account for DE bavaria of Acme Corp (A17)")),
    ("regional: no child in the lead's region: the account's owner", "regional",
     matched(lead=Lead(company="Acme", country="DE", region="Hesse"), children=CHILDREN),
     to_person("Jane Doe", "account_owner", "Jane Doe owns account Acme Corp (A17)")),
    ("regional: a child without an owner: the account's owner", "regional",
     matched(lead=Lead(company="Acme", country="Austria"), children=CHILDREN),
     to_person("Jane Doe", "account_owner", "Jane Doe owns account Acme Corp (A17)")),
    ("regional: a lead without a country: the account's owner", "regional", matched(children=CHILDREN),
     to_person("Jane Doe", "account_owner", "Jane Doe owns account Acme Corp (A17)")),
    ("regional: with the matching rules' aliases", "regional",
     matched(lead=Lead(company="Acme", country="Frankreich"), children=CHILDREN, country_aliases={"frankreich": "fr"}),
     to_person("Luc", "account_owner", "Luc owns Acme France (A18), the regional account for FR of Acme Corp (A17)")),
    ("ultimate_parent: the topmost ancestor's owner", "ultimate_parent",
     matched(ancestors=(replace(PARENT, owner="Pat"), TOP)),
     to_person("Zed", "account_owner", "Zed owns Acme Holding (A1), the ultimate parent of account Acme Corp (A17)")),
    ("ultimate_parent: an unowned top: the account's owner", "ultimate_parent",
     matched(ancestors=(replace(PARENT, owner="Pat"), replace(TOP, owner=None))),
     to_person("Jane Doe", "account_owner", "Jane Doe owns account Acme Corp (A17)")),
    ("ultimate_parent: no ancestors: the account's owner", "ultimate_parent", matched(),
     to_person("Jane Doe", "account_owner", "Jane Doe owns account Acme Corp (A17)")),
]


@pytest.mark.parametrize("description,policy,inp,expected", OWNERS, ids=[c[0] for c in OWNERS])
def test_account_owner_by_policy(description, policy, inp, expected):
    turns = FakeTurns()
    assert decide(inp, rules_with(owner_policy=policy), NOW, turns) == expected
    assert turns.calls == []


def test_an_away_owner_still_gets_their_accounts_lead():
    got = decide(matched(replace(ACME, owner="Ann")), RULES, NOW, FakeTurns())
    assert got == to_person("Ann", "account_owner", f"Ann owns account Acme Corp (A17); not available now: {ANN_AWAY}")


def test_an_owner_who_is_not_a_member_gets_it_too():
    got = decide(matched(replace(ACME, owner="Someone Else")), RULES, NOW, FakeTurns())
    assert got == to_person("Someone Else", "account_owner", "Someone Else owns account Acme Corp (A17)")


def test_an_unowned_family_goes_on_down_the_ladder():
    turns = FakeTurns()
    got = decide(matched(NO_OWNER, ancestors=(PARENT,)), RULES, NOW, turns)  # the account is in DE
    assert (got.owner, got.rule, got.pool) == ("Max", "territory:dach", "sdr-dach")
    assert turns.calls == [("sdr-dach", {"Ann": ANN_AWAY})]


def test_the_account_owner_step_is_for_matched_leads_only():
    # a no_match input that carries an account anyway (the edge should not send one) is not routed to it
    got = decide(RoutingInput("no_match", Lead(email="x@example.org", country="FR"), ACME), RULES, NOW, FakeTurns())
    assert got.rule == "round_robin:sdr"


# ---------------------------------------------------------------- open opportunity owner

def test_the_open_opportunity_owner_where_the_ladder_puts_it_first():
    rules = rules_with(ladder=["opportunity_owner", "account_owner", "catch_all"])
    got = decide(matched(open_opportunity_owner="Eva"), rules, NOW, FakeTurns())
    assert got == to_person("Eva", "opportunity_owner", "Eva owns the open opportunity on account Acme Corp (A17)")
    # without an open opportunity, the next step
    assert decide(matched(), rules, NOW, FakeTurns()).rule == "account_owner"


def test_the_open_opportunity_owner_only_where_the_ladder_has_the_step():
    got = decide(matched(open_opportunity_owner="Eva"), RULES, NOW, FakeTurns())
    assert got.owner == "Jane Doe"


# ---------------------------------------------------------------- territories and round robin

def test_a_territory_naming_a_pool_takes_a_turn_there():
    turns = FakeTurns()
    got = decide(unmatched("Austria"), RULES, NOW, turns)
    assert got == RoutingDecision(
        "Max", None, "territory:dach",
        "territory 'dach' (country AT) sends it to pool sdr-dach: Max's turn (weights 2:1:1)",
        pool="sdr-dach", turn=1, considered=(Skip("Ann", ANN_AWAY),), sla=DACH_SLA)
    assert turns.calls == [("sdr-dach", {"Ann": ANN_AWAY})]


def test_a_territory_naming_a_member_gives_it_to_them_even_when_away():
    turns = FakeTurns()
    got = decide(matched(replace(NO_OWNER, employees=6000)), RULES, NOW, turns)
    assert got == to_person("Ann", "territory:big",
                            f"territory 'big' (employees 6000) sends it to Ann; not available now: {ANN_AWAY}")
    assert turns.calls == []


def test_round_robin_in_the_default_pool_when_no_territory_fires():
    turns = FakeTurns(capped={"sdr": {"Max"}})
    got = decide(unmatched("FR"), RULES, NOW, turns)
    assert got == RoutingDecision("Eva", None, "round_robin:sdr", "round robin in pool sdr: Eva's turn (weights 1:1)",
                                  pool="sdr", turn=1, considered=(Skip("Max", CAPPED),), sla=RULES.sla)
    assert turns.calls == [("sdr", {})]


def test_members_away_are_considered_even_when_take_turn_does_not_name_them():
    got = decide(unmatched("DE"), RULES, NOW, FakeTurns(report_skips=False))
    assert got.considered == (Skip("Ann", ANN_AWAY),)


def test_without_a_default_pool_round_robin_is_passed():
    rules = rules_with(default_pool=None)
    turns = FakeTurns()
    got = decide(unmatched("FR"), rules, NOW, turns)
    assert got == RoutingDecision(None, "sdr-queue", "catch_all",
                                  "no earlier step of the ladder named an owner: queue sdr-queue")
    assert turns.calls == []


# ---------------------------------------------------------------- overflow

def test_overflow_to_another_pool():
    turns = FakeTurns(capped={"sdr-dach": {"Max", "Eva"}})
    got = decide(unmatched("DE"), RULES, NOW, turns)
    assert got == RoutingDecision(
        "Eva", None, "overflow:sdr-emea",
        "territory 'dach' (country DE) sends it to pool sdr-dach: nobody in pool sdr-dach is available "
        f"(Max: {CAPPED}; Eva: {CAPPED}; Ann: {ANN_AWAY}): overflow to pool sdr-emea: Eva's turn (weights 1:1)",
        pool="sdr-emea", turn=2,
        considered=(Skip("Max", CAPPED), Skip("Eva", CAPPED), Skip("Ann", ANN_AWAY), Skip("Kei", KEI_AFTER_HOURS)),
        sla=RULES.sla)  # sdr-emea has no SLA of its own
    assert turns.calls == [("sdr-dach", {"Ann": ANN_AWAY}), ("sdr-emea", {"Kei": KEI_AFTER_HOURS})]


def test_overflow_to_a_queue():
    turns = FakeTurns(capped={"sdr-dach": {"Max", "Eva"}, "sdr-emea": {"Eva"}})
    got = decide(unmatched("CH"), RULES, NOW, turns)
    assert got == RoutingDecision(
        None, "emea-queue", "overflow:emea-queue",
        "territory 'dach' (country CH) sends it to pool sdr-dach: nobody in pool sdr-dach is available "
        f"(Max: {CAPPED}; Eva: {CAPPED}; Ann: {ANN_AWAY}): overflow to pool sdr-emea: nobody in pool sdr-emea is "
        f"available (Kei: {KEI_AFTER_HOURS}; Eva: {CAPPED}): queue emea-queue",
        considered=(Skip("Max", CAPPED), Skip("Eva", CAPPED), Skip("Ann", ANN_AWAY), Skip("Kei", KEI_AFTER_HOURS),
                    Skip("Eva", CAPPED)))
    assert [pool for pool, _ in turns.calls] == ["sdr-dach", "sdr-emea"]


def test_a_pool_without_overflow_goes_to_the_catch_all_queue():
    got = decide(unmatched(), RULES, NOW, FakeTurns(capped={"sdr": {"Max", "Eva"}}))
    assert got == RoutingDecision(
        None, "sdr-queue", "overflow:sdr-queue",
        f"round robin in pool sdr: nobody in pool sdr is available (Max: {CAPPED}; Eva: {CAPPED}): queue sdr-queue",
        considered=(Skip("Max", CAPPED), Skip("Eva", CAPPED)))


# ---------------------------------------------------------------- catch-all and the ladder's end

def test_the_catch_all_step():
    rules = rules_with(ladder=["account_owner", "catch_all", "round_robin"])
    turns = FakeTurns()
    got = decide(unmatched("DE"), rules, NOW, turns)
    assert got == RoutingDecision(None, "sdr-queue", "catch_all",
                                  "no earlier step of the ladder named an owner: queue sdr-queue")
    assert turns.calls == []


def test_a_ladder_that_names_nobody_ends_in_the_catch_all_queue():
    got = decide(unmatched("DE"), rules_with(ladder=["account_owner"], catch_all_queue="inbox"), NOW, FakeTurns())
    assert got == RoutingDecision(None, "inbox", "catch_all", "no step of the ladder named an owner: queue inbox")


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(unmatched("DE"), RULES, datetime(2026, 12, 3, 10), FakeTurns())
