"""Accuracy of leadmatch on the labelled development leads, beside what a user would build instead.

    .venv/bin/python benchmarks/accuracy.py [--data DIR] [--no-peers] [--json OUT] [--errors]
    .venv/bin/python benchmarks/accuracy.py --learn-from-review [--data DIR] [--json OUT]

Our matcher: ``AccountIndex`` built straight from ``accounts.csv`` (``api.csvio``), every lead of
``leads.csv`` matched. Peers (subprocesses under ``benchmarks/.peers-venv``, see ``peers.py``):
email-domain join; domain join then string_grouper on company names; name_matching on names.

Figures, overall and per ``case``:
  P        precision of automatic matches: ``matched`` leads whose account is the expected one or
           one of ``acceptable_account_ids`` / all ``matched`` leads
  R        recall: correct ``matched`` / leads whose right answer is an account
  review   share of leads sent to review (ours only; the peers have no review outcome)
  nm->m    share of no-match leads (empty ``expected_account_id``) that got ``matched``
Exit status is non-zero only on a crash.

``--learn-from-review`` (our matcher only) measures what learning from reviews does
(``matcher/routing/review.py``): every lead the matcher sends to ``review`` is resolved with its
true answer (its expected account; a no-match lead is junk and teaches nothing), what the
resolution teaches is learned into the index (as ``api/accounts/service.py`` learn does, then the
index reads it), and the leads are matched again. Two figures, before and after side by side:
  all leads    learn from every review, measure on every lead (the same leads now match: an
               upper bound, and a check that learning steals no other account's leads);
  held out     split the leads in two halves by a hash of their id, learn from the first half's
               reviews only, measure on the second half (what a new lead gains).
Precision must not drop in either.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
import _common as C  # noqa: E402

PEERS = {  # key -> (label, peers.py method, extra args)
    "domain": ("email-domain join", "domain", []),
    "domain_sg": ("domain join + string_grouper", "domain_sg", []),
    "name": ("name_matching", "name", []),
}


def run_ours(data: Path):
    from api import csvio
    from config import load_matching_rules
    from matcher.matching.index import AccountIndex

    rules = load_matching_rules()
    t0 = time.perf_counter()
    index = AccountIndex(rules)
    bad = 0

    def accounts():
        nonlocal bad
        for item in csvio.iter_accounts(data / "accounts.csv"):
            if isinstance(item, csvio.RowError):
                bad += 1
            else:
                yield item

    index.upsert_many(accounts())
    t1 = time.perf_counter()
    rows = [r for r in csvio.iter_leads(data / "leads.csv") if isinstance(r, csvio.LeadRow)]
    results = {}
    for r in rows:
        results[r.lead_id] = (r, index.match(r.lead))
    t2 = time.perf_counter()
    info = {"accounts": len(index), "account_row_errors": bad, "leads": len(rows),
            "build_s": round(t1 - t0, 2), "match_s": round(t2 - t1, 2),
            "ms_per_lead": round((t2 - t1) * 1000 / max(1, len(rows)), 3)}
    return index, results, info


def _halves(lead_ids) -> tuple[set[str], set[str]]:
    """The leads split in two by a hash of their id (stable across runs and machines)."""
    import zlib

    first = {lid for lid in lead_ids if zlib.crc32(lid.encode()) % 2 == 0}
    return first, set(lead_ids) - first


def learn_from_reviews(index, results: dict, labels: dict, learn_ids: set[str]) -> dict[str, int]:
    """Resolve the review leads among ``learn_ids`` with their true answer and learn what each
    teaches into ``index``, lead by lead (each judged against the index as the earlier ones left
    it, as the service would). Returns counts of what was learned and refused, by kind."""
    import dataclasses

    from matcher.routing import review

    counts: dict[str, int] = {}
    for lid in sorted(learn_ids):
        row, res = results[lid]
        label = labels.get(lid)
        if res.decision != "review" or label is None or label.is_nomatch:
            continue  # only reviews are resolved; a no-match lead is junk and teaches nothing
        account = index.get(label.expected)
        if account is None:
            continue
        for lesson in review.lessons(row.lead, account.id, index.known()):
            key = f"{lesson.kind} {'learned' if lesson.learn else 'refused'}"
            counts[key] = counts.get(key, 0) + 1
            if not lesson.learn:
                continue
            learned = (lesson.kind, lesson.value, f"review of lead {lid}", "accuracy benchmark")
            account = dataclasses.replace(
                account, learned=(*account.learned, learned),
                **({"aliases": (*account.aliases, lesson.value)} if lesson.kind == "alias"
                   else {"domains": (*account.domains, lesson.value)}))
            index.upsert(account)
    return dict(sorted(counts.items()))


def run_learning(data: Path, labels: dict, console) -> dict:
    """The two before/after measures of ``--learn-from-review``; prints them and returns the figures."""
    from rich.table import Table

    out = {}
    for mode in ("all leads", "held out"):
        index, results, info = run_ours(data)  # a fresh index for each measure
        lead_ids = set(results)
        learn_ids, measure_ids = (lead_ids, lead_ids) if mode == "all leads" else _halves(lead_ids)
        measured = {lid: lab for lid, lab in labels.items() if lid in measure_ids}
        before = C.score(measured, {lid: (res.decision, res.account_id) for lid, (_, res) in results.items()})
        counts = learn_from_reviews(index, results, labels, learn_ids)
        again = {lid: (row, index.match(row.lead)) for lid, (row, _) in results.items() if lid in measure_ids}
        after = C.score(measured, {lid: (res.decision, res.account_id) for lid, (_, res) in again.items()})
        reviews = sum(1 for lid in learn_ids if results[lid][1].decision == "review")
        title = (f"{mode}: learned from the {reviews} reviews of {len(learn_ids)} leads, measured on "
                 f"{len(measure_ids)} leads")
        t = Table(title=title, title_justify="left")
        for col in ("", "matched", "correct", "P", "R", "review", "nm->m"):
            t.add_column(col, justify="left" if not col else "right")
        for name, sc in (("before", before), ("after", after)):
            o = sc.overall
            t.add_row(name, str(o.matched), str(o.correct), fmt(o.precision), fmt(o.recall),
                      fmt(o.review_rate, True), f"{fmt(o.nomatch_matched_rate, True)} ({o.nomatch_matched}/{o.nomatch})")
        console.print(t)
        console.print(f"  lessons: {', '.join(f'{k} {v}' for k, v in counts.items()) or 'none'}", highlight=False)
        changed = [(lid, results[lid][1], again[lid][1]) for lid in sorted(measure_ids)
                   if (results[lid][1].decision, results[lid][1].account_id) != (again[lid][1].decision, again[lid][1].account_id)]
        wrong = [(lid, b, a) for lid, b, a in changed if a.decision == "matched" and not labels[lid].correct(a.account_id)]
        console.print(f"  {len(changed)} leads answered differently; {len(wrong)} of them now matched wrongly", highlight=False)
        for lid, b, a in wrong:
            console.print(f"    {lid} ({labels[lid].case}): {b.decision} {b.account_id or ''} -> matched {a.account_id}: "
                          f"{a.reasons[0] if a.reasons else ''}", highlight=False, markup=False)
        out[mode] = {"learned_from_leads": len(learn_ids), "reviews": reviews, "measured_leads": len(measure_ids),
                     "lessons": counts, "before": before.overall.as_dict(), "after": after.overall.as_dict(),
                     "answers_changed": len(changed), "now_wrong": len(wrong), "leadmatch_run": info}
    return out


def start_peer(py: Path, data: Path, key: str, out_dir: Path):
    _, method, extra = PEERS[key]
    out = out_dir / f"{key}.csv"
    cmd = [str(py), str(C.BENCH_DIR / "matching" / "peers.py"), "--accounts", str(data / "accounts.csv"),
           "--leads", str(data / "leads.csv"), "--method", method, "--out", str(out), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def read_peer_predictions(path: Path) -> dict[str, tuple[str, str | None]]:
    preds = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            aid = row["account_id"] or None
            preds[row["lead_id"]] = ("matched" if aid else "no_match", aid)
    return preds


def fmt(x, pct=False):
    if x is None:
        return "-"
    return f"{x * 100:.1f}%" if pct else f"{x:.3f}"


def print_tables(systems: dict[str, tuple[str, C.Scored]], console) -> None:
    from rich.table import Table

    t = Table(title="Overall", title_justify="left")
    for col in ("system", "n", "matched", "P", "R", "review", "nm->m"):
        t.add_column(col, justify="left" if col == "system" else "right")
    for key, (label, s) in systems.items():
        o = s.overall
        t.add_row(label, str(o.n), str(o.matched), fmt(o.precision), fmt(o.recall),
                  fmt(o.review_rate, True) if key == "ours" else "-",
                  f"{fmt(o.nomatch_matched_rate, True)} ({o.nomatch_matched}/{o.nomatch})")
    console.print(t)

    cases = sorted({c for _, s in systems.values() for c in s.cases},
                   key=lambda c: (c.startswith("nomatch"), c))
    t = Table(title="Per case (P / R for cases with an account; nm->m for no-match cases)",
              title_justify="left")
    t.add_column("case")
    t.add_column("n", justify="right")
    for key, (label, _) in systems.items():
        short = {"ours": "leadmatch", "domain": "domain", "domain_sg": "dom+sg",
                 "name": "name_m"}[key]
        t.add_column(f"{short} P", justify="right")
        t.add_column(f"{short} R", justify="right")
        if key == "ours":
            t.add_column("review", justify="right")
    for c in cases:
        n = next(s.cases[c].n for _, s in systems.values() if c in s.cases)
        row = [c, str(n)]
        for key, (_, s) in systems.items():
            f = s.cases.get(c, C.Figures())
            if f.with_account:
                row += [fmt(f.precision), fmt(f.recall)]
            else:
                row += ["", f"nm->m {fmt(f.nomatch_matched_rate, True)}"]
            if key == "ours":
                row.append(fmt(f.review_rate, True))
        t.add_row(*row)
    console.print(t)


def print_errors(index, results, labels, console) -> None:
    """Our wrong automatic matches, misses (expected an account, got review/no_match), and
    no-match leads that went to review, with the matcher's reasons."""
    groups = {"WRONG MATCH": [], "MISSED (review)": [], "MISSED (no_match)": [],
              "NO-MATCH LEAD SENT TO REVIEW": []}
    for lid, (row, res) in results.items():
        lab = labels.get(lid)
        if lab is None:
            continue
        if res.decision == "matched" and not lab.correct(res.account_id):
            groups["WRONG MATCH"].append((lid, row, res, lab))
        elif not lab.is_nomatch and res.decision != "matched":
            groups[f"MISSED ({res.decision})"].append((lid, row, res, lab))
        elif lab.is_nomatch and res.decision == "review":
            groups["NO-MATCH LEAD SENT TO REVIEW"].append((lid, row, res, lab))

    def name(aid):
        a = index.get(aid) if aid else None
        return f"{aid} '{a.name}' {a.country or ''}/{a.region or ''} {';'.join(a.domains)}" if a else str(aid)

    for title, items in groups.items():
        console.rule(f"{title}: {len(items)}")
        for lid, row, res, lab in sorted(items, key=lambda x: (x[3].case, x[0])):
            ld = row.lead
            console.print(f"[bold]{lid}[/bold] case={lab.case} email={ld.email} company={ld.company!r} "
                          f"country={ld.country} region={ld.region}", markup=True, highlight=False)
            console.print(f"   expected: {name(lab.expected) if lab.expected else 'no match'}"
                          + (f" (also ok: {', '.join(sorted(lab.acceptable - {lab.expected}))})"
                             if len(lab.acceptable - {lab.expected}) else ""), highlight=False)
            console.print(f"   got: {res.decision} {name(res.account_id) if res.account_id else ''} "
                          f"conf={res.confidence:.3f} evidence={res.evidence}", highlight=False)
            for reason in res.reasons:
                console.print(f"     - {reason}", highlight=False, markup=False)
            for c in res.candidates[:3]:
                console.print(f"     cand {c.account_id} {c.name!r} {c.score:.3f} {c.evidence}",
                              highlight=False, markup=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Accuracy of leadmatch vs peers on the labelled dev leads")
    p.add_argument("--data", help="directory with accounts.csv and leads.csv "
                                  f"(default {C.DEFAULT_DATA})")
    p.add_argument("--no-peers", action="store_true", help="only our matcher")
    p.add_argument("--json", metavar="OUT", help="write machine-readable figures to OUT")
    p.add_argument("--errors", action="store_true", help="print our wrong and missed leads")
    p.add_argument("--peer-timeout", type=float, default=900, help="seconds per peer (default 900)")
    p.add_argument("--learn-from-review", action="store_true",
                   help="resolve the review leads with their true answers, learn from them, match again: "
                        "figures before and after (all leads; and learned on one half, measured on the other)")
    args = p.parse_args(argv)

    from rich.console import Console
    console = Console(width=max(Console().width, 140))
    data = C.data_dir(args.data)
    labels = C.read_labels(data / "leads.csv")
    if args.learn_from_review:
        figures = run_learning(data, labels, console)
        if args.json:
            Path(args.json).write_text(json.dumps({"data": str(data), "learn_from_review": figures}, indent=2) + "\n")
            console.print(f"figures written to {args.json}")
        return 0

    procs = {}
    tmp = tempfile.TemporaryDirectory(prefix="leadmatch-acc-")
    if not args.no_peers:
        py = C.peers_python(setup=True)
        # name_matching is the slow one: start it first; the peers run beside our matcher.
        for key in ("name", "domain_sg", "domain"):
            procs[key] = start_peer(py, data, key, Path(tmp.name))

    index, results, info = run_ours(data)
    systems = {"ours": ("leadmatch", C.score(labels, {lid: (res.decision, res.account_id)
                                                        for lid, (_, res) in results.items()}))}
    peer_info = {}
    for key in ("domain", "domain_sg", "name"):
        if key not in procs:
            continue
        proc, out = procs[key]
        try:
            stdout, stderr = proc.communicate(timeout=args.peer_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            console.print(f"[red]peer {key} timed out after {args.peer_timeout:.0f}s[/red]")
            continue
        if proc.returncode != 0:
            console.print(f"[red]peer {key} failed (exit {proc.returncode}):[/red]\n{stderr[-2000:]}")
            continue
        try:
            peer_info[key] = json.loads(stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            peer_info[key] = {}
        systems[key] = (PEERS[key][0], C.score(labels, read_peer_predictions(out)))
    tmp.cleanup()

    console.print(f"data: {data}  accounts={info['accounts']} (row errors {info['account_row_errors']}) "
                  f"leads={info['leads']}  leadmatch: index build {info['build_s']} s, "
                  f"match {info['match_s']} s ({info['ms_per_lead']} ms/lead)", highlight=False)
    print_tables(systems, console)
    if args.errors:
        print_errors(index, results, labels, console)
    if args.json:
        out = {"data": str(data), "leadmatch_run": info, "peer_runs": peer_info,
               "systems": {k: {"label": lab, **s.as_dict()} for k, (lab, s) in systems.items()}}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        console.print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
