"""Matching rules as validated data.

The defaults live in ``config/matching.toml`` next to this file; a deployment can point
``LEADMATCH_MATCHING_RULES`` at its own TOML, which is merged over the defaults (tables merge,
lists and values replace). The core (``matcher/``) receives a ``MatchingRules`` object
explicitly and never reads files or the environment itself.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.loading import merge_tables

DEFAULT_RULES_PATH = Path(__file__).with_name("matching.toml")

# The evidence ladder's levels, strongest first: the labels a candidate's evidence can have (the
# `evidence` of an answer and of its candidates). Which levels exist is fixed by the code that finds
# them, ``matcher/matching/evidence.py``, which checks at import that it knows exactly these; their
# order (`evidence.ladder`, by default this one) and their scores are rules.
EVIDENCE_LEVELS: tuple[str, ...] = (
    "email_domain", "website_domain", "contact_domain", "name_exact", "name_alias", "name_core",
    "name_domain_label", "cctld_variant", "name_similar", "name_acronym",
)

TieBreak = Literal[
    "stronger_evidence",
    "better_name",
    "same_country",
    "same_region",
    "same_city",
    "open_opportunity",
    "customer",
    "most_contacts",
    "most_recent_activity",
    "parent_over_child",
    "lowest_id",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Strict):
    # confidence at or above `match` (and clear of the runner-up by `margin`) -> matched
    match: float = Field(0.85, ge=0, le=1)
    # confidence at or above `review` -> review; below -> no_match
    review: float = Field(0.55, ge=0, le=1)
    # a different, unrelated account scoring within `margin` of the best makes it a review
    margin: float = Field(0.06, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.review > self.match:
            raise ValueError("thresholds.review must not exceed thresholds.match")
        return self


class Evidence(_Strict):
    """The evidence ladder's order and the scores of its levels. What each level means, its kind and
    the reason a seller reads: ``matcher/matching/evidence.py`` (and its table in docs/architecture.md)."""

    # the levels, strongest first: a level's rank is its position here. `stronger_evidence` breaks
    # ties by it, and a family's members scoring alike are told apart by it. Every level once.
    ladder: list[str] = list(EVIDENCE_LEVELS)
    # each level's score
    email_domain: float = 0.99  # lead email's registrable domain is a domain the account owns
    website_domain: float = 0.97  # lead's website is a domain the account owns
    contact_domain: float = 0.93  # domain learned from the account's contacts' emails
    name_exact: float = 0.92  # normalised names equal, no domain evidence either way
    name_alias: float = 0.9  # lead company is a configured alias of the account
    name_core: float = 0.9  # one name is the other plus light words: 'Admera Health' ~ 'Admera'
    name_domain_label: float = 0.88  # 'Stackdriver' is the name of stackdriver.com, owned by Google
    cctld_variant: float = 0.6  # siemens.de for an account owning siemens.com: weak on its own
    # name_similar has no score of its own: name_exact's, scaled by the similarity
    name_acronym: float = 0.7  # 'IBM' ~ 'International Business Machines'
    # bonuses and penalties added to the name/domain score
    name_agrees_with_domain: float = 0.05
    country_agrees: float = 0.04
    region_agrees: float = 0.02
    city_agrees: float = 0.02
    phone_agrees: float = 0.05
    country_disagrees: float = -0.25
    # a corporate email domain that belongs to no account makes a pure name match less certain:
    # the person may work for a namesake
    unknown_corporate_domain: float = -0.12

    @field_validator("ladder")
    @classmethod
    def _every_level_once(cls, ladder: list[str]) -> list[str]:
        unknown = [level for level in ladder if level not in EVIDENCE_LEVELS]
        if unknown:
            raise ValueError(f"unknown evidence level {', '.join(map(repr, unknown))}; "
                             f"the levels are {', '.join(EVIDENCE_LEVELS)}")
        missing = [level for level in EVIDENCE_LEVELS if level not in ladder]
        if missing:
            raise ValueError(f"the ladder misses {', '.join(map(repr, missing))}: it ranks every level once")
        twice = [level for level in EVIDENCE_LEVELS if ladder.count(level) > 1]
        if twice:
            raise ValueError(f"the ladder lists {', '.join(map(repr, twice))} more than once: it ranks every level once")
        return ladder


class Names(_Strict):
    # minimum weighted token similarity (0..1) for a name candidate to be scored at all
    min_similarity: float = Field(0.72, ge=0, le=1)
    # words that say little about which company is meant; weighted down in similarity
    generic_words: list[str] = []
    # extra legal forms to strip, beyond what cleanco knows (lower-case, without dots)
    legal_forms: list[str] = []
    # 'Admera Health' ~ 'Admera' counts as the same core name at this similarity or above
    core_min_similarity: float = Field(0.9, ge=0, le=1)
    # the weight of a generic word relative to a distinctive one
    generic_weight: float = Field(0.25, ge=0, le=1)
    # how many name candidates to score at most per lead (bounded work per lead)
    max_candidates: int = Field(25, ge=1, le=1000)
    # word candidates sharing less than this share of the lead's word weight are not scored
    min_shared_weight: float = Field(0.5, ge=0, le=1)
    # a name key shared by more accounts than this is too common to be used for blocking
    max_postings: int = Field(2000, ge=10)


class Routing(_Strict):
    # unmatched leads go here until territory rules exist
    fallback_queue: str = "sdr-queue"
    # leads whose account needs a human decision
    review_queue: str = "match-review"
    # regional accounts: a child whose name resembles its parent's this much is a regional office
    regional_name_similarity: float = Field(0.8, ge=0, le=1)


class MatchingRules(_Strict):
    version: str
    thresholds: Thresholds = Thresholds()
    evidence: Evidence = Evidence()
    names: Names = Names()
    tie_breaks: list[TieBreak] = [
        "stronger_evidence",
        "better_name",
        "same_country",
        "same_region",
        "open_opportunity",
        "customer",
        "most_contacts",
        "most_recent_activity",
        "lowest_id",
    ]
    # Tie-breaks that may settle a tie for an automatic match. A tie settled only by a later
    # one (most contacts, lowest id, ...) orders the candidates but goes to review: a wrong
    # match routes a buyer to the wrong seller.
    decisive_tie_breaks: list[TieBreak] = [
        "stronger_evidence", "better_name", "same_country", "same_region", "open_opportunity", "customer",
    ]
    # two names differ for `better_name` when their similarities differ by at least this
    better_name_gap: float = Field(0.1, ge=0, le=1)
    # company -> other names it is known by, both directions match: {"alphabet": ["google"]}
    aliases: dict[str, list[str]] = {}
    # country names and codes pycountry does not know: {"uk": "GB", "england": "GB"}
    country_aliases: dict[str, str] = {}
    routing: Routing = Routing()
    max_candidates_returned: int = Field(3, ge=1, le=10)


def load_matching_rules(path: str | Path | None = None) -> MatchingRules:
    """Default rules, with the TOML at ``path`` (if any) merged over them."""
    data = tomllib.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    if path is not None:
        data = merge_tables(data, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    return MatchingRules.model_validate(data)
