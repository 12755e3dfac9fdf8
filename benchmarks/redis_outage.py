"""Redis killed for 10 s under load: how many answers of each status, before, during and after.

Starts its own ``redis-server`` (free port, no persistence) and a real ``leadmatch serve``
(uvicorn, free port) on PostgreSQL in a schema of its own (dropped at the end; ``--sqlite``: a
temporary SQLite file instead), seeds a few accounts, then runs concurrent clients sending
GET /v1/accounts/{id}/status, PUT /v1/accounts, POST /v1/match and POST /v1/leads (unmatched leads,
round-robin turns on Redis: ``LEADMATCH_ROUTING_TURNS=redis``) for ``--seconds`` (30), kills
Redis at a third of the run and starts it again, on the same port, ``--outage`` (10) seconds later.

    .venv/bin/python benchmarks/redis_outage.py [--seconds 30] [--outage 10] [--clients 6] [--sqlite]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, directory: str) -> subprocess.Popen:
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", directory],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def account(i: int, name: str) -> dict:
    return {"id": f"R{i}", "name": f"{name} {i} Systems", "domains": [f"outage{i}.com"], "country": "US",
            "owner": "Dana Whitfield"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="leadmatch-redis-outage-")
    schema = f"lm_outage_{uuid.uuid4().hex[:8]}"
    admin = None
    if args.sqlite:
        database_url = f"sqlite:///{workdir}/leadmatch.db"
    else:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from config.settings import Settings

        pg = Settings(database_url=PG_URL).database_url
        admin = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        database_url = make_url(pg).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    redis_port, api_port = free_port(), free_port()
    redis_proc = start_redis(redis_port, workdir)
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "LEADMATCH_LOG_LEVEL": "warning", "LEADMATCH_ROUTING_TURNS": "redis"}
    server = subprocess.Popen([str(REPO / ".venv/bin/leadmatch"), "serve", "--port", str(api_port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(Path(workdir) / "server.log", "wb"))
    base = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not become ready; see {workdir}/server.log")
            time.sleep(0.2)
        httpx.put(f"{base}/v1/accounts", json=[account(i, "Outage") for i in range(20)], timeout=10).raise_for_status()
        always = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        httpx.put(f"{base}/v1/routing", timeout=10, json={
            "schedules": {"default": {"hours": always}}, "members": [{"id": "Ann"}, {"id": "Ben"}],
            "pools": [{"id": "sdr", "members": [{"member": "Ann", "weight": 2}, {"member": "Ben"}]}],
            "default_pool": "sdr"}).raise_for_status()

        phase = ["before"]
        counts: dict[str, Counter] = {"before": Counter(), "during": Counter(), "after": Counter()}
        lock = threading.Lock()
        stop = threading.Event()

        def client(n: int) -> None:
            with httpx.Client(base_url=base, timeout=10) as http:
                i = n
                while not stop.is_set():
                    kind = i % 4
                    try:
                        if kind == 0:
                            r = http.get(f"/v1/accounts/R{i % 20}/status")
                        elif kind == 1:
                            r = http.put("/v1/accounts", json=[account(i % 20, random.choice(("Outage", "Renamed")))])
                        elif kind == 2:
                            r = http.post("/v1/match", json={"email": f"x@outage{i % 20}.com"})
                        else:
                            r = http.post("/v1/leads", json={"id": f"lead-{i}", "company": f"Qzxv Plumbing {i}"})
                        status = str(r.status_code)
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    with lock:
                        counts[phase[0]][(("GET status", "PUT accounts", "POST match", "POST leads")[kind], status)] += 1
                    i += args.clients

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        kill_at = args.seconds / 3
        time.sleep(kill_at)
        redis_proc.terminate()
        redis_proc.wait(10)
        phase[0] = "during"
        print(f"{time.monotonic() - started:5.1f} s: Redis killed", flush=True)
        time.sleep(args.outage)
        redis_proc = start_redis(redis_port, workdir)
        phase[0] = "after"
        print(f"{time.monotonic() - started:5.1f} s: Redis restarted", flush=True)
        time.sleep(max(0.0, args.seconds - kill_at - args.outage))
        stop.set()
        for t in threads:
            t.join(30)
        ready = httpx.get(f"{base}/readyz", timeout=5).json()
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
    finally:
        server.terminate()
        server.wait(15)
        redis_proc.terminate()
        redis_proc.wait(10)
        if admin is not None:
            from sqlalchemy import text

            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()

    print(f"\n{'database':>10}: {'sqlite' if args.sqlite else 'postgresql'}; {args.clients} clients, "
          f"{args.seconds:.0f} s, Redis down for {args.outage:.0f} s")
    total = Counter()
    for name, c in counts.items():
        print(f"\n{name} the outage:")
        for (route, status), n in sorted(c.items()):
            print(f"  {route:<13} {status:<20} {n:>7}")
            total[status] += n
    print(f"\nall answers by status: {dict(sorted(total.items()))}")
    print(f"5xx or no answer: {sum(n for s, n in total.items() if not s[0] in '234')}")
    print(f"after the run /readyz: ready={ready['ready']} degraded={ready['degraded']}")
    for line in metrics.splitlines():
        if line.startswith(("leadmatch_redis_errors_total{", "leadmatch_redis_skipped_total{", "leadmatch_redis_up ")):
            print(f"  {line}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
