"""The evidence ladder, and scoring one lead against one candidate account on it.

The ladder is the ordered, labelled levels of evidence a candidate account can have for a lead,
strongest first; a candidate gets exactly one level, its ``evidence``. Which levels exist, their order and their
scores are rules (``config/matching.py``: ``EVIDENCE_LEVELS``, ``evidence.ladder``, the
``evidence`` scores); what each level means is code, here (``MEANINGS``): its kind, whether the
lead's country may hand it on to a regional child of the account, whether it is the very same
name, and the reason a seller reads. ``ladder(rules)`` joins the two into ``Level`` records, once
per index. Everything else reads them: ``score`` (a level's score and reason), ``decide`` (its
rank for ties and families, its flags), and the table in docs/architecture.md, which is
``markdown_table`` of the default rules' ladder (a test keeps the two equal).

Scoring: domain levels score from the rules; name levels from the name similarity
(``matcher/matching/similarity.py``); location, phone and the lead's own email domain then add or
subtract small, named amounts. Every adjustment leaves a reason.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from config.matching import EVIDENCE_LEVELS, Evidence, MatchingRules
from matcher import normalize
from matcher.matching import similarity
from matcher.matching.keys import AccountFeatures, LeadFeatures
from matcher.matching.similarity import Weight
from matcher.matching.types import ALIAS, DOMAIN as LEARNED_DOMAIN, Account, Learned, provenance
from matcher.normalize import NameNormalizer, NormalizedName

# a level's kind: what the evidence is about
DOMAIN = "domain"  # a domain the account owns, or one its contacts use
VARIANT = "variant"  # a country-code variant of a domain the account owns
NAME = "name"  # the company name
KINDS = (DOMAIN, VARIANT, NAME)


@dataclass(frozen=True, slots=True)
class Meaning:
    """What a level is, apart from its rank and score (which are rules)."""

    kind: str
    # the evidence points at the account's family, not at one office: the lead's country may pass
    # the match on to a regional child of the account (``decide.pick_regional``)
    regional_child: bool
    # the very same name (a company that changed domains): a lead whose work domain belongs to
    # no account may still be matched on it
    same_name: bool
    # the rules' score the level starts from (name_similar has none of its own)
    score_from: str
    description: str
    # the reason's templates (``str.format`` syntax), by variant: "" is the one every level has
    templates: Mapping[str, str]


def _reason_function(template: str) -> Callable[..., str]:
    """The template as a function of its fields, returning the reason. ``str.format`` costs
    several times an f-string and reasons are written for every candidate scored, so each template
    becomes an f-string once, at import. Templates are this module's constants, never input."""
    fields = sorted({name for _, name, _, _ in string.Formatter().parse(template) if name})
    return eval(f"lambda {', '.join(fields)}: f{template!r}")


