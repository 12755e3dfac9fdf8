"""matcher/routing/round_robin.py: the smooth weighted choice, skips and caps, period keys."""
from __future__ import annotations

from datetime import datetime, timezone

from config.routing import Member, Pool, PoolMember
from matcher.routing.round_robin import MemberLoad, caps, period_keys, pick
from matcher.routing.types import Skip


def pool(*weights: tuple[str, float], **kw) -> Pool:  # noqa: ANN003
    return Pool(id="sdr", members=[PoolMember(member=m, weight=w, **kw) for m, w in weights])


def run(p: Pool, turns: int, unavailable=None, **load_kw) -> list[str]:  # noqa: ANN001, ANN003
    """Takes `turns` turns, counting as the stored turn does; returns who got each."""
    assigned = {pm.member: 0 for pm in p.members}
    out = []
    for _ in range(turns):
        loads = {pm.member: MemberLoad(pm.member, pm.weight, assigned[pm.member], **load_kw) for pm in p.members}
        member = pick(p, loads, unavailable or {}).member
        assigned[member] += 1
        out.append(member)
    return out


def test_smooth_weighted_order_worked_out_by_hand() -> None:
    # weights 3:1. Ratios (assigned+1)/weight: a 1/3 < b 1 -> a; a 2/3 < 1 -> a; a 1 = b 1, tie -> a
    # (earlier in the pool); a 4/3 > b 1 -> b; then the cycle repeats
    assert run(pool(("a", 3), ("b", 1)), 8) == ["a", "a", "a", "b"] * 2


def test_shares_exact_over_whole_cycles() -> None:
    got = run(pool(("a", 5), ("b", 3), ("c", 2)), 1000)
    assert (got.count("a"), got.count("b"), got.count("c")) == (500, 300, 200)


def test_fractional_weights() -> None:
    got = run(pool(("a", 0.5), ("b", 1.5)), 400)
    assert (got.count("a"), got.count("b")) == (100, 300)


def test_weight_zero_and_unavailable_are_skipped_with_reasons() -> None:
    p = pool(("a", 1), ("b", 0), ("c", 1))
    turn = pick(p, {}, {"a": "out of office until 2026-12-04"})
    assert turn.member == "c" and turn.turn is None
    assert turn.skipped == (Skip("a", "out of office until 2026-12-04"), Skip("b", "weight 0"))


def test_caps_and_everyone_capped() -> None:
    p = pool(("a", 1), ("b", 1))
    loads = {"a": MemberLoad("a", 1, today=40, cap_per_day=40), "b": MemberLoad("b", 1, this_week=200, cap_per_week=200)}
    turn = pick(p, loads, {})
    assert turn.member is None
    assert turn.skipped == (Skip("a", "cap 40/day reached"), Skip("b", "cap 200/week reached"))
    loads["a"] = MemberLoad("a", 1, today=39, cap_per_day=40)
    assert pick(p, loads, {}).member == "a"


def test_pool_cap_wins_over_member_cap() -> None:
    member = Member(id="a", cap_per_day=10, cap_per_week=50)
    assert caps(PoolMember(member="a", cap_per_day=3), member) == (3, 50)
    assert caps(PoolMember(member="a"), member) == (10, 50)
    assert caps(PoolMember(member="a"), Member(id="a")) == (None, None)


def test_period_keys_follow_local_midnight_and_iso_week() -> None:
    # 2026-12-06 is a Sunday. 23:30 UTC is already Monday 08:30 in Tokyo (ISO week 50 there),
    # still Sunday 15:30 in Los Angeles (week 49)
    now = datetime(2026, 12, 6, 23, 30, tzinfo=timezone.utc)
    assert period_keys(now, "Asia/Tokyo") == ("d:2026-12-07", "w:2026-W50")
    assert period_keys(now, "America/Los_Angeles") == ("d:2026-12-06", "w:2026-W49")
    # ISO week-year differs from the calendar year at the turn of the year
    assert period_keys(datetime(2027, 1, 1, 12, tzinfo=timezone.utc), "UTC") == ("d:2027-01-01", "w:2026-W53")
