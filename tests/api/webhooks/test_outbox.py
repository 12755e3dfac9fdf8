"""emit writes the outbox in the caller's transaction, once per key and URL; the ops routes list it
and send a dead event again."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from api.db import session_scope
from api.webhooks import service, store
from tests.api.webhooks.conftest import emit_many, outbox, sessions_to, webhook_settings
from tests.conftest import app_client

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)


def test_an_event_of_a_rolled_back_transaction_is_not_stored(engine) -> None:  # noqa: ANN001
    sessions = sessions_to(engine, "http://crm.example/a", "http://crm.example/b")
    with pytest.raises(RuntimeError):
        with session_scope(sessions) as session:
            service.emit(session, "lead.routed", {"lead_id": "L1"}, "L1:routed")
            raise RuntimeError("the routing decision failed after the event was emitted")
    assert outbox(sessions) == []
    with session_scope(sessions) as session:
        service.emit(session, "lead.routed", {"lead_id": "L1"}, "L1:routed", now=T0)
    rows = outbox(sessions)
    # one row per URL, one event: the same event id, key and body for both
    assert [(r.url, r.idempotency_key, r.state, r.attempts) for r in rows] == [
        ("http://crm.example/a", "L1:routed", "pending", 0), ("http://crm.example/b", "L1:routed", "pending", 0)]
    assert rows[0].event_id == rows[1].event_id and rows[0].body == rows[1].body
    assert rows[0].next_attempt_at == T0 and rows[0].created_at == T0
    assert json.loads(rows[0].body) == {"event_id": str(rows[0].event_id), "event_type": "lead.routed",
                                        "idempotency_key": "L1:routed", "created_at": "2026-11-20T09:30:00Z",
                                        "data": {"lead_id": "L1"}}


def test_emitting_a_key_again_stores_nothing(engine) -> None:  # noqa: ANN001
    sessions = sessions_to(engine, "http://crm.example/a")
    with session_scope(sessions) as session:
        service.emit(session, "lead.routed", {"owner": "Dana"}, "L1:routed")
        service.emit(session, "lead.routed", {"owner": "Dana"}, "L1:routed")  # same transaction
    with session_scope(sessions) as session:
        service.emit(session, "lead.routed", {"owner": "Raj"}, "L1:routed")  # later, other content
    rows = outbox(sessions)
    assert len(rows) == 1 and json.loads(rows[0].body)["data"] == {"owner": "Dana"}
    # a URL added to the configuration later gets the key's event; the first URL's row stays one
    sessions = sessions_to(engine, "http://crm.example/a", "http://crm.example/b")
    with session_scope(sessions) as session:
        service.emit(session, "lead.routed", {"owner": "Raj"}, "L1:routed")
    assert [(r.url, json.loads(r.body)["data"]["owner"]) for r in outbox(sessions)] == [
        ("http://crm.example/a", "Dana"), ("http://crm.example/b", "Raj")]


def test_no_urls_no_events(engine) -> None:  # noqa: ANN001
    sessions = sessions_to(engine)
    with session_scope(sessions) as session:
        service.emit(session, "lead.routed", {"lead_id": "L1"}, "L1:routed")
    assert outbox(sessions) == []


def test_a_key_or_type_out_of_bounds_is_refused(engine) -> None:  # noqa: ANN001
    sessions = sessions_to(engine, "http://crm.example/a")
    with session_scope(sessions) as session:
        for event_type, key in (("lead.routed", ""), ("lead.routed", "k" * 201), ("", "L1")):
            with pytest.raises(ValueError):
                service.emit(session, event_type, {}, key)
    assert outbox(sessions) == []


def test_the_ops_view_pages_filters_and_retries_a_dead_event(database_url: str, engine) -> None:  # noqa: ANN001
    sessions = sessions_to(engine, "http://crm.example/a")
    emit_many(sessions, 5)
    ids = [r.id for r in outbox(sessions)]
    with session_scope(sessions) as session:  # the second and fourth failed for good
        for row_id in (ids[1], ids[3]):
            store.mark_failed(session, row_id, attempts=15, next_attempt_at=T0, dead=True, status=500,
                              error="HTTP 500")
    # no secret: the app runs no deliverer, so what the routes show stays put
    with app_client(webhook_settings(database_url, [], webhook_secret=None)) as client:
        first = client.get("/v1/webhooks/outbox", params={"limit": 2}).json()
        assert [i["id"] for i in first["items"]] == ids[:2] and first["next_after"] == ids[1]
        second = client.get("/v1/webhooks/outbox", params={"limit": 2, "after": first["next_after"]}).json()
        assert [i["id"] for i in second["items"]] == ids[2:4] and second["next_after"] == ids[3]
        third = client.get("/v1/webhooks/outbox", params={"limit": 2, "after": second["next_after"]}).json()
        assert [i["id"] for i in third["items"]] == ids[4:] and third["next_after"] is None
        dead = client.get("/v1/webhooks/outbox", params={"state": "dead"}).json()["items"]
        assert [(d["id"], d["attempts"], d["last_status"], d["last_error"]) for d in dead] == [
            (ids[1], 15, 500, "HTTP 500"), (ids[3], 15, 500, "HTTP 500")]

        before = datetime.now(timezone.utc)
        r = client.post(f"/v1/webhooks/outbox/{ids[1]}/retry")
        assert r.status_code == 200, r.text
        retried = r.json()
        assert (retried["state"], retried["attempts"], retried["idempotency_key"]) == ("pending", 0, "lead-1:routed")
        due = datetime.fromisoformat(retried["next_attempt_at"])
        assert before <= due <= before + timedelta(seconds=5)

        # a pending row is not dead: 409 naming the id, nothing changes
        r = client.post(f"/v1/webhooks/outbox/{ids[1]}/retry")
        assert r.status_code == 409 and r.json()["fields"][0]["field"] == "id" and r.json()["state"] == "pending"
        r = client.post("/v1/webhooks/outbox/999999/retry")
        assert r.status_code == 404 and r.json()["fields"][0]["field"] == "id"
        r = client.get("/v1/webhooks/outbox", params={"state": "lost"})
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == "query.state"
        assert [i["id"] for i in client.get("/v1/webhooks/outbox", params={"state": "dead"}).json()["items"]] == [
            ids[3]]
