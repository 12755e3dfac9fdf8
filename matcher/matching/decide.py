"""From scored candidates to one decision: families, regional accounts, tie-breaks, thresholds
and the owner route (``matcher/routing/owner.py``). Pure functions; the index supplies the candidates and the family lookups.
"""
from __future__ import annotations

from typing import Callable

from config.matching import MatchingRules
from matcher.matching.keys import AccountFeatures, LeadFeatures
from matcher.matching.evidence import Scored
from matcher.matching.types import Candidate, MatchResult
from matcher.routing import owner

Lookup = Callable[[str], AccountFeatures | None]
Children = Callable[[str], tuple[str, ...]]


def family_root(start: AccountFeatures, lookup: Lookup, max_depth: int = 10) -> str:
    """Topmost known ancestor of an account; stops on a missing parent or a cycle. Most accounts
    have no parent: they are their own root, without a lookup."""
    current = start.account.id
    f: AccountFeatures | None = start
    seen = {current}
    for _ in range(max_depth):
        parent = f.account.parent_id if f else None
        if not parent or parent in seen:
            break
        f = lookup(parent)
        if f is None:
            break
        seen.add(parent)
        current = parent
    return current


def _tie_key(name: str, s: Scored, lead: LeadFeatures, gap: float):
    a = s.features
    if name == "stronger_evidence":
        return s.level.rank
    if name == "better_name":
        return -round(s.name_similarity / gap) if gap else -s.name_similarity
    if name == "same_country":
        return 0 if lead.country and a.country == lead.country else 1
    if name == "same_region":
        return 0 if lead.region and a.region == lead.region else 1
    if name == "same_city":
        return 0 if lead.city and a.city == lead.city else 1
    if name == "open_opportunity":
        return 0 if a.account.has_open_opportunity else 1
    if name == "customer":
        return 0 if a.account.is_customer else 1
    if name == "most_contacts":
        return -a.account.contact_count
    if name == "most_recent_activity":
        return -(a.account.last_activity_at or 0.0)
    if name == "parent_over_child":
        return 0 if not a.account.parent_id else 1
    if name == "lowest_id":
        return a.account.id
    raise ValueError(f"unknown tie-break {name}")


def break_tie(tied: list[Scored], lead: LeadFeatures, rules: MatchingRules) -> tuple[list[Scored], str | None]:
    """Order tied candidates by the configured chain; name the tie-break that split the first two."""
    chain = rules.tie_breaks
    gap = rules.better_name_gap
    ordered = sorted(tied, key=lambda s: tuple(_tie_key(n, s, lead, gap) for n in chain))
    if len(ordered) < 2:
        return ordered, None
    first, second = ordered[0], ordered[1]
    for n in chain:
        if _tie_key(n, first, lead, gap) != _tie_key(n, second, lead, gap):
            return ordered, n
    return ordered, None


def pick_regional(chosen: AccountFeatures, lead: LeadFeatures, lookup: Lookup, children: Children,
                  similarity: Callable[[AccountFeatures, AccountFeatures], float],
                  rules: MatchingRules) -> tuple[AccountFeatures, str | None]:
    """When evidence points at a parent, the lead's country (then region) picks its regional child.

    Only children whose name resembles the parent's count as regional offices ('Acme GmbH' under
    'Acme Corporation'); an acquired company with its own name under a parent is not one.
    """
    if not lead.country:
        return chosen, None
    # before the children are looked up: a parent with many children is common, and each
    # child is unpacked on first use (``AccountIndex.restore``)
    if chosen.country == lead.country and (not lead.region or chosen.region in (None, lead.region)):
        return chosen, None
    kids = [f for f in (lookup(c) for c in children(chosen.account.id)) if f is not None]
    if not kids:
        return chosen, None
    same_country = [k for k in kids if k.country == lead.country]
    if lead.region:
        same_region = [k for k in same_country if k.region == lead.region]
        if same_region:
            same_country = same_region
        elif chosen.country == lead.country:
            return chosen, None
    regional = [k for k in same_country if similarity(k, chosen) >= rules.routing.regional_name_similarity]
    if len(regional) != 1:
        return chosen, None
    child = regional[0]
    where = lead.country if not lead.region or child.region != lead.region else f"{lead.country}/{lead.lead.region}"
    return child, f"lead country {where} selects the regional account {child.account.name} ({child.account.id})"


def decide(lead: LeadFeatures, scored: list[Scored], rules: MatchingRules, lookup: Lookup,
           children: Children, similarity: Callable[[AccountFeatures, AccountFeatures], float],
           notes: list[str]) -> MatchResult:
    th = rules.thresholds
    if not scored:
        reasons = notes + ["no account shares the lead's domain or a similar company name"]
        return MatchResult("no_match", None, 0.0, (), tuple(reasons),
                           owner.route_for("no_match", None, lookup, rules), None)

    # one entry per family: its best-scoring member stands for it
    best_per_family: dict[str, Scored] = {}
    for s in scored:
        root = family_root(s.features, lookup)
        cur = best_per_family.get(root)
        if cur is None or (s.score, -s.level.rank) > (cur.score, -cur.level.rank):
            best_per_family[root] = s
    families = sorted(best_per_family.values(), key=lambda s: s.score, reverse=True)
    top = families[0]
    tied = [s for s in families if s.score >= top.score - th.margin]
    reasons: list[str] = list(notes)
    ambiguous = False
    if len(tied) > 1:
        ordered, splitter = break_tie(tied, lead, rules)
        top = ordered[0]
        runner = ordered[1]
        if splitter is not None and splitter in rules.decisive_tie_breaks:
            reasons.append(
                f"{runner.features.account.name} ({runner.account_id}) scored alike; "
                f"{splitter.replace('_', ' ')} decides")
        else:
            ambiguous = True
            how = f"; {splitter.replace('_', ' ')} orders them" if splitter else ""
            reasons.append(
                f"ambiguous: {top.features.account.name} ({top.account_id}) and "
                f"{runner.features.account.name} ({runner.account_id}) score alike{how}")
        families = ordered + [s for s in families if s not in tied]

    chosen = top.features
    regional_note = None
    if top.level.regional_child:
        chosen, regional_note = pick_regional(top.features, lead, lookup, children, similarity, rules)
    confidence = top.score
    if confidence >= th.match and not ambiguous:
        decision = "matched"
    elif confidence >= th.review:
        decision = "review"
    else:
        decision = "no_match"

    reasons = top.reasons + reasons
    if regional_note:
        reasons.append(regional_note)
    if decision == "review" and not ambiguous:
        reasons.append(f"confidence {confidence:.2f} is below the automatic-match threshold {th.match:.2f}")
    elif decision == "no_match":
        reasons.append(f"best candidate scores {confidence:.2f}, below the review threshold {th.review:.2f}")

    candidates = []
    for s in families[: rules.max_candidates_returned]:
        candidates.append(Candidate(s.account_id, s.features.account.name, round(s.score, 4), s.level.label, tuple(s.reasons)))
    account_id = chosen.account.id if decision == "matched" else None
    return MatchResult(decision, account_id, confidence, tuple(candidates), tuple(reasons),
                       owner.route_for(decision, chosen, lookup, rules), top.level.label)
