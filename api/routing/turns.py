"""The stored round-robin turn: atomic, so two replicas or two workers never hand out the same
turn twice and the shares stay at the weights. Who gets the turn is decided by the one pure
``pick`` (``matcher/routing/round_robin.py``); this module only reads the counts it needs and
writes the outcome back, atomically, on one of two backends with the same interface
(``take(rules, pool, unavailable, now) -> TakenTurn``):

- ``DatabaseTurns`` (the default): one short transaction. It first locks the pool's row in
  ``routing_pool_turns`` (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite takes the database's write
  lock with ``BEGIN IMMEDIATE``, ``api/db/bulk.py`` ``hold_write_lock``), then the members' count
  rows (sorted, so two pools sharing members lock them in one order and never deadlock: the caps
  count across pools), reads, picks, writes and commits.
- ``RedisTurns`` (``REDIS_URL`` set and ``LEADMATCH_ROUTING_TURNS=redis``): the same reads under
  ``WATCH`` and the writes in ``MULTI``; a transaction that another client's write to any key it
  read interrupts is retried from the reads. Optimistic rather than a Lua script so that the choice
  stays the Python ``pick`` (a Lua copy of it would be a second piece of code for one rule).
  If Redis cannot be reached the turn is taken from the database instead (a warning and
  ``leadmatch_routing_turn_fallbacks_total``; never a 5xx).

What a fallback means: the two backends keep separate counters. Turn numbers are unique per
pool *and backend* (``TakenTurn.backend`` must be stored with the number). Shares stay at the
weights within each backend's own history, so overall they are off by at most about one turn per
member per switch; caps are counted per backend, so during an outage a member can get up to a
cap's worth more in a day or week than the cap.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Mapping, Protocol, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.db import session_scope
from api.db.bulk import hold_write_lock, insert_or_skip
from api.db.rows import RoutingMemberCountRow, RoutingPoolLoadRow, RoutingPoolTurnRow
from api.redis_guard import RedisGuard, RedisUnavailable
from config.routing import Pool, RoutingRules
from matcher.routing.round_robin import MemberLoad, caps, period_keys, pick
from matcher.routing.types import TakeTurn, Turn

log = logging.getLogger("leadmatch.routing")

_TURNS = RoutingPoolTurnRow.__table__
_LOADS = RoutingPoolLoadRow.__table__
_COUNTS = RoutingMemberCountRow.__table__
REDIS_RETRIES = 500


@dataclass(frozen=True, slots=True)
class TakenTurn:
    turn: Turn
    backend: str  # "database" | "redis": turn numbers are unique per pool and backend


class TurnBackend(Protocol):
    def take(self, rules: RoutingRules, pool: Pool, unavailable: Mapping[str, str], now: datetime) -> TakenTurn: ...


def periods(rules: RoutingRules, pool: Pool, now: datetime) -> dict[str, tuple[str, str]]:
    """member -> (day key, week key) in the member's own time zone."""
    out = {}
    for pm in pool.members:
        member = rules.member(pm.member)
        out[pm.member] = period_keys(now, member.timezone if member is not None else "UTC")
    return out


def member_loads(rules: RoutingRules, pool: Pool, keys: Mapping[str, tuple[str, str]], assigned: Mapping[str, int],
                 counts: Mapping[tuple[str, str], int]) -> dict[str, MemberLoad]:
    """The pure choice's input from the stored counts (absent: 0)."""
    out = {}
    for pm in pool.members:
        day, week = keys[pm.member]
        cap_day, cap_week = caps(pm, rules.member(pm.member))
        out[pm.member] = MemberLoad(pm.member, pm.weight, assigned.get(pm.member, 0), counts.get((pm.member, day), 0),
                                    counts.get((pm.member, week), 0), cap_day, cap_week)
    return out


def bind(backend: TurnBackend, rules: RoutingRules, now: datetime,
         taken: list[TakenTurn] | None = None) -> TakeTurn:
    """The ``TakeTurn`` the ladder (``matcher/routing/decide.py``) calls; every turn it takes is
    appended to ``taken`` so the caller can store the turn with its backend."""
    def take_turn(pool: Pool, unavailable: Mapping[str, str]) -> Turn:
        result = backend.take(rules, pool, unavailable, now)
        if taken is not None:
            taken.append(result)
        return result.turn
    return take_turn


# ---------------------------------------------------------------- database


def take_in_session(session: Session, rules: RoutingRules, pool: Pool, unavailable: Mapping[str, str],
                    now: datetime) -> Turn:
    """Take the pool's next turn in the caller's transaction (which must commit soon: the pool's
    row stays locked until it ends)."""
    hold_write_lock(session)
    session.execute(insert_or_skip(session, _TURNS, ["pool"]).values(pool=pool.id, turn=0))
    # the lock every taker of this pool's turns queues on
    current = session.execute(select(_TURNS.c.turn).where(_TURNS.c.pool == pool.id).with_for_update()).scalar_one()
    keys = periods(rules, pool, now)
    wanted = sorted({(m, k) for m, (day, week) in keys.items() for k in (day, week)})
    session.execute(insert_or_skip(session, _COUNTS, ["member", "period"]),
                    [{"member": m, "period": k, "count": 0} for m, k in wanted])
    members = sorted(keys)
    counts = {(m, k): n for m, k, n in session.execute(
        select(_COUNTS.c.member, _COUNTS.c.period, _COUNTS.c.count)
        .where(_COUNTS.c.member.in_(members), _COUNTS.c.period.in_(sorted({k for _, k in wanted})))
        .order_by(_COUNTS.c.member, _COUNTS.c.period).with_for_update())}
    assigned = dict(session.execute(select(_LOADS.c.member, _LOADS.c.assigned).where(_LOADS.c.pool == pool.id)).all())
    turn = pick(pool, member_loads(rules, pool, keys, assigned, counts), unavailable)
    number = current + 1
    session.execute(update(_TURNS).where(_TURNS.c.pool == pool.id).values(turn=number))
    if turn.member is not None:
        session.execute(insert_or_skip(session, _LOADS, ["pool", "member"]).values(pool=pool.id, member=turn.member,
                                                                                   assigned=0))
        session.execute(update(_LOADS).where(_LOADS.c.pool == pool.id, _LOADS.c.member == turn.member)
                        .values(assigned=_LOADS.c.assigned + 1))
        session.execute(update(_COUNTS).where(_COUNTS.c.member == turn.member,
                                              _COUNTS.c.period.in_(keys[turn.member]))
                        .values(count=_COUNTS.c.count + 1))
    return replace(turn, turn=number)


