"""The owner route: a matched lead goes to its account's owner, else the nearest owning ancestor's,
else the fallback queue; a lead under review goes to the review queue."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from config.matching import MatchingRules
from matcher.matching.types import Route

if TYPE_CHECKING:
    from matcher.matching.keys import AccountFeatures

Lookup = Callable[[str], "AccountFeatures | None"]


def route_for(decision: str, chosen: AccountFeatures | None, lookup: Lookup, rules: MatchingRules) -> Route:
    if decision == "matched" and chosen is not None:
        f: AccountFeatures | None = chosen
        seen: set[str] = set()
        while f is not None and f.account.id not in seen:
            if f.account.owner:
                whose = "" if f is chosen else " (inherited from parent account)"
                return Route(f.account.owner, chosen.account.id,
                             f"owner of account {chosen.account.name} ({chosen.account.id}){whose}")
            seen.add(f.account.id)
            f = lookup(f.account.parent_id) if f.account.parent_id else None
        return Route(None, chosen.account.id, "matched account has no owner: fallback queue",
                     rules.routing.fallback_queue)
    if decision == "review":
        return Route(None, None, "account needs a human decision: review queue", rules.routing.review_queue)
    return Route(None, None, "no account matched: fallback queue", rules.routing.fallback_queue)