# Reason fields. Domain levels: {domain} (the lead's), {account_id}, {account_name}; cctld_variant
# also {owned} (the account's domains it varies). Name levels: {lead} (the lead's company, quoted),
# {account} (the account's name, quoted; another name of it as "'x' (a name of 'Y')", a learned one
# as "'x' (a name of 'Y' learned from review of lead L1 (by someone))"),
# {similarity}; name_core {extra} (the words one name adds), name_domain_label {domains},
# {account_id}, {account_name}; name_acronym {short} and {long}. A "learned" variant: the domain or
# name is one a person taught (``Account.learned``); {source} says where from (``types.provenance``).
MEANINGS: dict[str, Meaning] = {
    "email_domain": Meaning(
        DOMAIN, True, False, "email_domain",
        "the lead's email domain (its registrable part) is a domain the account owns",
        {"": "email domain {domain} is a domain of account {account_id} ({account_name})",
         "learned": "email domain {domain} was learned for account {account_id} ({account_name}) from {source}"}),
    "website_domain": Meaning(
        DOMAIN, True, False, "website_domain",
        "the lead's website is a domain the account owns",
        {"": "website {domain} is a domain of account {account_id} ({account_name})",
         "learned": "website {domain} was learned for account {account_id} ({account_name}) from {source}"}),
    "contact_domain": Meaning(
        DOMAIN, True, False, "contact_domain",
        "the lead's work email domain is used by the account's contacts",
        {"": "email domain {domain} is used by contacts of account {account_id} ({account_name})"}),
    "name_exact": Meaning(
        NAME, True, True, "name_exact",
        "the same company name once normalised (case, accents, punctuation, legal forms, word order)",
        {"": "same name {lead}",
         "normalised": "same name once legal forms, case and punctuation are set aside: {lead} and {account}",
         "reordered": "same words in another order: {lead} and {account}",
         "learned": "{lead} is a name of {account_name} learned from {source}"}),
    "name_alias": Meaning(
        NAME, True, True, "name_alias",
        "the lead's company is another name of the account in the rules' alias table",
        {"": "{lead} is a known alias of {account}"}),
    "name_core": Meaning(
        NAME, False, False, "name_core",
        "one name is the other plus words that tell little ('Admera Health' / 'Admera')",
        {"": "same name apart from {extra}: {lead} and {account}"}),
    "name_domain_label": Meaning(
        NAME, False, False, "name_domain_label",
        "the lead's company is the name part of a domain the account owns (an acquired brand)",
        {"": "company name {lead} is the name of {domains}, a domain of account {account_id} ({account_name})"}),
    "cctld_variant": Meaning(
        VARIANT, True, False, "cctld_variant",
        "the lead's email domain is a country-code variant of one the account owns; "
        "with a similar name the score rises towards 1 with the similarity",
        {"": "email domain {domain} is a country variant of {owned}, a domain of account {account_id} ({account_name})"}),
    "name_similar": Meaning(
        NAME, True, False, "name_exact",
        "similar names; the score falls off fast below the same name: "
        "name_exact's score x similarity - 1.2 x (1 - similarity)",
        {"": "similar names {lead} and {account} ({similarity:.2f})"}),
    "name_acronym": Meaning(
        NAME, False, False, "name_acronym",
        "one name is the initials of the other ('IBM' / 'International Business Machines')",
        {"": "{short} is the acronym of {long}"}),
}

_REASONS = {label: {variant: _reason_function(t) for variant, t in m.templates.items()} for label, m in MEANINGS.items()}

if set(MEANINGS) != set(EVIDENCE_LEVELS) or any(
        m.kind not in KINDS or m.score_from not in Evidence.model_fields for m in MEANINGS.values()):
    raise RuntimeError("matcher.matching.evidence must give a meaning and a score to exactly "
                       "config.matching.EVIDENCE_LEVELS")


@dataclass(frozen=True, slots=True, eq=False)
class Level:
    """One rung of the ladder under a set of rules."""

    label: str
    rank: int  # position on the ladder, 0 the strongest: ties and families go to the lower
    kind: str
    score: float  # rules.evidence.<score_from>
    regional_child: bool
    same_name: bool
    description: str
    templates: Mapping[str, str]  # the reason's templates, by variant ("" the usual one)
    reason: Callable[..., str]  # the usual template as a function of its fields
    variants: Mapping[str, Callable[..., str]]  # every template as a function, by variant


def ladder(rules: MatchingRules) -> dict[str, Level]:
    """The levels by label, in rank order (strongest first). Built once per index; do not modify."""
    levels: dict[str, Level] = {}
    for rank, label in enumerate(rules.evidence.ladder):
        m = MEANINGS[label]
        reasons = _REASONS[label]
        levels[label] = Level(label, rank, m.kind, getattr(rules.evidence, m.score_from), m.regional_child,
                              m.same_name, m.description, MappingProxyType(dict(m.templates)), reasons[""],
                              MappingProxyType(reasons))
    return levels


def markdown_table(levels: dict[str, Level]) -> str:
    """The ladder as the Markdown table docs/architecture.md shows (for the default rules)."""
    rows = ["| rank | level | kind | score | regional child | same name | what it means | reason |",
            "|---|---|---|---|---|---|---|---|"]
    for level in levels.values():
        reasons = "<br>".join(f"{variant}: `{text}`" if variant else f"`{text}`"
                              for variant, text in level.templates.items())
        rows.append(f"| {level.rank} | `{level.label}` | {level.kind} | {level.score:.2f} | "
                    f"{'yes' if level.regional_child else 'no'} | {'yes' if level.same_name else 'no'} | "
                    f"{level.description} | {reasons} |")
    return "\n".join(rows) + "\n"


