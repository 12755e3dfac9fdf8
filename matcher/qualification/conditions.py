"""The named account conditions of the decision list (``config.qualification.ACCOUNT_CONDITIONS``):
for each one, its test (does it hold at a time), the times at which its answer can change, and
the reason it gives when it decided an account's status. This module checks at import that it
implements exactly the configured names.

The tests are one function, ``facts``, that answers every condition at once as bits of an int
(one bit per condition, ``matcher.qualification.rules.CONDITION_BITS``): ``since`` asks it at
every time a fact can change, so one pass over contracts and opportunities beats a call per
condition. ``account_mqa`` is the exception: it is decided in ``matcher.qualification.evaluate``
only when an entry of the decision list asks for it, because before ``as_of`` it costs a pass
over the activities.

The functions read what one pass over a ledger aggregated at ``as_of`` (``LedgerAggregates``,
the ``EvaluationState`` of ``matcher.qualification.evaluate``).
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Callable, Mapping, Protocol

from config.qualification import ACCOUNT_CONDITIONS
from matcher.qualification.ledger import AccountProfile, Contract, Disposition, Opportunity, Reason, disposition_in_force
from matcher.qualification.rules import CONDITION_BITS, CompiledQualification

__all__ = ["DISPOSITION_CONDITIONS", "FACT_STATUSES", "LedgerAggregates", "NEG_INF", "REASONS", "day_text",
           "disposition_reason", "engagement_reasons", "fact_times", "facts", "opportunity_times", "utc_day"]

# Stands for "before anything": an opportunity the CRM sent without any time.
NEG_INF = datetime.min.replace(tzinfo=UTC)
_ONE_DAY = timedelta(days=1)
_TOP_EVENTS = 5  # contributing event ids named in a points reason

# each condition's bit in the facts (matcher.qualification.rules)
_FLAG_DISQUALIFIED = CONDITION_BITS["flag_disqualified"]
_FLAG_PARTNER = CONDITION_BITS["flag_partner"]
_ACTIVE_CONTRACT = CONDITION_BITS["active_contract"]
_HAD_CONTRACT = CONDITION_BITS["had_contract"]
_RENEWAL_WINDOW = CONDITION_BITS["contract_in_renewal_window"]
_OPEN_OPPORTUNITY = CONDITION_BITS["open_opportunity"]
_OPEN_NON_RENEWAL = CONDITION_BITS["open_non_renewal_opportunity"]
_OPEN_EXPANSION = CONDITION_BITS["open_expansion_opportunity"]
_OPEN_RENEWAL = CONDITION_BITS["open_renewal_opportunity"]
_RENEWAL_WORKED = CONDITION_BITS["renewal_being_worked"]
_CONTACT_QUALIFIED = CONDITION_BITS["contact_qualified"]
_CONTACT_SALES_WORKING = CONDITION_BITS["contact_sales_working"]
_CONTACT_OPPORTUNITY_OPEN = CONDITION_BITS["contact_opportunity_open"]
_CONTACT_NURTURE = CONDITION_BITS["contact_nurture"]
_ENGAGED_CONTACT = CONDITION_BITS["engaged_contact"]
_ANY_ENGAGEMENT = CONDITION_BITS["any_engagement"]
_DISPOSITION_DISQUALIFIED = CONDITION_BITS["disposition_disqualified"]
_DISPOSITION_NURTURE = CONDITION_BITS["disposition_nurture"]
_DISPOSITION_RESTART = CONDITION_BITS["disposition_restart"]
_DISPOSITION_WHITE_SPACE = CONDITION_BITS["disposition_white_space"]
DISPOSITION_CONDITIONS = frozenset({"disposition_disqualified", "disposition_nurture", "disposition_restart",
                                    "disposition_white_space"})
# the contact statuses facts() looks at: whether any contact is in each of them
FACT_STATUSES = frozenset({"qualified", "sales_working", "opportunity_open", "nurture"})


class LedgerAggregates(Protocol):
    """What the conditions read of one ledger, aggregated by one pass over it at ``as_of``."""

    rules: CompiledQualification
    as_of: datetime
    today: date  # the UTC day of as_of
    profile: AccountProfile
    contracts: tuple[Contract, ...]
    # (opportunity, opened, closed or None while open at as_of, renewal stage moved at): opportunity_times()
    opportunities: list[tuple[Opportunity, datetime, datetime | None, datetime | None]]
    first_engagement: datetime | None  # the first activity that earned points
    records: list[tuple]  # counted activities: (-decayed points, id, age, ...), see evaluate.py
    points: float
    recent_personas: set[str]  # engaged within the coverage window
    replayed: dict[str, tuple]  # contact id -> (status, since, cause, changes)
    dispositions: tuple[Disposition, ...]  # the ledger's, any order
    disposition: Disposition | None  # the one in force at as_of


# ---------------------------------------------------------------- times

def utc_day(t: datetime) -> date:
    return (t if t.tzinfo is UTC else t.astimezone(UTC)).date()


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time.min, UTC)


def day_text(t: datetime) -> str:
    if t is NEG_INF:
        return "an unknown date"
    return (t if t.tzinfo is UTC else t.astimezone(UTC)).date().isoformat()


def opportunity_times(o: Opportunity, as_of: datetime) -> tuple[datetime | None, datetime | None, datetime | None]:
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


# ---------------------------------------------------------------- tests

def facts(ev: LedgerAggregates, x: datetime, counts: Mapping[str, int]) -> int:
    """The conditions (but account_mqa) that hold at ``x``, as bits; ``counts`` are the
    contacts per status at ``x``."""
    m = 0
    p = ev.profile
    # flag_disqualified, flag_partner: the manual flag is set (and was set by x, when its time is known)
    if p.disqualified and (p.disqualified_at is None or p.disqualified_at <= x):
        m |= _FLAG_DISQUALIFIED
    if p.partner and (p.partner_at is None or p.partner_at <= x):
        m |= _FLAG_PARTNER
    # had_contract, active_contract, contract_in_renewal_window: by UTC day, ends_on inclusive
    if ev.contracts:
        d = ev.today if x is ev.as_of else utc_day(x)
        window = ev.rules.renewal_window_days
        for c in ev.contracts:
            if c.starts_on <= d:
                m |= _HAD_CONTRACT
                if c.ends_on is None or d <= c.ends_on:
                    m |= _ACTIVE_CONTRACT
                    if c.ends_on is not None and (c.ends_on - d).days <= window:
                        m |= _RENEWAL_WINDOW
    # open_*_opportunity, renewal_being_worked: open from its opening up to (not at) its closing
    if ev.opportunities:
        for o, opened, closed, moved in ev.opportunities:
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
    # contact_*, engaged_contact: some contact is in that status
    if counts.get("qualified"):
        m |= _CONTACT_QUALIFIED | _ENGAGED_CONTACT
    if counts.get("sales_working"):
        m |= _CONTACT_SALES_WORKING | _ENGAGED_CONTACT
    if counts.get("opportunity_open"):
        m |= _CONTACT_OPPORTUNITY_OPEN
    if counts.get("nurture"):
        m |= _CONTACT_NURTURE
    # any_engagement: someone earned points by x
    if ev.first_engagement is not None and ev.first_engagement <= x:
        m |= _ANY_ENGAGEMENT
    # disposition_*: what the disposition in force at x says (its until reached or not)
    if ev.dispositions:
        d = ev.disposition if x is ev.as_of else disposition_in_force(ev.dispositions, x)
        if d is not None:
            m |= _disposition_bits(d, x)
    return m


def _disposition_bits(d: Disposition, x: datetime) -> int:
    before_until = d.until is None or x < d.until
    kind = d.kind
    if kind == "disqualified":
        return _DISPOSITION_DISQUALIFIED if before_until else 0
    if kind == "nurture_track":
        return _DISPOSITION_NURTURE if before_until else 0
    if kind == "recycle":
        return _DISPOSITION_NURTURE if before_until else _DISPOSITION_RESTART
    if kind == "top_of_funnel":
        return _DISPOSITION_RESTART
    if kind == "white_space":
        return _DISPOSITION_WHITE_SPACE if before_until else 0
    return 0  # "none"


def fact_times(ev: LedgerAggregates) -> set[datetime]:
    """Times at which a fact other than the contacts' statuses can change."""
    times: set[datetime] = set()
    p = ev.profile
    if p.disqualified_at is not None and p.disqualified:
        times.add(p.disqualified_at)
    if p.partner_at is not None and p.partner:
        times.add(p.partner_at)
    if ev.contracts:
        window = timedelta(days=ev.rules.renewal_window_days)
        for c in ev.contracts:
            times.add(_midnight(c.starts_on))
            if c.ends_on is not None:
                times.add(_midnight(c.ends_on + _ONE_DAY))
                times.add(_midnight(c.ends_on - window))
    for _, opened, closed, moved in ev.opportunities:
        times.add(opened)
        if closed is not None:
            times.add(closed)
        if moved is not None:
            times.add(moved)
    if ev.first_engagement is not None:
        times.add(ev.first_engagement)
    for d in ev.dispositions:
        times.add(d.at)
        if d.until is not None:
            times.add(d.until)
        if d.superseded_at is not None:
            times.add(d.superseded_at)
    return times


