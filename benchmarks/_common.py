"""The one helper module of the benchmarks: where things are, the peers venv, label scoring,
medians, and deterministic scale data grown from the development accounts.

The benchmark scripts run with the service venv (``.venv/bin/python benchmarks/<domain>/<script>.py``).
Anything that needs pandas / string_grouper / name_matching runs as a subprocess under
``benchmarks/.peers-venv`` (made on demand by ``setup_peers.sh``).
"""
from __future__ import annotations

import csv
import json
import os
import platform
import random
import re
import signal
import socket
import time
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from matcher.matching.types import Account

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


LEAD_COLUMNS = ("lead_id", "email", "company", "country", "region", "city", "phone", "website",
                "first_name", "last_name", "title")


# ----------------------------------------------------------------------------------- lead lists

def dev_lead_rows(data: Path) -> list[dict]:
    with open(data / "leads.csv", newline="", encoding="utf-8-sig") as fh:
        return [{k: row.get(k, "") or "" for k in LEAD_COLUMNS} for row in csv.DictReader(fh)]


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


# ---------------------------------------------------------------- reporting and HTTP servers

def say(msg: str) -> None:
    print(msg, flush=True)


def setup_line() -> str:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "?"
    return (f"setup: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores "
            f"({cpu}), {platform.system()} {platform.release()}")


PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_wrk(lua: Path, port: int, args) -> dict:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
           "-s", str(lua), f"http://127.0.0.1:{port}/v1/match"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60)
    out = p.stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed: {p.stderr or out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:.*", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    return {"rps": float(m.group(1)), "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errs.group(0) if errs else "", "p50": p50.group(1) if p50 else "?",
            "p99": p99.group(1) if p99 else "?"}


def emit_json(args, obj) -> None:
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps(obj, indent=2) + "\n")
        say(f"figures written to {args.json}")


# ---------------------------------------------------------------- scale data
# Deterministic scale data: N realistic accounts grown from the development accounts.
#
# The real accounts come first, unchanged. Each further account is a variant of a real one (taken
# round-robin) the way a big CRM grows them: the company in another city or region ("Acme
# Lyon"), a numbered subsidiary ("Acme Holdings 3"), another legal form ("Acme GmbH"), a business
# line ("Acme Analytics"), always with a new domain of its own ("acme-lyon.fr", "acmeanalytics.io")
# and sometimes a parent link to the real account (a regional child). Same N and seed -> same data.
# A generator: nothing is kept beyond the real accounts it grows from.


LINES = ("Holdings", "Group", "Labs", "Technologies", "Systems", "Partners", "Solutions",
         "International", "Digital", "Consulting", "Ventures", "Analytics", "Media", "Services",
         "Networks", "Capital", "Software", "Health", "Energy", "Logistics", "Studios", "Robotics",
         "Foods", "Finance", "Security", "Cloud", "Data", "Mobile", "Retail", "Pharma")
LEGAL = ("Inc.", "LLC", "Ltd", "GmbH", "S.A.", "B.V.", "AG", "SAS", "Pty Ltd", "K.K.", "S.r.l.",
         "Oy", "AB", "Corp.", "PLC", "SE", "A/S", "Sp. z o.o.", "S.L.", "Limited")
