"""Account qualification (MQA): one account's ledger + the compiled rules -> contact statuses, the
account status, since when and why. Pure: no I/O, no clock (the caller passes ``as_of``), no
randomness.

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
   (``matcher.qualification.conditions``) all hold at ``as_of``. Its ``since`` is found by walking
   back over the times at which any condition can change and re-deciding just before each; the
   first time the decision differs is when the current status began.
5. Reasons are built once per account from what step 2 aggregated, never per event.

The rules come compiled (``matcher.qualification.rules.compile_rules``).
"""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Mapping

from config.qualification import MANUAL_CONTACT_STATES
from matcher.qualification.conditions import (
    DISPOSITION_CONDITIONS,
    FACT_STATUSES,
    NEG_INF,
    REASONS,
    day_text,
    disposition_reason,
    engagement_reasons,
    fact_times,
    facts,
    opportunity_times,
    utc_day,
)
from matcher.qualification.ledger import (
    ACTIVITY_TYPES,
    CONTACT_STATUSES,
    OPPORTUNITY_TYPES,
    AccountEvaluation,
    AccountLedger,
    Activity,
    Contact,
    ContactState,
    Reason,
    disposition_in_force,
)
from matcher.qualification.rules import CompiledAction, CompiledQualification

__all__ = ["EvaluationState", "evaluate_account"]

_JUST_BEFORE = timedelta(microseconds=1)  # the ledger's resolution: nothing lies between t - 1 µs and t
_UNKNOWN = "unknown"
_RESETS = frozenset({"nurture_track", "top_of_funnel", "recycle"})  # dispositions after which old engagement stops counting
_REVIEW_HORIZON_MINUTES = 200 * 366 * 1440  # an MQA lasting longer than this is taken as lasting for good  # key of the multiplier for a missing seniority, persona or tier

# Kinds of contact-replay entries; the number is also the rank among entries at the same time:
# an action before the opportunity it leads to, an opening before a closing, a seller's move last.
_ENGAGED, _QUALIFY, _OPP_OPEN, _OPP_CLOSE, _MANUAL = range(5)
_ENTRY_ORDER = itemgetter(0, 1, 2)
_FIRST = itemgetter(0)
_AGE = itemgetter(2)

# One counted activity: (-decayed points, id, age in seconds at as_of, undecayed points,
# cap key, persona, occurred_at). Negated points first: sorted() puts the biggest contributors first.
_Record = tuple[float, str, float, float, object, str | None, datetime]
# A contact's replayed status: (status, since, the entry that caused it, [(time, old, new)])
_Replayed = tuple[str, datetime | None, tuple, list[tuple[datetime, str, str]]]

# Points are kept decayed to as_of and scaled back to an earlier time by exp(rate * age). Past
# e**700 (84 years back with a 30-day half-life) the float overflows; points that old decayed to
# nothing long before as_of anyway, so the scale stops growing there instead of failing.
MAX_GROWTH_EXPONENT = 700.0


def _capped(rules: CompiledQualification, sums: Mapping[object, float]) -> float:
    """Total points from per-group sums (keyed by cap slot, or (slot, contact) for caps per
    contact), each held to its cap."""
    limits = rules.cap_limits
    parts = []
    for key, total in sums.items():
        limit = limits[key if key.__class__ is int else key[0]]  # type: ignore[index]
        parts.append(total if total < limit else limit)
    return math.fsum(parts)


