"""Batch uploads end to end: upload to downloaded results, on the real service and its workers.

    .venv/bin/python benchmarks/batches/bench_batches.py [--accounts 1000000] [--rows 100000]
                     [--workers 1,2] [--case perturbed|distinct] [--fresh] [--json OUT]

The accounts: ``--accounts`` scale accounts (the development accounts first, then variants:
benchmarks/_common.py ``scale_accounts``) written into a PostgreSQL database of their own
(``leadmatch_batch_bench_<n>``) with the project's storage, once, and reused. The leads:
``perturbed`` = the development leads repeated to ``--rows`` with new people at the same companies
(``bench_match.perturbed_leads``: colleagues share an answer; its first copy is the labelled
development leads, so accuracy is scored on them); ``distinct`` = one lead per development
account, every row a different company (``bench_match.distinct_leads``; at most 55,811 rows, no
labels: speed only).

For each worker count: a fresh ``leadmatch serve`` (PostgreSQL, a Redis server this script starts
on a free port) and that many ``leadmatch worker --load-index`` processes, waited for until each
says its index is loaded; a small upload first (not counted); then the list is uploaded with ``curl``-like
multipart, polled until ``done`` and ``results.csv`` downloaded. Seconds from the upload's first
byte to the last byte of the results, leads/s, peak RSS of each process (VmHWM) and their sum.
Then, in the same run, the same leads through email-domain join + string_grouper
(benchmarks/matching/peers.py ``domain_sg``, peers venv) as a whole process against the same
accounts as CSV: seconds, leads/s, peak RSS; and the accuracy of both on the labelled leads.
Everything binds to 127.0.0.1. Exit status is non-zero only on a crash.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
import _common as C  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "matching"))
import bench_match as M  # noqa: E402 - the lead lists and the scale writer of the matching benchmark

say = C.say
DB_BASE = "leadmatch_batch_bench"


def _ensure_database(n: int, fresh: bool) -> str:
    import psycopg

    name = f"{DB_BASE}_{n}"
    admin = C.PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return C.PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _accounts_csv(n: int, data: Path) -> Path:
    """The same scale accounts as a CRM export, for the peer (written once, kept in benchmarks/out)."""
    from _common import read_real_accounts, scale_accounts

    out = C.BENCH_DIR / "out" / f"scale-accounts-{n}.csv"
    if out.exists():
        return out
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("id", "name", "domains", "country", "region", "city", "parent_id", "owner"))
        for a in scale_accounts(read_real_accounts(data / "accounts.csv"), n):
            w.writerow((a.id, a.name, ";".join(a.domains), a.country or "", a.region or "", a.city or "",
                        a.parent_id or "", a.owner or ""))
    tmp.rename(out)
    return out


def _peak_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_peak(proc: subprocess.Popen) -> int:
    """Peak RSS of a process and its children (a worker's threads live in one process)."""
    pids = [proc.pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    except OSError:
        pass
    return sum(_peak_rss(p) for p in pids)


def _upload(client, path: Path) -> str:  # noqa: ANN001 - httpx.Client
    with open(path, "rb") as fh:
        r = client.post("/v1/batches", files={"file": (path.name, fh, "text/csv")}, data={"force": "true"})
    if r.status_code != 202:
        raise SystemExit(f"upload refused: {r.status_code} {r.text[:500]}")
    return r.json()["id"]


def _wait_done(client, batch_id: str, timeout: float) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/batches/{batch_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise SystemExit(f"job {batch_id} not done in {timeout:.0f} s")


def _run_service(url: str, redis_url: str, workers: int, leads: Path, warm: Path, tmp: Path,
                 timeout: float) -> dict:
    import httpx

    lm = C.leadmatch_cmd()
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url, LEADMATCH_CACHE_DIR=str(tmp / "cache"))
    port = C.free_port()
    logs = [open(tmp / f"serve-{workers}.log", "w")]
    server = subprocess.Popen([*lm, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=logs[0], stderr=subprocess.STDOUT)
    procs = [server]
    try:
        C.wait_http(f"http://127.0.0.1:{port}/readyz", 600, server)
        t = time.perf_counter()
        worker_logs = []
        for i in range(workers):
            worker_logs.append(tmp / f"worker-{workers}-{i}.log")
            logs.append(open(worker_logs[-1], "w"))
            procs.append(subprocess.Popen([*lm, "worker", "--load-index"], env=env, stdout=logs[-1],
                                          stderr=subprocess.STDOUT))
        # every worker has its index before the clock runs (as kept workers would)
        deadline = time.monotonic() + timeout
        while not all("account index loaded" in p.read_text() for p in worker_logs):
            if time.monotonic() > deadline or any(w.poll() is not None for w in procs):
                raise SystemExit(f"workers not ready: {[p.read_text()[-500:] for p in worker_logs]}")
            time.sleep(0.2)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            _wait_done(client, _upload(client, warm), timeout)  # a small job first, not counted
            say(f"  {workers} worker(s): service up, workers' indexes loaded and a warm-up job done in "
                f"{time.perf_counter() - t:.1f} s")
            t = time.perf_counter()
            batch_id = _upload(client, leads)
            job = _wait_done(client, batch_id, timeout)
            with client.stream("GET", f"/v1/batches/{batch_id}/results.csv") as r:
                with open(tmp / f"results-{workers}.csv", "wb") as fh:
                    for piece in r.iter_bytes():
                        fh.write(piece)
            seconds = time.perf_counter() - t
        peaks = [_tree_peak(p) for p in procs]
    finally:
        for p in reversed(procs):
            C.stop(p)
        for log in logs:
            log.close()
    return {"workers": workers, "seconds": seconds, "state": job["state"], "counts": job.get("counts"),
            "rows_total": job.get("rows_total"), "peak_rss_bytes": peaks, "results": str(tmp / f"results-{workers}.csv")}


def _labelled(lead_id: str) -> str:
    """The development lead a row is: perturbed_leads numbers copies ``<id>-<n>``; copy 0 is the
    labelled lead itself (later copies are other people, and some lost their country)."""
    base, _, copy = lead_id.rpartition("-")
    return base if copy == "0" else lead_id


def _ours_predictions(results: Path) -> dict[str, tuple[str, str | None]]:
    with open(results, newline="", encoding="utf-8") as fh:
        return {_labelled(r["lead_id"]): (r["decision"], r["account_id"] or None) for r in csv.DictReader(fh)}


def _peer_predictions(out: Path) -> dict[str, tuple[str, str | None]]:
    with open(out, newline="", encoding="utf-8") as fh:
        return {_labelled(r["lead_id"]): ("matched" if r["account_id"] else "no_match", r["account_id"] or None)
                for r in csv.DictReader(fh)}


def _pr(f: C.Figures) -> str:
    return "no labelled leads" if f.precision is None else f"P {f.precision:.3f} R {f.recall:.3f}"


def _run_peer(accounts_csv: Path, leads: Path, out: Path, timeout: float) -> dict:
    peers_py = C.peers_python(setup=True)
    cmd = [str(peers_py), str(C.BENCH_DIR / "matching" / "peers.py"), "--accounts", str(accounts_csv),
           "--leads", str(leads), "--method", "domain_sg", "--out", str(out)]
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"peer failed: {p.stderr.read().decode()[-2000:]}")
    return {"seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024}


def _lead_rows(case: str, data: Path, rows: int) -> list[dict]:
    if case == "distinct":  # one lead per development account (they head the scale set): at most 55,811 rows
        from _common import read_real_accounts

        return M.distinct_leads(read_real_accounts(data / "accounts.csv"), rows)
    return M.perturbed_leads(data, rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--accounts", type=int, default=1_000_000)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    p.add_argument("--case", choices=("perturbed", "distinct"), default="perturbed")
    p.add_argument("--fresh", action="store_true", help="rewrite the accounts database")
    p.add_argument("--chunk", type=int, default=20000, help="accounts per write when building the database")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per job")
    p.add_argument("--data", help=f"directory with accounts.csv and leads.csv (default {C.DEFAULT_DATA})")
    p.add_argument("--json", metavar="OUT", help="write the figures as JSON")
    args = p.parse_args()
    data = C.data_dir(args.data)
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise SystemExit("redis-server is not on PATH")
    say(C.setup_line())
    url = _ensure_database(args.accounts, args.fresh)
    t = time.perf_counter()
    wrote = M._write_scale(url, args.accounts, data, args.chunk)  # noqa: SLF001 - the matching bench's writer
    if wrote is not None:
        say(f"  {args.accounts:,} scale accounts written in {wrote:.0f} s")
    accounts_csv = _accounts_csv(args.accounts, data)
    say(f"accounts: {args.accounts:,} in {url.rsplit('/', 1)[-1]} and {accounts_csv} "
        f"(ready in {time.perf_counter() - t:.0f} s)")
    labels = C.read_labels(data / "leads.csv")
    figures: dict = {"setup": C.setup_line(), "accounts": args.accounts, "rows": args.rows, "case": args.case,
                     "runs": []}
    with tempfile.TemporaryDirectory(prefix="leadmatch-batches-") as tmp:
        tmp = Path(tmp)
        leads, warm = tmp / "leads.csv", tmp / "warm.csv"
        rows = _lead_rows(args.case, data, args.rows)
        M.write_leads(leads, rows)
        M.write_leads(warm, rows[:200])
        n_rows = figures["rows"] = len(rows)  # the distinct case has at most one row per dev account
        say(f"leads: {n_rows:,} rows ({args.case}), {leads.stat().st_size / 2**20:.1f} MiB")
        port = C.free_port()
        redis = subprocess.Popen([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            for n in [int(x) for x in args.workers.split(",") if x.strip()]:
                subprocess.run(["redis-cli", "-p", str(port), "FLUSHALL"], check=True, stdout=subprocess.DEVNULL)
                r = _run_service(url, f"redis://127.0.0.1:{port}/0", n, leads, warm, tmp, args.timeout)
                scored = C.score(labels, _ours_predictions(Path(r["results"]))).overall
                r["accuracy"] = scored.as_dict()
                say(f"  {n} worker(s): {n_rows:,} leads upload-to-results {r['seconds']:.1f} s = "
                    f"{n_rows / r['seconds']:,.0f} leads/s; state {r['state']}, counts {r['counts']}; peak RSS "
                    f"{' + '.join(f'{b / 2**20:,.0f}' for b in r['peak_rss_bytes'])} MiB (API first) = "
                    f"{sum(r['peak_rss_bytes']) / 2**20:,.0f} MiB; labelled leads {_pr(scored)}")
                figures["runs"].append(r)
        finally:
            C.stop(redis)
        peer = _run_peer(accounts_csv, leads, tmp / "peer.csv", args.timeout)
        pscored = C.score(labels, _peer_predictions(tmp / "peer.csv")).overall
        peer["accuracy"] = pscored.as_dict()
        figures["peer"] = peer
        say(f"  domain join + string_grouper: {peer['seconds']:.1f} s = {n_rows / peer['seconds']:,.0f} leads/s, "
            f"peak RSS {peer['peak_rss_bytes'] / 2**20:,.0f} MiB; labelled leads {_pr(pscored)}")
        for r in figures["runs"]:
            say(f"RESULT batches {args.case}: {r['workers']} worker(s) {n_rows / r['seconds']:,.0f} leads/s "
                f"vs string_grouper {n_rows / peer['seconds']:,.0f} leads/s: {peer['seconds'] / r['seconds']:.2f}x")
    C.emit_json(args, figures)


if __name__ == "__main__":
    main()
