"""The gone_dark scheduler task with the clock moved past dark limits, cadence steps and the
second limit: each opportunity is flagged once per dark spell, each step announced once, the
answered one ends, the unanswered ones are closed lost exactly once; also with two schedulers at
once on PostgreSQL. Default rules: 21 dark days, cadence call 2 d, email 3 d, social 3 d, call 3 d,
closed lost 21 days after the flag (config/pipeline.toml, config/gone_dark.toml)."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from api.accounts import store as account_store
from api.accounts.store import AccountData, ContactData
from api.app import build_services
from api.db import session_scope
from api.db.rows import CloseRecordRow, GoneDarkEpisodeRow, OpportunityRow
from api.db.rows.webhooks import WebhookOutboxRow
from api.metrics import Metrics
from api.qualification import store as ledger_store
from api.scheduling import tasks
from matcher.qualification import ledger as L
from tests.conftest import at_once, settings_for

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
HOOKS = {"webhook_urls": ["http://127.0.0.1:9/hooks"], "webhook_secret": "whsec_gone_dark_test",
         "webhook_backoff_base_seconds": 3600.0, "webhook_backoff_max_seconds": 3600.0}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _services(url: str, **overrides):  # noqa: ANN202, ANN003
    return build_services(settings_for(url, scheduler_seconds=0, sla_check_seconds=0, **HOOKS, **overrides),
                          Metrics(), "test:gonedark:")


def build(url: str) -> None:
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            names = ("A1", "A2", "A3", "A4")
            account_store.upsert_accounts(s, [AccountData(a, f"Company {a}", domains=(f"{a.lower()}.com",))
                                              for a in names])
            account_store.upsert_contacts(s, [ContactData(f"{a}-K", a, f"jane@{a.lower()}.com", "Jane", "Doe",
                                                          "VP Engineering") for a in names])
            ledger_store.upsert_opportunities(s, [
                ledger_store.OpportunityData("O1", "A1", stage="discovery", owner="ana", opened_at=day(-30),
                                             stage_changed_at=day(-30)),
                ledger_store.OpportunityData("O2", "A2", stage="discovery", owner="bo", opened_at=day(-30),
                                             stage_changed_at=day(-30)),
                ledger_store.OpportunityData("O3", "A3", stage="proposal", owner="ana", opened_at=day(-10),
                                             stage_changed_at=day(-10)),
                ledger_store.OpportunityData("O4", "A4", stage="evaluation", owner="bo", opened_at=day(-30),
                                             stage_changed_at=day(-30)),
            ], now=day(40))

            def a(i: str, kind: str, at: float, account: str, direction: str) -> L.Activity:
                return L.Activity(i, kind, day(at), contact_id=f"{account}-K", direction=direction)
            ledger_store.ingest_activities(s, [
                # O1: last two-way touch 25 days before T0 -> dark since T0 - 4; every step done
                a("in-1", "meeting", -25, "A1", "inbound"),
                a("out-1a", "call", 1, "A1", "outbound"), a("out-1b", "email_open", 3, "A1", "outbound"),
                a("out-1c", "social_touch", 6, "A1", "outbound"), a("out-1d", "call", 9, "A1", "outbound"),
                # O2: never touched -> dark since T0 - 9; the call done, then the buyer replies on T0 + 4
                a("out-2a", "call", 0.5, "A2", "outbound"), a("in-2", "email_reply", 4, "A2", "inbound"),
                # O4: a meeting the day before T0 -> dark from T0 + 20
                a("in-4", "meeting", -1, "A4", "inbound"),
                # our own email is no two-way touch: it does not keep O3 from going dark
                a("out-3", "email_open", 5, "A3", "outbound"),
            ], now=day(40))
    finally:
        services.close()


# (run at, what that pass does), worked out by hand:
# T0:      flags O1 (dark since -4) and O2 (since -9); step 1 (call, due T0) of both announced
# T0 + 5:  O1 steps 2 (email, due 2) and 3 (social, due 5); O2 answered by the reply on day 4
# T0 + 12: O3 dark since 11 (opened -10 + 21) flagged, its step 1; O1 step 4 (due 8)
# T0 + 22: O1 past its limit (0 + 21): closed lost at day 21; O3 steps 2-4 (due 14, 17, 20);
#          O4 dark since 20 (-1 + 21) flagged, its step 1
# T0 + 40: O3 past its limit (12 + 21 = 33): closed lost at day 33; O4 steps 2-4 (24, 27, 30);
#          O2 dark again since 25 (its reply on 4 + 21): a new episode, its step 1
RUNS = [
    (0, {"flagged": 2, "dark": 2, "steps_due": 2}),
    (5, {"dark": 1, "answered": 1, "steps_due": 2}),
    (12, {"flagged": 1, "dark": 2, "steps_due": 2}),
    (22, {"flagged": 1, "closed_lost": 1, "dark": 2, "steps_due": 4}),
    (40, {"flagged": 1, "closed_lost": 1, "dark": 2, "steps_due": 4}),
]


def _episodes(url: str) -> list[tuple]:
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            rows = s.execute(select(GoneDarkEpisodeRow).order_by(GoneDarkEpisodeRow.opportunity_id,
                                                                 GoneDarkEpisodeRow.dark_since)).scalars()
            return [(r.opportunity_id, r.stage, r.state, r.dark_since, r.flagged_at, r.ended_at,
                     [s["activity_id"] for s in r.cadence]) for r in rows]
    finally:
        services.close()


def _closes(url: str) -> list[tuple]:
    services = _services(url)
    try:
        with session_scope(services.sessions) as s:
            closes = [(r.opportunity_id, r.outcome, r.closed_at, r.source, r.state, r.answers) for r in
                      s.execute(select(CloseRecordRow).order_by(CloseRecordRow.opportunity_id)).scalars()]
            states = dict(s.execute(select(OpportunityRow.id, OpportunityRow.state)).all())
            events = dict(s.execute(select(WebhookOutboxRow.event_type, func.count())
                                    .group_by(WebhookOutboxRow.event_type)).all())
            return [closes, states, events]
    finally:
        services.close()


EXPECTED_EPISODES = [
    ("O1", "discovery", "closed_lost", day(-4), day(0), day(22), ["out-1a", "out-1b", "out-1c", "out-1d"]),
    ("O2", "discovery", "answered", day(-9), day(0), day(4), ["out-2a", None, None, None]),
    ("O2", "discovery", "dark", day(25), day(40), None, [None, None, None, None]),
    ("O3", "proposal", "closed_lost", day(11), day(12), day(40), [None, None, None, None]),
    ("O4", "evaluation", "dark", day(20), day(22), None, [None, None, None, None]),
]
LOST = {"primary_reason": "went_dark"}
EXPECTED_CLOSES = [
    [("O1", "lost", day(21), "gone_dark", "unanswered", {**LOST, "stalled_stage": "discovery"}),
     ("O3", "lost", day(33), "gone_dark", "unanswered", {**LOST, "stalled_stage": "proposal"})],
    {"O1": "lost", "O2": "open", "O3": "lost", "O4": "open"},
    # 5 flags; steps 2 + 2 + 2 + 4 + 4; each close once
    {"opportunity.gone_dark": 5, "cadence.step_due": 14, "opportunity.closed": 2},
]


def test_each_opportunity_moves_exactly_once_as_the_clock_moves(database_url: str) -> None:
    build(database_url)
    services = _services(database_url)
    try:
        for at, expected in RUNS:
            assert tasks.gone_dark(services, day(at), batch=1) == expected, f"run at T0 + {at}"
            assert tasks.gone_dark(services, day(at)) == {}, f"run again at T0 + {at}"
    finally:
        services.close()
    assert _episodes(database_url) == EXPECTED_EPISODES
    assert _closes(database_url) == EXPECTED_CLOSES


def test_a_pass_takes_each_episode_at_most_once(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An episode the core leaves with something still to do (it and the claim's SQL disagree)
    waits for the next pass: one pass walks forward by id and ends, instead of claiming the same
    episodes again and again."""
    from api.pipeline import service as pipeline_service

    build(database_url)
    services = _services(database_url)
    try:
        assert tasks.gone_dark(services, day(0))["flagged"] == 2  # O1 and O2, each with step 1 due
        taken: list[str] = []
        real = pipeline_service.core.advance

        def stuck(episode, **kw):  # noqa: ANN001, ANN003, ANN202 - the core, made to leave it due
            taken.append(episode.dark_since)
            if len(taken) > 10:  # fail, rather than hang, when a pass keeps claiming them
                raise AssertionError(f"the pass claimed the same episodes {len(taken)} times")
            return dataclasses.replace(real(episode, **kw), state="dark", newly_due=(), next_step_at=day(0),
                                       ended_at=None)

        monkeypatch.setattr(pipeline_service.core, "advance", stuck)
        tasks.gone_dark(services, day(5), batch=1)
        assert sorted(taken) == [day(-9), day(-4)]  # O2's episode and O1's, once each, though both stay due
    finally:
        services.close()


