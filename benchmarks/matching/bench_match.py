"""Speed of leadmatch, measured beside a baseline in the same run.

    .venv/bin/python benchmarks/bench_match.py batch      [--rows 20000] [--repeats 3] [--case perturbed|distinct]
                                                          [--accounts N] [--no-cold] [--workdir DIR]
    .venv/bin/python benchmarks/bench_match.py latency    [--accounts 1000000] [--passes 5]
    .venv/bin/python benchmarks/bench_match.py index-load [--accounts 1000000] [--db postgres|sqlite|both] [--snapshot]
    .venv/bin/python benchmarks/bench_match.py http       [--duration 10] [--rounds 3] [--connections 32]
    (all take --data DIR; default ../shared/data/dev relative to the repository)

batch       ``leadmatch match-file`` as a whole process (accounts imported beforehand into a
            scratch SQLite DB with ``leadmatch import-accounts``) against the domain-join-then-
            string_grouper pipeline as a whole process (peers venv), same lead list, alternating
            runs; leads/s medians and their ratio (target >= 3x). Ours twice: with the index
            snapshot a first (uncounted) run saved, and cold (--no-snapshot).
            --case perturbed (default): dev leads repeated with colleagues, many rows share an answer.
            --case distinct: one lead per account, every row a different company (``distinct_leads``).
            --accounts N: against N scale accounts (benchmarks/_common.py), written to a CSV that
            both import-accounts and the peer read; the distinct leads are drawn from those N.
latency     in-process: AccountIndex build time and memory at N scale accounts (see benchmarks/_common.py),
            then per-lead latency p50/p99 over the dev leads (target p99 <= 2 ms).
index-load  N scale accounts written with the project's storage (api.accounts.store.upsert_accounts) into
            PostgreSQL and/or SQLite, then, in a fresh process, index built from the database with
            api.matching.store.load_accounts + upsert_many: seconds and RSS (targets <= 60 s and <= 1 GiB
            per million).
http        POST /v1/match of the real app (uvicorn, 1 worker, app factory, dev accounts loaded)
            against benchmarks/bare_app.py (same body validation only), alternating rounds, wrk
            (or an asyncio httpx client) in its own process with fixed keep-alive connections;
            requests/s medians and their ratio (target >= 0.7).
Everything binds to 127.0.0.1 and is bounded in time. Exit status is non-zero only on a crash.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
import _common as C  # noqa: E402

def perturbed_leads(data: Path, rows: int, seed: int = 7) -> list[dict]:
    """Dev leads repeated to ``rows``; copies after the first get another person at the same
    company (new local part, name), sometimes the company typed differently or no country."""
    base = C.dev_lead_rows(data)
    rng = random.Random(seed)
    firsts = ("alex", "sam", "maria", "chen", "olga", "raj", "lena", "tom", "ana", "yuki", "omar", "eva")
    out = []
    for i in range(rows):
        r = dict(base[i % len(base)])
        rep = i // len(base)
        r["lead_id"] = f"{r['lead_id']}-{rep}"
        if rep:
            first = firsts[rng.randrange(len(firsts))]
            r["first_name"] = first.title()
            if "@" in r["email"]:
                r["email"] = f"{first}.{rep}{rng.randrange(100)}@{r['email'].split('@', 1)[1]}"
            c = rng.random()
            if c < 0.2:
                r["company"] = r["company"].upper()
            elif c < 0.35:
                r["company"] = r["company"].lower()
            elif c < 0.45:
                r["country"] = ""
        out.append(r)
    return out


FREE_MAIL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "gmx.de", "yahoo.co.uk", "icloud.com")
LEGAL_SWAPS = {"inc": "LLC", "llc": "Inc.", "ltd": "Limited", "limited": "Ltd", "gmbh": "AG", "corp": "Corporation",
               "corporation": "Corp", "co": "Company", "plc": "Ltd", "ag": "GmbH", "sa": "S.A.", "bv": "B.V."}


def _retyped(name: str, rng: random.Random) -> str:
    """A company name as a person types it: the legal form dropped, changed or added, the case
    changed, '&' written 'and' (and back), a leading 'The' dropped; sometimes as it is."""
    words = name.split()
    last = words[-1].lower().strip(".,") .replace(".", "") if words else ""
    c = rng.random()
    if c < 0.25 and len(words) > 1 and last in LEGAL_SWAPS:
        words = words[:-1]  # legal form dropped
        if words[-1].endswith(","):
            words[-1] = words[-1][:-1]
    elif c < 0.35 and len(words) > 1 and last in LEGAL_SWAPS:
        words[-1] = LEGAL_SWAPS[last]  # legal form changed
    elif c < 0.45 and (not words or last not in LEGAL_SWAPS):
        words.append(rng.choice(("Inc.", "LLC", "Ltd", "GmbH", "Corp.")))  # legal form added
    text = " ".join(words)
    if "&" in text and rng.random() < 0.7:
        text = text.replace("&", "and")
    elif " and " in text and rng.random() < 0.7:
        text = text.replace(" and ", " & ")
    if text.lower().startswith("the ") and rng.random() < 0.5:
        text = text[4:]
    c = rng.random()
    if c < 0.2:
        text = text.upper()
    elif c < 0.4:
        text = text.lower()
    return text or name


def distinct_leads(accounts: list, rows: int, seed: int = 11) -> list[dict]:
    """One lead per account for ``rows`` accounts drawn without repetition (seeded), so every row
    is a different company, as on a tradeshow list of distinct firms: 55 % write from an email at
    one of the account's domains, 30 % from a free-mail address (only the name can match them),
    15 % give no email; the company as a person retypes it (``_retyped``); the account's country,
    left out one time in ten. Accounts without a domain get a free-mail or no email."""
    rng = random.Random(seed)
    picked = rng.sample(range(len(accounts)), min(rows, len(accounts)))
    firsts = ("alex", "sam", "maria", "chen", "olga", "raj", "lena", "tom", "ana", "yuki", "omar", "eva")
    out = []
    for n, i in enumerate(picked):
        a = accounts[i]
        first = firsts[rng.randrange(len(firsts))]
        c = rng.random()
        domains = [d for d in a.domains if d]
        if c < 0.55 and domains:
            d = domains[rng.randrange(len(domains))].lower().removeprefix("www.")
            email = f"{first}.{rng.randrange(1000)}@{d}"
        elif c < 0.85:
            email = f"{first}{rng.randrange(10000)}@{FREE_MAIL[rng.randrange(len(FREE_MAIL))]}"
        else:
            email = ""
        out.append({"lead_id": f"D{n + 1:07d}", "email": email, "company": _retyped(a.name, rng),
                    "country": "" if rng.random() < 0.1 else (a.country or ""), "region": "", "city": "",
                    "phone": "", "website": "", "first_name": first.title(), "last_name": "", "title": ""})
    return out


def write_accounts(path: Path, accounts) -> int:
    """Accounts as the CSV both ``leadmatch import-accounts`` and peers.py read."""
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("id", "name", "domains", "country", "region", "city", "parent_id", "owner"))
        for a in accounts:
            w.writerow((a.id, a.name, ";".join(a.domains), a.country or "", a.region or "", a.city or "",
                        a.parent_id or "", a.owner or ""))
            n += 1
    return n


def write_leads(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=C.LEAD_COLUMNS)
        w.writeheader()
        w.writerows(rows)


def count_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


# ----------------------------------------------------------------------------------- batch

def cmd_batch(args) -> int:
    data = C.data_dir(args.data)
    peers_py = C.peers_python(setup=True)
    lm = C.leadmatch_cmd()
    with contextlib.ExitStack() as stack:
        if args.workdir:  # kept between runs: the accounts are imported once
            tmp = Path(args.workdir).resolve()
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leadmatch-batch-")))
        leads = tmp / f"leads-{args.case}-{args.rows}.csv"
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}", LEADMATCH_CACHE_DIR=str(tmp / "cache"))
        env.pop("REDIS_URL", None)
        C.say(C.setup_line())
        if args.accounts:
            from _common import read_real_accounts, scale_accounts

            accounts_csv = tmp / f"accounts-{args.accounts}.csv"
            accounts = list(scale_accounts(read_real_accounts(data / "accounts.csv"), args.accounts))
            if not accounts_csv.exists():
                write_accounts(accounts_csv, accounts)
            C.say(f"accounts: {len(accounts):,} scale accounts (benchmarks/_common.py scale_accounts) in {accounts_csv}")
        else:
            accounts_csv = data / "accounts.csv"
            accounts = None
        if args.case == "distinct":
            from _common import read_real_accounts

            rows = distinct_leads(accounts or read_real_accounts(accounts_csv), args.rows)
            C.say(f"lead list: {len(rows)} rows ({leads}), case distinct: one lead per account, every row "
                  f"a different company (benchmarks/matching/bench_match.py distinct_leads)")
        else:
            rows = perturbed_leads(data, args.rows)
            C.say(f"lead list: {args.rows} rows ({leads}), dev leads repeated with new people and retyped companies")
        write_leads(leads, rows)
        n_rows = len(rows)
        distinct = len({(r["email"].rpartition("@")[2].lower(), r["company"], r["country"], r["region"], r["city"],
                         r["phone"], r["website"]) for r in rows})
        C.say(f"  about {distinct} distinct (email domain, company, place) combinations: colleagues share an answer")
        del accounts
        stamp = tmp / "bench.db.accounts"
        if stamp.exists() and stamp.read_text() == str(accounts_csv):
            C.say(f"accounts already imported into {tmp / 'bench.db'} (--workdir)")
        else:
            (tmp / "bench.db").unlink(missing_ok=True)
            t = time.perf_counter()
            subprocess.run([*lm, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
            subprocess.run([*lm, "import-accounts", str(accounts_csv)], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stamp.write_text(str(accounts_csv))
            C.say(f"accounts imported into scratch SQLite with `leadmatch import-accounts` in {time.perf_counter() - t:.1f} s")
        ours_cmd = [*lm, "match-file", str(leads), "--out", str(tmp / "ours.csv")]
        cold_cmd = [*ours_cmd, "--no-snapshot"]
        peer_cmd = [str(peers_py), str(C.BENCH_DIR / "matching" / "peers.py"), "--accounts", str(accounts_csv),
                    "--leads", str(leads), "--method", "domain_sg", "--out", str(tmp / "peer.csv")]
        C.say("ours: " + " ".join(ours_cmd[-4:]) + "   (DATABASE_URL=sqlite:///<tmp>/bench.db)")
        C.say("  ours     = with the index snapshot an earlier run saved (the accounts have not changed since)")
        C.say("  ours-cold = --no-snapshot: the index built from the database in the run")
        C.say("peer: peers.py --method domain_sg (pandas + tldextract domain join, then string_grouper "
            f"match_most_similar(min_similarity=0.8) on the rest), reading {accounts_csv.name}")
        t = time.perf_counter()
        subprocess.run(ours_cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        C.say(f"first run (builds the index and saves the snapshot, not counted): {time.perf_counter() - t:.2f} s")
        times = {"ours": [], "ours-cold": [], "peer": []}
        for rep in range(args.repeats):
            runs = (("ours", ours_cmd), ("peer", peer_cmd)) + (() if args.no_cold else (("ours-cold", cold_cmd),))
            for name, cmd in runs:
                t = time.perf_counter()
                p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True, timeout=args.timeout)
                dt = time.perf_counter() - t
                if p.returncode != 0:
                    C.say(f"{name} run {rep + 1} failed (exit {p.returncode}): {p.stderr[-1500:]}")
                    return 1
                times[name].append(dt)
                C.say(f"  run {rep + 1} {name}: {dt:.2f} s = {n_rows / dt:,.0f} leads/s")
        n_ours, n_peer = count_rows(tmp / "ours.csv"), count_rows(tmp / "peer.csv")
        mo, mp = C.median(times["ours"]), C.median(times["peer"])
        mc = C.median(times["ours-cold"]) if times["ours-cold"] else float("nan")
        C.say(f"output rows: ours {n_ours}, peer {n_peer} (input {n_rows})")
        against = f"{args.accounts:,} scale accounts" if args.accounts else "the dev accounts"
        C.say(f"RESULT batch --case {args.case} ({against}): leadmatch match-file {n_rows / mo:,.0f} leads/s "
            f"(median {mo:.2f} s; cold {n_rows / mc:,.0f} leads/s, {mc:.2f} s), domain join + string_grouper "
            f"{n_rows / mp:,.0f} leads/s (median {mp:.2f} s), ratio {mp / mo:.2f}x (cold {mp / mc:.2f}x; "
            f"target >= 3x), {args.repeats} alternating runs each")
        C.emit_json(args, {"bench": "batch", "case": args.case, "accounts": args.accounts or None, "rows": n_rows,
                          "ours_s": times["ours"], "ours_cold_s": times["ours-cold"], "peer_s": times["peer"],
                          "ours_leads_per_s": n_rows / mo, "peer_leads_per_s": n_rows / mp,
                          "ratio": mp / mo, "ratio_cold": mp / mc})
    return 0


# ----------------------------------------------------------------------------------- latency

def cmd_latency(args) -> int:
    import tracemalloc

    from _common import read_real_accounts, scale_accounts

    from api import csvio
    from config import load_matching_rules
    from matcher.matching.index import AccountIndex

    data = C.data_dir(args.data)
    real = read_real_accounts(data / "accounts.csv")
    leads = [r.lead for r in csvio.iter_leads(data / "leads.csv") if isinstance(r, csvio.LeadRow)]
    rules = load_matching_rules()
    C.say(C.setup_line())
    C.say(f"accounts: {args.accounts:,} ({min(args.accounts, len(real)):,} real dev accounts + variants from "
        f"benchmarks/_common.py, generated lazily while the index is built); leads: {len(leads)} dev leads")

    # tracemalloc slows allocation several-fold, so time and RSS come from a clean build and the
    # allocation peak from a second build (on at most --tracemalloc-accounts accounts).
    gc.collect()
    rss0 = C.rss_bytes()
    t0 = time.perf_counter()
    index = AccountIndex(rules)
    index.upsert_many(scale_accounts(real, args.accounts))
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_delta = C.rss_bytes() - rss0
    C.say(f"index build: {build_s:.1f} s for {len(index):,} accounts "
        f"({build_s / len(index) * 1e6:.1f} s per million); RSS +{rss_delta / 2**20:,.0f} MiB "
        f"({rss_delta / len(index) * 1e6 / 2**30:.2f} GiB per million)")

    # latency: warm-up pass, then timed passes
    perf = time.perf_counter_ns
    for lead in leads:
        index.match(lead)
    lat = []
    decisions: dict[str, int] = {}
    gc_was = gc.isenabled()
    for _ in range(args.passes):
        for lead in leads:
            t = perf()
            res = index.match(lead)
            lat.append((perf() - t) / 1e6)
            decisions[res.decision] = decisions.get(res.decision, 0) + 1
    lat.sort()
    p50, p90, p99 = (C.percentile(lat, q) for q in (0.5, 0.9, 0.99))
    C.say(f"latency over {len(lat):,} matches ({args.passes} passes x {len(leads)} leads, GC "
        f"{'on' if gc_was else 'off'}): p50 {p50:.3f} ms, p90 {p90:.3f} ms, p99 {p99:.3f} ms, "
        f"max {lat[-1]:.1f} ms, mean {sum(lat) / len(lat):.3f} ms; decisions {decisions}")
    result = {"bench": "latency", "accounts": len(index), "build_s": build_s, "rss_delta_bytes": rss_delta,
              "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": lat[-1]}

    peak = None
    tm_n = min(args.accounts, args.tracemalloc_accounts)
    if tm_n > 0:
        del index
        gc.collect()
        tracemalloc.start()
        t0 = time.perf_counter()
        ix2 = AccountIndex(rules)
        ix2.upsert_many(scale_accounts(real, tm_n))
        tm_s = time.perf_counter() - t0
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        C.say(f"tracemalloc (separate build of {tm_n:,} accounts, {tm_s:.0f} s under tracing): "
            f"peak {peak / 2**20:,.0f} MiB, held after build {cur / 2**20:,.0f} MiB "
            f"= {cur / tm_n * 1e6 / 2**30:.2f} GiB per million accounts")
        result.update(tracemalloc_accounts=tm_n, tracemalloc_peak_bytes=peak, tracemalloc_current_bytes=cur)
        del ix2
    C.say(f"RESULT latency: {args.accounts:,} accounts, p50 {p50:.3f} ms, p99 {p99:.3f} ms (target <= 2 ms); "
        f"build {build_s:.1f} s; RSS +{rss_delta / 2**30:.2f} GiB")
    C.emit_json(args, result)
    return 0


# ----------------------------------------------------------------------------------- index-load

PG_BENCH_DB = "leadmatch_bench"


def _pg_url(db: str) -> str:
    return C.PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db


def _ensure_pg_db(name: str, fresh: bool) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(C.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists and fresh:
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            exists = None
        if not exists:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()


def _write_scale(url: str, n: int, data: Path, chunk: int) -> float | None:
    """Write n scale accounts with the project's storage; skip when the DB already holds them."""
    from _common import read_real_accounts, scale_accounts

    from api import db
    from api.accounts import store
    from api.matching import store as index_store

    db.migrate(url)
    engine = db.make_engine(url)
    factory = db.make_sessionmaker(engine)
    with db.session_scope(factory) as s:
        have = index_store.count_accounts(s)
    if have == n:
        C.say(f"  {url.split('@')[-1]}: already holds {n:,} accounts, reusing them (--fresh to rewrite)")
        engine.dispose()
        return None
    if have:
        raise SystemExit(f"{url} holds {have:,} accounts, not {n:,}: rerun with --fresh")
    real = read_real_accounts(data / "accounts.csv")
    t0 = time.perf_counter()
    batch: list = []
    done = 0

    def flush():
        nonlocal batch, done
        with db.session_scope(factory) as s:
            store.upsert_accounts(s, [store.AccountData.from_account(a) for a in batch], validate=False)
        done += len(batch)
        batch = []

    # validate=False: accounts.parent_id has no enforced foreign key (see api/db/rows/accounts.py) and the
    # generator yields each parent before the variants that point at it.
    for a in scale_accounts(real, n):
        batch.append(a)
        if len(batch) >= chunk:
            flush()
            if done % (chunk * 20) == 0:
                C.say(f"    {done:,} written ({time.perf_counter() - t0:.0f} s)")
    if batch:
        flush()
    with db.session_scope(factory) as s:
        store.refresh_planner_statistics(s)  # as `leadmatch import-accounts` does
    engine.dispose()
    return time.perf_counter() - t0


