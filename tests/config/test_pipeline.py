"""config/pipeline.py: the shipped defaults as domain.md section 6 gives them, and bad
configuration refused at load time with a message naming the entry."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.pipeline import load_pipeline_rules


def test_defaults_follow_domain_md() -> None:
    rules = load_pipeline_rules()
    assert rules.stages == ["discovery", "evaluation", "proposal", "negotiation"]
    assert rules.dark_days_in("proposal") == 21 and rules.dark_days_in("not-a-stage") == 21
    assert rules.seniority_ranks == {"individual_contributor": 1, "manager": 2, "director": 3, "vp": 4, "c_level": 5}
    assert sorted(rules.touches.two_way_types) == sorted(
        ["email_reply", "meeting", "call", "form_fill", "demo_request", "contact_us", "event_attended", "webinar"])
    assert set(rules.touches.outbound_channels.values()) == {"call", "email", "social", "meeting"}


def test_an_override_file_merges_over_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text("[dark_days]\ndefault = 30\n[dark_days.stages]\nnegotiation = 10\n")
    rules = load_pipeline_rules(path)
    assert rules.dark_days_in("negotiation") == 10 and rules.dark_days_in("discovery") == 30
    assert rules.stages[0] == "discovery"  # the rest stays the default


@pytest.mark.parametrize(("toml", "named"), [
    ("[dark_days.stages]\nclosing = 5\n", "dark_days.stages.closing"),
    ("[seniority_ranks]\nintern = 0\n", "seniority_ranks.intern"),
    ("[touches]\ntwo_way_types = ['smoke_signal']\n", "touches.two_way_types"),
    ("[touches.outbound_channels]\ncall = 'pigeon'\n", "touches.outbound_channels.call"),
    ("stages = ['discovery', 'discovery']\n", "stages[1]"),
    ("[dark_days]\ndefault = 0\n", "dark_days.default"),
    ("[mqa]\nstatuses = ['famous']\n", "famous"),
])
def test_bad_configuration_is_refused_naming_the_entry(tmp_path: Path, toml: str, named: str) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text(toml)
    with pytest.raises(ValidationError) as info:
        load_pipeline_rules(path)
    assert named in str(info.value)
