"""Settings and rule sets as data. ``get_settings()`` for the process, ``load_matching_rules()`` for
the matcher, ``load_qualification_rules()`` for qualification (MQA), ``load_closing_rules()`` for
after the close (questionnaires, reminders, dispositions).

The names are looked up on first use (PEP 562): a command that only matches leads does not pay
for importing the qualification rules and the ledger types they are checked against.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "ClosingRules": "config.closing", "load_closing_rules": "config.closing",
    "MatchingRules": "config.matching", "load_matching_rules": "config.matching",
    "QualificationRules": "config.qualification", "load_qualification_rules": "config.qualification",
    "RoutingRules": "config.routing", "load_routing_rules": "config.routing",
    "Settings": "config.settings", "get_settings": "config.settings",
}

if TYPE_CHECKING:
    from config.closing import ClosingRules, load_closing_rules
    from config.qualification import QualificationRules, load_qualification_rules
    from config.matching import MatchingRules, load_matching_rules
    from config.routing import RoutingRules, load_routing_rules
    from config.settings import Settings, get_settings

__all__ = ["ClosingRules", "MatchingRules", "QualificationRules", "RoutingRules", "Settings", "get_settings",
           "load_closing_rules", "load_matching_rules", "load_qualification_rules", "load_routing_rules"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'config' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
