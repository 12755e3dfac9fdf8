"""Settings and rule sets as data. ``get_settings()`` for the process, ``load_matching_rules()`` for the matcher."""
from config.rules import MatchingRules, load_matching_rules
from config.settings import Settings, get_settings

__all__ = ["MatchingRules", "Settings", "get_settings", "load_matching_rules"]
