"""Matching rules are refused at load when their evidence ladder is not a ranking of every level."""
from __future__ import annotations

import pydantic
import pytest

from config import load_matching_rules
from config.matching import EVIDENCE_LEVELS

LEVELS = list(EVIDENCE_LEVELS)


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{x}"' for x in items) + "]"


# description, ladder in the file, words the refusal must contain
REFUSED = [
    ("an unknown level", [*LEVELS, "name_phonetic"], ["evidence.ladder", "unknown evidence level 'name_phonetic'"]),
    ("a misspelt level", ["email_domian", *LEVELS[1:]], ["unknown evidence level 'email_domian'"]),
    ("a missing level", [x for x in LEVELS if x != "name_core"], ["evidence.ladder", "misses 'name_core'"]),
    ("two missing levels", LEVELS[2:], ["misses 'email_domain', 'website_domain'"]),
    ("a level twice", [*LEVELS, "name_exact"], ["lists 'name_exact' more than once"]),
]


@pytest.mark.parametrize("description,ladder,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_ladder_that_is_not_every_level_once_is_refused(tmp_path, description, ladder, words):
    path = tmp_path / "rules.toml"
    path.write_text(f"[evidence]\nladder = {_toml_list(ladder)}\n", encoding="utf-8")
    with pytest.raises(pydantic.ValidationError) as refused:
        load_matching_rules(path)
    for w in words:
        assert w in str(refused.value)


def test_a_reordered_ladder_loads(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(f"[evidence]\nladder = {_toml_list(LEVELS[::-1])}\ncctld_variant = 0.5\n", encoding="utf-8")
    rules = load_matching_rules(path)
    assert rules.evidence.ladder == LEVELS[::-1]
    assert rules.evidence.cctld_variant == 0.5 and rules.evidence.email_domain == 0.99  # the rest as shipped
