"""The gone_dark scheduler task on accounts in Qualified / Sales Working (no open opportunity),
with the clock moved on and the statuses moved by the ledger between runs: each account is
flagged once per dark spell (owner, the status as the stage), answered by a two-way touch, ended
'closed' when it leaves the status and 'expired' (never closed lost) past the second limit; also
with two schedulers at once on PostgreSQL. Default rules: account days qualified 14,
sales_working 21; cadence call 2 d, email 3 d, social 3 d, call 3 d; second limit 21 days after the
flag; opportunities dark after 21 days (config/gone_dark.toml, config/pipeline.toml)."""
from __future__ import annotations

from typing import Callable

import pytest
from sqlalchemy import func, select

from api.accounts import store as account_store
from api.accounts.store import AccountData, ContactData
from api.db import session_scope
from api.db.rows import AccountStatusRow, CloseRecordRow, GoneDarkEpisodeRow
from api.db.rows.webhooks import WebhookOutboxRow
from api.qualification import store as ledger_store
from api.scheduling import tasks
from matcher.qualification import ledger as L
from tests.api.pipeline.test_gone_dark_task import HOOKS, _services, day
from tests.conftest import at_once, settings_for

NAMES = ("B1", "B2", "B3", "B4", "B5")
OWNERS = {"B1": "ana", "B2": "bo", "B3": "ana", "B4": "bo", "B5": "ana"}


def _act(i: str, kind: str, at: float, account: str, direction: str = "inbound") -> L.Activity:
    return L.Activity(i, kind, day(at), contact_id=f"{account}-K", direction=direction)


def build(url: str) -> None:
    """The accounts as they stand at T0 (statuses from the ledger, as the service derives them):
    B1 qualified since -15 (its demo request), no touch since;
    B2 qualified since -20, a reply 10 days before T0;
    B3 pre_qualified since -30, never touched;
    B4 sales_working since -25 (the seller took the contact on), its demo request on -30;
    B5 qualified since -15 like B1, but an opportunity opened on -1 that its status does not
    show yet (stored without re-evaluating: what a deferred re-evaluation leaves for a moment)."""
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            account_store.upsert_accounts(s, [AccountData(a, f"Company {a}", domains=(f"{a.lower()}.com",),
                                                          owner=OWNERS[a], fit_tier="1") for a in NAMES])
            account_store.upsert_contacts(s, [ContactData(f"{a}-K", a, f"jane@{a.lower()}.com", "Jane", "Doe",
                                                          "VP Engineering") for a in NAMES])
            services.requalify(s, ["B3"], now=day(-30))
            ledger_store.ingest_activities(s, [
                _act("d1", "demo_request", -15, "B1"),
                _act("d2", "demo_request", -20, "B2"), _act("r2", "email_reply", -10, "B2"),
                _act("d4", "demo_request", -30, "B4"),
                _act("d5", "demo_request", -15, "B5"),
            ], now=day(0))
            ledger_store.record_manual_move(s, L.ManualContactMove("B4-K", "sales_working", day(-25)), now=day(0))
            services.requalify(s, ["B1", "B2", "B4", "B5"], now=day(0))
            ledger_store.upsert_opportunities(s, [ledger_store.OpportunityData(
                "O5", "B5", stage="discovery", owner="ana", opened_at=day(-1), stage_changed_at=day(-1))], now=day(0))
    finally:
        services.close()


def _statuses(url: str) -> dict[str, tuple]:
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            return {a: (status, since) for a, status, since in
                    s.execute(select(AccountStatusRow.account_id, AccountStatusRow.status, AccountStatusRow.since))}
    finally:
        services.close()


def b4_opens_an_opportunity(url: str) -> None:
    """Day 1: an opportunity on B4 (B4 leaves sales_working for opportunity_open)."""
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            _, accounts = ledger_store.upsert_opportunities(s, [ledger_store.OpportunityData(
                "O4", "B4", stage="discovery", owner="bo", opened_at=day(1), stage_changed_at=day(1))], now=day(1))
            services.requalify(s, accounts, now=day(1))
    finally:
        services.close()


def b1_replies(url: str) -> None:
    """Day 1: B1's contact replies (a two-way touch; B1 stays qualified)."""
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            ledger_store.ingest_activities(s, [_act("r1", "email_reply", 1, "B1")], now=day(1))
            services.requalify(s, ["B1"], now=day(1))
    finally:
        services.close()


# (what happens in the ledger first, run at, what that pass does), worked out by hand:
# T0:      B1 dark since -1 (-15 + 14) and B4 since -4 (-25 + 21) flagged; step 1 (due T0) of each.
#          Not: B2 (its reply on -10 covers it up to 4), B3 (pre_qualified is not watched), B5 (an
#          open opportunity: watched through it; O5 itself, opened -1, is dark only from 20)
# T0 + 1.5: B4 left sales_working on day 1: its episode closed; B1 answered by its reply on day 1
#          (no step is due before 2: only leaving the status and the answer bring them up)
# T0 + 5:  B2 dark since 4 (-10 + 14) flagged, its step 1 (due 5)
# T0 + 30: B2 past its limit (5 + 21 = 26) with no answer: expired, its steps 2-4 (due 7, 10, 13)
#          announced; nothing closed lost. B1 dark again since 15 (its reply on 1 + 14): a new
#          episode, its step 1. O4 (opened 1) dark since 22 and O5 since 20: flagged as
#          opportunities, their step 1
RUNS: list[tuple[tuple[Callable[[str], None], ...], float, dict[str, int]]] = [
    ((), 0, {"accounts_flagged": 2, "dark": 2, "steps_due": 2}),
    ((b4_opens_an_opportunity, b1_replies), 1.5, {"closed": 1, "answered": 1}),
    ((), 5, {"accounts_flagged": 1, "dark": 1, "steps_due": 1}),
    ((), 30, {"accounts_flagged": 1, "flagged": 2, "expired": 1, "dark": 3, "steps_due": 6}),
]


