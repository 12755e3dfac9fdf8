"""Account qualification (MQA): one account's ledger + the rules -> contact statuses, the account
status, since when and why. Pure: no I/O, no clock (the caller passes ``as_of``), no randomness.

How an account is evaluated (the statuses and the choices made where they leave room are in
docs/qualification.md):

1. Every contact's title gives its seniority and persona (``matcher.qualification.persona``, cached by title).
2. One pass over the activities up to ``as_of``: each earns points (activity type, page kind,
   multipliers of seniority, persona, account tier and direction; 0 excludes), decayed by age,
   summed per cap group and capped; personas engaged within the coverage window are counted; the
   qualifying actions among them are noted. Floating sums use ``math.fsum`` (exactly rounded), so
   the order of the ledger's tuples cannot change a total, not even in the last bit.
3. Each contact's status is replayed from the entries that can move it, in a total order
   (time, kind rank, id), so ingestion order never matters: first engagement (-> nurture),
   qualifying actions (-> qualified), opportunities it is the primary contact of opening
   (-> opportunity_open) and closing (-> nurture), and manual moves (applied as recorded). Automation
   never moves a contact out of disqualified, partner or no_longer_with_company.
4. The account status is the first entry of the configured decision list whose named conditions
   all hold at ``as_of``. Its ``since`` is found by walking back over the times at which any
   condition can change and re-deciding just before each; the first time the decision differs is
   when the current status began.
5. Reasons are built once per account from what step 2 aggregated, never per event.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter, itemgetter
from typing import Callable, Iterable, Mapping

from config.qualification import (
    ACCOUNT_CONDITIONS,
    DEFAULT_MANUAL_MOVES,
    MANUAL_CONTACT_STATES,
    NEGATION_PREFIX,
    SENIORITY_LEVELS,
    QualificationRules,
    QualifyingAction,
)
from matcher.qualification.ledger import (
    ACTIVITY_TYPES,
    CONTACT_STATUSES,
    OPPORTUNITY_TYPES,
    AccountEvaluation,
    AccountLedger,
    AccountProfile,
    Activity,
    Contact,
    ContactState,
    Opportunity,
    Reason,
)
from matcher.qualification.persona import TitleClassifier

__all__ = [
    "CompiledQualification", "IllegalContactMove", "Preview", "TransitionCell", "TransitionTally",
    "allowed_manual_moves", "compile_rules", "evaluate_account", "transition_matrix",
    "validate_manual_move",
]

# Stands for "before anything": an opportunity the CRM sent without any time.
NEG_INF = datetime.min.replace(tzinfo=UTC)
_JUST_BEFORE = timedelta(microseconds=1)  # the ledger's resolution: nothing lies between t - 1 µs and t
_ONE_DAY = timedelta(days=1)
_DAY_SECONDS = 86_400.0
_UNKNOWN = "unknown"  # key of the multiplier for a missing seniority, persona or tier
_TOP_EVENTS = 5  # contributing event ids named in a points reason

# Kinds of contact-replay entries; the number is also the rank among entries at the same time:
# an action before the opportunity it leads to, an opening before a closing, a seller's move last.
_ENGAGED, _QUALIFY, _OPP_OPEN, _OPP_CLOSE, _MANUAL = range(5)
_ENTRY_ORDER = itemgetter(0, 1, 2)
_FIRST = itemgetter(0)
_AGE = itemgetter(2)


# ---------------------------------------------------------------- compiled rules

@dataclass(frozen=True, slots=True)
class _Action:
    """A qualifying action with its gates as sets and ranks."""

    name: str
    says: str
    direction: str | None
    max_rank: int | None  # index in SENIORITY_LEVELS a contact's seniority must not exceed
    personas: frozenset[str] | None
    fit_tiers: frozenset[str] | None
    industries: frozenset[str] | None
    min_employees: int | None
    max_employees: int | None

    @classmethod
    def of(cls, a: QualifyingAction) -> "_Action":
        return cls(
            name=a.name, says=a.says, direction=a.direction,
            max_rank=SENIORITY_LEVELS.index(a.min_seniority) if a.min_seniority else None,
            personas=frozenset(a.personas) or None,
            fit_tiers=frozenset(a.fit_tiers) or None,
            industries=frozenset(i.casefold() for i in a.industries) or None,
            min_employees=a.min_employees, max_employees=a.max_employees,
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


# (points, cap slot, cap counted per contact, qualifying actions) of one
# (activity type, page kind, direction)
_Kind = tuple[float, int, bool, tuple[_Action, ...]]


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
        self._actions_by_type: dict[str, list[tuple[_Action, frozenset[str] | None]]] = {}
        for a in rules.qualifying_actions:
            for t in a.activity_types:
                self._actions_by_type.setdefault(t, []).append((_Action.of(a), frozenset(a.page_kinds) or None))
        self.kinds: dict[tuple[str, str | None, str | None], _Kind] = {}  # memo of kind()
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
        self.opportunity_from = frozenset(c.opportunity_moves_from)
        self.manual_moves = _manual_move_table(c.manual_moves)
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

    def kind(self, activity_type: str, page_kind: str | None, direction: str | None) -> _Kind:
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


def _entry_masks(status: str, conditions: tuple[tuple[str, bool], ...]) -> tuple[str, int, int, bool | None]:
    """(status, bits that must hold, bits that must not, what account_mqa must be or None)."""
    required = forbidden = 0
    mqa: bool | None = None
    for name, negated in conditions:
        if name == _MQA:
            if mqa is not None and mqa == negated:  # "account_mqa" and "not:account_mqa": never holds
                required |= _BIT[_MQA]
                forbidden |= _BIT[_MQA]
            mqa = not negated
        elif negated:
            forbidden |= _BIT[name]
        else:
            required |= _BIT[name]
    return status, required, forbidden, mqa


# ---------------------------------------------------------------- manual contact moves

class IllegalContactMove(ValueError):
    """A manual contact move the rules do not allow; ``allowed`` lists the moves that are (the
    API answers 409 with them)."""

    def __init__(self, current: str, target: str, allowed: tuple[str, ...]) -> None:
        self.current, self.target, self.allowed = current, target, allowed
        listed = ", ".join(allowed) or "none"
        super().__init__(f"a contact cannot be moved from {current} to {target}; allowed: {listed}")


def _manual_move_table(moves: Mapping[str, list[str]]) -> dict[str, tuple[str, ...]]:
    return {s: tuple(moves.get(s, ())) for s in CONTACT_STATUSES}


_DEFAULT_MOVES = _manual_move_table(DEFAULT_MANUAL_MOVES)


def allowed_manual_moves(current: str, rules: CompiledQualification | None = None) -> tuple[str, ...]:
    """The statuses a seller may move a contact in ``current`` to (the default matrix without
    rules)."""
    table = _DEFAULT_MOVES if rules is None else rules.manual_moves
    return table.get(current, ())


def validate_manual_move(current: str, target: str, rules: CompiledQualification | None = None) -> None:
    allowed = allowed_manual_moves(current, rules)
    if target not in allowed:
        raise IllegalContactMove(current, target, allowed)


# ---------------------------------------------------------------- evaluation

# One bit per named condition (config.qualification.ACCOUNT_CONDITIONS): the facts of an account
# at a time are an int, and a decision-list entry is two masks (must hold, must not hold), so
# deciding is a few integer operations per entry. account_mqa is the exception: it is computed only
# when an entry needs it, because before as_of it costs a pass over the activities.
_BIT = {name: 1 << i for i, name in enumerate(ACCOUNT_CONDITIONS)}
_FLAG_DISQUALIFIED = _BIT["flag_disqualified"]
_FLAG_PARTNER = _BIT["flag_partner"]
_ACTIVE_CONTRACT = _BIT["active_contract"]
_HAD_CONTRACT = _BIT["had_contract"]
_RENEWAL_WINDOW = _BIT["contract_in_renewal_window"]
_OPEN_OPPORTUNITY = _BIT["open_opportunity"]
_OPEN_NON_RENEWAL = _BIT["open_non_renewal_opportunity"]
_OPEN_EXPANSION = _BIT["open_expansion_opportunity"]
_OPEN_RENEWAL = _BIT["open_renewal_opportunity"]
_RENEWAL_WORKED = _BIT["renewal_being_worked"]
_CONTACT_QUALIFIED = _BIT["contact_qualified"]
_CONTACT_SALES_WORKING = _BIT["contact_sales_working"]
_CONTACT_OPPORTUNITY_OPEN = _BIT["contact_opportunity_open"]
_CONTACT_NURTURE = _BIT["contact_nurture"]
_ENGAGED_CONTACT = _BIT["engaged_contact"]
_ANY_ENGAGEMENT = _BIT["any_engagement"]
_MQA = "account_mqa"
# the contact statuses facts() looks at: whether any contact is in each of them
_FACT_STATUSES = frozenset({"qualified", "sales_working", "opportunity_open", "nurture"})

# One counted activity: (-decayed points, id, age in seconds at as_of, undecayed points,
# cap key, persona, occurred_at). Negated points first: sorted() puts the biggest contributors first.
_Record = tuple[float, str, float, float, object, str | None, datetime]
# A contact's replayed status: (status, since, the entry that caused it, [(time, old, new)])
_Replayed = tuple[str, datetime | None, tuple, list[tuple[datetime, str, str]]]


def _utc_day(t: datetime) -> date:
    return (t if t.tzinfo is UTC else t.astimezone(UTC)).date()


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time.min, UTC)


def _day_text(t: datetime) -> str:
    if t is NEG_INF:
        return "an unknown date"
    return (t if t.tzinfo is UTC else t.astimezone(UTC)).date().isoformat()


def _capped(rules: CompiledQualification, sums: Mapping[object, float]) -> float:
    """Total points from per-group sums (keyed by cap slot, or (slot, contact) for caps per
    contact), each held to its cap."""
    limits = rules.cap_limits
    parts = []
    for key, total in sums.items():
        limit = limits[key if key.__class__ is int else key[0]]  # type: ignore[index]
        parts.append(total if total < limit else limit)
    return math.fsum(parts)


class _Evaluation:
    """One ledger at ``as_of``: the aggregates of one pass over it, the contacts' replayed
    statuses, and the account facts at ``as_of`` or at an earlier time (to find ``since``)."""

    __slots__ = ("rules", "as_of", "today", "profile", "people", "records", "group_sums", "points",
                 "recent_personas", "mqa_now", "first_engagement", "opportunities", "contracts",
                 "replayed", "counts", "_mqa_run_cache", "_persona_ages")

    def __init__(self, ledger: AccountLedger, rules: CompiledQualification, as_of: datetime) -> None:
        self.rules = rules
        self.as_of = as_of
        self.today = _utc_day(as_of)
        self.profile = profile = ledger.account
        self._mqa_run_cache: tuple[datetime, datetime | None] | None | bool = False
        self._persona_ages: list[float] | None = None  # per persona, the age of its latest activity

        # -- people: [contact, seniority, persona, seniority rank, points multiplier,
        #    (time, id, activity) of the first engagement]
        classify, rank_of = rules.titles.classify, rules.seniority_rank
        sm, pm = rules.seniority_multipliers, rules.persona_multipliers
        tier = rules.tier_multipliers.get(profile.fit_tier if profile.fit_tier is not None else _UNKNOWN, 1.0)
        people: dict[str, list] = {}
        for c in ledger.contacts:
            seniority, persona = classify(c.title)
            people[c.id] = [c, seniority, persona, rank_of.get(seniority),
                            sm.get(seniority or _UNKNOWN, 1.0) * pm.get(persona or _UNKNOWN, 1.0) * tier, None]
        self.people = people
        stranger = sm.get(_UNKNOWN, 1.0) * pm.get(_UNKNOWN, 1.0) * tier  # activity of no known contact

        # -- one pass over the activities
        kinds_get, kind_of = rules.kinds.get, rules.kind
        coverage_window = rules.coverage_window
        # no decay and half-life decay are exp(-rate * age) inline; a function call per activity
        # would cost as much as the rest of the arithmetic
        exp, rate = math.exp, rules.half_life_rate
        decay = None if rules.decay_kind in ("none", "half_life") else rules.decay
        records: list[_Record] = []
        buckets: list[list[float]] = [[] for _ in rules.cap_limits]  # decayed points per cap slot
        per_contact: dict[tuple[int, str | None], list[float]] = {}  # ... per (slot, contact)
        qualifying: list[tuple[str, Activity, _Action]] = []
        recent_personas: set[str] = set()
        first_any: datetime | None = None
        fit: dict[str, bool] = {}
        people_get = people.get
        for a in ledger.activities:
            t = a.occurred_at
            if t > as_of:
                continue
            points, slot, by_contact, actions = (kinds_get((a.type, a.page_kind, a.direction))
                                                 or kind_of(a.type, a.page_kind, a.direction))
            cid = a.contact_id
            person = people_get(cid)  # type: ignore[arg-type]
            if points:
                w = points * (person[4] if person is not None else stranger)
                if w > 0:
                    age = (as_of - t).total_seconds()
                    decayed = w * (exp(-rate * age) if decay is None else decay(age))
                    if by_contact:
                        key: object = (slot, cid)
                        bucket = per_contact.get(key)  # type: ignore[call-overload]
                        if bucket is None:
                            per_contact[key] = bucket = []  # type: ignore[index]
                        bucket.append(decayed)
                    else:
                        key = slot
                        buckets[slot].append(decayed)
                    if person is None:
                        records.append((-decayed, a.id, age, w, key, None, t))
                    else:
                        persona = person[2]
                        records.append((-decayed, a.id, age, w, key, persona, t))
                        if persona is not None and age < coverage_window:
                            recent_personas.add(persona)
                        seen = person[5]
                        if seen is None or t < seen[0] or (t == seen[0] and a.id < seen[1]):
                            person[5] = (t, a.id, a)
                    if first_any is None or t < first_any:
                        first_any = t
            if actions and person is not None:
                for action in actions:
                    ok = fit.get(action.name)
                    if ok is None:
                        ok = fit[action.name] = action.fits(profile)
                    if ok and (action.max_rank is None or (person[3] is not None and person[3] <= action.max_rank)) \
                            and (action.personas is None or person[2] in action.personas):
                        qualifying.append((cid, a, action))  # type: ignore[arg-type]
                        break
        self.records = records
        # fsum is exactly rounded: the order of the activities cannot change a total
        group_sums: dict[object, float] = {
            slot: math.fsum(values) for slot, values in enumerate(buckets) if values}
        for key, values in per_contact.items():
            group_sums[key] = math.fsum(values)
        self.group_sums = group_sums
        self.points = _capped(rules, group_sums)
        self.recent_personas = recent_personas
        self.mqa_now = self.points >= rules.mqa_points and len(recent_personas) >= rules.mqa_min_personas
        self.first_engagement = first_any

        # -- opportunities and contracts up to as_of
        opportunities = []  # (opportunity, opened, closed or None while open, renewal stage moved at)
        for o in ledger.opportunities:
            opened, closed, moved = _opportunity_times(o, as_of)
            if opened is not None:
                opportunities.append((o, opened, closed, moved))
        self.opportunities = opportunities
        self.contracts = ledger.contracts

        # -- contact replay
        entries: dict[str, list[tuple]] = {}
        if rules.engagement_moves_to_nurture:
            for cid, person in people.items():
                if person[5] is not None:
                    t, aid, a = person[5]
                    entries[cid] = [(t, _ENGAGED, aid, a)]
        for cid, a, action in qualifying:
            entries.setdefault(cid, []).append((a.occurred_at, _QUALIFY, a.id, (action, a)))
        for o, opened, closed, _ in opportunities:
            cid = o.primary_contact_id
            if cid in people:
                bucket = entries.setdefault(cid, [])  # type: ignore[arg-type]
                bucket.append((opened, _OPP_OPEN, o.id, o))
                if closed is not None:
                    bucket.append((closed, _OPP_CLOSE, o.id, o))
        for m in ledger.manual_moves:
            if m.at <= as_of and m.contact_id in people:
                tie = f"{m.status}\x00{m.by or ''}\x00{m.note or ''}"  # orders equal-time moves
                entries.setdefault(m.contact_id, []).append((m.at, _MANUAL, tie, m))
        replayed = {cid: _replay(bucket, rules) for cid, bucket in entries.items()}
        self.replayed = replayed
        counts = {"pre_qualified": len(people) - len(replayed)}
        for r in replayed.values():
            counts[r[0]] = counts.get(r[0], 0) + 1
        self.counts = counts

    # ------------------------------------------------ facts and decision

    def facts(self, x: datetime, counts: Mapping[str, int]) -> int:
        """The conditions (but account_mqa) that hold at ``x``, as bits; ``counts`` are the
        contacts per status at ``x``."""
        m = 0
        p = self.profile
        if p.disqualified and (p.disqualified_at is None or p.disqualified_at <= x):
            m |= _FLAG_DISQUALIFIED
        if p.partner and (p.partner_at is None or p.partner_at <= x):
            m |= _FLAG_PARTNER
        if self.contracts:
            d = self.today if x is self.as_of else _utc_day(x)
            window = self.rules.renewal_window_days
            for c in self.contracts:
                if c.starts_on <= d:
                    m |= _HAD_CONTRACT
                    if c.ends_on is None or d <= c.ends_on:
                        m |= _ACTIVE_CONTRACT
                        if c.ends_on is not None and (c.ends_on - d).days <= window:
                            m |= _RENEWAL_WINDOW
        if self.opportunities:
            for o, opened, closed, moved in self.opportunities:
                if opened <= x and (closed is None or x < closed):
                    m |= _OPEN_OPPORTUNITY
                    if o.type == "renewal":
                        m |= _OPEN_RENEWAL
                        if moved is not None and moved <= x:
                            m |= _RENEWAL_WORKED
                    else:
                        m |= _OPEN_NON_RENEWAL
                        if o.type == "expansion":
                            m |= _OPEN_EXPANSION
            if m & _OPEN_RENEWAL and m & _RENEWAL_WINDOW:
                m |= _RENEWAL_WORKED
        if counts.get("qualified"):
            m |= _CONTACT_QUALIFIED | _ENGAGED_CONTACT
        if counts.get("sales_working"):
            m |= _CONTACT_SALES_WORKING | _ENGAGED_CONTACT
        if counts.get("opportunity_open"):
            m |= _CONTACT_OPPORTUNITY_OPEN
        if counts.get("nurture"):
            m |= _CONTACT_NURTURE
        if self.first_engagement is not None and self.first_engagement <= x:
            m |= _ANY_ENGAGEMENT
        return m

    def decide(self, facts: int, x: datetime) -> tuple[int, bool]:
        """(index of the first decision-list entry that holds at ``x``, whether account_mqa
        was asked)."""
        when_false, when_true, asked = self.rules.decide(facts)
        if not asked:
            return when_false, False
        return (when_true if self.mqa_at(x) else when_false), True

    def mqa_at(self, x: datetime) -> bool:
        if x is self.as_of:
            return self.mqa_now
        run = self.mqa_run()
        return run is not None and run[0] <= x and (run[1] is None or x < run[1])

    def since(self, status: str, mqa_asked: bool) -> datetime | None:
        """When ``status`` began: walking back over the times at which a fact can change, the
        first time just before which the decision was another status. None: as far back as the
        ledger goes.

        A time at which only contacts changed, and no status gained its first contact or lost
        its last, leaves every fact as it was and is not re-decided. account_mqa can change at
        times of its own (an activity pushing points over the threshold, decay pulling them
        under); they join the walk only once a decision needs account_mqa: until then no
        decision depended on it."""
        as_of = self.as_of
        changes = [change for r in self.replayed.values() for change in r[3]]
        times = self._fact_times()  # times other than contact changes
        if mqa_asked:
            times.update(self.mqa_boundaries())
        if not changes and not times:
            return None
        candidates = [c[0] for c in changes]
        candidates.extend(times)
        candidates.sort(reverse=True)
        changes.sort(key=_FIRST)  # stable: a contact's changes at one time stay in the order they happened
        counts = dict(self.counts)
        undo = len(changes) - 1
        decision = self.rules.decision_masks
        previous = None
        i = 0
        while i < len(candidates):
            t = candidates[i]
            i += 1
            if t == previous or t > as_of or t == NEG_INF:
                continue
            previous = t
            emptied_or_filled = False
            while undo >= 0 and changes[undo][0] >= t:  # contacts as they were just before t
                _, old, new = changes[undo]
                counts[new] -= 1
                had = counts.get(old, 0)
                counts[old] = had + 1
                if not emptied_or_filled and ((new in _FACT_STATUSES and not counts[new])
                                              or (old in _FACT_STATUSES and not had)):
                    emptied_or_filled = True
                undo -= 1
            if not emptied_or_filled and t not in times:
                continue
            x = t - _JUST_BEFORE
            entry, asked = self.decide(self.facts(x, counts), x)
            if asked and not mqa_asked:
                mqa_asked = True
                extra = [b for b in self.mqa_boundaries() if b < t]
                if extra:
                    times.update(extra)
                    candidates[i:] = sorted(candidates[i:] + extra, reverse=True)
            if decision[entry][0] != status:
                return t
        return None

    def _fact_times(self) -> set[datetime]:
        """Times at which a fact other than the contacts' statuses can change."""
        times: set[datetime] = set()
        p = self.profile
        if p.disqualified_at is not None and p.disqualified:
            times.add(p.disqualified_at)
        if p.partner_at is not None and p.partner:
            times.add(p.partner_at)
        if self.contracts:
            window = timedelta(days=self.rules.renewal_window_days)
            for c in self.contracts:
                times.add(_midnight(c.starts_on))
                if c.ends_on is not None:
                    times.add(_midnight(c.ends_on + _ONE_DAY))
                    times.add(_midnight(c.ends_on - window))
        for _, opened, closed, moved in self.opportunities:
            times.add(opened)
            if closed is not None:
                times.add(closed)
            if moved is not None:
                times.add(moved)
        if self.first_engagement is not None:
            times.add(self.first_engagement)
        return times

    # ------------------------------------------------ the MQA run (only for `since`)

    def mqa_boundaries(self) -> list[datetime]:
        run = self.mqa_run()
        if run is None:
            return []
        return [run[0]] if run[1] is None else [run[0], run[1]]

    def mqa_run(self) -> tuple[datetime, datetime | None] | None:
        """The latest stretch (start, end or None) in which the account was MQA, when it reaches
        the last activity; an earlier stretch is not reconstructed (documented)."""
        if self._mqa_run_cache is not False:
            return self._mqa_run_cache  # type: ignore[return-value]
        run = None
        if self.records:
            if self.mqa_now:
                run = (self._mqa_start(), None)
            else:
                last_age = min(r[2] for r in self.records)
                if self._mqa_after_activities(last_age):
                    last_t = next(r[6] for r in self.records if r[2] == last_age)
                    run = (self._mqa_start(), self._mqa_end(last_t))
        self._mqa_run_cache = run
        return run

    def _mqa_start(self) -> datetime:
        """Between activities points and coverage only fall, so MQA can only begin at an
        activity's time: the latest activity time just before which the account was not MQA.

        With no decay or a half-life, one pass in time order notes per time the cap groups' sums
        of what came before (decayed to as_of: rescaled by exp(rate * age) at any time), then
        times are checked from the latest back, stopping at the first that was not MQA, with the
        personas inside the coverage window kept by two pointers. Linear and window decay check
        every time in one forward pass."""
        rules = self.rules
        ordered = sorted(self.records, key=_AGE, reverse=True)  # oldest first
        index: dict[object, int] = {}
        for r in ordered:
            index.setdefault(r[4], len(index))
        limits = [rules.cap_limits[k if k.__class__ is int else k[0]] for k in index]  # type: ignore[index]
        if rules.decay_kind not in ("none", "half_life"):
            return self._mqa_start_forward(ordered, index, limits)
        # times[k] = (time, age, first index at that time, group sums of everything before it)
        times: list[tuple[datetime, float, int, tuple[float, ...]]] = []
        sums = [0.0] * len(index)
        n = len(ordered)
        i = 0
        while i < n:
            t = ordered[i][6]
            times.append((t, ordered[i][2], i, tuple(sums)))
            while i < n and ordered[i][6] == t:
                sums[index[ordered[i][4]]] -= ordered[i][0]  # records hold -decayed
                i += 1
        rate, window = rules.half_life_rate, rules.coverage_window
        need, threshold = rules.mqa_min_personas, rules.mqa_points
        covered: dict[str, int] = {}  # persona -> its activities in [lo, hi)
        lo = hi = n  # activities before the checked time, inside its coverage window
        for t, age, first, before in reversed(times):
            while hi > first:  # activities at or after t are not before it
                hi -= 1
                if hi >= lo:
                    _forget(covered, ordered[hi][5])
            lo = min(lo, hi)
            while lo > 0 and ordered[lo - 1][2] - age < window:  # older activities still in the window
                lo -= 1
                persona = ordered[lo][5]
                if persona is not None:
                    covered[persona] = covered.get(persona, 0) + 1
            mqa = False
            if len(covered) >= need:
                scale = math.exp(rate * age)
                total = 0.0
                for value, limit in zip(before, limits):
                    value *= scale
                    total += value if value < limit else limit
                mqa = total >= threshold
            if not mqa:
                return t
        return times[0][0]

    def _mqa_start_forward(self, ordered: list[_Record], index: dict[object, int], limits: list[float]) -> datetime:
        """_mqa_start for linear and window decay: raw and age-weighted sums of the activities
        still inside the span, per cap group, checked at every time in order."""
        rules = self.rules
        linear, span = rules.decay_kind == "linear", rules.decay_span
        window, need, threshold = rules.coverage_window, rules.mqa_min_personas, rules.mqa_points
        sums, weighted = [0.0] * len(index), [0.0] * len(index)
        covered: dict[str, int] = {}  # persona -> its activities inside the coverage window
        cov_tail = span_tail = i = 0
        n = len(ordered)
        start = ordered[0][6]
        while i < n:
            t, age = ordered[i][6], ordered[i][2]
            while cov_tail < i and ordered[cov_tail][2] - age >= window:
                _forget(covered, ordered[cov_tail][5])
                cov_tail += 1
            while span_tail < i and ordered[span_tail][2] - age >= span:  # type: ignore[operator]
                _, _, old_age, w, key, _, _ = ordered[span_tail]
                sums[index[key]] -= w
                weighted[index[key]] -= w * old_age
                span_tail += 1
            mqa = False
            if len(covered) >= need:
                total = 0.0
                for g, limit in enumerate(limits):
                    v = sums[g] - (weighted[g] - sums[g] * age) / span if linear else sums[g]  # type: ignore[operator]
                    total += v if v < limit else limit
                mqa = total >= threshold
            if not mqa:
                start = t
            while i < n and ordered[i][6] == t:
                _, _, a_age, w, key, persona, _ = ordered[i]
                sums[index[key]] += w
                weighted[index[key]] += w * a_age
                if persona is not None:
                    covered[persona] = covered.get(persona, 0) + 1
                i += 1
        return start

    def _mqa_after_activities(self, at_age: float) -> bool:
        """MQA at a time after every activity, ``at_age`` seconds before as_of. With no decay or a
        half-life the group sums at as_of just scale back (O(cap groups)); linear and window
        decay are summed again."""
        rules = self.rules
        limits = rules.cap_limits
        total = 0.0
        if rules.decay_kind in ("none", "half_life"):
            back = math.exp(at_age * rules.half_life_rate)
            for key, value in self.group_sums.items():
                value *= back
                limit = limits[key if key.__class__ is int else key[0]]  # type: ignore[index]
                total += value if value < limit else limit
        else:
            groups: dict[object, list[float]] = {}
            for r in self.records:
                groups.setdefault(r[4], []).append(r[3] * rules.decay(r[2] - at_age))
            total = _capped(rules, {k: math.fsum(v) for k, v in groups.items()})
        if total < rules.mqa_points:
            return False
        if len(self.recent_personas) >= rules.mqa_min_personas:
            return True  # earlier, every persona engaged in the window up to as_of was in it too
        if self._persona_ages is None:
            latest: dict[str, float] = {}
            for r in self.records:
                if r[5] is not None and r[2] < latest.get(r[5], math.inf):
                    latest[r[5]] = r[2]
            self._persona_ages = list(latest.values())
        window = rules.coverage_window
        return sum(1 for age in self._persona_ages if age - at_age < window) >= rules.mqa_min_personas

    def _mqa_end(self, last_t: datetime) -> datetime:
        """The first whole minute after the last activity at which decay ended MQA (after the
        last activity MQA can only go from true to false, so a binary search finds it)."""
        as_of_s = self.as_of.timestamp()
        lo, hi = math.floor(last_t.timestamp() / 60) + 1, math.floor(as_of_s / 60)
        if lo > hi or self._mqa_after_activities(as_of_s - hi * 60):
            return self.as_of
        while lo < hi:
            mid = (lo + hi) // 2
            if self._mqa_after_activities(as_of_s - mid * 60):
                lo = mid + 1
            else:
                hi = mid
        return datetime.fromtimestamp(lo * 60, UTC)

    # ------------------------------------------------ reasons (built once per account)

    def who(self, contact: Contact) -> str:
        """'Jane Doe (VP Engineering)'."""
        name = contact.display_name
        return f"{name} ({contact.title})" if contact.title else name

    def contact_reasons(self, contact: Contact, cause: tuple) -> tuple[Reason, ...]:
        t, kind, _, payload = cause
        who, day, cid = self.who(contact), _day_text(t), contact.id
        if kind == _ENGAGED:
            text = f"{who} first engaged on {day} ({_LABELS.get(payload.type) or payload.type})"
            return (Reason("first_engagement", text, (payload.id,), None, cid),)
        if kind == _QUALIFY:
            action, a = payload
            text = f"{who} {action.says} on {day}{action.fit_text(self.profile)}"
            return (Reason(action.name, text, (a.id,), None, cid),)
        if kind == _OPP_OPEN:
            text = (f"{who} is the primary contact of {_LABELS.get(payload.type) or payload.type} opportunity "
                    f"{payload.id}, opened on {day}")
            return (Reason("opportunity_opened", text, (payload.id,), None, cid),)
        if kind == _OPP_CLOSE:
            text = f"opportunity {payload.id} of {who} was {payload.state} on {day}"
            return (Reason("opportunity_closed", text, (payload.id,), None, cid),)
        by = f" by {payload.by}" if payload.by else ""
        note = f": {payload.note}" if payload.note else ""
        text = f"{who} was moved to {_LABELS.get(payload.status) or payload.status}{by} on {day}{note}"
        return (Reason("manual_move", text, (), None, cid),)

    def account_reasons(self, entry: int, by_contact: Mapping[str, tuple[Reason, ...]]) -> tuple[Reason, ...]:
        status, conditions = self.rules.decision[entry]
        reasons: list[Reason] = []
        for name, negated in conditions:
            if not negated:
                reasons.extend(_WHY[name](self, by_contact))
        if self.records and not self.rules.entry_explains_engagement[entry]:
            reasons.extend(self.engagement_reasons())
        if not reasons:
            return (_NO_ENGAGEMENT,)
        if len(reasons) == 1:
            return (reasons[0],)
        seen: set[int] = set()  # two conditions can name the same contact's reason
        return tuple(r for r in reasons if id(r) not in seen and not seen.add(id(r)))  # type: ignore[func-returns-value]

    def engagement_reasons(self) -> list[Reason]:
        rules, n = self.rules, len(self.records)
        top = sorted(self.records)[:_TOP_EVENTS]  # most decayed points first, then by (unique) id
        points = round(self.points, 1)
        reasons = [Reason("engagement_points",
                          f"{points:g}{rules.points_text}{n} {'activity' if n == 1 else 'activities'}",
                          tuple([r[1] for r in top]), points)]
        if self.recent_personas:
            k = len(self.recent_personas)
            reasons.append(Reason(
                "persona_coverage",
                f"{k} {'persona' if k == 1 else 'personas'}{rules.coverage_text}"
                f"{', '.join(sorted(self.recent_personas))}{rules.coverage_needs_text}"))
        return reasons

    def open_opportunity_reasons(self, keep: Callable[[Opportunity], bool]) -> list[Reason]:
        out = []
        for o, opened, closed, _ in sorted(self.opportunities, key=lambda r: r[0].id):
            if closed is None and keep(o):
                stage = f", stage {o.stage}" if o.stage else ""
                since = f" since {_day_text(opened)}" if opened != NEG_INF else ""
                out.append(Reason("open_opportunity",
                                  f"{o.type.replace('_', ' ')} opportunity {o.id}{stage} open{since}", (o.id,)))
        return out

    def contract_reasons(self, active: bool) -> list[Reason]:
        """The active contracts, or the contract that ended last."""
        d = self.today
        if active:
            return [Reason("active_contract", f"active contract {c.id} since {c.starts_on.isoformat()}"
                           + (f", ends {c.ends_on.isoformat()}" if c.ends_on else ""), (c.id,))
                    for c in sorted(self.contracts, key=lambda c: (c.starts_on, c.id)) if c.active_on(d)]
        ended = [c for c in self.contracts if c.ends_on is not None and c.ends_on < d]
        if not ended:
            return []
        last = max(ended, key=lambda c: (c.ends_on, c.id))
        return [Reason("contract_ended", f"contract {last.id} ended on {last.ends_on.isoformat()}", (last.id,))]

    def renewal_window_reasons(self) -> list[Reason]:
        d, window = self.today, self.rules.renewal_window_days
        return [Reason("contract_in_renewal_window", f"contract {c.id} ends on {c.ends_on.isoformat()}, "
                       f"within the {window}-day renewal window", (c.id,))
                for c in sorted(self.contracts, key=lambda c: c.id)
                if c.active_on(d) and c.ends_on is not None and (c.ends_on - d).days <= window]

    def renewal_reasons(self) -> list[Reason]:
        out = []
        in_window = self.renewal_window_reasons()
        for o, _, closed, moved in sorted(self.opportunities, key=lambda r: r[0].id):
            if closed is not None or o.type != "renewal":
                continue
            if moved is not None:
                stage = next((c.stage for c in o.stage_changes if c.at == moved), o.stage)
                out.append(Reason("renewal_being_worked", f"renewal opportunity {o.id} is being worked: "
                                  f"stage moved to {stage} on {_day_text(moved)}", (o.id,)))
            elif in_window:
                out.append(Reason("renewal_being_worked", f"renewal opportunity {o.id} is open and a "
                                  f"contract ends within {self.rules.renewal_window_days} days", (o.id,)))
        return out + in_window

    def contacts_in(self, statuses: tuple[str, ...], by_contact: Mapping[str, tuple[Reason, ...]]) -> list[Reason]:
        return [r for cid, rep in sorted(self.replayed.items()) if rep[0] in statuses for r in by_contact[cid]]


