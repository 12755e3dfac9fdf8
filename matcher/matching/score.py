"""Scoring one lead against one candidate account: an evidence ladder with labelled levels.

Levels, strongest first (the label is the reason's key and the accuracy breakdown's key):
``email_domain`` > ``website_domain`` > ``contact_domain`` > ``name_exact`` > ``name_alias`` >
``cctld_variant`` > ``name_similar`` > ``name_acronym``. Domain levels score from the rules'
evidence table; name levels scale with the name similarity; location, phone and the lead's own
email domain then add or subtract small, named amounts. Every adjustment leaves a reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from config.matching import MatchingRules
from matcher import normalize
from matcher.matching import similarity
from matcher.matching.keys import AccountFeatures, LeadFeatures
from matcher.matching.similarity import Weight
from matcher.normalize import NormalizedName

EVIDENCE_RANK = {
    "email_domain": 0,
    "website_domain": 1,
    "contact_domain": 2,
    "name_exact": 3,
    "name_alias": 4,
    "name_core": 5,
    "name_domain_label": 6,
    "cctld_variant": 7,
    "name_similar": 8,
    "name_acronym": 9,
}
DOMAIN_LEVELS = ("email_domain", "website_domain", "contact_domain")


@dataclass(slots=True)
class Scored:
    features: AccountFeatures
    score: float
    evidence: str
    name_similarity: float
    reasons: list[str] = field(default_factory=list)

    @property
    def account_id(self) -> str:
        return self.features.account.id


def _best_name(lead: LeadFeatures, acc: AccountFeatures, weight: Weight, core_min: float) -> tuple[float, str, NormalizedName | None, NormalizedName | None]:
    """(similarity, level, lead name, account name) of the best name pairing."""
    best = (0.0, "", None, None)
    for ln in lead.names:
        for an in acc.names:
            s = similarity.name_similarity(ln, an, weight)
            if s > best[0]:
                best = (s, "name_exact" if s == 1.0 else "name_similar", ln, an)
    if best[1] == "name_similar" and best[0] >= core_min and similarity.one_contains_the_other(best[2], best[3]):
        # one name is the other plus words that weigh little: 'Admera Health' / 'Admera'
        best = (best[0], "name_core", best[2], best[3])
    if best[1] != "name_exact":
        labels = acc.labels  # derived on each use: once here, not once a name
        for ln in lead.names:
            if len(ln.key) >= 4 and ln.key in labels and best[0] < 0.95:
                # the name of a brand whose domain the account owns ('Stackdriver' -> Google)
                best = (0.95, "name_domain_label", ln, None)
    for ln in lead.alias_names:
        for an in acc.names:
            if ln == an and best[0] < 1.0:
                best = (0.98, "name_alias", ln, an)
    if best[0] < 0.8:  # acronyms only when nothing better was found
        for ln in lead.names:
            for an in acc.names:
                if len(ln) == 1 and normalize.acronym(an) == ln[0]:
                    best = (0.8, "name_acronym", ln, an)
                elif len(an) == 1 and normalize.acronym(ln) == an[0]:
                    best = (0.8, "name_acronym", ln, an)
    return best


def _is_generic(name: NormalizedName, generic: frozenset[str]) -> bool:
    return all(t in generic for t in name)


def score(lead: LeadFeatures, acc: AccountFeatures, rules: MatchingRules, weight: Weight, generic: frozenset[str]) -> Scored | None:
    """Score one candidate, or None when there is no evidence worth a candidate."""
    ev = rules.evidence
    a = acc.account
    reasons: list[str] = []
    sim, name_level, ln, an = _best_name(lead, acc, weight, rules.names.core_min_similarity)
    name_text = f"company name '{lead.lead.company}' ~ '{a.name}' {sim:.2f}" if ln is not None else None
    if name_level == "name_domain_label":
        owned = sorted(d for d in acc.domains if normalize.domain_label(d) == ln.key)
        name_text = f"company name '{lead.lead.company}' is the name of {', '.join(owned)}, a domain of account {a.id} ({a.name})"

    level = None
    if lead.email_domain and lead.email_domain in acc.domains:
        level = "email_domain"
        reasons.append(f"email domain {lead.email_domain} is a domain of account {a.id} ({a.name})")
    elif lead.website_domain and lead.website_domain in acc.domains:
        level = "website_domain"
        reasons.append(f"website {lead.website_domain} is a domain of account {a.id} ({a.name})")
    elif lead.email_domain and not lead.email_is_free and lead.email_domain in acc.contact_domains:
        level = "contact_domain"
        reasons.append(f"email domain {lead.email_domain} is used by contacts of account {a.id} ({a.name})")

    if level is not None:
        s = getattr(ev, level)
        if name_text and sim >= 0.5:
            reasons.append(name_text)
        # name agreement only orders accounts that share a domain; it never lifts a domain match
        s += 0.009 * sim - 0.009
        return Scored(acc, min(1.0, s), level, sim, reasons)

    cctld = (
        lead.email_domain is not None
        and not lead.email_is_free
        and normalize.domain_label(lead.email_domain) in acc.labels
    )
    if cctld and sim >= rules.names.min_similarity:
        # siemens.de for siemens.com: weak alone, convincing with the same company name
        s = ev.cctld_variant + (1.0 - ev.cctld_variant) * 0.9 * sim
        reasons.append(f"email domain {lead.email_domain} is a country variant of a domain of account {a.id} ({a.name})")
        reasons.append(name_text)
        return Scored(acc, min(1.0, s), "cctld_variant", sim, reasons)
    if cctld:
        # weak evidence: review when the lead gave no company, less when its company differs
        reasons.append(f"email domain {lead.email_domain} is a country variant of a domain of account {a.id} ({a.name})")
        if not lead.names:
            return Scored(acc, ev.cctld_variant, "cctld_variant", sim, reasons)
        reasons.append("but the company name does not agree")
        return Scored(acc, ev.cctld_variant * 0.9, "cctld_variant", sim, reasons)

    if ln is None or sim < rules.names.min_similarity:
        return None
    if name_level == "name_similar":
        # a fuzzy similarity below 1 falls off fast: 0.95 of a name is often another company
        s = ev.name_exact * sim - (1.0 - sim) * 1.2
    else:
        s = getattr(ev, name_level)
    reasons.append(name_text if name_level != "name_alias" else f"company name '{lead.lead.company}' is an alias of '{a.name}'")
    if name_level == "name_acronym":
        reasons[-1] = f"company name '{lead.lead.company}' is the acronym of '{a.name}'"
    if an is not None and _is_generic(an, generic):
        s = min(s, rules.thresholds.match - 0.05)
        reasons.append(f"the name '{a.name}' is made of common words only")

    own = lead.corporate_domain
    if own:
        # the lead's work domain is not one of this account's: the person may work for a
        # namesake. Only the very same name (a company that changed domains) may still match.
        if name_level not in ("name_exact", "name_alias"):
            s = min(s + ev.unknown_corporate_domain, rules.thresholds.match - 0.05)
            reasons.append(f"the lead's domain {own} is not a domain of this account and the names differ")
        elif similarity.domain_resembles_name(own, acc):
            s += ev.name_agrees_with_domain
            reasons.append(f"the lead's domain {own} agrees with the name")
        else:
            s += ev.unknown_corporate_domain
            reasons.append(f"the lead's domain {own} is not a domain of this account")
    elif lead.email_is_free:
        reasons.append(f"email domain {lead.email_domain} is free mail: matched on name and location only")

    if lead.country and acc.country:
        if lead.country == acc.country:
            s += ev.country_agrees
            reasons.append(f"country {lead.country} agrees")
        else:
            s += ev.country_disagrees
            reasons.append(f"lead country {lead.country} differs from account country {acc.country}")
    if lead.region and acc.region and lead.region == acc.region:
        s += ev.region_agrees
        reasons.append(f"region {a.region} agrees")
    if lead.city and acc.city and lead.city == acc.city:
        s += ev.city_agrees
        reasons.append(f"city {a.city} agrees")
    if lead.phone and acc.phone and lead.phone == acc.phone:
        s += ev.phone_agrees
        reasons.append("phone number agrees")
    return Scored(acc, max(0.0, min(1.0, s)), name_level, sim, reasons)
