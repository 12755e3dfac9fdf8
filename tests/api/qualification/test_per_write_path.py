"""The per-write path ends where a bulk recompute of the same ledger ends, on SQLite and PostgreSQL.

Every HTTP write re-evaluates only the accounts it touches (``Services.requalify`` in
api/deps.py, through api/qualification/service.py); ``leadmatch recompute``
(api/qualification/recompute.py ``recompute_all``) evaluates every account from the whole
ledger. A seeded random sequence of single writes (events by contact and by email, opportunities
opening, moving stage and closing, contracts, flags, contacts moving between accounts or
appearing for waiting events, sellers' manual moves, fit changes) goes through the API; after
each write, and at the end, a recompute at the same instant must find nothing to move and write
nothing: every stored status, ``since``, reason and point total is already what the whole ledger
gives.

Statuses decay with time (half-life points), so the service's evaluation clock is held at one
instant (``FIXED``) for the whole sequence and the recompute runs ``as_of`` that instant.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from api.db import make_engine
from api.qualification import recompute
from api.qualification import service as qualification
from config import load_qualification_rules
from config.vocabulary import ACTIVITY_TYPES, CONTACT_STATUSES, OPPORTUNITY_TYPES
from matcher.qualification.rules import compile_rules
from tests.api.qualification.test_recompute import stored
from tests.conftest import account, app_client, settings_for

REAL_NOW = datetime.now(timezone.utc).replace(microsecond=0)
FIXED = REAL_NOW + timedelta(minutes=10)  # after every time the server itself records during the test
TIERS = ("1", "1", "2", "3", "4", None)
TITLES = ("VP Engineering", "CFO", "Software Engineer", "Marketing Manager", "Director of IT", None,
          "Chief Technology Officer", "Procurement Specialist")
STEPS = 90
CHECK_EVERY = 10


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def past(rng: random.Random, days: float = 120) -> datetime:
    return REAL_NOW - timedelta(days=rng.uniform(0, days), seconds=rng.randrange(86400))


class Writer:
    """Random single writes through the API, remembering what exists so each one is valid."""

    def __init__(self, client: TestClient, rng: random.Random) -> None:
        self.c, self.rng = client, rng
        self.accounts = {f"A{i}": tier for i, tier in enumerate(TIERS)}
        self.contacts: dict[str, dict] = {}
        self.waiting: list[tuple[str, str]] = []  # (email, account) of people with events but no contact yet
        self.open_opportunities: dict[str, dict] = {}
        self.contracts: dict[str, dict] = {}
        self.n = 0
        self.done: dict[str, int] = {}
        self.last: tuple[str, object] | None = None  # the latest write, for a failure message

    def ok(self, response, what: str) -> dict:  # noqa: ANN001
        assert response.status_code == 200, (what, response.text)
        self.last = (f"{response.request.method} {response.request.url.path}", response.request.content)
        self.done[what] = self.done.get(what, 0) + 1
        return response.json()

    def next_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def account_body(self, account_id: str) -> dict:
        i = int(account_id[1:])
        return account(account_id, f"Company {i}", domains=[f"company{i}.com"], fit_tier=self.accounts[account_id])

    def seed(self) -> None:
        self.ok(self.c.put("/v1/accounts", json=[self.account_body(a) for a in self.accounts]), "accounts")
        people = []
        for a in self.accounts:
            for k in range(3):
                people.append(self.new_contact(a, f"p{k}.{a.lower()}@company{a[1:]}.com"))
        self.ok(self.c.put("/v1/contacts", json=people), "contacts")

    def new_contact(self, account_id: str, email: str) -> dict:
        body = {"id": self.next_id("K"), "account_id": account_id, "email": email,
                "first_name": "First", "last_name": f"Last{self.n}", "title": self.rng.choice(TITLES)}
        self.contacts[body["id"]] = body
        return body

    def activities(self) -> None:
        rng = self.rng
        batch = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(sorted(ACTIVITY_TYPES))
            event = {"id": self.next_id("E"), "type": kind, "occurred_at": iso(past(rng)),
                     "direction": rng.choice(("inbound", "outbound", None))}
            if kind == "page_view":
                event["page_kind"] = rng.choice(("pricing", "product", "blog"))
            r = rng.random()
            if r < 0.12:  # a person who is no contact yet: kept unmatched until one appears
                a = rng.choice(sorted(self.accounts))
                email = f"new{self.n}@company{a[1:]}.com"
                self.waiting.append((email, a))
                event["email"] = email
            elif r < 0.35:
                event["email"] = self.contacts[rng.choice(sorted(self.contacts))]["email"].upper()
            else:
                event["contact_id"] = rng.choice(sorted(self.contacts))
            batch.append(event)
        self.ok(self.c.post("/v1/activities", json=batch), "activities")

    def opportunity(self) -> None:
        rng = self.rng
        if self.open_opportunities and rng.random() < 0.55:  # an open one moves on
            body = dict(self.open_opportunities[rng.choice(sorted(self.open_opportunities))])
            body.pop("opened_at", None)  # left out: the stored one stays
            if rng.random() < 0.5:
                body["stage"] = rng.choice(("proposal", "negotiation", "closing"))
                if rng.random() < 0.5:
                    body["stage_changed_at"] = iso(past(rng, 5))
            else:
                body["state"] = rng.choice(("won", "lost"))
                body["closed_at"] = iso(REAL_NOW - timedelta(hours=rng.uniform(1, 48)))
                del self.open_opportunities[body["id"]]
            self.ok(self.c.put("/v1/opportunities", json=[body]), "opportunity update")
            return
        a = rng.choice(sorted(self.accounts))
        people = sorted(k for k, c in self.contacts.items() if c["account_id"] == a)
        body = {"id": self.next_id("O"), "account_id": a, "type": rng.choice(OPPORTUNITY_TYPES),
                "stage": "discovery", "state": "open", "amount": 1000.0 * rng.randint(1, 90),
                "primary_contact_id": rng.choice(people) if people and rng.random() < 0.8 else None,
                "opened_at": iso(REAL_NOW - timedelta(days=rng.uniform(3, 60)))}
        self.open_opportunities[body["id"]] = body
        self.ok(self.c.put("/v1/opportunities", json=[body]), "opportunity")

    def contract(self) -> None:
        rng = self.rng
        today = REAL_NOW.date()
        if self.contracts and rng.random() < 0.4:  # an existing contract gets (another) end date
            body = dict(self.contracts[rng.choice(sorted(self.contracts))])
            body["ends_on"] = max(today + timedelta(days=rng.randint(-30, 120)),
                                  datetime.fromisoformat(body["starts_on"]).date()).isoformat()
        else:
            starts = today - timedelta(days=rng.randint(1, 700))
            ends = rng.choice((None, starts + timedelta(days=365), today + timedelta(days=rng.randint(1, 80))))
            body = {"id": self.next_id("T"), "account_id": rng.choice(sorted(self.accounts)),
                    "starts_on": starts.isoformat(), "ends_on": ends and max(ends, starts).isoformat()}
        self.contracts[body["id"]] = body
        self.ok(self.c.put("/v1/contracts", json=[body]), "contract")

    def flags(self) -> None:
        a = self.rng.choice(sorted(self.accounts))
        flags = self.rng.choice(({}, {}, {"disqualified": True}, {"partner": True}))
        self.ok(self.c.put(f"/v1/accounts/{a}/flags", json=flags), "flags")

    def contact_change(self) -> None:
        rng = self.rng
        if self.waiting and rng.random() < 0.5:  # the person behind waiting events becomes a contact
            email, a = self.waiting.pop(rng.randrange(len(self.waiting)))
            body = self.new_contact(a, email)
        else:  # a person moves to another account, events and all
            body = self.contacts[rng.choice(sorted(self.contacts))]
            body["account_id"] = rng.choice(sorted(set(self.accounts) - {body["account_id"]}))
        self.ok(self.c.put("/v1/contacts", json=[body]), "contact change")

    def manual_move(self) -> None:
        rng = self.rng
        contact_id = rng.choice(sorted(self.contacts))
        move = {"status": rng.choice(sorted(CONTACT_STATUSES)), "by": "rep",
                "at": iso(REAL_NOW - timedelta(hours=rng.uniform(0, 72)))}
        r = self.c.post(f"/v1/contacts/{contact_id}/status", json=move)
        if r.status_code == 409:  # not a move a seller may make from here: take one that is
            allowed = r.json()["allowed"]
            if not allowed:
                return
            r = self.c.post(f"/v1/contacts/{contact_id}/status", json={**move, "status": rng.choice(allowed)})
        self.ok(r, "manual move")

    def fit_change(self) -> None:
        a = self.rng.choice(sorted(self.accounts))
        self.accounts[a] = self.rng.choice(TIERS)
        self.ok(self.c.put("/v1/accounts", json=[self.account_body(a)]), "fit change")

    def step(self) -> None:
        writes = [(self.activities, 30), (self.opportunity, 14), (self.contract, 9), (self.flags, 7),
                  (self.contact_change, 12), (self.manual_move, 14), (self.fit_change, 8)]
        self.rng.choices([w for w, _ in writes], weights=[n for _, n in writes])[0]()


def no_moves(report: recompute.RecomputeReport) -> tuple[int, int, int, int]:
    return report.accounts_moved, report.contacts_moved, report.rows_written, report.transitions


@pytest.mark.parametrize("seed", [1, 2])
def test_single_writes_end_where_a_recompute_of_the_ledger_ends(database_url: str, seed: int,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # the service's evaluation clock (api/qualification/service.py), held still: see the module docstring
    monkeypatch.setattr(qualification, "_now", lambda: FIXED)
    rules = compile_rules(load_qualification_rules())
    engine = make_engine(database_url)
    try:
        with app_client(settings_for(database_url)) as c:
            writer = Writer(c, random.Random(seed))
            writer.seed()
            for step in range(1, STEPS + 1):
                writer.step()
                # after every write, not only at the end: the next write touching a stale account
                # re-evaluates it in full and would hide the miss. A preview (no locks, no writes)
                # compares statuses; every CHECK_EVERY writes an apply compares whole rows
                check = recompute.recompute_all(engine, rules, FIXED, apply=step % CHECK_EVERY == 0, workers=1)
                assert no_moves(check) == (0, 0, 0, 0), (step, writer.last, check.preview.cells)
        # every kind of write happened, and the ledger gave the statuses something to disagree about
        assert set(writer.done) >= {"activities", "opportunity", "opportunity update", "contract", "flags",
                                    "contact change", "manual move", "fit change"}, writer.done
        accounts, contacts, transitions = after_writes = stored(database_url)
        assert len(accounts) == len(TIERS) and len(contacts) == len(writer.contacts)
        assert len({row[0] for row in accounts.values()}) >= 3 and len({row[1] for row in contacts.values()}) >= 3
        assert transitions > len(accounts) + len(contacts)  # statuses moved after their first one

        workers = 2 if database_url.startswith("postgresql") else 1
        preview = recompute.recompute_all(engine, rules, FIXED, apply=False, workers=workers, slice_size=2)
        assert (preview.accounts, preview.contacts) == (len(accounts), len(contacts))
        assert no_moves(preview) == (0, 0, 0, 0), preview.preview.cells
        applied = recompute.recompute_all(engine, rules, FIXED, apply=True, workers=workers, slice_size=2)
    finally:
        engine.dispose()
    assert no_moves(applied) == (0, 0, 0, 0)
    assert stored(database_url) == after_writes  # not a status, since, reason or point differs
