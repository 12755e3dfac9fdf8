"""Round-robin fairness under concurrency: N unmatched leads through one weighted pool, sent by
several concurrent clients to two API processes on PostgreSQL (and Redis), then checked from the
database:

- per-member shares against the weights (the capped member aside: it must get exactly its cap),
- no member over its daily cap,
- no turn of the pool handed out twice, and every lead routed once.

    .venv/bin/python benchmarks/routing/bench_fairness.py [--leads 100000] [--clients 8] [--turns redis|database]

The pool: Ann 1, Ben 2, Cid 3, Dee 4 (no caps) and Eli 2 with a cap of ``--cap`` a day; everyone
works around the clock, so availability never interferes and the shares must follow the weights.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
import _common as C  # noqa: E402

WEIGHTS = {"Ann": 1, "Ben": 2, "Cid": 3, "Dee": 4}
ALWAYS = {"hours": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}


def routing_document(cap: int) -> dict:
    members = [{"id": m} for m in WEIGHTS] + [{"id": "Eli", "cap_per_day": cap}]
    return {"schedules": {"default": ALWAYS}, "members": members, "default_pool": "sdr",
            "pools": [{"id": "sdr", "members": [{"member": m, "weight": w} for m, w in WEIGHTS.items()]
                       + [{"member": "Eli", "weight": 2}]}]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--batch", type=int, default=50, help="leads per POST /v1/leads/bulk")
    p.add_argument("--cap", type=int, default=500, help="Eli's daily cap")
    p.add_argument("--turns", choices=("redis", "database"), default="redis")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = p.parse_args()

    import httpx
    import redis
    from sqlalchemy import create_engine, text

    schema = f"lm_bench_fair_{os.getpid()}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    prefix = f"lmbench:{schema}:"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": args.redis, "PYTHONPATH": str(C.REPO),
           "LEADMATCH_ROUTING_TURNS": args.turns, "LEADMATCH_SLA_CHECK_SECONDS": "0",
           "LEADMATCH_CACHE_PREFIX": prefix, "LEADMATCH_INDEX_CHANNEL": prefix + "index",
           "LEADMATCH_ROUTING_REDIS_PREFIX": prefix + "turns:", "LEADMATCH_BULK_MAX_ITEMS": str(args.batch)}
    procs = []
    try:
        subprocess.run([*C.leadmatch_cmd(), "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        ports = [C.free_port(), C.free_port()]
        for port in ports:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                 "--no-access-log", "--log-level", "warning", "--factory", "api.app:create_app"],
                env=env, cwd=str(C.REPO), stdout=subprocess.DEVNULL))
        for port, proc in zip(ports, procs):
            C.wait_http(f"http://127.0.0.1:{port}/readyz", 120, proc)
        r = httpx.put(f"http://127.0.0.1:{ports[0]}/v1/routing", json=routing_document(args.cap), timeout=30)
        r.raise_for_status()
        C.say(C.setup_line())
        C.say(f"{args.leads:,} unmatched leads, {args.clients} client threads, POST /v1/leads/bulk of {args.batch}, "
              f"2 API processes (uvicorn, 1 worker each), PostgreSQL, Redis, turns: {args.turns}")
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        next_batch = iter(range(0, args.leads, args.batch))

        def client(k: int) -> None:
            with httpx.Client(timeout=120) as http:
                while True:
                    with lock:
                        start = next(next_batch, None)
                    if start is None:
                        return
                    port = ports[(start // args.batch) % 2]
                    items = [{"id": f"fair-{i}", "company": f"Qzxv Plumbing {i}", "email": f"p{i}@gmail.com"}
                             for i in range(start, min(start + args.batch, args.leads))]
                    r = http.post(f"http://127.0.0.1:{port}/v1/leads/bulk", content=json.dumps(items),
                                  headers={"content-type": "application/json"})
                    with lock:
                        statuses[r.status_code] += 1
                    if r.status_code == 200 and r.json()["counts"]["error"]:
                        with lock:
                            statuses[-1] += r.json()["counts"]["error"]

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        C.say(f"sent in {elapsed:.1f} s ({args.leads / elapsed:,.0f} leads/s); HTTP statuses {dict(statuses)}")

        with admin.connect() as conn:
            conn.execute(text(f'SET search_path TO "{schema}"'))
            owners = dict(conn.execute(text("SELECT owner, count(*) FROM leads GROUP BY owner")).all())
            leads = conn.execute(text("SELECT count(*) FROM leads")).scalar()
            routed_twice = conn.execute(text(
                "SELECT count(*) FROM (SELECT lead_id FROM lead_routings GROUP BY lead_id HAVING count(*) > 1) x")
            ).scalar()
            turn_twice = conn.execute(text(
                "SELECT count(*) FROM (SELECT pool, turn FROM lead_routings WHERE turn IS NOT NULL "
                "GROUP BY pool, turn HAVING count(*) > 1) x")).scalar()
            per_day = conn.execute(text(
                "SELECT owner, date(routed_at AT TIME ZONE 'UTC') AS d, count(*) FROM leads "
                "WHERE owner = 'Eli' GROUP BY owner, d")).all()
        C.say(f"leads stored {leads:,}; routed more than once {routed_twice}; turn numbers given twice {turn_twice}")
        eli = owners.get("Eli", 0)
        C.say(f"Eli (weight 2, cap {args.cap}/day): {eli} leads; per day {[(str(d), n) for _, d, n in per_day]}; "
              f"cap exceeded: {any(n > args.cap for _, _, n in per_day)}")
        rest = sum(owners.get(m, 0) for m in WEIGHTS)
        total_w = sum(WEIGHTS.values())
        worst = 0.0
        for m, w in WEIGHTS.items():
            share = owners.get(m, 0) / rest if rest else 0.0
            want = w / total_w
            worst = max(worst, abs(share - want) / want)
            C.say(f"  {m}: weight {w}  leads {owners.get(m, 0):,}  share {share:.4%}  weight share {want:.4%}  "
                  f"off by {abs(share - want) / want:.3%} of it")
        others = {k: v for k, v in owners.items() if k not in WEIGHTS and k != "Eli"}
        C.say(f"largest relative deviation from the weights: {worst:.3%} (limit 1 %); other owners/queues: {others}")
    finally:
        for proc in procs:
            C.stop(proc)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        client_r = redis.Redis.from_url(args.redis)
        keys = list(client_r.scan_iter(match=prefix + "*"))
        if keys:
            client_r.delete(*keys)


if __name__ == "__main__":
    main()
