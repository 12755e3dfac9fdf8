"""Qualification rules (MQA) as validated data.

The defaults live in ``config/qualification.toml``; a deployment points
``LEADMATCH_QUALIFICATION_RULES`` at its own TOML, merged over the defaults the same way as the
matching rules (tables merge, lists and values replace).
``matcher.qualification.rules.compile_rules`` turns a ``QualificationRules`` into lookup tables
once; the core never reads files or the environment.

Every rule set has a ``version``, logged with every status transition it causes. It is the
``version`` string of the file when the file sets one, else a short hash of the rules' content, so
the same rules always carry the same version and a changed rule set never keeps an old name.
"""
from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.loading import merge_tables
from config.vocabulary import ACCOUNT_STATUSES, CONTACT_STATUSES, ActivityType, ContactStatus, Direction

DEFAULT_QUALIFICATION_PATH = Path(__file__).with_name("qualification.toml")

# Highest first: "min_seniority = director" admits c_level, vp and director.
SENIORITY_LEVELS: tuple[str, ...] = ("c_level", "vp", "director", "manager", "individual_contributor")
Seniority = Literal["c_level", "vp", "director", "manager", "individual_contributor"]

# The fixed vocabulary of the account decision list. The names are data (this table); what each
# one means is code (``matcher.qualification.conditions``), which checks at import that it
# implements exactly these.
ACCOUNT_CONDITIONS: dict[str, str] = {
    "flag_disqualified": "the account carries the manual Disqualified flag",
    "flag_partner": "the account carries the manual Partner flag",
    "active_contract": "a contract is active today (started, not yet ended)",
    "had_contract": "a contract has started at some point (the account is or was a customer)",
    "contract_in_renewal_window": "an active contract ends within renewal_window_days",
    "open_opportunity": "an opportunity of any type is open",
    "open_non_renewal_opportunity": "a new-business or expansion opportunity is open",
    "open_expansion_opportunity": "an expansion opportunity is open",
    "open_renewal_opportunity": "a renewal opportunity is open",
    "renewal_being_worked": "an open renewal opportunity whose stage moved since it opened, "
                            "or whose account has a contract ending within renewal_window_days",
    "contact_qualified": "a contact is Qualified",
    "contact_sales_working": "a contact is Sales Working",
    "contact_opportunity_open": "a contact is Opportunity Open",
    "contact_nurture": "a contact is in Nurture",
    "engaged_contact": "a contact qualified and is not yet in an opportunity or back in nurture "
                       "(Qualified or Sales Working)",
    "account_mqa": "engagement points >= engagement.mqa_points and distinct personas engaged in "
                   "the coverage window >= engagement.mqa_min_personas",
    "any_engagement": "someone at the account has ever earned engagement points",
    # dispositions after a close (account_dispositions; the one in force: the latest not superseded)
    "disposition_disqualified": "a disqualified disposition is in force and its until (if any) has not come",
    "disposition_nurture": "a closed-lost nurture track is in force, or a recycle whose date has not come",
    "disposition_restart": "back at the top of the funnel, or a recycle whose date has come "
                           "(engagement before it no longer counts)",
    "disposition_white_space": "a won account's white-space disposition is in force",
}
NEGATION_PREFIX = "not:"

