"""Lead intake and the SLA scheduler with several writers at once (PostgreSQL, where replicas
really run side by side; SQLite serialises writers by design)."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from api.db import session_scope
from api.db.rows import ActivityRow, ContactRow, LeadRoutingRow, LeadRow, RoutingPoolTurnRow, WebhookOutboxRow
from api.routing.sla_scheduler import check_sla
from tests.api.routing.test_leads import UNMATCHED, pool_config, routing
from tests.conftest import app_client, post_at_once, settings_for, wait_for


@pytest.mark.postgres
def test_two_schedulers_handle_each_overdue_lead_exactly_once(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas side by side: PostgreSQL")
    settings = settings_for(database_url, sla_check_seconds=0)
    with app_client(settings) as a, app_client(settings) as b:
        routing(a, **pool_config(sla={"minutes": 30, "action": "reassign", "max_reassignments": 3}))
        dues = [datetime.fromisoformat(a.post("/v1/leads", json={"id": f"U{i}", **UNMATCHED}).json()["sla_due_at"])
                for i in range(40)]
        later = max(dues) + timedelta(seconds=1)
        results: list[dict[str, int]] = []
        barrier = threading.Barrier(2)

        def run(client) -> None:  # noqa: ANN001
            barrier.wait()
            results.append(check_sla(client.app.state.services, now=later, batch=5))

        threads = [threading.Thread(target=run, args=(c,)) for c in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(r.get("reassigned", 0) for r in results) == 40
        with session_scope(a.app.state.services.sessions) as s:
            per_lead = s.execute(select(LeadRoutingRow.lead_id, func.count()).where(LeadRoutingRow.kind == "reassigned")
                                 .group_by(LeadRoutingRow.lead_id)).all()
            assert len(per_lead) == 40 and {n for _, n in per_lead} == {1}
            assert s.scalar(select(func.count()).select_from(LeadRow).where(LeadRow.reassignments == 1)) == 40


@pytest.mark.postgres
def test_the_same_new_lead_sent_twice_at_once_is_stored_and_routed_once(database_url: str) -> None:
    settings = settings_for(database_url, sla_check_seconds=0)
    with app_client(settings) as a, app_client(settings) as b:
        routing(a, **pool_config())
        answers = post_at_once((a, b), "/v1/leads", [{"id": "twice", **UNMATCHED}] * 2)
        assert sorted(r.status_code for r in answers) == [200, 200], [r.text for r in answers]
        assert sorted(r.json()["outcome"] for r in answers) == ["created", "unchanged"]
        assert answers[0].json()["route"]["owner"] == answers[1].json()["route"]["owner"]
        with session_scope(a.app.state.services.sessions) as s:
            assert s.scalar(select(func.count()).select_from(LeadRoutingRow)) == 1
            # the second delivery took no round-robin turn of its own
            assert s.scalar(select(RoutingPoolTurnRow.turn).where(RoutingPoolTurnRow.pool == "sdr")) == 1


@pytest.mark.postgres
def test_the_same_new_matched_lead_sent_twice_at_once_makes_one_contact_and_one_form_fill(database_url: str) -> None:
    # the contact is written before the lead's row, the ledger event after it: the delivery that
    # loses the race at the lead's row is rolled back and answers with what the winner stored (no
    # 422 from the ledger's immutable event, no second contact)
    settings = settings_for(database_url, sla_check_seconds=0)
    with app_client(settings) as a:
        put = a.put("/v1/accounts", json=[{"id": "A1", "name": "Acme Corporation", "domains": ["acme.com"],
                                           "owner": "Dana"}])
        assert put.status_code == 200, put.text
    with app_client(settings) as a, app_client(settings) as b:
        for c in (a, b):  # each replica loads the stored account at start
            wait_for(lambda c=c: c.post("/v1/match", json={"email": "x@acme.com"}).json()["account_id"] == "A1")
        answers = post_at_once((a, b), "/v1/leads", [{"id": "twice", "email": "jane@acme.com", "company": "Acme"}] * 2)
        assert sorted(r.status_code for r in answers) == [200, 200], [r.text for r in answers]
        assert sorted(r.json()["outcome"] for r in answers) == ["created", "unchanged"]
        assert {r.json()["route"]["owner"] for r in answers} == {"Dana"}
        assert {r.json()["contact_id"] for r in answers} == {"lead-twice"}
        with session_scope(a.app.state.services.sessions) as s:
            assert s.scalar(select(func.count()).select_from(LeadRoutingRow)) == 1
            assert s.scalar(select(func.count()).select_from(ContactRow)) == 1
            assert s.scalar(select(func.count()).select_from(ActivityRow)) == 1


def test_every_routing_decision_goes_into_the_webhook_outbox(database_url: str) -> None:
    settings = settings_for(database_url, sla_check_seconds=0, webhook_urls=["http://127.0.0.1:9/hook"],
                            webhook_secret="s3cret", webhook_poll_seconds=3600)
    with app_client(settings) as c:
        routing(c, **pool_config())
        c.post("/v1/leads", json={"id": "U1", **UNMATCHED})
        c.post("/v1/leads", json={"id": "U1", **UNMATCHED})  # the same again: no new event
        with session_scope(c.app.state.services.sessions) as s:
            rows = s.scalars(select(WebhookOutboxRow)).all()
            assert [(r.event_type, r.idempotency_key) for r in rows] == [("lead.routed", "lead.routed:U1:1")]


@pytest.mark.redis
def test_turns_on_redis_and_from_the_database_while_redis_is_away(database_url: str, own_redis) -> None:  # noqa: ANN001
    settings = settings_for(database_url, own_redis.url, sla_check_seconds=0, routing_turns="redis")
    with app_client(settings) as c:
        routing(c, **pool_config())
        assert c.post("/v1/leads", json={"id": "U1", **UNMATCHED}).json()["route"]["owner"] == "Ann"
        own_redis.stop()
        away = c.post("/v1/leads", json={"id": "U2", **UNMATCHED})
        assert away.status_code == 200, away.text
        assert away.json()["route"]["owner"] is not None
        with session_scope(c.app.state.services.sessions) as s:
            backends = dict(s.execute(select(LeadRoutingRow.lead_id, LeadRoutingRow.turn_backend)).all())
        assert backends == {"U1": "redis", "U2": "database"}
        assert "leadmatch_routing_turn_fallbacks_total 1.0" in c.get("/metrics").text


def test_intake_follows_another_replicas_routing_within_max_age(database_url: str) -> None:
    from datetime import timezone

    from api.db import make_engine, make_sessionmaker
    from api.routing import config_store

    mine, theirs = make_engine(database_url), make_engine(database_url)
    try:
        with session_scope(make_sessionmaker(mine)) as s:
            assert config_store.active_rules(s, max_age=60).catch_all_queue == "sdr-queue"  # the defaults, now kept
        with session_scope(make_sessionmaker(theirs)) as s:
            config_store.write_document(s, {"catch_all_queue": "other-queue"}, now=datetime.now(timezone.utc))
        with session_scope(make_sessionmaker(mine)) as s:
            assert config_store.active_rules(s, max_age=60).catch_all_queue == "sdr-queue"  # within max_age
            assert config_store.active_rules(s).catch_all_queue == "other-queue"  # asked
        with session_scope(make_sessionmaker(mine)) as s:  # a write through this engine is seen at once
            config_store.active_rules(s, max_age=60)
            config_store.write_document(s, {"catch_all_queue": "third-queue"}, now=datetime.now(timezone.utc))
        with session_scope(make_sessionmaker(mine)) as s:
            assert config_store.active_rules(s, max_age=60).catch_all_queue == "third-queue"
    finally:
        mine.dispose()
        theirs.dispose()