def _load_once(url: str, workers: int | None, snapshot_dir: str | None = None) -> dict:
    """Runs in a fresh process: build the index from the database, report time and RSS.
    With ``snapshot_dir``: as ``leadmatch match-file`` does, from a current snapshot there
    (``source: snapshot``), else built and then saved (the saving is not timed)."""
    from api import db
    from api.matching import index_load, index_snapshot
    from config import load_matching_rules
    from matcher.matching.index import bulk_building

    engine = db.make_engine(url)
    rules = load_matching_rules()
    gc.collect()
    rss0 = C.rss_bytes()
    t0 = time.perf_counter()
    index, source = None, "database"
    if snapshot_dir:
        with engine.connect() as conn:
            generation = index_snapshot.read_generation(conn)
        path = index_snapshot.snapshot_path(Path(snapshot_dir), url)
        with bulk_building():
            index = index_snapshot.load(path, rules, generation)
        if index is not None:
            index.settle()
            source = "snapshot"
    if index is None:
        index = index_load.build_index(engine, rules, workers=workers)  # what the service runs at start
    dt = time.perf_counter() - t0
    gc.collect()
    rss = C.rss_bytes() - rss0
    if snapshot_dir and source == "database":
        t = time.perf_counter()
        index_snapshot.save(path, index, generation)
        source = f"database, snapshot saved in {time.perf_counter() - t:.1f} s ({path.stat().st_size / 2**20:,.0f} MiB)"
    n = len(index)
    engine.dispose()
    return {"accounts": n, "load_s": dt, "rss_delta_bytes": rss, "source": source}


