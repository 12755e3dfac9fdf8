"""Plain data the core works on: accounts, leads and match results.

Nothing here knows about HTTP, SQL or Redis; the edges (``api/``) build these objects from
requests and rows, and turn results back into JSON with ``MatchResult.to_dict()``.
"""
from __future__ import annotations

from dataclasses import dataclass

from matcher.fastdata import fast_init
from typing import Literal

Decision = Literal["matched", "review", "no_match"]


@fast_init
@dataclass(frozen=True, slots=True)
class Account:
    """An account as the matcher sees it.

    ``domains`` are the account's own web/email domains as stored (any case, with or without
    ``www.``); ``contact_domains`` are the registrable email domains learned from the account's
    contacts (weaker evidence than owned domains, but still evidence). ``aliases`` are other
    names the company is known by (trading names, former names).
    ``learned`` says which of the account's aliases and domains a person taught the service
    (``matcher/routing/review.py``): ``Learned`` records, whose values are also in ``aliases`` or
    ``domains``, so matching treats them like any other; only the reasons read this field, to say
    where a name or domain came from.
    The tie-break fields (open opportunity, customer, contact count, last activity) are filled by
    storage where it knows them; they default to "unknown / none".
    """

    id: str
    name: str
    domains: tuple[str, ...] = ()
    country: str | None = None
    region: str | None = None
    city: str | None = None
    parent_id: str | None = None
    owner: str | None = None
    phone: str | None = None
    aliases: tuple[str, ...] = ()
    contact_domains: tuple[str, ...] = ()
    has_open_opportunity: bool = False
    is_customer: bool = False
    contact_count: int = 0
    last_activity_at: float | None = None  # unix seconds
    learned: tuple[Learned, ...] = ()


# what a person taught: (kind "alias" or "domain", value as stored, source such as "review of lead
# L1", who). A plain tuple, not a record: it travels with the account through pickling, marshal
# (api/matching/index_snapshot.py) and the loading processes as it is.
Learned = tuple[str, str, str, str | None]
ALIAS = "alias"
DOMAIN = "domain"
LEARNED_KINDS = (ALIAS, DOMAIN)


def provenance(learned: Learned) -> str:
    """Where a learned name came from, as a reason says it: 'review of lead L1 (by jane@ours.com)'."""
    _, _, source, by = learned
    return f"{source} (by {by})" if by else source


@fast_init
@dataclass(frozen=True, slots=True)
class Lead:
    """An incoming person. Every field is optional; the API insists on email or company."""

    email: str | None = None
    company: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    phone: str | None = None
    website: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None

    def __reduce__(self) -> tuple:
        # pickled as its values: the slotted dataclass's own state functions run in Python and
        # cost several times as much, on both sides, for every lead ``match-file`` sends to a
        # matching process (``api/matching/commands.py``)
        return (Lead, (self.email, self.company, self.country, self.region, self.city, self.phone,
                       self.website, self.first_name, self.last_name, self.title))


@fast_init
@dataclass(frozen=True, slots=True)
class Candidate:
    account_id: str
    name: str
    score: float  # in [0, 1]
    evidence: str  # label of the strongest evidence level, e.g. "email_domain", "name_exact"
    reasons: tuple[str, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class Route:
    owner: str | None  # the seller who gets the lead, or None when a queue does
    account_id: str | None  # the account whose owner it is
    reason: str
    queue: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class MatchResult:
    decision: Decision
    account_id: str | None
    confidence: float
    candidates: tuple[Candidate, ...] = ()
    reasons: tuple[str, ...] = ()
    route: Route | None = None
    evidence: str | None = None  # label of the evidence level that decided

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "account_id": self.account_id,
            "confidence": round(self.confidence, 4),
            "evidence": self.evidence,
            "reasons": list(self.reasons),
            "candidates": [
                {
                    "account_id": c.account_id,
                    "name": c.name,
                    "score": round(c.score, 4),
                    "evidence": c.evidence,
                    "reasons": list(c.reasons),
                }
                for c in self.candidates
            ],
            "route": None
            if self.route is None
            else {
                "owner": self.route.owner,
                "account_id": self.route.account_id,
                "queue": self.route.queue,
                "reason": self.route.reason,
            },
        }

