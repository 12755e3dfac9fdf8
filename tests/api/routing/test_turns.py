"""api/routing/turns.py: the stored turn on SQLite, PostgreSQL and Redis: shares, caps, skips, and
no turn given twice under concurrency (threads; on PostgreSQL also two engines, as two replicas)."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
import redis

from api.db import make_engine, make_sessionmaker
from api.routing.turns import DatabaseTurns, RedisTurns, TakenTurn, TurnBackend, bind
from config.routing import RoutingRules
from matcher.routing.types import Skip

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)  # a Wednesday


def rules(*pool_members: dict, **members: dict) -> RoutingRules:  # noqa: ANN003
    ids = [pm["member"] for pm in pool_members]
    return RoutingRules.model_validate({
        "members": [{"id": m, **members.get(m, {})} for m in ids],
        "pools": [{"id": "sdr", "members": list(pool_members)}], "default_pool": "sdr"})


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def backends(request: pytest.FixtureRequest, database_url: str) -> Iterator[list[TurnBackend]]:
    """Two backends on the same storage (two "replicas"): two engines; with Redis, two clients."""
    engines = [make_engine(database_url), make_engine(database_url)]
    made: list[TurnBackend] = [DatabaseTurns(make_sessionmaker(e)) for e in engines]
    clients = []
    if request.param == "redis":
        if not database_url.startswith("sqlite"):
            pytest.skip("Redis runs once, beside SQLite (the database is only its fallback)")
        url, ns = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_namespace")
        clients = [redis.Redis.from_url(url), redis.Redis.from_url(url)]
        made = [RedisTurns(c, ns, db) for c, db in zip(clients, made)]
    yield made
    for c in clients:
        c.close()
    for e in engines:
        e.dispose()


def take(backend: TurnBackend, r: RoutingRules, n: int, now: datetime = NOW, unavailable=None) -> list[TakenTurn]:  # noqa: ANN001
    return [backend.take(r, r.pools[0], unavailable or {}, now) for _ in range(n)]


def test_shares_are_the_weights_and_turns_count_up(backends: list[TurnBackend]) -> None:
    r = rules({"member": "ann", "weight": 5}, {"member": "bob", "weight": 3}, {"member": "cy", "weight": 2})
    got = take(backends[0], r, 1000)
    assert [t.turn.turn for t in got] == list(range(1, 1001))
    assert Counter(t.turn.member for t in got) == {"ann": 500, "bob": 300, "cy": 200}
    # weights 5:3:2 by hand, (assigned+1)/weight: ann .2 bob .33 cy .5 -> ann; ann .4 > bob .33 -> bob;
    # ann .4 < cy .5 < bob .67 -> ann; ann .6 > cy .5 -> cy
    assert [t.turn.member for t in got[:4]] == ["ann", "bob", "ann", "cy"]


def test_day_cap_rolls_over_at_the_members_local_midnight(backends: list[TurnBackend]) -> None:
    # Tokyo is UTC+9: its day ends at 15:00 UTC
    r = rules({"member": "kei"}, {"member": "lou", "weight": 0.001}, kei={"timezone": "Asia/Tokyo", "cap_per_day": 2})
    evening = datetime(2026, 12, 2, 14, 0, tzinfo=timezone.utc)  # 23:00 in Tokyo
    got = take(backends[0], r, 3, evening)
    assert [t.turn.member for t in got] == ["kei", "kei", "lou"]
    assert got[2].turn.skipped == (Skip("kei", "cap 2/day reached"),)
    after_midnight = evening + timedelta(hours=1, minutes=1)  # 00:01 the next day in Tokyo
    assert take(backends[1], r, 1, after_midnight)[0].turn.member == "kei"


def test_unavailable_skipped_and_everyone_capped(backends: list[TurnBackend]) -> None:
    r = rules({"member": "ann", "cap_per_week": 1}, {"member": "bob"})
    first = take(backends[0], r, 1, unavailable={"ann": "paused"})[0].turn
    assert (first.member, first.skipped) == ("bob", (Skip("ann", "paused"),))
    assert take(backends[0], r, 1)[0].turn.member == "ann"  # ann: 0 turns in the pool vs bob's 1
    nobody = take(backends[1], r, 1, unavailable={"bob": "out of office until 2026-12-04"})[0].turn
    assert nobody.member is None and nobody.turn == 3
    assert nobody.skipped == (Skip("ann", "cap 1/week reached"), Skip("bob", "out of office until 2026-12-04"))


def test_concurrent_takers_never_share_a_turn(backends: list[TurnBackend]) -> None:
    # weights 2:1:1 with a day cap of 450 on cy: 2,000 turns want 500 for cy, the cap stops it at 450
    r = rules({"member": "ann", "weight": 2}, {"member": "bob"}, {"member": "cy"}, cy={"cap_per_day": 450})
    per_thread, threads = 250, 8
    results: list[TakenTurn] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(backend: TurnBackend) -> None:
        try:
            mine = take(backend, r, per_thread)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            return
        with lock:
            results.extend(mine)

    pool = [threading.Thread(target=work, args=(backends[i % 2],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    numbers = [t.turn.turn for t in results]
    assert sorted(numbers) == list(range(1, 2001))  # every number once: none given twice, none lost
    counts = Counter(t.turn.member for t in results)
    # cy capped at 450; the other 1,550 at 2:1 between ann and bob: 1033.3 and 516.7, within one turn
    assert counts["cy"] == 450
    assert abs(counts["ann"] - 1550 * 2 / 3) <= 1 and abs(counts["bob"] - 1550 / 3) <= 1
    assert counts["ann"] + counts["bob"] == 1550


def test_redis_unreachable_falls_back_to_the_database(database_url: str) -> None:
    engine = make_engine(database_url)
    fallbacks: list[int] = []
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens on port 1
    backend = RedisTurns(dead, "lmtest:", DatabaseTurns(make_sessionmaker(engine)), lambda: fallbacks.append(1))
    r = rules({"member": "ann"}, {"member": "bob"})
    try:
        got = take(backend, r, 2)
    finally:
        engine.dispose()
    assert [(t.backend, t.turn.turn, t.turn.member) for t in got] == [("database", 1, "ann"), ("database", 2, "bob")]
    assert fallbacks == [1, 1]


def test_bind_gives_the_ladder_its_take_turn(database_url: str) -> None:
    engine = make_engine(database_url)
    taken: list[TakenTurn] = []
    r = rules({"member": "ann"})
    try:
        turn = bind(DatabaseTurns(make_sessionmaker(engine)), r, NOW, taken)(r.pools[0], {})
    finally:
        engine.dispose()
    assert (turn.member, turn.turn) == ("ann", 1) and taken[0].backend == "database"