def cmd_index_load(args) -> int:
    data = C.data_dir(args.data)
    C.say(C.setup_line())
    targets = []
    if args.db in ("postgres", "both"):
        _ensure_pg_db(PG_BENCH_DB, args.fresh)
        targets.append(("PostgreSQL", _pg_url(PG_BENCH_DB)))
    if args.db in ("sqlite", "both"):
        out = C.BENCH_DIR / "out"
        out.mkdir(exist_ok=True)
        path = out / f"scale-{args.accounts}.db"
        if args.fresh and path.exists():
            path.unlink()
        targets.append(("SQLite", f"sqlite:///{path}"))
    results = {}
    for name, url in targets:
        C.say(f"{name}: writing {args.accounts:,} scale accounts with api.accounts.store.upsert_accounts "
            f"(chunks of {args.chunk:,}) into {url.split('@')[-1]}")
        wrote = _write_scale(url, args.accounts, data, args.chunk)
        if wrote is not None:
            C.say(f"  written in {wrote:.0f} s ({args.accounts / wrote:,.0f} accounts/s)")
        def load(label: str, *extra: str) -> dict | None:
            p = subprocess.run([sys.executable, __file__, "_load-index", "--url", url,
                                *(["--workers", str(args.workers)] if args.workers else []), *extra],
                               capture_output=True, text=True, timeout=args.timeout)
            if p.returncode != 0:
                C.say(f"  load failed: {p.stderr[-2000:]}")
                return None
            r = json.loads(p.stdout.strip().splitlines()[-1])
            C.say(f"  {label}: {r['accounts']:,} accounts in {r['load_s']:.1f} s, "
                f"RSS +{r['rss_delta_bytes'] / 2**20:,.0f} MiB (fresh process; from the {r['source']})")
            return r

        runs = []
        for rep in range(args.repeats):
            r = load(f"load {rep + 1}")
            if r is None:
                return 1
            runs.append(r)
        snap_runs = []
        if args.snapshot:
            with tempfile.TemporaryDirectory(prefix="leadmatch-snap-") as snap_dir:
                for rep in range(args.repeats + 1):  # the first builds and saves it
                    r = load(f"snapshot run {rep + 1}", "--snapshot-dir", snap_dir)
                    if r is None:
                        return 1
                    if r["source"] == "snapshot":
                        snap_runs.append(r)
        med_s = C.median([r["load_s"] for r in runs])
        med_rss = C.median([r["rss_delta_bytes"] for r in runs])
        n = runs[0]["accounts"]
        C.say(f"RESULT index-load {name}: {n:,} accounts, median {med_s:.1f} s "
            f"= {med_s / n * 1e6:.1f} s per million (target <= 60), index RSS {med_rss / 2**30:.2f} GiB "
            f"= {med_rss / n * 1e6 / 2**30:.2f} GiB per million (target <= 1)")
        if snap_runs:
            snap_s = C.median([r["load_s"] for r in snap_runs])
            C.say(f"RESULT index-load {name} from the snapshot (leadmatch match-file): median {snap_s:.1f} s "
                f"= {snap_s / n * 1e6:.1f} s per million, RSS "
                f"{C.median([r['rss_delta_bytes'] for r in snap_runs]) / n * 1e6 / 2**30:.2f} GiB per million")
        results[name] = {"accounts": n, "runs": runs, "median_s": med_s, "median_rss_bytes": med_rss,
                         "snapshot_runs": snap_runs}
    C.emit_json(args, {"bench": "index-load", **results})
    return 0


