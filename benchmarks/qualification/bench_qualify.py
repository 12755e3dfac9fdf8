"""Speed of qualification, measured on PostgreSQL with a deterministic scale ledger.

    .venv/bin/python benchmarks/bench_qualify.py recompute   [--accounts 1000000] [--events 20000000] [--workers 2]
    .venv/bin/python benchmarks/bench_qualify.py ingest      [--accounts 100000] [--events 2000000] [--requests 60]
    .venv/bin/python benchmarks/bench_qualify.py status-http [--duration 10] [--rounds 3] [--connections 32]
    (all take --json OUT; the ledgers come from benchmarks/qualification/ledger_scale.py, built once per shape
    into a database of their own and reused; --fresh rebuilds)

recompute    the full bulk path, ``api.qualification.recompute.recompute_all(apply=True)``, in a fresh process:
             statuses and the transition log are emptied first, so every account and contact gets
             its first status written and logged (the heaviest run); then the same recompute again
             (same as_of: must write and log nothing). Seconds, accounts/s, events/s, peak RSS
             (largest process), CPU seconds of the process tree, load average (target: 1M accounts
             with 20M events in <= 5 minutes on 2 cores).
ingest       ``POST /v1/activities`` of the real app (uvicorn, 1 worker, PostgreSQL) in batches of
             ``--batch`` new events of random existing contacts, from ``--concurrency`` client
             threads; every request re-evaluates the accounts it touches in its transaction
             (statuses kept current). Events/s and request latency; afterwards a sample of touched
             accounts is checked against a fresh evaluation.
status-http  ``GET /v1/accounts/{id}/status`` of the real app (answered from its in-process cache;
             --redis for Redis) against ``benchmarks/bare_app.py`` answering the same bytes for any
             id, one uvicorn worker each, same run, alternating rounds, each round preceded by a
             pass over the ids so the real app answers from cache (and started before its cached
             answers' time to live runs out: a round measures hits, not misses); wrk cycling through
             ``--ids`` account ids (an asyncio httpx client without wrk). Requests/s medians and
             their ratio (target >= 0.8).
Everything binds to 127.0.0.1 and is bounded in time. Exit status is non-zero only on a crash.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
import _common as C  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))  # ledger_scale.py
import ledger_scale as S  # noqa: E402 - beside this file

say = C.say
PG_ADMIN_URL = C.PG_ADMIN_URL


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def _psql_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _clear_statuses(url: str) -> None:
    import psycopg

    with psycopg.connect(_psql_dsn(url), autocommit=True) as conn:
        conn.execute("TRUNCATE account_statuses, contact_statuses, status_transitions, rule_sets RESTART IDENTITY")
        conn.execute("VACUUM ANALYZE account_statuses, contact_statuses, status_transitions")


# ----------------------------------------------------------------------------------- recompute

def _recompute_once(url: str, workers: int, as_of: str, apply: bool) -> dict:
    """Runs in a fresh process: one recompute_all, its report and the process tree's resources."""
    from api.db import make_engine
    from api.qualification.recompute import recompute_all
    from config import load_qualification_rules
    from matcher.qualification.rules import compile_rules

    engine = make_engine(url)
    compiled = compile_rules(load_qualification_rules())
    load0 = os.getloadavg()[0]
    report = recompute_all(engine, compiled, datetime.fromisoformat(as_of), apply=apply, workers=workers)
    engine.dispose()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": report.seconds, "accounts": report.accounts, "contacts": report.contacts,
            "activities": report.activities, "opportunities": report.opportunities, "contracts": report.contracts,
            "accounts_moved": report.accounts_moved, "contacts_moved": report.contacts_moved,
            "rows_written": report.rows_written, "transitions": report.transitions, "slices": report.slices,
            "workers": report.workers, "peak_rss_bytes": report.peak_rss_bytes,
            "cpu_seconds": children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime,
            "load_before": load0, "load_after": os.getloadavg()[0],
            "matrix": [[c.before, c.after, c.count] for c in report.preview.cells]}


