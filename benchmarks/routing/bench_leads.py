"""What lead intake costs on top of matching: POST /v1/leads against POST /v1/match, side by side.

Both run over the development data (accounts imported, the dev leads as bodies; every /v1/leads
call carries a new lead id, so each one is matched, converted, routed, recorded and put in the
webhook outbox; the ledger and qualification run as they do in production).

- ``inproc``: the two service calls in this process (``api.matching.service.answer`` vs
  ``api.routing.service.intake`` in its own transaction), in alternating blocks.
- ``http``: one uvicorn process, one sequential keep-alive client, alternating blocks of requests.

Prints p50 / p99 of each and the difference (the issue's budget: routing and recording add at
most 2 ms p99), and in process the time spent in routing and recording alone.

``--quiet-qualification`` (in process) leaves out the re-qualification that lead intake hands to
its background worker (api/qualification/deferred.py): on a 2-core machine that worker, and the
database work it causes, compete with the request for the CPU; the flag shows routing and
recording apart from that competition. Without it, the figures are production's.

    .venv/bin/python benchmarks/routing/bench_leads.py inproc [--database postgresql]
    .venv/bin/python benchmarks/routing/bench_leads.py http [--database postgresql]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
import _common as C  # noqa: E402

sys.path.insert(0, str(C.REPO))


def _bodies(data: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "lead_id" and v} for r in C.dev_lead_rows(data)]


def _database(kind: str, tmp: Path) -> tuple[str, callable]:
    """A fresh database URL and a function that drops it."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'leads.db'}", lambda: None
    from sqlalchemy import create_engine, text

    schema = f"lm_bench_leads_{os.getpid()}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}", drop