# ----------------------------------------------------------------------------------- http


def _lead_bodies(data: Path) -> list[str]:
    bodies = []
    for r in C.dev_lead_rows(data):
        body = {k: v for k, v in r.items() if k != "lead_id" and v}
        bodies.append(json.dumps(body, ensure_ascii=False))
    return bodies


WRK_LUA = """
local bodies = {
%s
}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/v1/match", nil, bodies[i])
end
"""


def _write_lua(path: Path, bodies: list[str]) -> None:
    items = []
    for b in bodies:
        eq = "=" * 4
        while f"]{eq}]" in b:
            eq += "="
        items.append(f"  [{eq}[{b}]{eq}],")
    path.write_text(WRK_LUA % "\n".join(items))


HTTPX_CLIENT = r"""
import asyncio, json, sys, time
import httpx
port, conns, duration, bodies_path = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
bodies = [b.encode() for b in json.load(open(bodies_path))]
async def main():
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as c:
        done = [0, 0]; end = time.perf_counter() + duration
        async def worker(k):
            i = k
            while time.perf_counter() < end:
                r = await c.post("/v1/match", content=bodies[i % len(bodies)],
                                 headers={"content-type": "application/json"})
                done[0] += 1; done[1] += r.status_code != 200; i += conns
        t = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(conns)))
        print(json.dumps({"rps": done[0] / (time.perf_counter() - t), "non2xx": done[1]}))
asyncio.run(main())
"""


