"""The pure core: normalisation, the account index and match decisions. No I/O, no framework.

Use module-qualified names at call sites (``from matcher import normalize`` then
``normalize.email_domain(...)``) so a reader sees where the logic lives.
"""
from matcher import normalize
from matcher.index import AccountIndex
from matcher.types import Account, Candidate, Lead, MatchResult, Route

__all__ = ["Account", "AccountIndex", "Candidate", "Lead", "MatchResult", "Route", "normalize"]
