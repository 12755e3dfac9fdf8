"""Round-robin turns under concurrency: THREADS threads on each of two engines (two "replicas")
take TURNS turns of one weighted pool with caps, on PostgreSQL and on Redis (api/routing/turns.py),
and print per-member shares vs the weights, the highest day count vs the cap, duplicate turn
numbers and turns/s.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python benchmarks/routing/bench_turns.py [TURNS] [THREADS]

It works in a schema / key prefix of its own and removes them after.
"""
from __future__ import annotations

import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.db import make_engine, make_sessionmaker, migrate
from api.routing.turns import DatabaseTurns, RedisTurns, TakenTurn, TurnBackend
from config.routing import RoutingRules
from config.settings import Settings

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
WEIGHTS = {"ann": 4, "bob": 3, "cy": 2, "dee": 1}
CAP_PER_DAY = {"dee": 1500}  # below dee's share of 20,000 turns (2,000): the cap must hold it


def rules() -> RoutingRules:
    return RoutingRules.model_validate({
        "members": [{"id": m, "cap_per_day": CAP_PER_DAY.get(m)} for m in WEIGHTS],
        "pools": [{"id": "bench", "members": [{"member": m, "weight": w} for m, w in WEIGHTS.items()]}],
        "default_pool": "bench"})


def run(label: str, backends: list[TurnBackend], turns: int, threads: int) -> None:
    r = rules()
    pool = r.pools[0]
    per_thread = turns // (threads * len(backends))
    results: list[list[TakenTurn]] = []

    def work(backend: TurnBackend) -> None:
        results.append([backend.take(r, pool, {}, NOW) for _ in range(per_thread)])

    workers = [threading.Thread(target=work, args=(b,)) for b in backends for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    taken = [t for part in results for t in part]
    numbers = Counter(t.turn.turn for t in taken)
    counts = Counter(t.turn.member for t in taken)
    print(f"\n{label}: {len(taken)} turns, {threads} threads x {len(backends)} engines/clients, "
          f"{len(taken) / seconds:.0f} turns/s, duplicate turn numbers: {sum(n - 1 for n in numbers.values())}, "
          f"backends: {dict(Counter(t.backend for t in taken))}")
    free = len(taken) - sum(counts[m] for m in CAP_PER_DAY)
    free_weight = sum(w for m, w in WEIGHTS.items() if m not in CAP_PER_DAY)
    for m, w in WEIGHTS.items():
        cap = CAP_PER_DAY.get(m)
        want = cap if cap is not None else free * w / free_weight
        print(f"  {m:4} weight {w}  got {counts[m]:6}  expected {want:9.1f}  "
              f"off {counts[m] - want:+.1f}  cap {cap if cap is not None else '-'}")


def main() -> None:
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    settings = Settings()
    schema = f"bench_turns_{uuid.uuid4().hex[:8]}"
    admin = create_engine(settings.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(settings.database_url).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    engines = [make_engine(url), make_engine(url)]
    prefix = f"bench:turns:{uuid.uuid4().hex[:8]}:"
    clients = [redis.Redis.from_url(settings.redis_url), redis.Redis.from_url(settings.redis_url)]
    try:
        migrate(url)
        database = [DatabaseTurns(make_sessionmaker(e)) for e in engines]
        run("PostgreSQL", database, turns, threads)
        run("Redis", [RedisTurns(c, prefix, db) for c, db in zip(clients, database)], turns, threads)
    finally:
        for e in engines:
            e.dispose()
        keys = list(clients[0].scan_iter(match=prefix + "*"))
        if keys:
            clients[0].delete(*keys)
        for c in clients:
            c.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
