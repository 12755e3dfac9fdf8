"""Shared helpers of the benchmark scripts: where things are, the peers venv, label scoring.

The benchmark scripts run with the service venv (``.venv/bin/python benchmarks/<script>.py``).
Anything that needs pandas / string_grouper / name_matching runs as a subprocess under
``benchmarks/.peers-venv`` (made on demand by ``setup_peers.sh``).
"""
from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dev"
PEERS_VENV = BENCH_DIR / ".peers-venv"

if str(REPO) not in sys.path:  # run as ``python benchmarks/x.py`` from anywhere
    sys.path.insert(0, str(REPO))


def data_dir(arg: str | None) -> Path:
    d = Path(arg).expanduser().resolve() if arg else DEFAULT_DATA
    for name in ("accounts.csv", "leads.csv"):
        if not (d / name).is_file():
            raise SystemExit(f"{d / name} not found (pass --data DIR with accounts.csv and leads.csv)")
    return d


def peers_python(setup: bool = True) -> Path:
    """The peers venv's python, creating the venv first when needed."""
    py = PEERS_VENV / "bin" / "python"
    if setup:
        subprocess.run(["bash", str(BENCH_DIR / "setup_peers.sh")], check=True)
    if not py.exists():
        raise SystemExit(f"{py} missing; run benchmarks/setup_peers.sh")
    return py


def leadmatch_cmd() -> list[str]:
    """The ``leadmatch`` console script of the interpreter running us."""
    exe = Path(sys.executable).with_name("leadmatch")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from api.cli import main; main()"]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def percentile(sorted_xs: list[float], q: float) -> float:
    if not sorted_xs:
        return float("nan")
    k = (len(sorted_xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (k - lo)


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# ----------------------------------------------------------------------------- labels & scoring

@dataclass(frozen=True)
class Label:
    lead_id: str
    case: str
    expected: str | None
    acceptable: frozenset[str]

    @property
    def is_nomatch(self) -> bool:
        return not self.expected

    def correct(self, account_id: str | None) -> bool:
        return bool(account_id) and not self.is_nomatch and (
            account_id == self.expected or account_id in self.acceptable)


def read_labels(leads_csv: Path) -> dict[str, Label]:
    labels: dict[str, Label] = {}
    with open(leads_csv, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            exp = (row.get("expected_account_id") or "").strip() or None
            acc = frozenset(x.strip() for x in (row.get("acceptable_account_ids") or "").split(";")
                            if x.strip())
            labels[row["lead_id"]] = Label(row["lead_id"], row.get("case") or "", exp, acc)
    return labels


@dataclass
class Figures:
    n: int = 0
    with_account: int = 0  # leads whose right answer is an account
    nomatch: int = 0  # leads whose right answer is no match
    matched: int = 0
    correct: int = 0
    review: int = 0
    nomatch_matched: int = 0

    def add(self, label: Label, decision: str, account_id: str | None) -> None:
        self.n += 1
        if label.is_nomatch:
            self.nomatch += 1
        else:
            self.with_account += 1
        if decision == "review":
            self.review += 1
        if decision == "matched":
            self.matched += 1
            if label.correct(account_id):
                self.correct += 1
            if label.is_nomatch:
                self.nomatch_matched += 1

    @property
    def precision(self):
        return self.correct / self.matched if self.matched else None

    @property
    def recall(self):
        return self.correct / self.with_account if self.with_account else None

    @property
    def review_rate(self):
        return self.review / self.n if self.n else None

    @property
    def nomatch_matched_rate(self):
        return self.nomatch_matched / self.nomatch if self.nomatch else None

    def as_dict(self) -> dict:
        r = lambda x: None if x is None else round(x, 4)  # noqa: E731
        return {"n": self.n, "with_account": self.with_account, "nomatch": self.nomatch,
                "matched": self.matched, "correct": self.correct, "review": self.review,
                "nomatch_matched": self.nomatch_matched, "precision": r(self.precision),
                "recall": r(self.recall), "review_rate": r(self.review_rate),
                "nomatch_matched_rate": r(self.nomatch_matched_rate)}


@dataclass
class Scored:
    overall: Figures = field(default_factory=Figures)
    cases: dict[str, Figures] = field(default_factory=dict)

    def add(self, label: Label, decision: str, account_id: str | None) -> None:
        self.overall.add(label, decision, account_id)
        self.cases.setdefault(label.case, Figures()).add(label, decision, account_id)

    def as_dict(self) -> dict:
        return {"overall": self.overall.as_dict(),
                "cases": {k: v.as_dict() for k, v in sorted(self.cases.items())}}


def score(labels: dict[str, Label], predictions: dict[str, tuple[str, str | None]]) -> Scored:
    """predictions: lead_id -> (decision, account_id). Leads without a prediction count as no_match."""
    s = Scored()
    for lid, label in labels.items():
        decision, account_id = predictions.get(lid, ("no_match", None))
        s.add(label, decision, account_id)
    return s


def env_with_repo_path() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