# ---------------------------------------------------------------- reasons (built once per account)

def engagement_reasons(ev: LedgerAggregates) -> list[Reason]:
    """account_mqa, any_engagement, and the engagement summary that closes most accounts' reasons."""
    rules, n = ev.rules, len(ev.records)
    top = sorted(ev.records)[:_TOP_EVENTS]  # most decayed points first, then by (unique) id
    points = round(ev.points, 1)
    reasons = [Reason("engagement_points",
                      f"{points:g}{rules.points_text}{n} {'activity' if n == 1 else 'activities'}",
                      tuple([r[1] for r in top]), points)]
    if ev.recent_personas:
        k = len(ev.recent_personas)
        reasons.append(Reason(
            "persona_coverage",
            f"{k} {'persona' if k == 1 else 'personas'}{rules.coverage_text}"
            f"{', '.join(sorted(ev.recent_personas))}{rules.coverage_needs_text}"))
    return reasons


_DISPOSITION_WORDS = {
    "disqualified": "disqualified (never a fit)",
    "nurture_track": "put on the closed-lost nurture track",
    "top_of_funnel": "sent back to the top of the funnel",
    "recycle": "recycled",
    "white_space": "marked as having white space to sell into",
    "none": "given no disposition",
}


def disposition_reason(d: Disposition, as_of: datetime) -> Reason:
    """The sentence a seller reads about the disposition in force at ``as_of``: what it is, since
    when, who or which rule set it and why, and what its until means (coming or past)."""
    by = f" by {d.by}" if d.by else (" by the close's rules" if d.source == "rules" else "")
    why = f" ({'; '.join(d.reasons)})" if d.reasons else ""
    text = f"{_DISPOSITION_WORDS.get(d.kind, d.kind)} on {day_text(d.at)}{by}{why}"
    until = d.until
    if d.kind == "disqualified":
        if until is not None:
            text += (f"; re-activated on {day_text(until)}" if until <= as_of
                     else f"; to be re-activated on {day_text(until)}")
    elif d.kind == "recycle":
        if until is None:
            text += "; no recycle date"
        elif until <= as_of:
            text += f"; came back on {day_text(until)}: engagement before then no longer counts"
        else:
            text += f"; comes back on {day_text(until)}; engagement before {day_text(d.at)} no longer counts"
    elif d.kind in ("nurture_track", "top_of_funnel"):
        text += f"; engagement before {day_text(d.at)} no longer counts"
        if until is not None and d.kind == "nurture_track":
            text += (f"; the nurture track ended on {day_text(until)}" if until <= as_of
                     else f"; the nurture track ends on {day_text(until)}")
    elif d.kind == "white_space" and until is not None:
        text += f"; ended on {day_text(until)}" if until <= as_of else f"; until {day_text(until)}"
    return Reason(f"disposition_{d.kind}", text)