def _forget(covered: dict[str, int], persona: str | None) -> None:
    """One activity of ``persona`` left the coverage window."""
    if persona is not None:
        if covered[persona] == 1:
            del covered[persona]
        else:
            covered[persona] -= 1


def _opportunity_times(o: Opportunity, as_of: datetime) -> tuple[datetime | None, datetime | None, datetime | None]:
    """(opened, closed or None while open at as_of, renewal stage moved at) up to as_of; opened
    None when the opportunity opens after as_of. A CRM that sends no opening time: the first stage
    change, else "before anything"; no closing time: the last stage change, else the opening."""
    changes = sorted(o.stage_changes, key=lambda c: (c.at, c.stage)) if o.stage_changes else ()
    opened = o.opened_at or (changes[0].at if changes else NEG_INF)
    if opened > as_of:
        return None, None, None
    closed = None
    if o.state != "open":
        at = o.closed_at or (changes[-1].at if changes else opened)
        if at <= as_of:
            closed = max(at, opened)
    moved = None
    if o.type == "renewal" and changes:
        initial = changes[0].stage
        moved = next((c.at for c in changes[1:] if c.stage != initial and c.at <= as_of), None)
    return opened, closed, moved


def _replay(entries: list[tuple], rules: CompiledQualification) -> _Replayed:
    """A contact's status after its entries in (time, kind rank, id) order."""
    if len(entries) == 1 and entries[0][1] == _ENGAGED:  # most engaged contacts: just engaged
        t = entries[0][0]
        return "nurture", t, entries[0], [(t, "pre_qualified", "nurture")]
    entries.sort(key=_ENTRY_ORDER)
    status = "pre_qualified"
    since: datetime | None = None
    cause: tuple = ()
    linked: set[str] = set()  # open opportunities that put the contact in opportunity_open
    changes: list[tuple[datetime, str, str]] = []
    for entry in entries:
        t, kind, ref, payload = entry
        new = status
        if kind == _MANUAL:
            new = payload.status
        elif kind == _OPP_CLOSE:
            if ref in linked:
                linked.discard(ref)
                if status == "opportunity_open" and not linked:
                    new = "nurture"
        elif status in MANUAL_CONTACT_STATES:
            continue  # sticky: nothing automatic moves a contact out of a manual state
        elif kind == _ENGAGED:
            if status == "pre_qualified":
                new = "nurture"
        elif kind == _QUALIFY:
            if status in rules.qualify_from:
                new = "qualified"
        elif kind == _OPP_OPEN:
            if status in rules.opportunity_from:
                new = "opportunity_open"
                linked.add(ref)
            elif status == "opportunity_open":
                linked.add(ref)
        if new != status:
            changes.append((t, status, new))
            status, since, cause = new, (t if t != NEG_INF else None), entry
    return status, since, cause, changes