def _prepare(url: str, data: Path) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(C.REPO)}
    env.pop("REDIS_URL", None)
    lm = C.leadmatch_cmd()
    subprocess.run([*lm, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*lm, "import-accounts", str(data / "accounts.csv")], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return env


def _timed_parts(routing_service) -> list[float]:  # noqa: ANN001 - api.routing.service
    """Wrap the routing and recording steps of intake (the lead looked up, the active rules, the
    account's routing facts, the route decision with its turn, the lead's row and its routing
    record written, the webhook event) so each intake's time in them can be read: what the issue's "routing and
    recording" budget is about."""
    spent = [0.0]

    def wrap(owner, name: str) -> None:  # noqa: ANN001
        inner = getattr(owner, name)

        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t
        setattr(owner, name, timed)

    for name in ("active_rules", "routing_input", "route", "announce"):
        wrap(routing_service, name)
    for name in ("get_lead", "insert_routed_lead", "update_lead", "add_routing"):
        wrap(routing_service.store, name)
    return spent


def _report(times: dict[str, list[float]]) -> None:
    stats = {}
    for name, xs in times.items():
        xs = sorted(xs)
        stats[name] = (C.percentile(xs, 0.50) * 1000, C.percentile(xs, 0.99) * 1000)
        C.say(f"  {name:10s}: n={len(xs):,}  p50 {stats[name][0]:.2f} ms  p99 {stats[name][1]:.2f} ms")
    (m50, m99), (l50, l99) = stats["match"], stats["leads"]
    C.say(f"  leads - match: p50 +{l50 - m50:.2f} ms, p99 +{l99 - m99:.2f} ms")
    if "routing+recording" in stats:
        C.say("  (routing+recording: the active rules, the account's routing facts, the route decision with its "
              "turn, the lead looked up, its row and routing record written, its webhook event; the rest of "
              "leads is match, conversion and the ledger)")


def cmd_inproc(args) -> None:  # noqa: ANN001
    from api.app import build_services
    from api.db import session_scope
    from api.matching import service as matching
    from api.matching.schemas import LeadIn
    from api.metrics import Metrics
    from api.routing import service as routing
    from api.routing.schemas import LeadIntakeIn
    from config.settings import Settings

    data = C.data_dir(args.data)
    bodies = _bodies(data)
    if args.quiet_qualification:
        from api.deps import Services

        Services.requalify_soon = lambda self, session, account_ids: None
    with tempfile.TemporaryDirectory(prefix="leadmatch-leads-") as tmp:
        url, drop = _database(args.database, Path(tmp))
        try:
            _prepare(url, data)
            settings = Settings(database_url=url, redis_url=None, sla_check_seconds=0)
            services = build_services(settings, Metrics(), f"bench:{uuid.uuid4().hex}:")
            services.index.start()
            services.index.wait_ready(300)
            C.say(C.setup_line())
            quiet = ", re-qualification left out" if args.quiet_qualification else ""
            C.say(f"in process, {args.database}{quiet}, {len(services.index):,} accounts, {len(bodies):,} dev lead bodies, "
                  f"{args.rounds} rounds of {args.block} calls each, alternating")
            times: dict[str, list[float]] = {"match": [], "leads": [], "routing+recording": []}
            spent = _timed_parts(routing)
            serial = 0
            for rnd in range(args.rounds):
                for name in (("match", "leads") if rnd % 2 == 0 else ("leads", "match")):
                    for k in range(args.block):
                        body = bodies[(rnd * args.block + k) % len(bodies)]
                        if name == "match":
                            lead = LeadIn.model_validate(body)
                            t = time.perf_counter()
                            matching.answer(services, lead)
                        else:
                            serial += 1
                            lead = LeadIntakeIn.model_validate({**body, "id": f"bench-{serial}"})
                            spent[0] = 0.0
                            t = time.perf_counter()
                            with session_scope(services.sessions) as session:
                                routing.intake(session, services, lead)
                            times["routing+recording"].append(spent[0])
                        times[name].append(time.perf_counter() - t)
            _report(times)
            services.close()
        finally:
            drop()


def cmd_http(args) -> None:  # noqa: ANN001
    import httpx

    data = C.data_dir(args.data)
    bodies = _bodies(data)
    with tempfile.TemporaryDirectory(prefix="leadmatch-leads-") as tmp:
        url, drop = _database(args.database, Path(tmp))
        proc = None
        try:
            env = {**_prepare(url, data), "LEADMATCH_SLA_CHECK_SECONDS": "0"}
            port = C.free_port()
            proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
                                     "--workers", "1", "--no-access-log", "--log-level", "warning", "--factory",
                                     "api.app:create_app"], env=env, cwd=str(C.REPO), stdout=subprocess.DEVNULL)
            C.wait_http(f"http://127.0.0.1:{port}/readyz", 300, proc)
            C.say(C.setup_line())
            C.say(f"over HTTP, {args.database}, uvicorn 1 worker, one sequential keep-alive httpx client, "
                  f"{args.rounds} rounds of {args.block} requests each, alternating")
            times: dict[str, list[float]] = {"match": [], "leads": []}
            serial = 0
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                for rnd in range(args.rounds):
                    for name in (("match", "leads") if rnd % 2 == 0 else ("leads", "match")):
                        for k in range(args.block):
                            body = bodies[(rnd * args.block + k) % len(bodies)]
                            if name == "leads":
                                serial += 1
                                body = {**body, "id": f"bench-{serial}"}
                            payload = json.dumps(body)
                            t = time.perf_counter()
                            r = client.post("/v1/match" if name == "match" else "/v1/leads", content=payload,
                                            headers={"content-type": "application/json"})
                            times[name].append(time.perf_counter() - t)
                            if r.status_code != 200:
                                raise SystemExit(f"{name}: HTTP {r.status_code}: {r.text[:300]}")
            _report(times)
        finally:
            if proc is not None:
                C.stop(proc)
            drop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("inproc", "http"))
    p.add_argument("--data", help="directory with accounts.csv and leads.csv (default: the development data)")
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--block", type=int, default=300)
    p.add_argument("--quiet-qualification", action="store_true",
                   help="in process: leave out the background re-qualification (see the module docstring)")
    args = p.parse_args()
    (cmd_inproc if args.mode == "inproc" else cmd_http)(args)


if __name__ == "__main__":
    main()