def _open_opportunity_reasons(ev: LedgerAggregates, keep: Callable[[Opportunity], bool]) -> list[Reason]:
    out = []
    for o, opened, closed, _ in sorted(ev.opportunities, key=lambda r: r[0].id):
        if closed is None and keep(o):
            stage = f", stage {o.stage}" if o.stage else ""
            since = f" since {day_text(opened)}" if opened != NEG_INF else ""
            out.append(Reason("open_opportunity",
                              f"{o.type.replace('_', ' ')} opportunity {o.id}{stage} open{since}", (o.id,)))
    return out


def _contract_reasons(ev: LedgerAggregates, active: bool) -> list[Reason]:
    """The active contracts, or the contract that ended last."""
    d = ev.today
    if active:
        return [Reason("active_contract", f"active contract {c.id} since {c.starts_on.isoformat()}"
                       + (f", ends {c.ends_on.isoformat()}" if c.ends_on else ""), (c.id,))
                for c in sorted(ev.contracts, key=lambda c: (c.starts_on, c.id)) if c.active_on(d)]
    ended = [c for c in ev.contracts if c.ends_on is not None and c.ends_on < d]
    if not ended:
        return []
    last = max(ended, key=lambda c: (c.ends_on, c.id))
    return [Reason("contract_ended", f"contract {last.id} ended on {last.ends_on.isoformat()}", (last.id,))]


