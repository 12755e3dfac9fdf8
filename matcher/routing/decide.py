"""The routing ladder: who gets a lead once its match is decided.

A lead under review goes to the review queue. Any other lead climbs ``rules.ladder``; the first
step that names a person or a queue decides:

- ``account_owner`` (matched leads): by ``rules.owner_policy``, the matched account's owner (else
  the nearest owning ancestor's), the owner of the child account in the lead's country (and region,
  when the lead gave one), or the ultimate parent's owner. Neither of the last two finding an owner
  falls back to the first.
- ``opportunity_owner`` (matched leads): the owner of the account's open opportunity.
- ``territories``: the first territory rule that fires (``matcher/routing/territories.py``). A rule
  naming a member gives the lead to that member even when they are away, as an account owner gets
  their account's leads when away: they own the territory, and the SLA counts in their working
  hours (``matcher/routing/sla.py``). A rule naming a pool takes a turn in it.
- ``round_robin``: a turn in ``rules.default_pool``.
- ``catch_all``: ``rules.catch_all_queue``; also where a ladder without this step ends up.

A turn in a pool passes over the members who are away (``matcher/routing/availability.py``); who
gets it is ``take_turn``'s to say (the stored, atomic round robin, or a preview that takes none).
When nobody in the pool can take it, the pool's overflow decides: another pool (a turn there), a
queue, or (no overflow) the catch-all queue.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from config.routing import Pool, RoutingRules, Step
from matcher import normalize
from matcher.routing import territories
from matcher.routing.availability import require_aware, unavailable_reason
from matcher.routing.types import AccountFacts, RoutingDecision, RoutingInput, Skip, TakeTurn

__all__ = ["decide"]


def decide(inp: RoutingInput, rules: RoutingRules, now: datetime, take_turn: TakeTurn) -> RoutingDecision:
    """Who gets the lead at ``now`` (timezone-aware), with the rule that decided and why."""
    now = require_aware("now", now)
    if inp.decision == "review":
        return RoutingDecision(None, rules.review_queue, "review",
                               f"the account needs a human decision: queue {rules.review_queue}")
    for step in rules.ladder:
        decision = _STEPS[step](inp, rules, now, take_turn)
        if decision is not None:
            return decision
    return RoutingDecision(None, rules.catch_all_queue, "catch_all",
                           f"no step of the ladder named an owner: queue {rules.catch_all_queue}")


def _label(account: AccountFacts) -> str:
    return f"{account.name} ({account.id})"


def _away_note(owner: str, rules: RoutingRules, now: datetime) -> str:
    """"; not available now: paused" for a configured member who is away, else ""."""
    member = rules.member(owner)
    why = unavailable_reason(member, rules.schedules[member.schedule], now) if member is not None else None
    return f"; not available now: {why}" if why else ""


def _to_person(owner: str, rule: str, reason: str, rules: RoutingRules, now: datetime) -> RoutingDecision:
    return RoutingDecision(owner, None, rule, reason + _away_note(owner, rules, now), sla=rules.sla)


def _owned(account: AccountFacts, ancestors: tuple[AccountFacts, ...]) -> tuple[str, str] | None:
    """(owner, reason) of the account, else of its nearest owning ancestor."""
    if account.owner:
        return account.owner, f"{account.owner} owns account {_label(account)}"
    for parent in ancestors:
        if parent.owner:
            return parent.owner, f"{parent.owner} owns {_label(parent)}, the nearest owning parent of account " \
                                 f"{_label(account)}"
    return None


def _regional(inp: RoutingInput, account: AccountFacts) -> tuple[str, str] | None:
    country = normalize.country(inp.lead.country, inp.country_aliases)
    if country is None:
        return None
    region = (inp.lead.region or "").strip()
    for child in inp.children:
        if (child.owner and normalize.country(child.country, inp.country_aliases) == country
                and (not region or (child.region or "").strip().casefold() == region.casefold())):
            where = f"{country} {region}" if region else country
            return child.owner, f"{child.owner} owns {_label(child)}, the regional account for {where} of " \
                                f"{_label(account)}"
    return None


def _ultimate_parent(account: AccountFacts, ancestors: tuple[AccountFacts, ...]) -> tuple[str, str] | None:
    if ancestors and ancestors[-1].owner:
        top = ancestors[-1]
        return top.owner, f"{top.owner} owns {_label(top)}, the ultimate parent of account {_label(account)}"
    return None


def _account_owner(inp: RoutingInput, rules: RoutingRules, now: datetime,
                   take_turn: TakeTurn) -> RoutingDecision | None:
    account = inp.account
    if inp.decision != "matched" or account is None:
        return None
    found = None
    if rules.owner_policy == "regional":
        found = _regional(inp, account)
    elif rules.owner_policy == "ultimate_parent":
        found = _ultimate_parent(account, inp.ancestors)
    found = found or _owned(account, inp.ancestors)
    if found is None:
        return None
    return _to_person(found[0], "account_owner", found[1], rules, now)


def _opportunity_owner(inp: RoutingInput, rules: RoutingRules, now: datetime,
                       take_turn: TakeTurn) -> RoutingDecision | None:
    owner = inp.open_opportunity_owner
    if inp.decision != "matched" or not owner:
        return None
    on = f"account {_label(inp.account)}" if inp.account is not None else "the matched account"
    return _to_person(owner, "opportunity_owner", f"{owner} owns the open opportunity on {on}", rules, now)


def _territories(inp: RoutingInput, rules: RoutingRules, now: datetime, take_turn: TakeTurn) -> RoutingDecision | None:
    account = inp.account if inp.decision == "matched" else None
    facts = territories.facts(inp.lead, account, source=inp.source, campaign_id=inp.campaign_id,
                              decision=inp.decision, country_aliases=inp.country_aliases)
    territory = territories.first_territory(rules.territories, facts)
    if territory is None:
        return None
    rule = f"territory:{territory.id}"
    fired = f"territory {territory.id!r} ({territories.describe(territory, facts)}) sends it to"
    if territory.member is not None:
        return _to_person(territory.member, rule, f"{fired} {territory.member}", rules, now)
    assert territory.pool is not None  # config.routing.Territory names exactly one
    return _turn_in(territory.pool, rule, f"{fired} pool {territory.pool}", rules, now, take_turn)


def _round_robin(inp: RoutingInput, rules: RoutingRules, now: datetime, take_turn: TakeTurn) -> RoutingDecision | None:
    if rules.default_pool is None:
        return None
    pool = rules.default_pool
    return _turn_in(pool, f"round_robin:{pool}", f"round robin in pool {pool}", rules, now, take_turn)


def _catch_all(inp: RoutingInput, rules: RoutingRules, now: datetime, take_turn: TakeTurn) -> RoutingDecision:
    queue = rules.catch_all_queue
    return RoutingDecision(None, queue, "catch_all", f"no earlier step of the ladder named an owner: queue {queue}")


_STEPS: dict[Step, Callable[[RoutingInput, RoutingRules, datetime, TakeTurn], RoutingDecision | None]] = {
    "account_owner": _account_owner,
    "opportunity_owner": _opportunity_owner,
    "territories": _territories,
    "round_robin": _round_robin,
    "catch_all": _catch_all,
}


def _weights(pool: Pool) -> str:
    return ":".join(f"{m.weight:g}" for m in pool.members)


def _pool(pool_id: str, rules: RoutingRules) -> Pool:
    pool = rules.pool(pool_id)
    if pool is None:  # config.routing.RoutingRules refuses a reference to an unknown pool
        raise ValueError(f"unknown pool {pool_id!r}")
    return pool


def _unavailable(pool: Pool, rules: RoutingRules, now: datetime) -> dict[str, str]:
    out = {}
    for pm in pool.members:
        member = rules.member(pm.member)
        if member is None:  # config.routing.RoutingRules refuses a pool member who is not a member
            raise ValueError(f"pool {pool.id!r}: unknown member {pm.member!r}")
        why = unavailable_reason(member, rules.schedules[member.schedule], now)
        if why is not None:
            out[pm.member] = why
    return out


def _turn_in(pool_id: str, rule: str, intro: str, rules: RoutingRules, now: datetime,
             take_turn: TakeTurn) -> RoutingDecision:
    """A turn in the pool, following its overflow while nobody in a pool can take the lead.
    ``intro`` says how the lead came to the pool; the reason goes on from it."""
    considered: list[Skip] = []
    tried: list[str] = []
    reason = intro
    while True:
        pool = _pool(pool_id, rules)
        tried.append(pool.id)
        unavailable = _unavailable(pool, rules, now)
        turn = take_turn(pool, unavailable)
        # take_turn names whom it passed over; the members who were away and that it did not
        # name were passed over too
        named = {s.member for s in turn.skipped}
        skipped = [*turn.skipped, *(Skip(m.member, unavailable[m.member]) for m in pool.members
                                    if m.member in unavailable and m.member not in named)]
        considered.extend(skipped)
        if turn.member is not None:
            got = f"{reason}: {turn.member}'s turn (weights {_weights(pool)})"
            return RoutingDecision(turn.member, None, rule, got, pool=pool.id, turn=turn.turn,
                                   considered=tuple(considered), sla=pool.sla or rules.sla)
        reason += f": nobody in pool {pool.id} is available ({'; '.join(f'{s.member}: {s.reason}' for s in skipped)})"
        overflow = pool.overflow
        if overflow is not None and overflow.pool is not None and overflow.pool not in tried:
            pool_id, rule = overflow.pool, f"overflow:{overflow.pool}"
            reason += f": overflow to pool {pool_id}"
            continue
        # no overflow, or (refused by the config, but never an endless loop) back to a pool tried
        queue = overflow.queue if overflow is not None and overflow.queue is not None else rules.catch_all_queue
        return RoutingDecision(None, queue, f"overflow:{queue}", f"{reason}: queue {queue}",
                               considered=tuple(considered))