class _DatabaseCpu:
    """CPU seconds of the PostgreSQL backends serving one database, sampled from /proc every
    second while they live (a backend's last second before it exits is not counted)."""

    def __init__(self, url: str) -> None:
        self.db = url.rsplit("/", 1)[-1]
        self.admin = _psql_dsn(PG_ADMIN_URL)
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        tick = os.sysconf("SC_CLK_TCK")
        with psycopg.connect(self.admin, autocommit=True) as conn:
            while not self._stop.wait(1.0):
                pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                                   (self.db,)).fetchall()]
                for pid in pids:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    self.seen[pid] = max(self.seen.get(pid, 0.0), (int(fields[11]) + int(fields[12])) / tick)

    def __enter__(self) -> "_DatabaseCpu":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())


def _run_recompute(url: str, workers: int, as_of: str, apply: bool, timeout: float) -> dict:
    with _DatabaseCpu(url) as db_cpu:
        p = subprocess.run([sys.executable, __file__, "_recompute", "--url", url, "--workers", str(workers),
                            "--as-of", as_of] + (["--apply"] if apply else []),
                           capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"recompute failed: {p.stderr[-3000:]}")
    return {**json.loads(p.stdout.strip().splitlines()[-1]), "db_cpu_seconds": db_cpu.seconds}


def _say_run(label: str, r: dict) -> None:
    say(f"  {label}: {r['seconds']:.1f} s = {r['accounts'] / r['seconds']:,.0f} accounts/s, "
        f"{r['activities'] / r['seconds']:,.0f} events/s; {r['rows_written']:,} status rows written, "
        f"{r['transitions']:,} transitions logged; {r['workers']} workers, {r['slices']} slices; "
        f"peak RSS {r['peak_rss_bytes'] / 2**20:,.0f} MiB (largest process); CPU {r['cpu_seconds']:.0f} s in the "
        f"recompute's processes + {r.get('db_cpu_seconds', 0):.0f} s in PostgreSQL; "
        f"load average {r['load_before']:.2f} -> {r['load_after']:.2f}")


def cmd_recompute(args) -> int:
    data = C.data_dir(args.data)
    say(C.setup_line())
    shape = S.Shape(args.accounts, args.events, args.seed)
    url, meta = S.ensure(PG_ADMIN_URL, shape, data, fresh=args.fresh, say=say)
    say(f"ledger: {int(meta['rows_accounts']):,} accounts, {int(meta['rows_contacts']):,} contacts, "
        f"{int(meta['rows_activities']):,} activities, {int(meta['rows_opportunities']):,} opportunities "
        f"({int(meta['rows_stage_changes']):,} stage changes), {int(meta['rows_contracts']):,} contracts, "
        f"{int(meta['rows_manual_moves']):,} manual moves (PostgreSQL {url.rsplit('/', 1)[-1]})")
    as_of = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    runs = []
    for rep in range(args.repeats):
        _clear_statuses(url)
        say(f"run {rep + 1}: statuses and transition log emptied; {load_line()}")
        first = _run_recompute(url, args.workers, as_of, True, args.timeout)
        _say_run("full apply (every status new)", first)
        again = _run_recompute(url, args.workers, as_of, True, args.timeout)
        _say_run("same recompute again       ", again)
        if again["transitions"] or again["rows_written"]:
            say("  ERROR: the second recompute wrote something; it must not")
            return 1
        runs.append({"first": first, "again": again})
    med = C.median([r["first"]["seconds"] for r in runs])
    r0 = runs[0]["first"]
    say(f"status counts: " + ", ".join(f"{a} {n:,}" for _, a, n in sorted(r0["matrix"], key=lambda x: -x[2])))
    say(f"RESULT recompute: {r0['accounts']:,} accounts, {r0['activities']:,} events in {med:.1f} s "
        f"(median of {args.repeats}; target <= 300 s for 1M/20M) = {r0['accounts'] / med:,.0f} accounts/s, "
        f"{r0['activities'] / med:,.0f} events/s, peak RSS {max(r['first']['peak_rss_bytes'] for r in runs) / 2**20:,.0f} MiB; "
        f"no-op recompute {C.median([r['again']['seconds'] for r in runs]):.1f} s")
    C.emit_json(args, {"bench": "recompute", "shape": shape.as_meta(), "meta": meta, "runs": runs})
    return 0