def _renewal_window_reasons(ev: LedgerAggregates) -> list[Reason]:
    d, window = ev.today, ev.rules.renewal_window_days
    return [Reason("contract_in_renewal_window", f"contract {c.id} ends on {c.ends_on.isoformat()}, "
                   f"within the {window}-day renewal window", (c.id,))
            for c in sorted(ev.contracts, key=lambda c: c.id)
            if c.active_on(d) and c.ends_on is not None and (c.ends_on - d).days <= window]


def _renewal_reasons(ev: LedgerAggregates) -> list[Reason]:
    out = []
    in_window = _renewal_window_reasons(ev)
    for o, _, closed, moved in sorted(ev.opportunities, key=lambda r: r[0].id):
        if closed is not None or o.type != "renewal":
            continue
        if moved is not None:
            stage = next((c.stage for c in o.stage_changes if c.at == moved), o.stage)
            out.append(Reason("renewal_being_worked", f"renewal opportunity {o.id} is being worked: "
                              f"stage moved to {stage} on {day_text(moved)}", (o.id,)))
        elif in_window:
            out.append(Reason("renewal_being_worked", f"renewal opportunity {o.id} is open and a "
                              f"contract ends within {ev.rules.renewal_window_days} days", (o.id,)))
    return out + in_window


def _contacts_in(ev: LedgerAggregates, statuses: tuple[str, ...],
                 by_contact: Mapping[str, tuple[Reason, ...]]) -> list[Reason]:
    return [r for cid, rep in sorted(ev.replayed.items()) if rep[0] in statuses for r in by_contact[cid]]


# What each condition says when it decided the status (at as_of); by_contact holds the reasons of
# every contact that is not Pre-Qualified.
REASONS: dict[str, Callable[[LedgerAggregates, Mapping[str, tuple[Reason, ...]]], list[Reason]]] = {
    "flag_disqualified": lambda e, _: [Reason("flag_disqualified", "the account is flagged disqualified")],
    "flag_partner": lambda e, _: [Reason("flag_partner", "the account is flagged as a partner")],
    "active_contract": lambda e, _: _contract_reasons(e, active=True),
    "had_contract": lambda e, _: _contract_reasons(e, active=False) or _contract_reasons(e, active=True),
    "contract_in_renewal_window": lambda e, _: _renewal_window_reasons(e),
    "open_opportunity": lambda e, _: _open_opportunity_reasons(e, lambda o: True),
    "open_non_renewal_opportunity": lambda e, _: _open_opportunity_reasons(e, lambda o: o.type != "renewal"),
    "open_expansion_opportunity": lambda e, _: _open_opportunity_reasons(e, lambda o: o.type == "expansion"),
    "open_renewal_opportunity": lambda e, _: _open_opportunity_reasons(e, lambda o: o.type == "renewal"),
    "renewal_being_worked": lambda e, _: _renewal_reasons(e),
    "contact_qualified": lambda e, bc: _contacts_in(e, ("qualified",), bc),
    "contact_sales_working": lambda e, bc: _contacts_in(e, ("sales_working",), bc),
    "contact_opportunity_open": lambda e, bc: _contacts_in(e, ("opportunity_open",), bc),
    "contact_nurture": lambda e, bc: _contacts_in(e, ("nurture",), bc),
    "engaged_contact": lambda e, bc: _contacts_in(e, ("qualified", "sales_working"), bc),
    "account_mqa": lambda e, _: engagement_reasons(e),
    "any_engagement": lambda e, _: engagement_reasons(e),
    "disposition_disqualified": lambda e, _: [disposition_reason(e.disposition, e.as_of)],  # type: ignore[arg-type]
    "disposition_nurture": lambda e, _: [disposition_reason(e.disposition, e.as_of)],  # type: ignore[arg-type]
    "disposition_restart": lambda e, _: [disposition_reason(e.disposition, e.as_of)],  # type: ignore[arg-type]
    "disposition_white_space": lambda e, _: [disposition_reason(e.disposition, e.as_of)],  # type: ignore[arg-type]
}

if set(REASONS) != set(ACCOUNT_CONDITIONS):
    raise RuntimeError("matcher.qualification.conditions must implement exactly "
                       "config.qualification.ACCOUNT_CONDITIONS")