class EvaluationState:
    """One ledger at ``as_of``: the aggregates of one pass over it and the contacts' replayed
    statuses, which the account conditions (``matcher.qualification.conditions``) are tested on
    at ``as_of`` or at an earlier time (to find ``since``)."""

    __slots__ = ("rules", "as_of", "today", "profile", "people", "records", "group_sums", "points",
                 "recent_personas", "mqa_now", "first_engagement", "opportunities", "contracts",
                 "replayed", "counts", "blocked", "_mqa_run_cache", "_persona_ages", "dispositions", "disposition",
                 "engaged_from", "next_activity")

    def __init__(self, ledger: AccountLedger, rules: CompiledQualification, as_of: datetime) -> None:
        self.rules = rules
        self.as_of = as_of
        self.today = utc_day(as_of)
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

        # -- the disposition in force: engagement before its reset point no longer counts (none,
        # nurture_track and top_of_funnel: from `at`; recycle: qualifying actions from `at`,
        # points from its date once it has come; docs/qualification.md "Dispositions")
        self.dispositions = ledger.dispositions
        self.disposition = d = disposition_in_force(ledger.dispositions, as_of) if ledger.dispositions else None
        engaged_from = points_from = None
        activities = ledger.activities
        manual_moves = ledger.manual_moves
        if d is not None and d.kind in _RESETS:
            engaged_from = points_from = d.at
            if d.kind == "recycle" and d.until is not None and d.until <= as_of:
                points_from = d.until
            activities = tuple([a for a in activities if a.occurred_at >= engaged_from])
            manual_moves = tuple([m for m in manual_moves if m.at >= engaged_from or m.status in MANUAL_CONTACT_STATES])
            if points_from == engaged_from:
                points_from = None
        self.engaged_from = engaged_from

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
        qualifying: list[tuple[str, Activity, CompiledAction]] = []
        # qualifying actions that did not qualify: (activity, action, the contact's status when a
        # status refused it, None when a gate of the action did)
        blocked: list[tuple[Activity, CompiledAction, str | None]] = []
        recent_personas: set[str] = set()
        first_any: datetime | None = None
        next_activity: datetime | None = None  # the first activity dated after as_of
        fit: dict[str, bool] = {}
        people_get = people.get
        for a in activities:
            t = a.occurred_at
            if t > as_of:
                if next_activity is None or t < next_activity:
                    next_activity = t
                continue
            points, slot, by_contact, actions = (kinds_get((a.type, a.page_kind, a.direction))
                                                 or kind_of(a.type, a.page_kind, a.direction))
            cid = a.contact_id
            person = people_get(cid)  # type: ignore[arg-type]
            if points and (points_from is None or t >= points_from):
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
                else:
                    blocked.extend((a, action, None) for action in actions)
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
        self.next_activity = next_activity

        # -- opportunities and contracts up to as_of
        opportunities = []  # (opportunity, opened, closed or None while open, renewal stage moved at)
        for o in ledger.opportunities:
            opened, closed, moved = opportunity_times(o, as_of)
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
        for m in manual_moves:
            if m.at <= as_of and m.contact_id in people:
                tie = f"{m.status}\x00{m.by or ''}\x00{m.note or ''}"  # orders equal-time moves
                entries.setdefault(m.contact_id, []).append((m.at, _MANUAL, tie, m))
        replayed = {cid: _replay(bucket, rules, blocked) for cid, bucket in entries.items()}
        self.blocked = blocked
        self.replayed = replayed
        counts = {"pre_qualified": len(people) - len(replayed)}
        for r in replayed.values():
            counts[r[0]] = counts.get(r[0], 0) + 1
        self.counts = counts

    # ------------------------------------------------ decision

    def decide(self, fact_bits: int, x: datetime) -> tuple[int, bool]:
        """(index of the first decision-list entry that holds at ``x``, given the other
        conditions' ``fact_bits`` there; whether account_mqa was asked)."""
        when_false, when_true, asked = self.rules.decide(fact_bits)
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
        decision depended on it.

        A disposition that resets engagement (``engaged_from``) bounds the walk: before it this
        state holds only part of the account's ledger, so the status began there at the earliest."""
        as_of, engaged_from = self.as_of, self.engaged_from
        changes = [change for r in self.replayed.values() for change in r[3]]
        times = fact_times(self)  # times other than contact changes
        if mqa_asked:
            times.update(self.mqa_boundaries())
        if not changes and not times:
            return engaged_from
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
            if engaged_from is not None and t < engaged_from:
                return engaged_from
            previous = t
            emptied_or_filled = False
            while undo >= 0 and changes[undo][0] >= t:  # contacts as they were just before t
                _, old, new = changes[undo]
                counts[new] -= 1
                had = counts.get(old, 0)
                counts[old] = had + 1
                if not emptied_or_filled and ((new in FACT_STATUSES and not counts[new])
                                              or (old in FACT_STATUSES and not had)):
                    emptied_or_filled = True
                undo -= 1
            if not emptied_or_filled and t not in times:
                continue
            x = t - _JUST_BEFORE
            entry, asked = self.decide(facts(self, x, counts), x)
            if asked and not mqa_asked:
                mqa_asked = True
                extra = [b for b in self.mqa_boundaries() if b < t]
                if extra:
                    times.update(extra)
                    candidates[i:] = sorted(candidates[i:] + extra, reverse=True)
            if decision[entry][0] != status:
                return t
        return engaged_from

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
                scale = math.exp(min(rate * age, MAX_GROWTH_EXPONENT))
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
        if not self._points_reach_mqa(at_age):
            return False
        if len(self.recent_personas) >= self.rules.mqa_min_personas:
            return True  # earlier, every persona engaged in the window up to as_of was in it too
        return self._personas_cover(at_age)

    def _mqa_later(self, seconds: float) -> bool:
        """MQA ``seconds`` after as_of with no new activity: points decayed further, and only the
        personas whose latest activity is still inside the coverage window."""
        return self._points_reach_mqa(-seconds) and self._personas_cover(-seconds)

    def _personas_cover(self, at_age: float) -> bool:
        if self._persona_ages is None:
            latest: dict[str, float] = {}
            for r in self.records:
                if r[5] is not None and r[2] < latest.get(r[5], math.inf):
                    latest[r[5]] = r[2]
            self._persona_ages = list(latest.values())
        window = self.rules.coverage_window
        return sum(1 for age in self._persona_ages if age - at_age < window) >= self.rules.mqa_min_personas

    def _points_reach_mqa(self, at_age: float) -> bool:
        rules = self.rules
        limits = rules.cap_limits
        total = 0.0
        if rules.decay_kind in ("none", "half_life"):
            back = math.exp(min(at_age * rules.half_life_rate, MAX_GROWTH_EXPONENT))
            for key, value in self.group_sums.items():
                value *= back
                limit = limits[key if key.__class__ is int else key[0]]  # type: ignore[index]
                total += value if value < limit else limit
        else:
            groups: dict[object, list[float]] = {}
            for r in self.records:
                groups.setdefault(r[4], []).append(r[3] * rules.decay(r[2] - at_age))
            total = _capped(rules, {k: math.fsum(v) for k, v in groups.items()})
        return total >= rules.mqa_points

    def mqa_ends_after(self) -> datetime | None:
        """The first whole minute after as_of at which decay or the coverage window ends a
        current MQA with no new activity (from then on MQA can only stay false, so doubling
        steps then a binary search find it); None when it never ends (no decay, nothing to leave
        the window) or the account is not MQA."""
        if not self.mqa_now:
            return None
        first = math.floor(self.as_of.timestamp() / 60) + 1  # minutes since the epoch
        as_of_s = self.as_of.timestamp()
        if not self._mqa_later(first * 60 - as_of_s):
            return datetime.fromtimestamp(first * 60, UTC)
        lo, step = first, 1440
        while self._mqa_later((lo + step) * 60 - as_of_s):
            lo += step
            step *= 2
            if step > _REVIEW_HORIZON_MINUTES:
                return None
        hi = lo + step  # MQA at lo, not at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._mqa_later(mid * 60 - as_of_s):
                lo = mid
            else:
                hi = mid
        return datetime.fromtimestamp(hi * 60, UTC)

    def review_at(self, ledger: AccountLedger) -> datetime | None:
        """The earliest instant after as_of at which a fact, a disposition or MQA can change with
        no new input: contract starts, ends and renewal windows, dispositions' at, until and
        superseding, ledger entries the CRM dated after as_of, decay and the coverage window
        ending MQA. Earlier than needed is harmless (a re-evaluation that changes nothing moves it
        on); later would leave a status stale."""
        as_of = self.as_of
        later = [t for t in fact_times(self) if t > as_of]
        for o in ledger.opportunities:
            for t in (o.opened_at, o.closed_at):
                if t is not None and t > as_of:
                    later.append(t)
            later.extend(c.at for c in o.stage_changes if c.at > as_of)
        later.extend(m.at for m in ledger.manual_moves if m.at > as_of)
        if self.next_activity is not None:
            later.append(self.next_activity)
        ends = self.mqa_ends_after()
        if ends is not None:
            later.append(ends)
        return min(later, default=None)

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
        who, day, cid = self.who(contact), day_text(t), contact.id
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
                reasons.extend(REASONS[name](self, by_contact))
        if self.blocked:
            if not reasons and not self.records:  # a blocked action that earned no points
                reasons.append(_NO_ENGAGEMENT)
            reasons.extend(self.blocked_reasons())
        if self.records and not self.rules.entry_explains_engagement[entry]:
            reasons.extend(engagement_reasons(self))
        d = self.disposition
        if d is not None and d.kind != "none" and not any(
                name in DISPOSITION_CONDITIONS and not negated for name, negated in conditions):
            # what the disposition in force says, also when another entry decided
            if not reasons and not self.records and not self.blocked:
                reasons.append(_NO_ENGAGEMENT)
            reasons.append(disposition_reason(d, self.as_of))
        if not reasons:
            return (_NO_ENGAGEMENT,)
        if len(reasons) == 1:
            return (reasons[0],)
        seen: set[int] = set()  # two conditions can name the same contact's reason
        return tuple(r for r in reasons if id(r) not in seen and not seen.add(id(r)))  # type: ignore[func-returns-value]


    def blocked_reasons(self) -> list[Reason]:
        """Per qualifying action (in configured order) that did not qualify, its latest
        occurrence: who did what when, and the gates that refused it."""
        latest: dict[str, tuple[Activity, CompiledAction, str | None]] = {}
        for item in self.blocked:
            a = item[0]
            seen = latest.get(item[1].name)
            if seen is None or (a.occurred_at, a.id) > (seen[0].occurred_at, seen[0].id):
                latest[item[1].name] = item
        rank = self.rules.action_rank
        out = []
        for name in sorted(latest, key=rank.__getitem__):
            a, action, status = latest[name]
            contact, seniority, persona = self.people[a.contact_id][:3]  # type: ignore[index]
            gates = ([self.rules.contact_status_gate(status)] if status is not None
                     else action.gate_failures(self.profile, seniority, persona))
            text = (f"{self.who(contact)} {action.says} on {day_text(a.occurred_at)}, which would qualify, "
                    f"but {' and '.join(gates)}")
            out.append(Reason("qualifying_action_blocked", text, (a.id,), None, contact.id))
        return out