# States a seller or an admin sets; automation never moves a contact out of them.
MANUAL_CONTACT_STATES: frozenset[str] = frozenset({"disqualified", "partner", "no_longer_with_company"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_patterns(patterns: list[str]) -> list[str]:
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {p!r}: {exc}") from None
    return patterns


class SeniorityRule(_Strict):
    level: Seniority
    patterns: list[str] = Field(min_length=1)

    _valid = field_validator("patterns")(_check_patterns)


class PersonaRule(_Strict):
    persona: str = Field(min_length=1)
    patterns: list[str] = Field(min_length=1)

    _valid = field_validator("patterns")(_check_patterns)


class Titles(_Strict):
    """Title -> (seniority, persona). A title is lower-cased, folded to ASCII, '&' read as 'and',
    punctuation turned into spaces and each word looked up in ``abbreviations`` before the
    patterns (Python regular expressions, searched) see it: "Sr. Dir., Sales Ops" reaches them as
    "senior director sales operations". The first rule whose pattern matches wins, so order matters."""

    abbreviations: dict[str, str] = {}
    seniority: list[SeniorityRule] = []
    personas: list[PersonaRule] = []


class QualifyingAction(_Strict):
    """An action a seller acts on, combined with fit gates on the account. Empty lists and unset
    bounds mean "any"."""

    name: str = Field(min_length=1)
    says: str = Field(min_length=1)  # the verb phrase of the reason: "requested a demo"
    activity_types: list[ActivityType] = Field(min_length=1)
    page_kinds: list[str] = []
    direction: Direction | None = None
    min_seniority: Seniority | None = None
    personas: list[str] = []
    # fit gates on the account
    fit_tiers: list[str] = []
    industries: list[str] = []  # compared case-insensitively
    min_employees: int | None = Field(None, ge=0)
    max_employees: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> "QualifyingAction":
        if self.min_employees is not None and self.max_employees is not None \
                and self.min_employees > self.max_employees:
            raise ValueError(f"qualifying action {self.name}: min_employees exceeds max_employees")
        return self


class Cap(_Strict):
    """At most ``max_points`` (after decay and multipliers) from these activity types together,
    per account or per contact."""

    name: str = Field(min_length=1)
    activity_types: list[ActivityType] = Field(min_length=1)
    max_points: float = Field(ge=0)
    per: Literal["account", "contact"] = "account"


class Engagement(_Strict):
    """Account engagement points: points per activity type (page views by page kind), times the
    multipliers of the person's seniority and persona, the account's fit tier and the event's
    direction (a multiplier of 0 excludes; a key not listed multiplies by 1; ``unknown`` is the key
    for a missing value), decayed by age, capped per activity group, summed over the account."""

    points: dict[ActivityType, float] = {}
    page_kind_points: dict[str, float] = {}  # page views of these kinds; others use points.page_view
    seniority_multipliers: dict[str, float] = {}
    persona_multipliers: dict[str, float] = {}
    tier_multipliers: dict[str, float] = {}
    direction_multipliers: dict[Direction, float] = {}
    caps: list[Cap] = []
    # none: points never fade; half_life: halve every half_life_days; linear: fade to 0 over
    # lifespan_days; window: full points for window_days, then none
    decay: Literal["none", "half_life", "linear", "window"] = "half_life"
    half_life_days: float | None = Field(None, gt=0)
    lifespan_days: float | None = Field(None, gt=0)
    window_days: float | None = Field(None, gt=0)
    # account-level MQA: points at or above mqa_points AND at least mqa_min_personas distinct
    # personas engaged within coverage_window_days
    mqa_points: float = Field(gt=0)
    mqa_min_personas: int = Field(1, ge=0)
    coverage_window_days: float = Field(30, gt=0)

    @field_validator("points", "page_kind_points", "seniority_multipliers", "persona_multipliers",
                     "tier_multipliers", "direction_multipliers")
    @classmethod
    def _not_negative(cls, v: dict) -> dict:
        bad = {k: x for k, x in v.items() if x < 0}
        if bad:
            raise ValueError(f"points and multipliers must not be negative: {bad}")
        return v

    @field_validator("seniority_multipliers")
    @classmethod
    def _known_levels(cls, v: dict) -> dict:
        unknown = set(v) - set(SENIORITY_LEVELS) - {"unknown"}
        if unknown:
            raise ValueError(f"unknown seniority levels {sorted(unknown)}; "
                             f"known: {', '.join(SENIORITY_LEVELS)}, unknown")
        return v

    @model_validator(mode="after")
    def _decay_parameter_and_caps(self) -> "Engagement":
        needed = {"half_life": "half_life_days", "linear": "lifespan_days", "window": "window_days"}
        param = needed.get(self.decay)
        if param and getattr(self, param) is None:
            raise ValueError(f"decay = {self.decay!r} needs engagement.{param}")
        seen: dict[str, str] = {}
        for cap in self.caps:
            for t in cap.activity_types:
                if t in seen:
                    raise ValueError(f"activity type {t} is in two caps: {seen[t]} and {cap.name}")
                seen[t] = cap.name
        return self


# A seller's moves of a contact (POST /v1/contacts/{id}/status): current status -> allowed targets.
# Nobody moves a contact *to* pre_qualified (it means "never engaged"; sending back is nurture) or
# to opportunity_open (opportunities do that).
DEFAULT_MANUAL_MOVES: dict[str, list[str]] = {
    "pre_qualified": ["nurture", "qualified", "sales_working", "disqualified", "partner", "no_longer_with_company"],
    "nurture": ["qualified", "sales_working", "disqualified", "partner", "no_longer_with_company"],
    "qualified": ["sales_working", "nurture", "disqualified", "partner", "no_longer_with_company"],
    "sales_working": ["nurture", "disqualified", "partner", "no_longer_with_company"],
    "opportunity_open": ["nurture", "disqualified", "partner", "no_longer_with_company"],
    "disqualified": ["nurture", "partner", "no_longer_with_company"],
    "partner": ["nurture", "disqualified", "no_longer_with_company"],
    "no_longer_with_company": ["nurture"],
}


class ContactRules(_Strict):
    # The first engagement moves a Pre-Qualified contact to Nurture (Pre-Qualified means "never
    # engaged", Nurture "engaged below the threshold"). Off: only qualifying actions move them.
    engagement_moves_to_nurture: bool = True
    # A qualifying action moves a contact from these to Qualified. Sales Working and Opportunity
    # Open contacts are already being worked and stay where they are.
    qualifying_action_moves_from: list[ContactStatus] = ["pre_qualified", "nurture"]
    # Becoming the primary contact of a new opportunity moves a contact from these to Opportunity
    # Open (domain: "Qualified contact"; Sales Working is a qualified contact being worked).
    opportunity_moves_from: list[ContactStatus] = ["qualified", "sales_working"]
    manual_moves: dict[ContactStatus, list[ContactStatus]] = DEFAULT_MANUAL_MOVES

    @field_validator("qualifying_action_moves_from", "opportunity_moves_from")
    @classmethod
    def _automation_leaves_manual_states(cls, v: list[str]) -> list[str]:
        locked = sorted(set(v) & MANUAL_CONTACT_STATES)
        if locked:
            raise ValueError(f"{locked} are manual states: automation never moves a contact out of them")
        return v

    @field_validator("manual_moves")
    @classmethod
    def _manual_targets(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for current, targets in v.items():
            bad = sorted(set(targets) & {"pre_qualified", "opportunity_open"})
            if bad:
                raise ValueError(f"manual_moves.{current}: {bad} cannot be a manual target "
                                 "(pre_qualified means never engaged; opportunities open opportunity_open)")
            if current in targets:
                raise ValueError(f"manual_moves.{current}: a move to the same status is not a move")
        return v


class DecisionEntry(_Strict):
    """``status`` applies when every named condition in ``when`` holds (``not:`` negates one);
    an empty ``when`` always holds."""

    status: Literal[ACCOUNT_STATUSES]  # type: ignore[valid-type]
    when: list[str] = []

    @field_validator("when")
    @classmethod
    def _known_conditions(cls, v: list[str]) -> list[str]:
        for name in v:
            bare = name.removeprefix(NEGATION_PREFIX)
            if bare not in ACCOUNT_CONDITIONS:
                raise ValueError(f"unknown condition {name!r}; known conditions: "
                                 f"{', '.join(ACCOUNT_CONDITIONS)} (each may be prefixed with "
                                 f"{NEGATION_PREFIX!r})")
        return v


class QualificationRules(_Strict):
    version: str = ""  # empty: filled with a hash of the content
    # a renewal counts as worked when an active contract ends within this many days (at most a
    # century: a contract's end minus the window must stay a date)
    renewal_window_days: int = Field(90, ge=0, le=36500)
    titles: Titles = Titles()
    qualifying_actions: list[QualifyingAction] = []
    engagement: Engagement
    contacts: ContactRules = ContactRules()
    # ordered, first match wins; the last entry must always match (empty ``when``)
    account_statuses: list[DecisionEntry] = Field(min_length=1)

    @field_validator("qualifying_actions")
    @classmethod
    def _unique_names(cls, v: list[QualifyingAction]) -> list[QualifyingAction]:
        names = [a.name for a in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"qualifying action names must be unique: {dup}")
        return v

    @field_validator("account_statuses")
    @classmethod
    def _decision_list_shape(cls, v: list[DecisionEntry]) -> list[DecisionEntry]:
        if v[-1].when:
            raise ValueError("the last account_statuses entry must have an empty `when` so that "
                             "every account gets exactly one status")
        manual = {"disqualified", "partner"}
        seen_other = False
        for i, entry in enumerate(v):
            if entry.status in manual and seen_other:
                raise ValueError(f"account_statuses[{i}] ({entry.status}): manual states must come "
                                 "before every other status (they win over everything)")
            seen_other = seen_other or entry.status not in manual
        return v

    @model_validator(mode="wrap")
    @classmethod
    def _version_from_content(cls, data, handler):  # noqa: ANN001, ANN206
        rules = handler(data)
        if rules.version:
            return rules
        return rules.model_copy(update={"version": content_version(rules)})


def content_version(rules: QualificationRules) -> str:
    """A short, stable hash of everything in the rules but their version."""
    payload = json.dumps(rules.model_dump(mode="json", exclude={"version"}), sort_keys=True,
                         separators=(",", ":"))
    return "sha-" + hashlib.sha256(payload.encode()).hexdigest()[:12]


def load_qualification_rules(path: str | Path | None = None) -> QualificationRules:
    """Default rules, with the TOML at ``path`` (if any) merged over them. An override that does
    not name its own version gets a content hash, not the defaults' version string."""
    data = tomllib.loads(DEFAULT_QUALIFICATION_PATH.read_text(encoding="utf-8"))
    if path is not None:
        override = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        if "version" not in override:
            data.pop("version", None)
        data = merge_tables(data, override)
    return QualificationRules.model_validate(data)


__all__ = [
    "ACCOUNT_CONDITIONS", "CONTACT_STATUSES", "DEFAULT_MANUAL_MOVES", "MANUAL_CONTACT_STATES",
    "NEGATION_PREFIX", "QualificationRules", "SENIORITY_LEVELS", "content_version",
    "load_qualification_rules",
]
