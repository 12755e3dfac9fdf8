"""Plain data the routing core works on and answers with.

The edges (``api/routing/``) build ``RoutingInput`` from the match and the stored accounts and
opportunities, and hand ``decide`` (``matcher/routing/decide.py``) a ``TakeTurn``: the atomic,
stored round-robin turn (``api/routing/turns.py``), or a preview that takes none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from config.routing import Pool, Sla
from matcher.matching.types import Lead


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What routing needs to know of an account (built by the edge from stored rows)."""

    id: str
    name: str
    owner: str | None = None
    parent_id: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    industry: str | None = None
    employees: int | None = None
    fit_tier: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Skip:
    """A member who was considered and passed over, and why ("out of office until 2026-12-04")."""

    member: str
    reason: str


@dataclass(frozen=True, slots=True)
class Turn:
    """The outcome of taking a turn in a pool: who got it (None: nobody could), the pool's turn
    number (None for a preview), and everyone passed over on the way."""

    member: str | None
    turn: int | None
    skipped: tuple[Skip, ...] = ()


# (pool, unavailable member id -> reason) -> Turn
TakeTurn = Callable[[Pool, Mapping[str, str]], Turn]


@dataclass(frozen=True, slots=True)
class RoutingInput:
    decision: str  # the match decision: "matched" | "review" | "no_match"
    lead: Lead
    account: AccountFacts | None = None  # the matched account
    ancestors: tuple[AccountFacts, ...] = ()  # parent first, up to the ultimate parent
    children: tuple[AccountFacts, ...] = ()  # the matched account's direct children
    open_opportunity_owner: str | None = None
    source: str | None = None
    campaign_id: str | None = None
    # the matching rules' (MatchingRules.country_aliases): the lead's and the accounts' countries
    # are compared as ISO codes, read the way matching reads them
    country_aliases: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    owner: str | None  # the person who gets the lead, or None when a queue does
    queue: str | None
    rule: str  # the step that decided: "account_owner", "territory:dach", "round_robin:sdr", ...
    reason: str  # one sentence a seller reads
    pool: str | None = None
    turn: int | None = None
    considered: tuple[Skip, ...] = ()  # every member passed over, and why
    sla: Sla | None = None  # the SLA that applies (None for a queue)
