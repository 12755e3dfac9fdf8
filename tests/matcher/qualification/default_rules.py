"""The shipped default rules, and the same with parts replaced: shared by the tests of the
qualification core."""
from __future__ import annotations

from config.loading import merge_tables
from config.qualification import QualificationRules, load_qualification_rules

RULES = load_qualification_rules()


def rules_with(**overrides) -> QualificationRules:
    """The default rules with parts replaced (tables merge, lists and values replace)."""
    return QualificationRules.model_validate(merge_tables(RULES.model_dump(exclude={"version"}), overrides))
