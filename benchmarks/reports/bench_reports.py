"""Speed of the win/loss reports on PostgreSQL at the issue's scale.

    .venv/bin/python benchmarks/reports/bench_reports.py [--accounts 1000000] [--events 20000000]
                     [--scale 0.01] [--runs 3] [--fresh] [--json OUT]

The ledger (accounts, contacts with titles, 20 M activities in arrival order, opportunities on
~5 % of accounts with stage changes) is the qualification benchmarks' deterministic scale ledger
(benchmarks/qualification/ledger_scale.py, COPY through psycopg), built once per shape into a
database of its own (``leadmatch_reports_bench...``) and reused. On top of it this adds, with the
same seed, what the reports read besides the ledger:

- the account status transitions a recompute would have logged: every account pre-qualified when
  created; 65 % engaged (nurture), a third of those qualified, half of those worked (sales
  working); opportunity open when a deal opens, customer / nurture when it is won / lost;
- contact statuses with the seniority of their title (the product's TitleClassifier), and 1 % of
  contacts "no longer with company" at some point;
- a close record for every closed opportunity (answers: every mandatory question of the configured
  questionnaire with one of its options, and a competitor), 30 % of the lost ones closed by the
  gone-dark scheduler (its primary reason) with an episode whose cadence is complete or not,
  interviews for 25 % of the lost ones (a reason among the same options); the content catalogue of
  the 150 assets the ledger's downloads name.

Then each report of the month before the ledger's reference time is timed (median of ``--runs``,
each in a fresh transaction), and the monthly pack (every report + HTML + CSVs) once per run.
Targets from issue 11: each report under 5 s, the pack under 60 s. ``--scale`` multiplies both
accounts and events (0.01: 10,000 accounts / 200,000 events) for a quick run.
"""
from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
import _common as C  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "qualification"))
import ledger_scale as S  # noqa: E402 - the deterministic scale ledger

say = C.say
DB_BASE = "leadmatch_reports_bench"
COMPETITORS = ("Rival", "Acme Cloud", "BigCo", "OpenThing", None)


def answer_maker(rng: random.Random):  # noqa: ANN201 - (outcome, gone dark) -> answers
    """Close answers as a seller gives them through POST .../close: every mandatory question of the
    outcome's questionnaire answered with one of its options (config/closing.toml), the primary
    reason of a gone-dark close the one the scheduler records (config/gone_dark.toml), each set
    checked by the service's own check (matcher/closing/questionnaire.py), so the reports read valid
    input. Also returns the lost reasons a buyer may give in an interview (the same options)."""
    from config.closing import load_closing_rules
    from config.gone_dark import load_gone_dark_rules
    from matcher.closing.questionnaire import check_answers

    questions = load_closing_rules().questions
    went_dark = load_gone_dark_rules().close.primary_reason
    lost_reasons = next(q.options for q in questions.lost if q.id == "primary_reason")
    seller_lost = tuple(r for r in lost_reasons if r != went_dark)  # went_dark: the scheduler's

    def answers(outcome: str, gone_dark: bool) -> dict:
        given: dict = {}
        for q in questions.of(outcome):
            if q.id == "primary_reason":
                given[q.id] = went_dark if gone_dark else rng.choice(seller_lost if outcome == "lost" else q.options)
            elif q.id == "reason_confirmed":
                given[q.id] = "yes" if rng.random() < 0.4 else "no"
            elif q.id == "competitor":
                given[q.id] = COMPETITORS[rng.randrange(len(COMPETITORS))]
            elif q.mandatory and q.options:
                given[q.id] = rng.choice(q.options)
        checked = check_answers(questions.of(outcome), given)
        if checked.problems:
            raise SystemExit(f"bench close answers are not valid input: {checked.problems}")
        return dict(checked.answers)
    return answers, lost_reasons


