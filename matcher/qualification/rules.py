"""The qualification rules compiled into lookup tables, once per rule set.

``compile_rules(rules)`` turns a validated ``config.qualification.QualificationRules`` into a
``CompiledQualification``: points and cap slot per activity kind (memoised), the qualifying
actions with their gates as sets and ranks, decay as a function of age, the account decision list
as bit masks over the named conditions (``matcher.qualification.conditions``), the manual move
matrix and the title classifier. ``matcher.qualification.evaluate`` then does dict lookups and
arithmetic per event.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from typing import Mapping

from config.qualification import (ACCOUNT_CONDITIONS, MANUAL_CONTACT_STATES, NEGATION_PREFIX, SENIORITY_LEVELS,
                                  QualificationRules, QualifyingAction)
from matcher.qualification.ledger import CONTACT_STATUSES, AccountProfile
from matcher.qualification.persona import TitleClassifier

__all__ = ["ACCOUNT_MQA", "ActivityKind", "CONDITION_BITS", "CompiledAction", "CompiledQualification",
           "compile_rules", "manual_move_table"]

_DAY_SECONDS = 86_400.0
# One bit per named condition (matcher.qualification.conditions tests them): the facts of an
# account at a time are an int, and a decision-list entry is two masks (must hold, must not
# hold), so deciding is a few integer operations per entry. account_mqa is the exception: it is
# decided only when an entry asks for it (matcher.qualification.evaluate).
CONDITION_BITS = {name: 1 << i for i, name in enumerate(ACCOUNT_CONDITIONS)}
ACCOUNT_MQA = "account_mqa"


@dataclass(frozen=True, slots=True)
class CompiledAction:
    """A qualifying action as compiled: its gates as sets and ranks."""

    name: str
    says: str
    direction: str | None
    max_rank: int | None  # index in SENIORITY_LEVELS a contact's seniority must not exceed
    personas: frozenset[str] | None
    fit_tiers: frozenset[str] | None
    industries: frozenset[str] | None
    min_employees: int | None
    max_employees: int | None
    config: QualifyingAction  # as configured: the gates' values in their order, for reasons

    @classmethod
    def of(cls, a: QualifyingAction) -> "CompiledAction":
        return cls(
            name=a.name, says=a.says, direction=a.direction,
            max_rank=SENIORITY_LEVELS.index(a.min_seniority) if a.min_seniority else None,
            personas=frozenset(a.personas) or None,
            fit_tiers=frozenset(a.fit_tiers) or None,
            industries=frozenset(i.casefold() for i in a.industries) or None,
            min_employees=a.min_employees, max_employees=a.max_employees, config=a,
        )

    def fits(self, account: AccountProfile) -> bool:
        if self.fit_tiers is not None and account.fit_tier not in self.fit_tiers:
            return False
        if self.industries is not None and (account.industry or "").casefold() not in self.industries:
            return False
        if self.min_employees is not None or self.max_employees is not None:
            n = account.employees
            if n is None or (self.min_employees is not None and n < self.min_employees) \
                    or (self.max_employees is not None and n > self.max_employees):
                return False
        return True

    def fit_text(self, account: AccountProfile) -> str:
        """'; account is ICP tier 1, Software, 250 employees': the gates this action used."""
        parts = []
        if self.fit_tiers is not None:
            parts.append(f"ICP tier {account.fit_tier}")
        if self.industries is not None:
            parts.append(account.industry or "")
        if self.min_employees is not None or self.max_employees is not None:
            parts.append(f"{account.employees} employees")
        return f"; account is {', '.join(parts)}" if parts else ""

    def gate_failures(self, account: AccountProfile, seniority: str | None, persona: str | None) -> list[str]:
        """Why this action's gates refuse this account and person, one phrase per gate that
        refuses, in the order account fit (tier, industry, employees), seniority, persona; empty
        when every gate admits them. The reason of a qualifying action that did not qualify
        (``matcher.qualification.evaluate``); it decides nothing, the checks there do."""
        a = self.config
        out = []
        if self.fit_tiers is not None and account.fit_tier not in self.fit_tiers:
            tiers = ", ".join(a.fit_tiers)
            out.append(f"fit tier {account.fit_tier} is not a qualifying tier ({tiers})" if account.fit_tier
                       is not None else f"the account has no fit tier (qualifying tiers: {tiers})")
        if self.industries is not None and (account.industry or "").casefold() not in self.industries:
            industries = ", ".join(a.industries)
            out.append(f"industry {account.industry} is not a qualifying industry ({industries})" if account.industry
                       else f"the account has no industry (qualifying industries: {industries})")
        if self.min_employees is not None or self.max_employees is not None:
            n = account.employees
            if self.max_employees is None:
                wanted = f"at least {self.min_employees}"
            elif self.min_employees is None:
                wanted = f"at most {self.max_employees}"
            else:
                wanted = f"{self.min_employees} to {self.max_employees}"
            if n is None:
                out.append(f"the account's employee count is unknown (qualifying: {wanted})")
            elif (self.min_employees is not None and n < self.min_employees) \
                    or (self.max_employees is not None and n > self.max_employees):
                out.append(f"{n} employees is not a qualifying size ({wanted})")
        if self.max_rank is not None:
            needed = _label(a.min_seniority)  # type: ignore[arg-type]
            if seniority is None:
                out.append(f"the title gives no seniority (minimum: {needed})")
            elif SENIORITY_LEVELS.index(seniority) > self.max_rank:
                out.append(f"seniority {_label(seniority)} is below the minimum ({needed})")
        if self.personas is not None and persona not in self.personas:
            personas = ", ".join(a.personas)
            out.append(f"persona {persona} is not a qualifying persona ({personas})" if persona is not None
                       else f"the title gives no persona (qualifying personas: {personas})")
        return out


def _label(value: str) -> str:
    """'individual_contributor' -> 'individual contributor'."""
    return value.replace("_", " ")


# (points, cap slot, cap counted per contact, qualifying actions) of one
# (activity type, page kind, direction)
ActivityKind = tuple[float, int, bool, tuple[CompiledAction, ...]]


def _decay_function(kind: str, half_life: float | None, lifespan: float | None,
                    window: float | None) -> Callable[[float], float]:
    """age in seconds -> share of the points still counted."""
    if kind == "half_life":
        rate = math.log(2) / (half_life * _DAY_SECONDS)  # type: ignore[operator]
        return lambda age: math.exp(-age * rate)
    if kind == "linear":
        span = lifespan * _DAY_SECONDS  # type: ignore[operator]
        return lambda age: 1.0 - age / span if age < span else 0.0
    if kind == "window":
        span = window * _DAY_SECONDS  # type: ignore[operator]
        return lambda age: 1.0 if age < span else 0.0
    return lambda age: 1.0


class CompiledQualification:
    """Rules turned into lookup tables once, so per-event work is dict lookups and arithmetic."""

    def __init__(self, rules: QualificationRules) -> None:
        self.rules = rules
        self.version = rules.version
        self.titles = TitleClassifier(rules.titles)
        e = rules.engagement
        self._points = dict(e.points)
        self._page_kind_points = dict(e.page_kind_points)
        self._cap_of_type: dict[str, tuple[int, bool]] = {}
        for slot, cap in enumerate(e.caps):
            for t in cap.activity_types:
                self._cap_of_type[t] = (slot, cap.per == "contact")
        # one slot per cap, and a last one without a limit for the activity types no cap names
        self.cap_limits: tuple[float, ...] = tuple(c.max_points for c in e.caps) + (math.inf,)
        self._actions_by_type: dict[str, list[tuple[CompiledAction, frozenset[str] | None]]] = {}
        self.action_rank = {a.name: i for i, a in enumerate(rules.qualifying_actions)}  # configured order
        for a in rules.qualifying_actions:
            for t in a.activity_types:
                self._actions_by_type.setdefault(t, []).append((CompiledAction.of(a), frozenset(a.page_kinds) or None))
        self.kinds: dict[tuple[str, str | None, str | None], ActivityKind] = {}  # memo of kind()
        self.seniority_multipliers = dict(e.seniority_multipliers)
        self.persona_multipliers = dict(e.persona_multipliers)
        self.tier_multipliers = dict(e.tier_multipliers)
        self.direction_multipliers: dict[str | None, float] = dict(e.direction_multipliers)
        self.decay_kind = e.decay
        self.decay = _decay_function(e.decay, e.half_life_days, e.lifespan_days, e.window_days)
        self.decay_span = (None if e.decay in ("none", "half_life") else
                           (e.lifespan_days if e.decay == "linear" else e.window_days) * _DAY_SECONDS)
        self.half_life_rate = math.log(2) / (e.half_life_days * _DAY_SECONDS) if e.decay == "half_life" else 0.0
        self.coverage_window = e.coverage_window_days * _DAY_SECONDS
        self.mqa_points = e.mqa_points
        self.mqa_min_personas = e.mqa_min_personas
        self.renewal_window_days = rules.renewal_window_days
        c = rules.contacts
        self.engagement_moves_to_nurture = c.engagement_moves_to_nurture
        self.qualify_from = frozenset(c.qualifying_action_moves_from)
        # statuses below Qualified a qualifying action does not move a contact out of (none by
        # default): the action did not qualify, and the reasons say so
        self.qualify_refused_from = frozenset({"pre_qualified", "nurture"}) - self.qualify_from
        self._qualify_from_text = ", ".join(_label(s) for s in CONTACT_STATUSES if s in self.qualify_from)
        self.opportunity_from = frozenset(c.opportunity_moves_from)
        self.manual_moves = manual_move_table(c.manual_moves)
        self.seniority_rank: dict[str | None, int] = {level: i for i, level in enumerate(SENIORITY_LEVELS)}
        # (status, ((condition, negated), ...)) as configured, and as bit masks for deciding
        self.decision: tuple[tuple[str, tuple[tuple[str, bool], ...]], ...] = tuple(
            (entry.status, tuple((n.removeprefix(NEGATION_PREFIX), n.startswith(NEGATION_PREFIX))
                                 for n in entry.when))
            for entry in rules.account_statuses)
        self.decision_masks = tuple(_entry_masks(status, conditions) for status, conditions in self.decision)
        self._decisions: dict[int, tuple[int, int, bool]] = {}  # memo of decide(); facts repeat a lot
        # The engagement summary closes every account's reasons, unless the entry that matched
        # already gave it (its status is about engagement) or its status is a manual flag.
        self.entry_explains_engagement = tuple(
            status in ("disqualified", "partner")
            or any(name in ("account_mqa", "any_engagement") and not negated for name, negated in conditions)
            for status, conditions in self.decision)
        self.points_text = f" engagement points (MQA threshold {self.mqa_points:g}) from "
        self.coverage_text = f" engaged in the last {e.coverage_window_days:g} days: "
        self.coverage_needs_text = f" (MQA needs {self.mqa_min_personas})"

    def decide(self, facts: int) -> tuple[int, int, bool]:
        """For the facts (bits of every condition but account_mqa): the index of the first entry
        that holds when account_mqa is false, the same when it is true, and whether any entry
        asks account_mqa before one matches (if not, both indexes are the same)."""
        found = self._decisions.get(facts)
        if found is None:
            when_false, asked = self._first_entry(facts, False)
            when_true, _ = self._first_entry(facts, True)
            found = (when_false, when_true, asked)
            if len(self._decisions) < 100_000:
                self._decisions[facts] = found
        return found

    def _first_entry(self, facts: int, mqa_value: bool) -> tuple[int, bool]:
        asked = False
        for i, (_, required, forbidden, mqa) in enumerate(self.decision_masks):
            if facts & required == required and not facts & forbidden:
                if mqa is None:
                    return i, asked
                asked = True
                if mqa is mqa_value:
                    return i, asked
        raise AssertionError("the decision list ends with an entry that always holds")

    def contact_status_gate(self, status: str) -> str:
        """Why a qualifying action left a contact in ``status`` (a manual state, or one of
        ``qualify_refused_from``)."""
        if status in MANUAL_CONTACT_STATES:
            return (f"the contact's status was {_label(status)} at the time "
                    "(a manual status: only a seller moves a contact out of it)")
        return (f"the contact's status was {_label(status)} at the time "
                f"(qualifying actions move contacts only from: {self._qualify_from_text or 'none'})")

    def kind(self, activity_type: str, page_kind: str | None, direction: str | None) -> ActivityKind:
        """Points (with the direction's multiplier), cap slot and qualifying actions of an
        activity type, page kind and direction, memoised: a ledger has a handful of these."""
        key = (activity_type, page_kind, direction)
        found = self.kinds.get(key)
        if found is not None:
            return found
        if activity_type == "page_view" and page_kind in self._page_kind_points:
            points = float(self._page_kind_points[page_kind])  # type: ignore[index]
        else:
            points = float(self._points.get(activity_type, 0.0))  # type: ignore[call-overload]
        points *= self.direction_multipliers.get(direction, 1.0)
        slot, per_contact = self._cap_of_type.get(activity_type, (len(self.cap_limits) - 1, False))
        actions = tuple(a for a, kinds in self._actions_by_type.get(activity_type, ())
                        if (kinds is None or page_kind in kinds) and (a.direction is None or a.direction == direction))
        found = (points, slot, per_contact, actions)
        if len(self.kinds) < 10_000:  # page kinds are free text: keep the memo bounded
            self.kinds[key] = found
        return found


def compile_rules(rules: QualificationRules) -> CompiledQualification:
    return CompiledQualification(rules)


def manual_move_table(moves: Mapping[str, list[str]]) -> dict[str, tuple[str, ...]]:
    """current status -> the statuses a seller may move a contact to, for every contact status
    (matcher.qualification.contacts answers with it)."""
    return {s: tuple(moves.get(s, ())) for s in CONTACT_STATUSES}


def _entry_masks(status: str, conditions: tuple[tuple[str, bool], ...]) -> tuple[str, int, int, bool | None]:
    """(status, bits that must hold, bits that must not, what account_mqa must be or None)."""
    required = forbidden = 0
    mqa: bool | None = None
    for name, negated in conditions:
        if name == ACCOUNT_MQA:
            if mqa is not None and mqa == negated:  # "account_mqa" and "not:account_mqa": never holds
                required |= CONDITION_BITS[ACCOUNT_MQA]
                forbidden |= CONDITION_BITS[ACCOUNT_MQA]
            mqa = not negated
        elif negated:
            forbidden |= CONDITION_BITS[name]
        else:
            required |= CONDITION_BITS[name]
    return status, required, forbidden, mqa