@dataclass(slots=True)
class Scored:
    features: AccountFeatures
    score: float
    level: Level  # its label is the candidate's evidence
    name_similarity: float
    reasons: list[str] = field(default_factory=list)

    @property
    def account_id(self) -> str:
        return self.features.account.id


def _best_name(lead: LeadFeatures, acc: AccountFeatures, weight: Weight, core_min: float) -> tuple[float, str, NormalizedName | None, NormalizedName | None]:
    """(similarity, level label, lead name, account name) of the best name pairing."""
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
        for ln in lead.names:
            key = ln.key
            if len(key) >= 4 and best[0] < 0.95 and acc.has_label(key):
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


def learned_alias(account: Account, name: NormalizedName, names: NameNormalizer | None) -> Learned | None:
    """The learned alias of ``account`` that ``name`` is a normalised form of, or None (also
    without a normaliser to tell)."""
    if not account.learned or names is None:
        return None
    for learned in account.learned:
        if learned[0] == ALIAS and name in names.names(learned[1]):
            return learned
    return None


def learned_domain(account: Account, domain: str) -> Learned | None:
    """The learned domain of ``account`` that is ``domain`` (registrable form, as learned), or None."""
    for learned in account.learned:
        if learned[0] == LEARNED_DOMAIN and learned[1] == domain:
            return learned
    return None


def _other_name(name: NormalizedName, account: Account, names: NameNormalizer | None) -> str:
    """How a reason quotes an account's name other than its first: the account's name itself when
    the other is written in it ('Meta (Facebook)', 'Look.io' read as 'lookio'), else that name
    (an alias of the account) and whose it is, and where a learned one was learned."""
    account_name = account.name
    if name.key in "".join(ch for ch in account_name.lower() if ch.isalnum()):
        return f"'{account_name}'"
    learned = learned_alias(account, name, names)
    if learned is not None:
        return f"'{learned[1]}' (a name of '{account_name}' learned from {provenance(learned)})"
    return f"'{name.text}' (a name of '{account_name}')"


def name_reason(level: Level, lead: LeadFeatures, acc: AccountFeatures, sim: float,
                ln: NormalizedName, an: NormalizedName | None, names: NameNormalizer | None = None) -> str:
    """The reason of a name level: how the lead's company name relates to the account's, in
    words a seller reads (``MEANINGS``). ``names``, the index's normaliser, tells a learned alias
    from the others (without it, a learned alias reads like any other)."""
    a = acc.account
    company = lead.lead.company
    quoted = f"'{company}'"
    label = level.label
    if label == "name_domain_label":
        owned = sorted(d for d in acc.domains if normalize.domain_label(d) == ln.key)
        return level.reason(lead=quoted, domains=", ".join(owned), account_id=a.id, account_name=a.name)
    if label == "name_exact" and (company == a.name or company.strip() == a.name.strip()):
        return level.reason(lead=quoted)
    account = f"'{a.name}'" if an is None or an == acc.names[0] else _other_name(an, a, names)
    if label == "name_exact" and ln == an and a.learned and an != acc.names[0]:
        learned = learned_alias(a, an, names)
        if learned is not None:
            return level.variants["learned"](lead=quoted, account_name=f"'{a.name}'", source=provenance(learned))
    if label == "name_exact":
        return level.variants["normalised" if ln == an else "reordered"](lead=quoted, account=account)
    if label == "name_core":
        short, long_ = (ln, an) if len(ln) <= len(an) else (an, ln)
        extra = ", ".join(f"'{t}'" for t in dict.fromkeys(long_) if t not in short)
        return level.reason(extra=extra, lead=quoted, account=account)
    if label == "name_acronym":
        if len(ln) == 1 and normalize.acronym(an) == ln[0]:
            return level.reason(short=quoted, long=account)
        return level.reason(short=account, long=quoted)
    if label == "name_similar":
        return level.reason(lead=quoted, account=account, similarity=sim)
    return level.reason(lead=quoted, account=account)


