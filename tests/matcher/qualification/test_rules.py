"""The qualification rules as configuration: what loading refuses and why, overrides merged over
the defaults, versions, and the compiled rules keeping the version."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.qualification import QualificationRules, load_qualification_rules
from config.settings import Settings
from matcher.qualification.rules import compile_rules
from tests.matcher.qualification.default_rules import RULES, rules_with


@pytest.mark.parametrize(("override", "message"), [
    ({"account_statuses": [{"status": "qualified", "when": ["demo_requested"]}, {"status": "nurture"}]},
     "unknown condition 'demo_requested'; known conditions: flag_disqualified"),
    ({"account_statuses": [{"status": "qualified", "when": ["not:bogus"]}, {"status": "nurture"}]},
     "unknown condition 'not:bogus'"),
    ({"account_statuses": [{"status": "qualified", "when": ["contact_qualified"]}]},
     "last account_statuses entry must have an empty `when`"),
    ({"account_statuses": [{"status": "customer", "when": ["active_contract"]},
                           {"status": "disqualified", "when": ["flag_disqualified"]}, {"status": "nurture"}]},
     "manual states must come before every other status"),
    ({"account_statuses": [{"status": "hot", "when": []}]}, "account_statuses.0.status"),
    ({"titles": {"seniority": [{"level": "vp", "patterns": ["(unclosed"]}]}}, "invalid regular expression"),
    ({"titles": {"seniority": [{"level": "boss", "patterns": ["x"]}]}}, "titles.seniority.0.level"),
    ({"engagement": {"decay": "half_life", "half_life_days": None}}, "needs engagement.half_life_days"),
    ({"engagement": {"decay": "linear"}}, "needs engagement.lifespan_days"),
    ({"engagement": {"points": {"fax": 3}}}, "engagement.points.fax"),
    ({"engagement": {"tier_multipliers": {"1": -1}}}, "must not be negative"),
    ({"engagement": {"seniority_multipliers": {"intern": 1}}}, "unknown seniority levels ['intern']"),
    ({"engagement": {"caps": [{"name": "a", "activity_types": ["email_open"], "max_points": 5},
                              {"name": "b", "activity_types": ["email_open"], "max_points": 5}]}},
     "email_open is in two caps: a and b"),
    ({"qualifying_actions": [{"name": "x", "says": "did", "activity_types": ["call"]}] * 2},
     "qualifying action names must be unique"),
    ({"qualifying_actions": [{"name": "x", "says": "did", "activity_types": ["call"], "min_employees": 9,
                              "max_employees": 1}]}, "min_employees exceeds max_employees"),
    ({"contacts": {"opportunity_moves_from": ["partner"]}}, "manual states"),
    ({"contacts": {"manual_moves": {"nurture": ["pre_qualified"]}}}, "cannot be a manual target"),
    ({"contacts": {"manual_moves": {"nurture": ["nurture"]}}}, "not a move"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_rules_are_refused_at_load_time_with_a_clear_message(override: dict, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        rules_with(**override)
    assert message in str(info.value)


def test_an_override_file_is_merged_over_the_defaults(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "rules.toml"
    path.write_text('version = "q-test"\n[engagement]\nmqa_points = 50\n', encoding="utf-8")
    rules = load_qualification_rules(path)
    assert (rules.version, rules.engagement.mqa_points) == ("q-test", 50)
    assert rules.engagement.half_life_days == RULES.engagement.half_life_days
    assert rules.account_statuses == RULES.account_statuses


def test_rules_without_a_version_are_named_by_a_hash_of_their_content(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "rules.toml"
    path.write_text("[engagement]\nmqa_points = 50\n", encoding="utf-8")
    first, second = load_qualification_rules(path), load_qualification_rules(path)
    assert first.version.startswith("sha-")
    assert first.version == second.version != RULES.version
    path.write_text("[engagement]\nmqa_points = 60\n", encoding="utf-8")
    assert load_qualification_rules(path).version != first.version


def test_the_default_rules_load_twice_with_the_same_version() -> None:
    assert load_qualification_rules().version == load_qualification_rules().version == "qual-2026.11.2"
    assert compile_rules(load_qualification_rules()).version == "qual-2026.11.2"


def test_rules_survive_a_json_round_trip_with_their_version() -> None:
    # worker processes get the rules as JSON and compile them again
    again = QualificationRules.model_validate(RULES.model_dump(mode="json"))
    assert again == RULES
    assert again.version == RULES.version


def test_settings_name_an_override_file(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LEADMATCH_QUALIFICATION_RULES", "/etc/leadmatch/qualification.toml")
    assert str(Settings().qualification_rules) == "/etc/leadmatch/qualification.toml"
