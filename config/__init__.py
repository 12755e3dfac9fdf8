"""Settings and rule sets as data. ``get_settings()`` for the process, ``load_matching_rules()`` for
the matcher, ``load_qualification_rules()`` for qualification (MQA)."""
from config.qualification import QualificationRules, load_qualification_rules
from config.rules import MatchingRules, load_matching_rules
from config.settings import Settings, get_settings

__all__ = ["MatchingRules", "QualificationRules", "Settings", "get_settings", "load_matching_rules",
           "load_qualification_rules"]