def _domain_reason(level: Level, domain: str, a: Account) -> str:
    """An owned-domain level's reason; a learned domain says so and where it was learned."""
    learned = learned_domain(a, domain) if a.learned else None
    if learned is not None:
        return level.variants["learned"](domain=domain, account_id=a.id, account_name=a.name,
                                         source=provenance(learned))
    return level.reason(domain=domain, account_id=a.id, account_name=a.name)


def _is_generic(name: NormalizedName, generic: frozenset[str]) -> bool:
    return generic.issuperset(name)  # every word of the name is a generic one


def score(lead: LeadFeatures, acc: AccountFeatures, levels: dict[str, Level], rules: MatchingRules,
          weight: Weight, generic: frozenset[str], names: NameNormalizer | None = None) -> Scored | None:
    """Score one candidate on the ladder ``levels`` (``ladder(rules)``), or None when there is no
    evidence worth a candidate. ``names``: the index's normaliser, for the reasons of learned
    aliases (``name_reason``)."""
    ev = rules.evidence
    a = acc.account
    reasons: list[str] = []
    sim, name_label, ln, an = _best_name(lead, acc, weight, rules.names.core_min_similarity)

    level = None
    if lead.email_domain and lead.email_domain in acc.domains:
        level = levels["email_domain"]
        reasons.append(_domain_reason(level, lead.email_domain, a))
    elif lead.website_domain and lead.website_domain in acc.domains:
        level = levels["website_domain"]
        reasons.append(_domain_reason(level, lead.website_domain, a))
    elif lead.email_domain and not lead.email_is_free and lead.email_domain in acc.contact_domains:
        level = levels["contact_domain"]
        reasons.append(level.reason(domain=lead.email_domain, account_id=a.id, account_name=a.name))

    if level is not None:
        s = level.score
        if ln is not None and sim >= 0.5:
            reasons.append(name_reason(levels[name_label], lead, acc, sim, ln, an, names))
        # name agreement only orders accounts that share a domain; it never lifts a domain match
        s += 0.009 * sim - 0.009
        return Scored(acc, min(1.0, s), level, sim, reasons)

    lead_label = normalize.domain_label(lead.email_domain) if lead.email_domain and not lead.email_is_free else None
    if lead_label is not None and acc.has_label(lead_label):
        level = levels["cctld_variant"]
        owned = ", ".join(sorted(d for d in acc.domains if normalize.domain_label(d) == lead_label))
        reasons.append(level.reason(domain=lead.email_domain, owned=owned, account_id=a.id, account_name=a.name))
        if sim >= rules.names.min_similarity:
            # siemens.de for siemens.com: weak alone, convincing with the same company name
            s = level.score + (1.0 - level.score) * 0.9 * sim
            reasons.append(name_reason(levels[name_label], lead, acc, sim, ln, an, names))
            return Scored(acc, min(1.0, s), level, sim, reasons)
        # weak evidence: review when the lead gave no company, less when its company differs
        if not lead.names:
            return Scored(acc, level.score, level, sim, reasons)
        reasons.append("but the company name does not agree")
        return Scored(acc, level.score * 0.9, level, sim, reasons)

    if ln is None or sim < rules.names.min_similarity:
        return None
    level = levels[name_label]
    if name_label == "name_similar":
        # a fuzzy similarity below 1 falls off fast: 0.95 of a name is often another company
        s = level.score * sim - (1.0 - sim) * 1.2
    else:
        s = level.score
    reasons.append(name_reason(level, lead, acc, sim, ln, an, names))
    if an is not None and _is_generic(an, generic):
        s = min(s, rules.thresholds.match - 0.05)
        reasons.append(f"the name '{a.name}' is made of common words only")

    own = lead.corporate_domain
    if own:
        # the lead's work domain is not one of this account's: the person may work for a
        # namesake. Only the very same name (a company that changed domains) may still match.
        if not level.same_name:
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
    return Scored(acc, max(0.0, min(1.0, s)), level, sim, reasons)
