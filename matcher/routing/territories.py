"""Territory rules: the facts a rule may test (``config.routing.TERRITORY_FIELDS``), built from a
lead and its account, and the first rule whose every condition holds.

Country facts are ISO 3166-1 alpha-2 codes ("DE"), so a rule names countries by code; every text
comparison ignores case. A fact that is missing (None, or an attribute the account does not have)
satisfies no condition, so a rule on ``employees`` never fires for a lead without an account.
"""
from __future__ import annotations

from numbers import Real
from typing import Any, Mapping, Sequence

from config.routing import Range, Territory
from matcher import normalize
from matcher.matching.types import Lead
from matcher.routing.types import AccountFacts

__all__ = ["describe", "facts", "first_territory", "holds"]


def _given(value: str | None) -> str | None:
    value = value.strip() if value else None
    return value or None


def facts(lead: Lead, account: AccountFacts | None, *, source: str | None, campaign_id: str | None,
          decision: str, country_aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """Every field of ``TERRITORY_FIELDS`` (None where unknown) and ``attributes.<name>`` for each
    of the account's attributes. ``account`` is the matched account (None for an unmatched lead).

    country, region and city are the lead's where it gave them, else the account's; a lead's
    country that is not recognised counts as not given (the account's, a known country, says more
    than a typo). ``country_aliases`` are the matching rules' (``MatchingRules.country_aliases``).
    """
    lead_country = normalize.country(lead.country, country_aliases)
    account_country = normalize.country(account.country, country_aliases) if account else None
    out: dict[str, Any] = {
        "country": lead_country or account_country,
        "region": _given(lead.region) or (_given(account.region) if account else None),
        "city": _given(lead.city) or (_given(account.city) if account else None),
        "industry": account.industry if account else None,
        "employees": account.employees if account else None,
        "fit_tier": account.fit_tier if account else None,
        "source": _given(source),
        "campaign_id": _given(campaign_id),
        "email_domain": normalize.email_domain(lead.email),
        "title": _given(lead.title),
        "account_id": account.id if account else None,
        "account_owner": account.owner if account else None,
        "decision": decision,
    }
    if account is not None:
        out.update((f"attributes.{name}", value) for name, value in account.attributes.items())
    return out


def _texts(value: Any) -> list[str]:
    """A fact as the texts a list condition compares, casefolded: a JSON list is each of its items,
    a boolean is spelled as in JSON (true/false), a whole number without a decimal point."""
    if value is None or isinstance(value, Mapping):
        return []
    if isinstance(value, (list, tuple)):
        return [t for item in value if not isinstance(item, (list, tuple)) for t in _texts(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, float) and value.is_integer():
        return [str(int(value))]
    return [str(value).strip().casefold()]


def holds(condition: list[str] | Range, value: Any) -> bool:
    """Whether a fact satisfies one condition: any of a list's values, or inside a range (both
    ends included). A missing fact satisfies nothing."""
    if isinstance(condition, Range):
        if not isinstance(value, Real) or isinstance(value, bool):
            return False
        return (condition.min is None or value >= condition.min) and (condition.max is None or value <= condition.max)
    wanted = {v.strip().casefold() for v in condition}
    return any(t in wanted for t in _texts(value))


def first_territory(territories: Sequence[Territory], facts: Mapping[str, Any]) -> Territory | None:
    """The first territory whose every condition holds (one with no conditions always does)."""
    return next((t for t in territories
                 if all(holds(condition, facts.get(field)) for field, condition in t.when.items())), None)


def describe(territory: Territory, facts: Mapping[str, Any]) -> str:
    """The facts that made ``territory`` fire, for a reason: "country DE, employees 250"."""
    if not territory.when:
        return "every lead"
    return ", ".join(f"{field} {facts.get(field)}" for field in territory.when)