def add_report_data(url: str, seed: int) -> dict[str, int]:
    """Write the tables the reports read besides the ledger (see the module docstring), once."""
    import orjson
    import psycopg

    from config.qualification import load_qualification_rules
    from matcher.qualification.persona import TitleClassifier

    rng = random.Random(seed + 11)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    counts = {"transitions": 0, "contact_statuses": 0, "close_records": 0, "interviews": 0, "episodes": 0}
    classify = TitleClassifier(load_qualification_rules().titles).classify
    close_answers, lost_reasons = answer_maker(rng)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if S.read_meta(conn).get("reports_data") == "1":
            return {}
        reference = datetime.fromisoformat(S.read_meta(conn)["reference"])
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        for table in ("status_transitions", "contact_statuses", "close_records", "win_loss_interviews",
                      "gone_dark_episodes", "content_assets"):
            conn.execute(f"TRUNCATE {table}")
        opps: dict[str, list[tuple]] = {}
        for row in conn.execute("SELECT id, account_id, owner, state, opened_at, closed_at FROM opportunities "
                                "ORDER BY id"):
            opps.setdefault(row[1], []).append(row)
        t0 = time.perf_counter()
        tr = io.StringIO()
        created = reference - timedelta(days=S.HORIZON_DAYS + 30)
        n_accounts = 0
        for (account_id,) in conn.execute("SELECT id FROM accounts ORDER BY id"):
            n_accounts += 1
            moves = [(created, "pre_qualified")]
            if rng.random() < 0.65:
                t1 = reference - timedelta(days=S.HORIZON_DAYS * rng.random() ** 1.5)
                moves.append((t1, "nurture"))
                if rng.random() < 0.33:
                    t2 = t1 + (reference - t1) * rng.random()
                    moves.append((t2, "qualified"))
                    if rng.random() < 0.5:
                        moves.append((t2 + (reference - t2) * rng.random(), "sales_working"))
            for _, _, _, state, opened, closed in opps.get(account_id, ()):
                moves.append((opened, "opportunity_open"))
                if state != "open":
                    moves.append((closed, "customer" if state == "won" else "nurture"))
            moves.sort()
            old = None
            for at, status in moves:
                if status != old:
                    tr.write(S.copy_line("account", account_id, account_id, at, at, old, status, "[]", "bench"))
                    counts["transitions"] += 1
                    old = status
        cs = io.StringIO()
        for contact_id, account_id, title in conn.execute("SELECT id, account_id, title FROM contacts ORDER BY id"):
            seniority, persona = classify(title)
            cs.write(S.copy_line(contact_id, account_id, "nurture", reference, "[]", persona, seniority, "bench", reference))
            counts["contact_statuses"] += 1
            if rng.random() < 0.01:
                at = reference - timedelta(days=S.HORIZON_DAYS * rng.random())
                tr.write(S.copy_line("contact", contact_id, account_id, at, at, "nurture", "no_longer_with_company", "[]",
                               "bench"))
                counts["transitions"] += 1
        say(f"    statuses generated in {time.perf_counter() - t0:.0f} s")
        cr, iv, ep = io.StringIO(), io.StringIO(), io.StringIO()
        for rows in opps.values():
            for opp_id, account_id, owner, state, opened, closed in rows:
                if state == "open":
                    continue
                gone_dark = state == "lost" and rng.random() < 0.3
                answers = close_answers(state, gone_dark)
                reason = answers["primary_reason"]
                cr.write(S.copy_line(opp_id, account_id, owner, state, closed, "gone_dark" if gone_dark else "api",
                               orjson.dumps(answers).decode(), "answered", closed, closed))
                counts["close_records"] += 1
                if state == "lost" and rng.random() < 0.25:
                    buyer = reason if rng.random() < 0.45 else rng.choice(lost_reasons)
                    at = closed + timedelta(days=rng.uniform(3, 30))
                    iv.write(S.copy_line(opp_id, account_id, buyer, COMPETITORS[rng.randrange(len(COMPETITORS))], at, at))
                    counts["interviews"] += 1
                if gone_dark:
                    dark_since = closed - timedelta(days=rng.uniform(20, 40))
                    steps = [{"step": i + 1, "channel": ("call", "email")[i % 2],
                              "done_at": (dark_since + timedelta(days=3 * i + 1)).isoformat()
                              if rng.random() < 0.8 else None} for i in range(3)]
                    ep.write(S.copy_line("opportunity", opp_id, account_id, owner, "proposal", dark_since, dark_since,
                                   "closed_lost", orjson.dumps(steps).decode(), closed, closed))
                    counts["episodes"] += 1
        with conn.transaction():
            for columns, buf in (
                    ("status_transitions (entity_kind, entity_id, account_id, at, since, old_status, new_status, "
                     "reasons, rule_version)", tr),
                    ("contact_statuses (contact_id, account_id, status, since, reasons, persona, seniority, "
                     "rule_version, updated_at)", cs),
                    ("close_records (opportunity_id, account_id, owner, outcome, closed_at, source, answers, state, "
                     "created_at, updated_at)", cr),
                    ("win_loss_interviews (opportunity_id, account_id, reason, competitor, interviewed_at, "
                     "recorded_at)", iv),
                    ("gone_dark_episodes (subject, opportunity_id, account_id, owner, stage, dark_since, flagged_at, "
                     "state, cadence, ended_at, updated_at)", ep)):
                with conn.cursor().copy(f"COPY {columns} FROM STDIN") as cp:
                    cp.write(buf.getvalue())
            with conn.cursor().copy("COPY content_assets (id, title, kind, created_at, updated_at) FROM STDIN") as cp:
                for i in range(150):
                    cp.write(S.copy_line(f"asset-{i}", f"Asset {i}", "whitepaper", reference, reference))
        conn.execute("VACUUM ANALYZE")
        conn.execute("INSERT INTO bench_meta VALUES ('reports_data', '1')")
    say(f"    report data written in {time.perf_counter() - t0:.0f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    return counts


def previous_month(reference: datetime) -> tuple[datetime, datetime]:
    end = reference.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(day=1)
    return start, end


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--accounts", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=20_000_000)
    p.add_argument("--scale", type=float, default=1.0, help="multiply accounts and events (0.01 for a quick run)")
    p.add_argument("--seed", type=int, default=S.DEFAULT_SEED)
    p.add_argument("--runs", type=int, default=3, help="timed runs per report (the median is reported)")
    p.add_argument("--fresh", action="store_true", help="rebuild the database")
    p.add_argument("--data", help=f"directory with accounts.csv and leads.csv (default {C.DEFAULT_DATA})")
    p.add_argument("--json", metavar="OUT", help="write the figures as JSON")
    args = p.parse_args()

    from api.db import make_engine, make_sessionmaker, session_scope
    from api.reports import pack, service
    from api.reports.store import Filters
    from config.pipeline import load_pipeline_rules
    from matcher.reports import NAMES
    from matcher.reports.types import Period

    shape = S.Shape(int(args.accounts * args.scale), int(args.events * args.scale), args.seed)
    say(C.setup_line())
    started = time.perf_counter()
    url, meta = S.ensure(C.PG_ADMIN_URL, shape, C.data_dir(args.data), fresh=args.fresh, say=say,
                         base=DB_BASE)
    add_report_data(url, args.seed)
    say(f"  data ready in {time.perf_counter() - started:.0f} s (ledger build: {meta.get('build_seconds', '?')} s)")
    reference = datetime.fromisoformat(meta["reference"])
    start, end = previous_month(reference)
    filters = Filters(Period(start, end))
    # the ledger's deals move through its own stages (ledger_scale.STAGES)
    rules = load_pipeline_rules().model_copy(update={"stages": list(S.STAGES)})
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    figures: dict[str, dict] = {}
    say(f"  period {start:%Y-%m-%d} to {end:%Y-%m-%d} (to excluded); {args.runs} runs each")
    for name in NAMES:
        times, rows = [], 0
        for _ in range(args.runs):
            t = time.perf_counter()
            with session_scope(sessions) as session:
                report = service.run(session, name, filters, rules)
            times.append(time.perf_counter() - t)
            rows = sum(len(tb.rows) for tb in report.tables)
        figures[name] = {"median_s": C.median(times), "max_s": max(times), "rows": rows}
        ok = "ok" if C.median(times) < 5 else "OVER 5 s"
        say(f"    {name:17s} median {C.median(times):6.2f} s  max {max(times):6.2f} s  {rows:6,} rows  {ok}")
    pack_times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            t = time.perf_counter()
            with session_scope(sessions) as session:
                reports = [service.run(session, n, filters, rules) for n in NAMES]
            pack.write_pack(reports, filters, f"Win/loss review {start:%Y-%m}", Path(tmp), f"review-{start:%Y-%m}")
            pack_times.append(time.perf_counter() - t)
    engine.dispose()
    say(f"    monthly pack      median {C.median(pack_times):6.2f} s  max {max(pack_times):6.2f} s  "
        f"{'ok' if C.median(pack_times) < 60 else 'OVER 60 s'}")
    C.emit_json(args, {"setup": C.setup_line(), "shape": shape.as_meta(), "meta": meta, "period": [str(start), str(end)],
                       "reports": figures, "pack": {"median_s": C.median(pack_times), "max_s": max(pack_times)}})


if __name__ == "__main__":
    main()