# ----------------------------------------------------------------------------------- ingest

def _ensure_current_statuses(url: str, workers: int) -> None:
    import psycopg

    with psycopg.connect(_psql_dsn(url)) as conn:
        have = conn.execute("SELECT count(*) FROM account_statuses").fetchone()[0]
        accounts = conn.execute("SELECT count(*) FROM accounts").fetchone()[0]
    if have < accounts:
        say(f"  statuses not stored yet: recompute_all(apply=True) once ({accounts:,} accounts)")
        r = _run_recompute(url, workers, datetime.now(timezone.utc).isoformat(), True, 3600)
        say(f"    done in {r['seconds']:.0f} s")


def _sample_contacts(url: str, n: int, seed: int) -> list[str]:
    import psycopg

    with psycopg.connect(_psql_dsn(url)) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM contacts ORDER BY md5(id || %s) LIMIT %s",
                                          (str(seed), n)).fetchall()]
    return sorted(ids)


def _event_batches(contacts: list[str], requests: int, batch: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    type_of, page_kind_of = S._picker(S.ACTIVITY_MIX), S._picker(S.PAGE_KINDS)  # noqa: SLF001 - same mix
    run = f"{int(time.time())}-{os.getpid()}"
    now = datetime.now(timezone.utc)
    bodies = []
    n = 0
    for _ in range(requests):
        items = []
        for _ in range(batch):
            n += 1
            t = type_of(rng)
            item = {"id": f"ing-{run}-{n}", "type": t, "contact_id": contacts[rng.randrange(len(contacts))],
                    "occurred_at": (now - timedelta(minutes=rng.uniform(1, 4320))).isoformat(),
                    "channel": S.CHANNELS[t], "direction": "outbound" if t in S.OUTBOUND else "inbound"}
            if t == "page_view":
                item["page_kind"] = page_kind_of(rng)
            items.append(item)
        bodies.append(json.dumps(items).encode())
    return bodies


def cmd_ingest(args) -> int:
    import httpx

    data = C.data_dir(args.data)
    say(C.setup_line())
    shape = S.Shape(args.accounts, args.events, args.seed)
    url, meta = S.ensure(PG_ADMIN_URL, shape, data, fresh=args.fresh, say=say)
    _ensure_current_statuses(url, 2)
    contacts = _sample_contacts(url, 50_000, args.seed)
    bodies = _event_batches(contacts, args.requests + args.warmup, args.batch, args.seed)
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(C.REPO), "LEADMATCH_BULK_MAX_ITEMS": str(args.batch)}
    env.pop("REDIS_URL", None)
    port = C.free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]
    say(f"ledger {url.rsplit('/', 1)[-1]}: {int(meta['rows_accounts']):,} accounts, "
        f"{int(meta['rows_activities']):,} activities; server: uvicorn 1 worker, api.app:create_app, PostgreSQL")
    say(f"load: {args.requests} requests of {args.batch} new events (random contacts among {len(contacts):,}) "
        f"from {args.concurrency} client threads, after {args.warmup} warm-up requests; {load_line()}")
    proc = subprocess.Popen(cmd, env=env, cwd=str(C.REPO), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    latencies: list[float] = []
    errors: list[str] = []
    try:
        C.wait_http(f"http://127.0.0.1:{port}/readyz", 600, proc)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=300) as client:
            for body in bodies[:args.warmup]:
                client.post("/v1/activities", content=body, headers={"content-type": "application/json"})
        work = list(bodies[args.warmup:])
        lock = threading.Lock()

        def worker() -> None:
            with httpx.Client(base_url=base, timeout=300) as client:
                while True:
                    with lock:
                        if not work:
                            return
                        body = work.pop()
                    t = time.perf_counter()
                    r = client.post("/v1/activities", content=body, headers={"content-type": "application/json"})
                    dt = time.perf_counter() - t
                    with lock:
                        latencies.append(dt)
                        if r.status_code != 200:
                            errors.append(f"{r.status_code}: {r.text[:300]}")

        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()[0]
    finally:
        C.stop(proc)
    if errors:
        say(f"  {len(errors)} failed requests, first: {errors[0]}")
        return 1
    events = args.requests * args.batch
    lat = sorted(latencies)
    mismatches, checked = _check_current(url, bodies[args.warmup:], 50)
    say(f"  statuses kept current: {checked} touched accounts re-evaluated from their ledgers now, "
        f"{mismatches} stored status(es) differ")
    say(f"RESULT ingest: {events:,} events in {wall:.1f} s = {events / wall:,.0f} events/s with statuses kept current "
        f"({args.batch} events per request, {args.concurrency} client threads; request latency p50 "
        f"{C.percentile(lat, 0.5) * 1000:.0f} ms, p99 {C.percentile(lat, 0.99) * 1000:.0f} ms); "
        f"load average {load0:.2f} -> {load1:.2f}")
    C.emit_json(args, {"bench": "ingest", "events": events, "seconds": wall, "events_per_s": events / wall,
                         "batch": args.batch, "concurrency": args.concurrency, "latencies_s": lat,
                         "status_mismatches": mismatches, "checked": checked})
    return 0