def test_auto_close_off_leaves_them_flagged(database_url: str, tmp_path) -> None:  # noqa: ANN001
    rules = tmp_path / "gone_dark.toml"
    rules.write_text("[close]\nenabled = false\n", encoding="utf-8")
    build(database_url)
    services = _services(database_url)
    try:
        with session_scope(services.sessions) as s:  # O1 answers on day 30, after its limit (21)
            ledger_store.ingest_activities(s, [L.Activity("in-1b", "call", day(30), contact_id="A1-K",
                                                          direction="inbound")], now=day(40))
    finally:
        services.close()
    services = _services(database_url, gone_dark_rules=rules)
    try:
        for at, _ in RUNS:
            tasks.gone_dark(services, day(at))
    finally:
        services.close()
    states = {(o, d): (state, ended) for o, _, state, d, _, ended, _ in _episodes(database_url)}
    # nothing was due for O1 after its limit: only the answer moves it
    assert states[("O1", day(-4))] == ("answered", day(30))
    assert states[("O3", day(11))] == ("dark", None)
    closes, opportunities, _ = _closes(database_url)
    assert closes == [] and opportunities == {"O1": "open", "O2": "open", "O3": "open", "O4": "open"}


@pytest.mark.postgres
def test_two_schedulers_at_once_move_each_opportunity_once(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several writers at once: PostgreSQL")
    build(database_url)
    first, second = _services(database_url), _services(database_url)
    try:
        for at, expected in RUNS:
            done = at_once([first, second], lambda services, at=at: tasks.gone_dark(services, day(at), batch=1))
            # what the two did adds up to what one does: nothing was done twice
            assert {k: sum(d.get(k, 0) for d in done) for k in expected} == expected, f"run at T0 + {at}"
    finally:
        first.close()
        second.close()
    assert _episodes(database_url) == EXPECTED_EPISODES
    assert _closes(database_url) == EXPECTED_CLOSES


def test_the_routes_list_episodes_and_stale_opportunities(database_url: str) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    build(database_url)
    services = _services(database_url)
    try:
        tasks.gone_dark(services, day(0))
    finally:
        services.close()
    with TestClient(create_app(settings_for(database_url, scheduler_seconds=0, sla_check_seconds=0, **HOOKS))) as c:
        page = c.get("/v1/gone-dark", params={"owner": "ana"}).json()
        assert [(e["opportunity_id"], e["state"], e["stage"]) for e in page["items"]] == [("O1", "dark", "discovery")]
        assert [s["channel"] for s in page["items"][0]["cadence"]] == ["call", "email", "social", "call"]
        assert c.get("/v1/gone-dark", params={"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}
                     ).status_code == 422
        # the real clock is past day 40: every account's latest touch (day 9 at the latest) is
        # older than 10 days; with 3650 days none is, and they are listed only for having no
        # next step (none was sent: tests/api/pipeline/test_pipeline_review.py has them)
        review = c.get("/v1/pipeline-review", params={"no_touch_days": 10}).json()
        assert {(o["owner"], tuple((i["opportunity_id"], i["gone_dark"], tuple(i["reasons"])) for i in o["items"]))
                for o in review["owners"]} == {
            ("ana", (("O1", True, ("no_touch", "no_next_step")), ("O3", False, ("no_touch", "no_next_step")))),
            ("bo", (("O2", True, ("no_touch", "no_next_step")), ("O4", False, ("no_touch", "no_next_step"))))}
        assert review["owners"][0]["items"][0]["last_touch_at"] == "2026-11-11T12:00:00Z"  # O1's call on day 9
        review = c.get("/v1/pipeline-review", params={"no_touch_days": 3650}).json()
        assert {i["opportunity_id"]: i["reasons"] for o in review["owners"] for i in o["items"]} == {
            "O1": ["no_next_step"], "O2": ["no_next_step"], "O3": ["no_next_step"], "O4": ["no_next_step"]}
        assert c.get("/v1/pipeline-review", params={"no_touch_days": 0}).status_code == 422