def evaluate_account(ledger: AccountLedger, rules: CompiledQualification, as_of: datetime) -> AccountEvaluation:
    """The account's status, since when and why, and its contacts' statuses, at ``as_of``
    (timezone-aware; ledger entries after it are ignored)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC)")
    profile = ledger.account
    if not (ledger.activities or ledger.opportunities or ledger.contracts or ledger.manual_moves
            or profile.disqualified or profile.partner):
        return _untouched(ledger, rules)
    ev = _Evaluation(ledger, rules, as_of)
    entry, mqa_asked = ev.decide(ev.facts(as_of, ev.counts), as_of)
    status = rules.decision[entry][0]
    replayed = ev.replayed
    by_contact: dict[str, tuple[Reason, ...]] = {}
    contacts = []
    for cid in sorted(ev.people):
        c, seniority, persona, _, _, _ = ev.people[cid]
        r = replayed.get(cid)
        if r is None or r[0] == "pre_qualified":
            contacts.append(ContactState(cid, "pre_qualified", c.created_at, (), persona, seniority))
        else:
            reasons = by_contact[cid] = ev.contact_reasons(c, r[2])
            contacts.append(ContactState(cid, r[0], r[1], reasons, persona, seniority))
    return AccountEvaluation(ledger.account.id, status, ev.since(status, mqa_asked),
                             ev.account_reasons(entry, by_contact), tuple(contacts), ev.points,
                             tuple(sorted(ev.recent_personas)))


def _untouched(ledger: AccountLedger, rules: CompiledQualification) -> AccountEvaluation:
    """An account with nothing in its ledger but contacts (most accounts, most of the time):
    no fact holds, every contact is Pre-Qualified, and nothing can say since when."""
    classify = rules.titles.classify
    contacts = []
    for c in sorted(ledger.contacts, key=_CONTACT_ID):
        seniority, persona = classify(c.title)
        contacts.append(ContactState(c.id, "pre_qualified", c.created_at, (), persona, seniority))
    entry = rules.decide(0)[0]
    return AccountEvaluation(ledger.account.id, rules.decision[entry][0], None, (_NO_ENGAGEMENT,),
                             tuple(contacts), 0.0, ())


_CONTACT_ID = attrgetter("id")
_NO_ENGAGEMENT = Reason("no_engagement", "nobody at the account has engaged yet")
# "email_open" -> "email open", "new_business" -> "new business", "sales_working" -> "sales working"
_LABELS = {v: v.replace("_", " ") for v in (*ACTIVITY_TYPES, *OPPORTUNITY_TYPES, *CONTACT_STATUSES)}


# What each condition says when it decided the status (at as_of).
_WHY: dict[str, Callable[[_Evaluation, Mapping[str, tuple[Reason, ...]]], list[Reason]]] = {
    "flag_disqualified": lambda e, _: [Reason("flag_disqualified", "the account is flagged disqualified")],
    "flag_partner": lambda e, _: [Reason("flag_partner", "the account is flagged as a partner")],
    "active_contract": lambda e, _: e.contract_reasons(active=True),
    "had_contract": lambda e, _: e.contract_reasons(active=False) or e.contract_reasons(active=True),
    "contract_in_renewal_window": lambda e, _: e.renewal_window_reasons(),
    "open_opportunity": lambda e, _: e.open_opportunity_reasons(lambda o: True),
    "open_non_renewal_opportunity": lambda e, _: e.open_opportunity_reasons(lambda o: o.type != "renewal"),
    "open_expansion_opportunity": lambda e, _: e.open_opportunity_reasons(lambda o: o.type == "expansion"),
    "open_renewal_opportunity": lambda e, _: e.open_opportunity_reasons(lambda o: o.type == "renewal"),
    "renewal_being_worked": lambda e, _: e.renewal_reasons(),
    "contact_qualified": lambda e, bc: e.contacts_in(("qualified",), bc),
    "contact_sales_working": lambda e, bc: e.contacts_in(("sales_working",), bc),
    "contact_opportunity_open": lambda e, bc: e.contacts_in(("opportunity_open",), bc),
    "contact_nurture": lambda e, bc: e.contacts_in(("nurture",), bc),
    "engaged_contact": lambda e, bc: e.contacts_in(("qualified", "sales_working"), bc),
    "account_mqa": lambda e, _: e.engagement_reasons(),
    "any_engagement": lambda e, _: e.engagement_reasons(),
}

if set(_WHY) != set(ACCOUNT_CONDITIONS) or set(_BIT) != set(ACCOUNT_CONDITIONS):
    raise RuntimeError("matcher.qualification.qualify must implement exactly config.qualification.ACCOUNT_CONDITIONS")


# ---------------------------------------------------------------- rule-change preview

@dataclass(frozen=True, slots=True)
class TransitionCell:
    """Accounts that were ``before`` (None: not evaluated before) and are ``after``; ``samples``
    are up to N of them (lowest account ids, so a preview is reproducible) with their reasons."""

    before: str | None
    after: str
    count: int
    samples: tuple[tuple[str, tuple[Reason, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Preview:
    cells: tuple[TransitionCell, ...]  # every (before, after) pair that occurs, unchanged included

    @property
    def total(self) -> int:
        return sum(c.count for c in self.cells)

    @property
    def changed(self) -> int:
        return sum(c.count for c in self.cells if c.before != c.after)

    def count(self, before: str | None, after: str) -> int:
        return next((c.count for c in self.cells if c.before == before and c.after == after), 0)


class TransitionTally:
    """Counts (before, after) pairs as evaluations stream by, keeping a few samples per changed
    pair; tallies of chunks can be merged (the bulk recompute runs in chunks)."""

    def __init__(self, samples_per_cell: int = 3) -> None:
        self.samples_per_cell = samples_per_cell
        self.counts: dict[tuple[str | None, str], int] = {}
        # per changed cell, a max-heap (by negated id) of the lowest account ids seen
        self._samples: dict[tuple[str | None, str], list[tuple[_Desc, tuple[Reason, ...]]]] = {}

    def add(self, before: str | None, evaluation: AccountEvaluation) -> None:
        cell = (before, evaluation.status)
        self.counts[cell] = self.counts.get(cell, 0) + 1
        if before != evaluation.status and self.samples_per_cell > 0:
            self._keep(cell, evaluation.account_id, evaluation.reasons)

    def _keep(self, cell: tuple[str | None, str], account_id: str, reasons: tuple[Reason, ...]) -> None:
        heap = self._samples.setdefault(cell, [])
        item = (_Desc(account_id), reasons)
        if len(heap) < self.samples_per_cell:
            heapq.heappush(heap, item)
        elif account_id < heap[0][0].value:
            heapq.heapreplace(heap, item)

    def merge(self, other: "TransitionTally") -> None:
        for cell, n in other.counts.items():
            self.counts[cell] = self.counts.get(cell, 0) + n
        for cell, heap in other._samples.items():
            for desc, reasons in heap:
                self._keep(cell, desc.value, reasons)

    def preview(self) -> Preview:
        def order(cell: tuple[str | None, str]) -> tuple:
            return (cell[0] is None, cell[0] or "", cell[1])
        cells = []
        for cell in sorted(self.counts, key=order):
            samples = sorted(((d.value, r) for d, r in self._samples.get(cell, ())), key=itemgetter(0))
            cells.append(TransitionCell(cell[0], cell[1], self.counts[cell], tuple(samples)))
        return Preview(tuple(cells))


@dataclass(frozen=True, slots=True, order=False)
class _Desc:
    """An account id that sorts in reverse, so a heapq min-heap keeps the lowest ids."""

    value: str

    def __lt__(self, other: "_Desc") -> bool:
        return self.value > other.value


def transition_matrix(before: Mapping[str, str], after: Iterable[AccountEvaluation],
                      samples_per_cell: int = 3) -> Preview:
    """How many accounts move from each status (``before[account_id]``, None when absent) to each
    status in ``after``, unchanged pairs included, with sample accounts and their reasons."""
    tally = TransitionTally(samples_per_cell)
    for evaluation in after:
        tally.add(before.get(evaluation.account_id), evaluation)
    return tally.preview()