def _check_current(url: str, bodies: list[bytes], n: int) -> tuple[int, int]:
    """(stored statuses that differ from a fresh evaluation, accounts checked) for ``n`` accounts
    touched by the ingested events."""
    from sqlalchemy import select

    from api.qualification import ledger_reader
    from api.db.rows import AccountStatusRow, ContactRow
    from api.db import make_engine, make_sessionmaker
    from api.qualification.rule_sets import current_rules
    from matcher.qualification.evaluate import evaluate_account
    from matcher.qualification.rules import compile_rules

    contacts = sorted({item["contact_id"] for body in bodies for item in json.loads(body)})[:n * 3]
    engine = make_engine(url)
    compiled = compile_rules(current_rules(engine))
    with make_sessionmaker(engine)() as s:
        accounts = sorted(set(s.scalars(select(ContactRow.account_id).where(ContactRow.id.in_(contacts)))))[:n]
        ledgers = ledger_reader.load_ledgers(s, accounts)
        stored = dict(s.execute(select(AccountStatusRow.account_id, AccountStatusRow.status)
                                .where(AccountStatusRow.account_id.in_(accounts))).all())
    engine.dispose()
    now = datetime.now(timezone.utc)
    differ = sum(evaluate_account(ledgers[a], compiled, now).status != stored.get(a) for a in accounts)
    return differ, len(accounts)


# ----------------------------------------------------------------------------------- status-http

WRK_STATUS_LUA = """
local ids = {
%s
}
local i = 0
request = function()
  i = i %% #ids + 1
  return wrk.format("GET", "/v1/accounts/" .. ids[i] .. "/status")
end
"""


def _warm(port: int, ids: list[str]) -> int:
    """One request per id (the real app caches each answer); returns the answer size in bytes."""
    import httpx

    size = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for account_id in ids:
            r = client.get(f"/v1/accounts/{account_id}/status")
            r.raise_for_status()
            size = max(size, len(r.content))
    return size


STATUS_HTTPX_CLIENT = r"""
import asyncio, json, sys, time
import httpx
port, conns, duration, ids_path = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
paths = [f"/v1/accounts/{i}/status" for i in json.load(open(ids_path))]
async def main():
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as c:
        done = [0, 0]; end = time.perf_counter() + duration
        async def worker(k):
            i = k
            while time.perf_counter() < end:
                r = await c.get(paths[i % len(paths)])
                done[0] += 1; done[1] += r.status_code != 200; i += conns
        t = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(conns)))
        print(json.dumps({"rps": done[0] / (time.perf_counter() - t), "non2xx": done[1]}))
asyncio.run(main())
"""