def _episodes(url: str) -> list[tuple]:
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            rows = s.execute(select(GoneDarkEpisodeRow).order_by(GoneDarkEpisodeRow.account_id,
                                                                 GoneDarkEpisodeRow.dark_since)).scalars()
            return [(r.subject, r.account_id, r.opportunity_id, r.owner, r.stage, r.state, r.dark_since,
                     r.flagged_at, r.ended_at) for r in rows]
    finally:
        services.close()


def _events(url: str) -> tuple[dict[str, int], list]:
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            events = dict(s.execute(select(WebhookOutboxRow.event_type, func.count())
                                    .group_by(WebhookOutboxRow.event_type)).all())
            return events, list(s.execute(select(CloseRecordRow.opportunity_id)).scalars())
    finally:
        services.close()


EXPECTED_EPISODES = [
    ("account", "B1", None, "ana", "qualified", "answered", day(-1), day(0), day(1)),
    ("account", "B1", None, "ana", "qualified", "dark", day(15), day(30), None),
    ("account", "B2", None, "bo", "qualified", "expired", day(4), day(5), day(30)),
    ("account", "B4", None, "bo", "sales_working", "closed", day(-4), day(0), day(1.5)),
    ("opportunity", "B4", "O4", "bo", "discovery", "dark", day(22), day(30), None),
    ("opportunity", "B5", "O5", "ana", "discovery", "dark", day(20), day(30), None),
]
# 4 account flags (B1 twice, B4, B2), 2 opportunity flags; steps 2 + 1 + 6; no close at all
EXPECTED_EVENTS = ({"account.gone_dark": 4, "opportunity.gone_dark": 2, "cadence.step_due": 9}, [])


def test_the_statuses_are_as_built(database_url: str) -> None:
    build(database_url)
    assert _statuses(database_url) == {"B1": ("qualified", day(-15)), "B2": ("qualified", day(-20)),
                                       "B3": ("pre_qualified", day(-30)), "B4": ("sales_working", day(-25)),
                                       "B5": ("qualified", day(-15))}


def test_each_account_moves_exactly_once_as_the_clock_moves(database_url: str) -> None:
    build(database_url)
    services = _services(database_url)
    try:
        for before, at, expected in RUNS:
            for step in before:
                step(database_url)
            assert tasks.gone_dark(services, day(at), batch=1) == expected, f"run at T0 + {at}"
            assert tasks.gone_dark(services, day(at)) == {}, f"run again at T0 + {at}"
    finally:
        services.close()
    assert _episodes(database_url) == EXPECTED_EPISODES
    assert _events(database_url) == EXPECTED_EVENTS
    assert _statuses(database_url)["B4"][0] == "opportunity_open"


@pytest.mark.postgres
def test_two_schedulers_at_once_move_each_account_once(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several writers at once: PostgreSQL")
    build(database_url)
    first, second = _services(database_url), _services(database_url)
    try:
        for before, at, expected in RUNS:
            for step in before:
                step(database_url)
            done = at_once([first, second], lambda services, at=at: tasks.gone_dark(services, day(at), batch=1))
            # what the two did adds up to what one does: nothing was done twice
            assert {k: sum(d.get(k, 0) for d in done) for k in expected} == expected, f"run at T0 + {at}"
    finally:
        first.close()
        second.close()
    assert _episodes(database_url) == EXPECTED_EPISODES
    assert _events(database_url) == EXPECTED_EVENTS


def test_the_route_lists_account_episodes(database_url: str) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    build(database_url)
    services = _services(database_url)
    try:
        tasks.gone_dark(services, day(0))
    finally:
        services.close()
    with TestClient(create_app(settings_for(database_url, scheduler_seconds=0, sla_check_seconds=0, **HOOKS))) as c:
        page = c.get("/v1/gone-dark", params={"subject": "account"}).json()
        assert [(e["subject"], e["account_id"], e["opportunity_id"], e["owner"], e["stage"], e["state"])
                for e in page["items"]] == [("account", "B1", None, "ana", "qualified", "dark"),
                                            ("account", "B4", None, "bo", "sales_working", "dark")]
        assert page["items"][0]["dark_since"] == "2026-11-01T12:00:00Z"  # T0 - 1
        assert c.get("/v1/gone-dark", params={"subject": "opportunity"}).json()["items"] == []
        bad = c.get("/v1/gone-dark", params={"subject": "lead"})
        assert bad.status_code == 422 and "subject" in bad.text