class DatabaseTurns:
    name = "database"

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def take(self, rules: RoutingRules, pool: Pool, unavailable: Mapping[str, str], now: datetime) -> TakenTurn:
        with session_scope(self.sessions) as session:
            return TakenTurn(take_in_session(session, rules, pool, unavailable, now), self.name)


class SessionTurns:
    """Turns taken in the caller's transaction: lead intake takes its turn in the transaction that
    stores the lead, so a lead that is not stored does not use up a turn, and on SQLite (one writer
    at a time) the request never waits for a second connection's write lock while holding its own."""

    name = "database"

    def __init__(self, session: Session) -> None:
        self.session = session

    def take(self, rules: RoutingRules, pool: Pool, unavailable: Mapping[str, str], now: datetime) -> TakenTurn:
        return TakenTurn(take_in_session(self.session, rules, pool, unavailable, now), self.name)


# ---------------------------------------------------------------- redis


class RedisTurns:
    """Keys under ``prefix``: ``turn:{pool}`` (counter), ``assigned:{pool}`` (hash member -> turns),
    ``count:{member}:{period}`` (the caps' counters; they expire a few weeks after their period)."""

    name = "redis"
    COUNT_TTL_SECONDS = 35 * 24 * 3600

    def __init__(self, client, prefix: str, fallback: TurnBackend,  # noqa: ANN001 - redis.Redis
                 on_fallback: Callable[[], None] | None = None, guard: RedisGuard | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.fallback = fallback
        self.on_fallback = on_fallback
        self.guard = guard  # the process's circuit breaker: while it is open, Redis is not even tried

    def take(self, rules: RoutingRules, pool: Pool, unavailable: Mapping[str, str], now: datetime) -> TakenTurn:
        import redis

        try:
            if self.guard is not None:
                return TakenTurn(self.guard.call("routing_turn", self._take, rules, pool, unavailable, now), self.name)
            return TakenTurn(self._take(rules, pool, unavailable, now), self.name)
        except (redis.ConnectionError, redis.TimeoutError, RedisUnavailable) as exc:
            log.warning("routing turn for pool %r taken from the database: Redis unreachable (%s)", pool.id, exc)
            if self.on_fallback is not None:
                self.on_fallback()
            return self.fallback.take(rules, pool, unavailable, now)

    def _take(self, rules: RoutingRules, pool: Pool, unavailable: Mapping[str, str], now: datetime) -> Turn:
        import redis

        keys = periods(rules, pool, now)
        turn_key, assigned_key = f"{self.prefix}turn:{pool.id}", f"{self.prefix}assigned:{pool.id}"
        count_keys = {(m, k): f"{self.prefix}count:{m}:{k}" for m, pair in keys.items() for k in pair}
        for _ in range(REDIS_RETRIES):
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(turn_key, assigned_key, *count_keys.values())
                    assigned = {k.decode(): int(v) for k, v in pipe.hgetall(assigned_key).items()}
                    values = pipe.mget(list(count_keys.values()))
                    counts = {mk: int(v) for mk, v in zip(count_keys, values) if v is not None}
                    turn = pick(pool, member_loads(rules, pool, keys, assigned, counts), unavailable)
                    pipe.multi()
                    pipe.incr(turn_key)
                    if turn.member is not None:
                        pipe.hincrby(assigned_key, turn.member, 1)
                        for period in keys[turn.member]:
                            pipe.incr(count_keys[(turn.member, period)])
                            pipe.expire(count_keys[(turn.member, period)], self.COUNT_TTL_SECONDS)
                    number = pipe.execute()[0]
                    return replace(turn, turn=int(number))
                except redis.WatchError:
                    continue  # another taker wrote a key this turn read: read again
        raise RuntimeError(f"pool {pool.id!r}: no Redis turn after {REDIS_RETRIES} attempts")


def make_backend(sessions: sessionmaker[Session], *, kind: str = "database", redis_client=None,  # noqa: ANN001
                 prefix: str = "leadmatch:routing:", on_fallback: Callable[[], None] | None = None,
                 guard: RedisGuard | None = None) -> TurnBackend:
    database = DatabaseTurns(sessions)
    if kind == "redis" and redis_client is not None:
        return RedisTurns(redis_client, prefix, database, on_fallback, guard)
    return database


__all__: Sequence[str] = ["DatabaseTurns", "RedisTurns", "SessionTurns", "TakenTurn", "TurnBackend", "bind",
                          "make_backend",
                          "member_loads", "periods", "take_in_session"]