def _forget(covered: dict[str, int], persona: str | None) -> None:
    """One activity of ``persona`` left the coverage window."""
    if persona is not None:
        if covered[persona] == 1:
            del covered[persona]
        else:
            covered[persona] -= 1


def _replay(entries: list[tuple], rules: CompiledQualification,
            blocked: list[tuple[Activity, CompiledAction, str | None]]) -> _Replayed:
    """A contact's status after its entries in (time, kind rank, id) order. Qualifying actions
    that found the contact in a status they do not move it out of (other than already Qualified
    or further) are added to ``blocked``."""
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
            if kind == _QUALIFY:
                blocked.append((payload[1], payload[0], status))
            continue  # sticky: nothing automatic moves a contact out of a manual state
        elif kind == _ENGAGED:
            if status == "pre_qualified":
                new = "nurture"
        elif kind == _QUALIFY:
            if status in rules.qualify_from:
                new = "qualified"
            elif status in rules.qualify_refused_from:
                blocked.append((payload[1], payload[0], status))
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
            or ledger.dispositions or profile.disqualified or profile.partner):
        return _untouched(ledger, rules)
    ev = EvaluationState(ledger, rules, as_of)
    entry, mqa_asked = ev.decide(facts(ev, as_of, ev.counts), as_of)
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
                             tuple(sorted(ev.recent_personas)), ev.review_at(ledger))


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
