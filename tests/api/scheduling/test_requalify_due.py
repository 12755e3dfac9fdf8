"""The scheduler's requalify_due task on SQLite and PostgreSQL: with the clock moved past a recycle
date, the end of a disqualification, a contract's end and the decay of an MQA, each account's
status moves exactly once (status_transitions), also with two schedulers at once, and nothing
moves when nothing is due."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from api.accounts import store as account_store
from api.accounts.store import AccountData, ContactData
from api.app import build_services
from api.db import session_scope
from api.db.rows import AccountDispositionRow, AccountStatusRow, StatusTransitionRow
from api.metrics import Metrics
from api.qualification import store as ledger_store
from api.scheduling import tasks
from matcher.qualification import ledger as L
from tests.conftest import settings_for

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(days=8)


def _services(url: str):  # noqa: ANN202
    return build_services(settings_for(url, scheduler_seconds=0, sla_check_seconds=0), Metrics(), "test:sched:")


def build(url: str) -> None:
    """Five accounts; their statuses stored as at T0 (review_at with them)."""
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            account_store.upsert_accounts(s, [AccountData(a, f"Company {a}", domains=(f"{a.lower()}.com",),
                                                          fit_tier="1") for a in ("R1", "D1", "C1", "M1", "N1")])
            account_store.upsert_contacts(s, [
                ContactData(f"{a}-K1", a, f"jane@{a.lower()}.com", "Jane", "Doe", "VP Engineering")
                for a in ("R1", "D1", "C1", "M1", "N1")] + [ContactData("M1-K2", "M1", "bob@m1.com", "Bob", "Roe", "CFO")])
            ledger_store.ingest_activities(s, [
                L.Activity("E-R1", "demo_request", T0 - timedelta(days=30), contact_id="R1-K1"),
                L.Activity("E-D1", "demo_request", T0 - timedelta(days=30), contact_id="D1-K1"),
                # M1: 43.75 + 46.875 + 26.25 = 116.875 points on T0 - 1 day, two personas: MQA until
                # 30 x log2(1.16875) = 6.75 days later (T0 + 5.75 days)
                L.Activity("E-M1a", "meeting", T0 - timedelta(days=1), contact_id="M1-K1"),
                L.Activity("E-M1b", "meeting", T0 - timedelta(days=1), contact_id="M1-K2"),
                L.Activity("E-M1c", "webinar", T0 - timedelta(days=1), contact_id="M1-K1"),
                L.Activity("E-N1", "email_open", T0 - timedelta(days=2), contact_id="N1-K1"),
            ], now=T0)
            ledger_store.upsert_contracts(s, [L.Contract("K-C1", "C1", date(2025, 1, 1), date(2026, 11, 22))], now=T0)
            s.execute(insert(AccountDispositionRow), [
                # recycled 10 days ago, comes back on T0 + 5 days
                {"account_id": "R1", "kind": "recycle", "at": T0 - timedelta(days=10), "until": T0 + timedelta(days=5),
                 "reasons": [{"text": "budget next year"}], "source": "rules", "by": None, "created_at": T0},
                # never a fit, re-activated on T0 + 3 days
                {"account_id": "D1", "kind": "disqualified", "at": T0 - timedelta(days=10),
                 "until": T0 + timedelta(days=3), "reasons": [], "source": "override", "by": "ana", "created_at": T0},
            ])
            services.requalify(s, ["R1", "D1", "C1", "M1", "N1"], now=T0)
    finally:
        services.close()


def _statuses(url: str) -> dict[str, tuple]:
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            return {r[0]: (r[1], r[2]) for r in s.execute(
                select(AccountStatusRow.account_id, AccountStatusRow.status, AccountStatusRow.review_at))}
    finally:
        services.close()


def _moves(url: str) -> dict[str, list[tuple]]:
    """Account status transitions recorded after the first evaluation at T0."""
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            rows = s.execute(select(StatusTransitionRow.entity_id, StatusTransitionRow.old_status,
                                    StatusTransitionRow.new_status, StatusTransitionRow.at)
                             .where(StatusTransitionRow.entity_kind == "account", StatusTransitionRow.old_status.isnot(None))
                             .order_by(StatusTransitionRow.id)).all()
    finally:
        services.close()
    out: dict[str, list[tuple]] = {}
    for entity, old, new, at in rows:
        out.setdefault(entity, []).append((old, new, at))
    return out


EXPECTED_AT_T0 = {
    "R1": ("nurture", T0 + timedelta(days=5)),  # the recycle date
    "D1": ("disqualified", T0 + timedelta(days=3)),  # the re-activation
    "C1": ("customer", datetime(2026, 11, 23, tzinfo=timezone.utc)),  # the day after the contract's last day
    "N1": ("nurture", None),  # nothing time-driven
}
EXPECTED_MOVES = {
    "R1": [("nurture", "pre_qualified", T1)],
    "D1": [("disqualified", "qualified", T1)],
    "C1": [("customer", "churned", T1)],
    "M1": [("qualified", "nurture", T1)],
}


def _check_t0(url: str) -> None:
    stored = _statuses(url)
    for account, expected in EXPECTED_AT_T0.items():
        assert stored[account] == expected, account
    status, review_at = stored["M1"]
    assert status == "qualified"
    assert T0 + timedelta(days=5, hours=17) < review_at < T0 + timedelta(days=5, hours=19)  # 5.75 days after T0


def test_each_due_account_moves_exactly_once(database_url: str) -> None:
    build(database_url)
    _check_t0(database_url)
    services = _services(database_url)
    try:
        assert tasks.requalify_due(services, T0 + timedelta(hours=1)) == {}  # nothing due yet
        assert tasks.requalify_due(services, T1, batch=2) == {"accounts": 4}  # two transactions of 2
        assert tasks.requalify_due(services, T1) == {}  # their review_at moved past T1
        assert tasks.requalify_due(services, T1 + timedelta(days=30)) == {}  # nothing else will ever be due
    finally:
        services.close()
    assert _moves(database_url) == EXPECTED_MOVES
    assert {a: r for a, (_, r) in _statuses(database_url).items()} == dict.fromkeys(("R1", "D1", "C1", "M1", "N1"))


@pytest.mark.postgres
def test_two_schedulers_at_once_move_each_account_once(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several writers at once: PostgreSQL")
    build(database_url)
    first, second = _services(database_url), _services(database_url)
    results: list[dict] = []
    go = threading.Barrier(2)

    def run(services) -> None:  # noqa: ANN001
        go.wait()
        results.append(tasks.requalify_due(services, T1, batch=1))

    try:
        threads = [threading.Thread(target=run, args=(s,)) for s in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        first.close()
        second.close()
    assert sum(r.get("accounts", 0) for r in results) >= 4
    assert _moves(database_url) == EXPECTED_MOVES
