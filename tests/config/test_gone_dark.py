"""config/gone_dark.py: the defaults load; bad entries are refused naming them."""
from __future__ import annotations

import pytest

from config.gone_dark import load_gone_dark_rules
from config.pipeline import CHANNELS


def test_the_defaults_load_and_an_override_merges(tmp_path) -> None:  # noqa: ANN001
    rules = load_gone_dark_rules()
    assert [s.channel for s in rules.cadence.steps] == ["call", "email", "social", "call"]
    assert rules.cadence.days() == 2 + 3 + 3 + 3
    rules.check_channels(CHANNELS)
    path = tmp_path / "g.toml"
    path.write_text("[close]\nenabled = false\n", encoding="utf-8")
    merged = load_gone_dark_rules(path)
    assert (merged.close.enabled, merged.close.after_days) == (False, 21)


@pytest.mark.parametrize(("text", "names"), [
    ("[close]\nafter_days = 10\n", "close.after_days"),  # before the 11-day cadence ends
    ("[account_days]\nwarm = 3\n", "account_days.warm"),
])
def test_bad_entries_are_refused_naming_them(tmp_path, text: str, names: str) -> None:  # noqa: ANN001
    path = tmp_path / "g.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=names.replace(".", r"\.")):
        load_gone_dark_rules(path)


def test_a_step_in_no_channel_is_refused() -> None:
    from config.gone_dark import GoneDarkRules
    rules = GoneDarkRules.model_validate({"cadence": {"steps": [{"channel": "fax", "days": 1}]}, "close": {}})
    with pytest.raises(ValueError, match=r"cadence\.steps\[0\]\.channel"):
        rules.check_channels(CHANNELS)