def cmd_status_http(args) -> int:
    import psycopg

    data = C.data_dir(args.data)
    use_wrk = shutil.which("wrk") is not None and not args.httpx
    say(C.setup_line())
    shape = S.Shape(args.accounts, args.events, args.seed)
    url, meta = S.ensure(PG_ADMIN_URL, shape, data, fresh=args.fresh, say=say)
    _ensure_current_statuses(url, 2)
    with psycopg.connect(_psql_dsn(url)) as conn:
        ids = [r[0] for r in conn.execute("SELECT account_id FROM account_statuses ORDER BY md5(account_id) LIMIT %s",
                                          (args.ids,)).fetchall()]
    with tempfile.TemporaryDirectory(prefix="leadmatch-status-http-") as tmp:
        tmp = Path(tmp)
        lua = tmp / "status.lua"
        lua.write_text(WRK_STATUS_LUA % "\n".join(f'  "{i}",' for i in ids))
        ids_json = tmp / "ids.json"
        ids_json.write_text(json.dumps(ids))
        body_file = tmp / "status.json"
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(C.REPO), "BARE_STATUS_BODY": str(body_file)}
        if args.redis:
            env["REDIS_URL"] = args.redis
        else:
            env.pop("REDIS_URL", None)
        uv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--workers", "1", "--no-access-log",
              "--log-level", "warning"]
        ports = {"leadmatch": C.free_port(), "bare": C.free_port()}
        procs = {}
        try:
            procs["leadmatch"] = subprocess.Popen(uv + ["--factory", "api.app:create_app", "--port",
                                                        str(ports["leadmatch"])], env=env, cwd=str(C.REPO),
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            C.wait_http(f"http://127.0.0.1:{ports['leadmatch']}/readyz", 600, procs["leadmatch"])
            # the bare answer: a real status document of a typical size (the median over the ids)
            import httpx

            filled = time.monotonic()  # the real app caches the answers from here on
            with httpx.Client(base_url=f"http://127.0.0.1:{ports['leadmatch']}", timeout=60) as client:
                docs = sorted((client.get(f"/v1/accounts/{i}/status").content for i in ids), key=len)
            body_file.write_bytes(docs[len(docs) // 2])
            procs["bare"] = subprocess.Popen(uv + ["--app-dir", str(C.BENCH_DIR), "bare_app:app", "--port",
                                                   str(ports["bare"])], env=env, cwd=str(C.REPO),
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            C.wait_http(f"http://127.0.0.1:{ports['bare']}/healthz", 120, procs["bare"])
            sizes = [len(d) for d in docs]
            say(f"servers: uvicorn 1 worker each, --no-access-log; leadmatch = api.app:create_app on PostgreSQL "
                f"{url.rsplit('/', 1)[-1]}, status cache {'Redis ' + args.redis if args.redis else 'in-process'}; "
                f"bare = benchmarks/bare_app.py answering the median document ({len(docs[len(docs) // 2])} bytes; "
                f"real ones {sizes[0]}-{sizes[-1]} bytes) for every id")
            gen = (f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s cycling through {len(ids)} account ids"
                   if use_wrk else f"asyncio httpx client, {args.connections} connections, {args.duration}s")
            say(f"load generator: {gen}; each round starts with one request per id (the real app's cache is warm); "
                f"{load_line()}")
            rps = {"leadmatch": [], "bare": []}
            from api.deps import STATUS_TTL_SECONDS

            for rnd in range(args.rounds):
                order = ("leadmatch", "bare") if rnd % 2 == 0 else ("bare", "leadmatch")
                for name in order:
                    # the real app's cached answers live STATUS_TTL_SECONDS from the miss that
                    # stored them: a round must end before they expire, or it measures misses
                    if name == "leadmatch" and time.monotonic() - filled > STATUS_TTL_SECONDS - args.duration - 5:
                        time.sleep(max(0.0, filled + STATUS_TTL_SECONDS + 1 - time.monotonic()))
                        filled = time.monotonic()  # the pass below stores every answer again
                    _warm(ports[name], ids)
                    if use_wrk:
                        r = C.run_wrk(lua, ports[name], args)
                    else:
                        p = subprocess.run([sys.executable, "-c", STATUS_HTTPX_CLIENT, str(ports[name]),
                                            str(args.connections), str(args.duration), str(ids_json)],
                                           capture_output=True, text=True, timeout=args.duration + 60)
                        r = {**json.loads(p.stdout.strip().splitlines()[-1]), "p50": "?", "p99": "?",
                             "socket_errors": ""}
                    rps[name].append(r["rps"])
                    say(f"  round {rnd + 1} {name:9s}: {r['rps']:,.0f} req/s, latency p50 {r['p50']} p99 {r['p99']}, "
                        f"non-2xx {r['non2xx']} {r['socket_errors']}; {load_line()}")
        finally:
            for proc in procs.values():
                C.stop(proc)
    ml, mb = C.median(rps["leadmatch"]), C.median(rps["bare"])
    say(f"RESULT status-http: GET /v1/accounts/{{id}}/status leadmatch {ml:,.0f} req/s (from cache), bare {mb:,.0f} "
        f"req/s, ratio {ml / mb:.2f} (target >= 0.8), medians of {args.rounds} alternating rounds")
    C.emit_json(args, {"bench": "status-http", "leadmatch_rps": rps["leadmatch"], "bare_rps": rps["bare"],
                         "ratio": ml / mb, "generator": "wrk" if use_wrk else "httpx"})
    return 0


# ----------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="leadmatch qualification benchmarks (see module docstring)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, accounts: int, events: int):  # noqa: ANN001, ANN202
        sp.add_argument("--data", help=f"directory with accounts.csv and leads.csv (default {C.DEFAULT_DATA})")
        sp.add_argument("--json", metavar="OUT", help="write the figures as JSON")
        sp.add_argument("--accounts", type=int, default=accounts)
        sp.add_argument("--events", type=int, default=events)
        sp.add_argument("--seed", type=int, default=S.DEFAULT_SEED)
        sp.add_argument("--fresh", action="store_true", help="rebuild the ledger database")
        return sp

    sp = common(sub.add_parser("recompute", help="full recompute_all(apply=True) on PostgreSQL"), 1_000_000, 20_000_000)
    sp.add_argument("--workers", type=int, default=2)
    sp.add_argument("--repeats", type=int, default=1)
    sp.add_argument("--timeout", type=float, default=3600, help="seconds per recompute")
    sp = common(sub.add_parser("ingest", help="bulk POST /v1/activities with statuses kept current"), 100_000, 2_000_000)
    sp.add_argument("--requests", type=int, default=60)
    sp.add_argument("--warmup", type=int, default=3)
    sp.add_argument("--batch", type=int, default=1000, help="events per request")
    sp.add_argument("--concurrency", type=int, default=2, help="client threads")
    sp = common(sub.add_parser("status-http", help="GET status from cache vs a bare endpoint"), 100_000, 2_000_000)
    sp.add_argument("--duration", type=int, default=10, help="seconds per round and server")
    sp.add_argument("--rounds", type=int, default=3)
    sp.add_argument("--connections", type=int, default=32)
    sp.add_argument("--threads", type=int, default=1, help="wrk threads")
    sp.add_argument("--ids", type=int, default=1000, help="distinct account ids requested")
    sp.add_argument("--redis", metavar="URL", help="use Redis as the status cache (REDIS_URL)")
    sp.add_argument("--httpx", action="store_true", help="use the asyncio httpx client even if wrk exists")
    sp = sub.add_parser("_recompute", help=argparse.SUPPRESS)
    sp.add_argument("--url", required=True)
    sp.add_argument("--workers", type=int, default=2)
    sp.add_argument("--as-of", required=True)
    sp.add_argument("--apply", action="store_true")
    args = p.parse_args(argv)

    if args.cmd == "_recompute":
        print(json.dumps(_recompute_once(args.url, args.workers, args.as_of, args.apply)))
        return 0
    return {"recompute": cmd_recompute, "ingest": cmd_ingest, "status-http": cmd_status_http}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
