"""Routing rules are refused when they are loaded, never at routing time, with a message that names
the entry: one case per check in config/routing.py."""
from __future__ import annotations

import copy
from typing import Any

import pydantic
import pytest

from config.routing import RoutingRules, load_routing_rules

BASE: dict[str, Any] = {
    "members": [{"id": "Max", "timezone": "Europe/Berlin"}, {"id": "Eva"}],
    "pools": [{"id": "sdr", "members": [{"member": "Max", "weight": 2}, {"member": "Eva"}]}],
    "default_pool": "sdr",
    "territories": [{"id": "dach", "when": {"country": ["DE", "AT", "CH"]}, "pool": "sdr"}],
}


def _doc(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    doc.update(copy.deepcopy(changes))
    return doc


def _pool(pool_id: str = "sdr", **changes: Any) -> dict[str, Any]:
    return {"id": pool_id, "members": [{"member": "Max"}, {"member": "Eva"}], **changes}


def _territory(territory_id: str, when: dict[str, Any], **target: Any) -> dict[str, Any]:
    return {"id": territory_id, "when": when, **(target or {"pool": "sdr"})}


# description, document, words the refusal must contain (where, and what)
REFUSED = [
    # schedules
    ("a span that is not a span", _doc(schedules={"default": {"hours": {"mon": ["9-17"]}}}),
     ["schedules.default.hours", "mon: '9-17' is not a span"]),
    ("a span that ends before it starts", _doc(schedules={"default": {"hours": {"tue": ["17:00-09:00"]}}}),
     ["schedules.default.hours", "tue: '17:00-09:00' ends before it starts"]),
    ("a span ending past midnight", _doc(schedules={"default": {"hours": {"fri": ["20:00-24:30"]}}}),
     ["schedules.default.hours", "fri: '20:00-24:30' ends after midnight"]),
    ("overlapping spans", _doc(schedules={"default": {"hours": {"mon": ["13:00-17:00", "09:00-13:30"]}}}),
     ["schedules.default.hours", "mon: '09:00-13:30' and '13:00-17:00' overlap"]),
    ("a schedule with no hours", _doc(schedules={"default": {}, "never": {"hours": {"mon": []}}}),
     ["schedules.never.hours", "no working hours on any day"]),
    # members
    ("an unknown time zone", _doc(members=[{"id": "Max", "timezone": "Europe/Berlinn"}, {"id": "Eva"}]),
     ["members.0.timezone", "unknown time zone 'Europe/Berlinn'"]),
    ("out of office ending before it starts",
     _doc(members=[{"id": "Max", "out_of_office": [{"start": "2026-12-04", "end": "2026-12-01"}]}, {"id": "Eva"}]),
     ["members.0.out_of_office.0", "out_of_office ends (2026-12-01) before it starts (2026-12-04)"]),
    ("a negative daily cap", _doc(members=[{"id": "Max", "cap_per_day": -1}, {"id": "Eva"}]),
     ["members.0.cap_per_day", "greater than or equal to 0"]),
    ("a member defined twice", _doc(members=[{"id": "Max"}, {"id": "Eva"}, {"id": "Max"}]),
     ["members: 'Max' is defined twice"]),
    ("a member on an unknown schedule", _doc(members=[{"id": "Max"}, {"id": "Eva", "schedule": "nights"}]),
     ["members[1] 'Eva': unknown schedule 'nights'"]),
    # pools
    ("a pool with no members", _doc(pools=[{"id": "sdr", "members": []}]),
     ["pools.0.members", "a pool has at least one member"]),
    ("a member twice in a pool",
     _doc(pools=[{"id": "sdr", "members": [{"member": "Max"}, {"member": "Eva"}, {"member": "Max"}]}]),
     ["pools.0.members", "member 'Max' listed twice"]),
    ("a weight below zero", _doc(pools=[{"id": "sdr", "members": [{"member": "Max", "weight": -1}]}]),
     ["pools.0.members.0.weight", "greater than or equal to 0"]),
    ("every weight 0", _doc(pools=[{"id": "sdr", "members": [{"member": "Max", "weight": 0}]}]),
     ["pools.0.members", "every member has weight 0"]),
    ("a pool cap below zero", _doc(pools=[{"id": "sdr", "members": [{"member": "Max", "cap_per_week": -2}]}]),
     ["pools.0.members.0.cap_per_week", "greater than or equal to 0"]),
    ("an overflow naming both", _doc(pools=[_pool(overflow={"queue": "q", "pool": "sdr"})]),
     ["pools.0.overflow", "exactly one of `queue` or `pool`"]),
    ("an overflow naming neither", _doc(pools=[_pool(overflow={})]),
     ["pools.0.overflow", "exactly one of `queue` or `pool`"]),
    ("a pool defined twice", _doc(pools=[_pool(), _pool()]), ["pools: 'sdr' is defined twice"]),
    ("a pool with an unknown member", _doc(pools=[{"id": "sdr", "members": [{"member": "Ann"}]}]),
     ["pools[0] 'sdr': unknown member 'Ann'"]),
    ("an overflow to an unknown pool", _doc(pools=[_pool(overflow={"pool": "emea"})]),
     ["pools[0] 'sdr': overflow to unknown pool 'emea'"]),
    ("an overflow circle",
     _doc(pools=[_pool("sdr", overflow={"pool": "emea"}), _pool("emea", overflow={"pool": "sdr"})]),
     ["overflow goes round in a circle: sdr -> emea -> sdr"]),
    ("a default pool that is not a pool", _doc(default_pool="emea"), ["default_pool: unknown pool 'emea'"]),
    ("round robin without a pool to take turns in", _doc(default_pool=None, territories=[]),
     ["default_pool: the ladder has round_robin and pools exist"]),
    # ladder
    ("a step twice", _doc(ladder=["account_owner", "territories", "account_owner"]),
     ["ladder", "step 'account_owner' appears more than once"]),
    ("an empty ladder", _doc(ladder=[]), ["ladder", "at least one step"]),
    ("an unknown step", _doc(ladder=["account_owner", "coin_toss"]), ["ladder.1", "coin_toss"]),
    # territories
    ("a territory naming neither pool nor member", _doc(territories=[{"id": "dach", "when": {}}]),
     ["territories.0", "exactly one of `pool` or `member`"]),
    ("a territory naming both", _doc(territories=[_territory("dach", {}, pool="sdr", member="Max")]),
     ["territories.0", "exactly one of `pool` or `member`"]),
    ("a territory on an unknown field", _doc(territories=[_territory("dach", {"contry": ["DE"]})]),
     ["territories.0", "unknown field 'contry'"]),
    ("a range on a text field", _doc(territories=[_territory("dach", {"country": {"min": 1}})]),
     ["territories.0", "'country' is not a number"]),
    ("a range on an attribute", _doc(territories=[_territory("big", {"attributes.seats": {"min": 1}})]),
     ["territories.0", "'attributes.seats' is not a number"]),
    ("a list of no values", _doc(territories=[_territory("dach", {"industry": []})]),
     ["territories.0", "'industry' lists no values"]),
    ("a range with no ends", _doc(territories=[_territory("big", {"employees": {}})]),
     ["territories.0.when.employees", "a range has `min`, `max` or both"]),
    ("a range upside down", _doc(territories=[_territory("big", {"employees": {"min": 500, "max": 50}})]),
     ["territories.0.when.employees", "range max 50.0 is below min 500.0"]),
    ("a territory defined twice",
     _doc(territories=[_territory("dach", {"country": ["DE"]}), _territory("dach", {"country": ["AT"]})]),
     ["territories: 'dach' is defined twice"]),
    ("a territory with an unknown pool", _doc(territories=[_territory("dach", {}, pool="emea")]),
     ["territories[0] 'dach': unknown pool 'emea'"]),
    ("a territory with an unknown member", _doc(territories=[_territory("dach", {}, member="Ann")]),
     ["territories[0] 'dach': unknown member 'Ann'"]),
    ("a territory an earlier one always covers",
     _doc(territories=[_territory("dach", {"country": ["de", "AT", "CH"]}),
                       _territory("big-de", {"country": ["DE"], "employees": {"min": 1000}})]),
     ["territories[1] 'big-de' can never fire: territories[0] 'dach' comes first"]),
    ("a range inside an earlier range",
     _doc(territories=[_territory("mid", {"employees": {"min": 100, "max": 1000}}),
                       _territory("small-mid", {"employees": {"min": 200, "max": 500}})]),
     ["territories[1] 'small-mid' can never fire: territories[0] 'mid'"]),
    ("a rule after a catch-all rule",
     _doc(territories=[_territory("rest", {}), _territory("dach", {"country": ["DE"]})]),
     ["territories[1] 'dach' can never fire: territories[0] 'rest'"]),
]


@pytest.mark.parametrize("description,document,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_bad_configuration_is_refused_naming_the_entry(description, document, words):
    with pytest.raises(pydantic.ValidationError) as refused:
        RoutingRules.model_validate(document)
    for w in words:
        assert w in str(refused.value)


def test_the_base_document_and_rules_that_only_overlap_load():
    rules = RoutingRules.model_validate(_doc(territories=[
        _territory("mid", {"employees": {"min": 100, "max": 1000}}),
        _territory("wide", {"employees": {"min": 50, "max": 500}}),  # reaches below "mid": can fire
        _territory("dach", {"country": ["DE", "AT"]}),
        _territory("de-big", {"country": ["DE", "FR"], "employees": {"min": 5000}}),  # FR: can fire
    ]))
    assert [t.id for t in rules.territories] == ["mid", "wide", "dach", "de-big"]
    assert rules.schedules["default"].spans("mon")[0][0].hour == 9


def test_a_rules_file_is_refused_naming_the_entry(tmp_path):
    path = tmp_path / "routing.toml"
    path.write_text('[[members]]\nid = "Max"\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    with pytest.raises(pydantic.ValidationError) as refused:
        load_routing_rules(path)
    assert "members.0.timezone" in str(refused.value) and "unknown time zone 'Mars/Olympus'" in str(refused.value)


def test_the_shipped_rules_load():
    rules = load_routing_rules()
    assert rules.ladder == ["account_owner", "territories", "round_robin", "catch_all"]
    assert rules.catch_all_queue == "sdr-queue" and rules.review_queue == "match-review"
