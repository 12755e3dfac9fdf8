"""Weighted round robin: who in a pool gets the next turn, from the counts so far.

The rule is smooth and exact, with no randomness: among the members who may take a turn, the one
with the smallest ``(assigned + 1) / weight`` gets it (ties: the earlier one in the pool's list).
After any number of turns every member's ``assigned`` is within one turn of ``turns * weight /
total weight`` (over the members that stayed eligible), so the shares match the weights exactly
over whole cycles. ``assigned`` counts turns in this pool only.

A member is passed over (a ``Skip`` with the reason) when the caller says they are unavailable
(out of office, paused, outside working hours: ``unavailable`` maps them to the reason), when
their weight is 0, or when their day's or week's cap is reached. Caps count every lead the member
got that day or week, in any pool: the pool member's own cap if the pool sets one, else the
member's (``config/routing.py`` ``PoolMember``, ``Member``). Day and week are the member's local
calendar day and ISO week (``period_keys``); the edge reads the counts under those keys.

The stored, atomic turn around this choice is ``api/routing/turns.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Mapping
from zoneinfo import ZoneInfo

from config.routing import Member, Pool, PoolMember
from matcher.routing.types import Skip, Turn


@dataclass(frozen=True, slots=True)
class MemberLoad:
    """What the choice needs to know of one pool member: its weight, its turns in this pool so far,
    its leads (all pools) in its current local day and ISO week, and the caps that apply."""

    member: str
    weight: float
    assigned: int = 0
    today: int = 0
    this_week: int = 0
    cap_per_day: int | None = None
    cap_per_week: int | None = None


def period_keys(now: datetime, timezone: str) -> tuple[str, str]:
    """The counters' keys for ``now`` in a member's time zone: ('d:2026-12-02', 'w:2026-W49').
    The day rolls over at the member's local midnight, the week on their local Monday."""
    local = now.astimezone(ZoneInfo(timezone))
    year, week, _ = local.isocalendar()
    return f"d:{local.date().isoformat()}", f"w:{year}-W{week:02d}"


def caps(pool_member: PoolMember, member: Member | None) -> tuple[int | None, int | None]:
    """(per day, per week): each the pool's cap for this member if it sets one, else the member's."""
    day = pool_member.cap_per_day if pool_member.cap_per_day is not None else (member and member.cap_per_day)
    week = pool_member.cap_per_week if pool_member.cap_per_week is not None else (member and member.cap_per_week)
    return day, week


def _passed_over(load: MemberLoad, unavailable: Mapping[str, str]) -> str | None:
    if load.member in unavailable:
        return unavailable[load.member]
    if load.weight <= 0:
        return "weight 0"
    if load.cap_per_day is not None and load.today >= load.cap_per_day:
        return f"cap {load.cap_per_day}/day reached"
    if load.cap_per_week is not None and load.this_week >= load.cap_per_week:
        return f"cap {load.cap_per_week}/week reached"
    return None


def pick(pool: Pool, loads: Mapping[str, MemberLoad], unavailable: Mapping[str, str]) -> Turn:
    """The member who gets the pool's next turn (``Turn.member`` None: nobody may take it), and
    every member passed over with the reason, in pool order. ``loads`` has one entry per pool
    member (a missing one counts as no turns yet, the pool's weight and no caps). The turn number
    is the caller's to give (``Turn.turn`` is None here)."""
    skipped: list[Skip] = []
    best: tuple[Fraction, int, str] | None = None
    for position, pm in enumerate(pool.members):
        load = loads.get(pm.member) or MemberLoad(pm.member, pm.weight)
        reason = _passed_over(load, unavailable)
        if reason is not None:
            skipped.append(Skip(pm.member, reason))
            continue
        # exact arithmetic: float ratios would break ties by rounding, not by pool order
        key = (Fraction(load.assigned + 1) / Fraction(load.weight), position, pm.member)
        if best is None or key < best:
            best = key
    return Turn(best[2] if best is not None else None, None, tuple(skipped))