REGIONS = (("US", "CA", "San Francisco"), ("US", "NY", "New York"), ("US", "TX", "Austin"),
           ("US", "MA", "Boston"), ("US", "WA", "Seattle"), ("US", "IL", "Chicago"),
           ("GB", "London", "London"), ("GB", "Manchester", "Manchester"), ("DE", "Berlin", "Berlin"),
           ("DE", "Bayern", "Munich"), ("FR", "Ile-de-France", "Paris"), ("FR", "Rhone-Alpes", "Lyon"),
           ("NL", "Noord-Holland", "Amsterdam"), ("ES", "Madrid", "Madrid"), ("IT", "Lombardia", "Milan"),
           ("SE", "Stockholm", "Stockholm"), ("CH", "Zurich", "Zurich"), ("IN", "Karnataka", "Bangalore"),
           ("SG", "", "Singapore"), ("JP", "Tokyo", "Tokyo"), ("AU", "NSW", "Sydney"),
           ("CA", "ON", "Toronto"), ("BR", "SP", "Sao Paulo"), ("IE", "Dublin", "Dublin"),
           ("IL", "Tel Aviv", "Tel Aviv"), ("CN", "Shanghai", "Shanghai"), ("PL", "Mazowieckie", "Warsaw"),
           ("DK", "Hovedstaden", "Copenhagen"), ("FI", "Uusimaa", "Helsinki"), ("AT", "Wien", "Vienna"))
CC_TLD = {"US": "com", "GB": "co.uk", "DE": "de", "FR": "fr", "NL": "nl", "ES": "es", "IT": "it",
          "SE": "se", "CH": "ch", "IN": "in", "SG": "sg", "JP": "co.jp", "AU": "com.au", "CA": "ca",
          "BR": "com.br", "IE": "ie", "IL": "co.il", "CN": "cn", "PL": "pl", "DK": "dk", "FI": "fi",
          "AT": "at"}
GENERIC_TLD = ("com", "io", "net", "co", "ai", "app", "tech", "org")

_slug_re = re.compile(r"[^a-z0-9]+")


def _slug(s: str) -> str:
    return _slug_re.sub("", s.lower())


def _label(account: "Account") -> str:
    for d in account.domains:
        d = d.lower().removeprefix("www.")
        if d:
            return _slug(d.split(".")[0]) or _slug(account.name)[:20] or "co"
    return _slug(account.name)[:20] or "co"


def scale_accounts(real: list["Account"], n: int, seed: int = 20151201) -> Iterator["Account"]:
    """The first ``min(n, len(real))`` real accounts, then variants up to ``n`` in total."""
    from matcher.matching.types import Account

    yield from real[:n]
    if n <= len(real) or not real:
        return
    rng = random.Random(seed)
    base_n = len(real)
    for i in range(n - base_n):
        base = real[i % base_n]
        k = i // base_n + 1  # variant number of this base: makes domains unique per base
        label = _label(base)
        country, region, city = REGIONS[rng.randrange(len(REGIONS))]
        kind = rng.random()
        parent = None
        if kind < 0.30:  # regional entity, child of the real account
            name = f"{base.name} {city}"
            domain = f"{label}-{_slug(city)}{k if k > 1 else ''}.{CC_TLD.get(country, 'com')}"
            parent = base.id
        elif kind < 0.55:  # business line
            line = LINES[rng.randrange(len(LINES))]
            name = f"{base.name} {line}"
            domain = f"{label}{_slug(line)}{k if k > 1 else ''}.{GENERIC_TLD[rng.randrange(len(GENERIC_TLD))]}"
        elif kind < 0.75:  # numbered subsidiary
            line = LINES[rng.randrange(8)]
            name = f"{base.name} {line} {k + 1}"
            domain = f"{label}{k + 1}.{GENERIC_TLD[rng.randrange(len(GENERIC_TLD))]}"
            parent = base.id if rng.random() < 0.5 else None
        else:  # same brand, another legal entity in another country
            legal = LEGAL[rng.randrange(len(LEGAL))]
            name = f"{base.name} {city} {legal}"
            domain = f"{label}{k if k > 1 else ''}.{CC_TLD.get(country, 'com')}"
            if domain.endswith(".com"):
                domain = f"{label}-{_slug(city)}{k}.com"
        yield Account(id=f"S{i + 1:07d}", name=name, domains=(domain,), country=country,
                      region=region or None, city=city, parent_id=parent, owner=base.owner)


def read_real_accounts(accounts_csv: Path) -> list["Account"]:
    from api import csvio

    return [a for a in csvio.iter_accounts(accounts_csv) if not isinstance(a, csvio.RowError)]
