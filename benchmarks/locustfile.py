"""Locust load test for the matching API: web-form leads on POST /v1/match, lists on /v1/match/bulk.

Locust lives in the benchmark venv (``benchmarks/setup_peers.sh``), never in the service:

    bash benchmarks/setup_peers.sh
    benchmarks/.peers-venv/bin/locust -f benchmarks/locustfile.py --host http://127.0.0.1:8000 \
        --headless -u 50 -r 10 -t 60s

Lead bodies come from the development leads (``../shared/data/dev/leads.csv`` relative to the
repository, or ``LEADMATCH_BENCH_LEADS=/path/leads.csv``); without that file a small synthetic
set is used. ``LEADMATCH_BULK_SIZE`` sets the bulk list length (default 100).
"""
from __future__ import annotations

import csv
import itertools
import os
import random
from pathlib import Path

from locust import HttpUser, between, task

FIELDS = ("email", "company", "country", "region", "city", "phone", "website",
          "first_name", "last_name", "title")
DEFAULT_LEADS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "dev" / "leads.csv"


def _load_bodies() -> list[dict]:
    path = Path(os.environ.get("LEADMATCH_BENCH_LEADS", DEFAULT_LEADS))
    if path.is_file():
        with open(path, newline="", encoding="utf-8-sig") as fh:
            bodies = [{k: row[k] for k in FIELDS if row.get(k)} for row in csv.DictReader(fh)]
        bodies = [b for b in bodies if b.get("email") or b.get("company")]
        if bodies:
            return bodies
    return [  # synthetic fallback, shaped like the demo data
        {"email": "jane.doe@acme.de", "company": "ACME GmbH", "country": "DE"},
        {"email": "jane1987@gmail.com", "company": "Acme Corp", "country": "GB"},
        {"company": "Acme Corporation", "country": "US"},
        {"email": "someone@unknown-company.example", "company": "Unknown Ltd"},
    ]


BODIES = _load_bodies()
BULK_SIZE = int(os.environ.get("LEADMATCH_BULK_SIZE", "100"))


class WebFormUser(HttpUser):
    """A web-form handler: one lead per request, waits for the answer. Most of the traffic."""

    weight = 9
    wait_time = between(0.0, 0.05)

    def on_start(self) -> None:
        start = random.randrange(len(BODIES))
        self._leads = itertools.cycle(BODIES[start:] + BODIES[:start])

    @task
    def match_one(self) -> None:
        with self.client.post("/v1/match", json=next(self._leads), name="/v1/match",
                              catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
            elif r.json().get("decision") not in ("matched", "review", "no_match"):
                r.failure("no decision in the answer")


class ListUploadUser(HttpUser):
    """A tradeshow-list integration: arrays of leads on the bulk endpoint."""

    weight = 1
    wait_time = between(0.5, 1.5)

    @task
    def match_bulk(self) -> None:
        items = random.sample(BODIES, min(BULK_SIZE, len(BODIES)))
        with self.client.post("/v1/match/bulk", json=items, name="/v1/match/bulk",
                              catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
            elif len(r.json().get("results", ())) != len(items):
                r.failure("results do not answer every item")