def _run_httpx(bodies_path: Path, port: int, args) -> dict:
    p = subprocess.run([sys.executable, "-c", HTTPX_CLIENT, str(port), str(args.connections),
                        str(args.duration), str(bodies_path)], capture_output=True, text=True,
                       timeout=args.duration + 60)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r.update(p50="?", p99="?", socket_errors="")
    return r


def cmd_http(args) -> int:
    data = C.data_dir(args.data)
    use_wrk = shutil.which("wrk") is not None and not args.httpx
    lm = C.leadmatch_cmd()
    with tempfile.TemporaryDirectory(prefix="leadmatch-http-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp / 'http.db'}")
        env.pop("REDIS_URL", None)
        env = {**env, "PYTHONPATH": str(C.REPO)}
        C.say(C.setup_line())
        subprocess.run([*lm, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*lm, "import-accounts", str(data / "accounts.csv")], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bodies = _lead_bodies(data)
        lua = tmp / "post.lua"
        _write_lua(lua, bodies)
        bodies_json = tmp / "bodies.json"
        bodies_json.write_text(json.dumps(bodies))
        uv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--workers", "1",
              "--no-access-log", "--log-level", "warning"]
        servers = {
            "leadmatch": (uv + ["--factory", "api.app:create_app"], "/readyz"),
            "bare": (uv + ["--app-dir", str(C.BENCH_DIR), "bare_app:app"], "/healthz"),
        }
        procs, ports = {}, {}
        try:
            for name, (cmd, ready) in servers.items():
                ports[name] = C.free_port()
                procs[name] = subprocess.Popen(cmd + ["--port", str(ports[name])], env=env, cwd=str(C.REPO),
                                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for name, (_, ready) in servers.items():
                C.wait_http(f"http://127.0.0.1:{ports[name]}{ready}", 180, procs[name])
            gen = (f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, Lua script cycling through "
                   f"{len(bodies)} dev-lead bodies" if use_wrk else
                   f"asyncio httpx client process, {args.connections} keep-alive connections, {args.duration}s")
            C.say(f"servers: uvicorn 1 worker each, --no-access-log; leadmatch = api.app:create_app "
                f"(SQLite with the {data.name} accounts imported), bare = benchmarks/bare_app.py "
                f"(api.schemas.LeadIn only)")
            C.say(f"load generator: {gen}; both servers stay up, only the measured one gets traffic")
            rps = {"leadmatch": [], "bare": []}
            for rnd in range(args.rounds):
                order = ("leadmatch", "bare") if rnd % 2 == 0 else ("bare", "leadmatch")
                for name in order:
                    r = (C.run_wrk(lua, ports[name], args) if use_wrk
                         else _run_httpx(bodies_json, ports[name], args))
                    rps[name].append(r["rps"])
                    C.say(f"  round {rnd + 1} {name:9s}: {r['rps']:,.0f} req/s, latency p50 {r['p50']} p99 {r['p99']}, "
                        f"non-2xx {r['non2xx']} {r['socket_errors']}")
        finally:
            for proc in procs.values():
                C.stop(proc)
        ml, mb = C.median(rps["leadmatch"]), C.median(rps["bare"])
        C.say(f"RESULT http: POST /v1/match leadmatch {ml:,.0f} req/s, bare validation-only {mb:,.0f} req/s, "
            f"ratio {ml / mb:.2f} (target >= 0.7), medians of {args.rounds} alternating rounds")
        C.emit_json(args, {"bench": "http", "leadmatch_rps": rps["leadmatch"], "bare_rps": rps["bare"],
                          "ratio": ml / mb, "generator": "wrk" if use_wrk else "httpx"})
    return 0


# ----------------------------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="leadmatch speed benchmarks (see module docstring)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--data", help=f"directory with accounts.csv and leads.csv (default {C.DEFAULT_DATA})")
        sp.add_argument("--json", metavar="OUT", help="write the figures as JSON")
        return sp

    sp = common(sub.add_parser("batch", help="match-file throughput vs domain join + string_grouper"))
    sp.add_argument("--rows", type=int, default=20_000)
    sp.add_argument("--repeats", type=int, default=3)
    sp.add_argument("--timeout", type=float, default=900, help="seconds per run")
    sp.add_argument("--case", choices=("perturbed", "distinct"), default="perturbed",
                    help="perturbed: dev leads repeated with colleagues (many rows share a company); "
                         "distinct: one lead per account, every row a different company")
    sp.add_argument("--accounts", type=int, default=0,
                    help="match against N scale accounts (benchmarks/_common.py) instead of the dev accounts")
    sp.add_argument("--no-cold", action="store_true", help="leave out the --no-snapshot runs")
    sp.add_argument("--workdir", help="keep the scratch database here and reuse it (imports once)")
    sp = common(sub.add_parser("latency", help="in-process index build, memory and per-lead latency"))
    sp.add_argument("--accounts", type=int, default=1_000_000)
    sp.add_argument("--passes", type=int, default=5)
    sp.add_argument("--tracemalloc-accounts", type=int, default=250_000,
                    help="accounts for the separate tracemalloc build (0 = skip)")
    sp = common(sub.add_parser("index-load", help="index build from PostgreSQL/SQLite"))
    sp.add_argument("--accounts", type=int, default=1_000_000)
    sp.add_argument("--db", choices=("postgres", "sqlite", "both"), default="both")
    sp.add_argument("--fresh", action="store_true", help="drop and rewrite the scale database(s)")
    sp.add_argument("--chunk", type=int, default=10_000)
    sp.add_argument("--repeats", type=int, default=1)
    sp.add_argument("--timeout", type=float, default=1800)
    sp.add_argument("--workers", type=int, default=None, help="preparing processes (default: one per core)")
    sp.add_argument("--snapshot", action="store_true",
                    help="also time loads from an index snapshot, as `leadmatch match-file` does")
    sp = common(sub.add_parser("http", help="POST /v1/match vs a bare validating endpoint"))
    sp.add_argument("--duration", type=int, default=10, help="seconds per round and server")
    sp.add_argument("--rounds", type=int, default=3)
    sp.add_argument("--connections", type=int, default=32)
    sp.add_argument("--threads", type=int, default=1, help="wrk threads")
    sp.add_argument("--httpx", action="store_true", help="use the asyncio httpx client even if wrk exists")
    sp = sub.add_parser("_load-index", help=argparse.SUPPRESS)
    sp.add_argument("--url", required=True)
    sp.add_argument("--workers", type=int, default=None)
    sp.add_argument("--snapshot-dir", default=None)
    args = p.parse_args(argv)

    if args.cmd == "_load-index":
        print(json.dumps(_load_once(args.url, args.workers, args.snapshot_dir)))
        return 0
    return {"batch": cmd_batch, "latency": cmd_latency, "index-load": cmd_index_load,
            "http": cmd_http}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
