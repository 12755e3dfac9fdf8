"""The Deliverer against a real local HTTP receiver: signed requests, retries with backoff, dead
events, outages, slow receivers, two deliverers at once, a deliverer stopped or crashed mid-way."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from api.db import session_scope
from api.webhooks import service, store
from api.webhooks.delivery import Deliverer
from tests.api.webhooks.conftest import SECRET, emit_many, outbox, sessions_to, webhook_settings
from tests.api.webhooks.receiver import Receiver
from tests.conftest import wait_for

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_request_is_signed_over_timestamp_and_body(database_url: str, engine, receiver: Receiver) -> None:  # noqa: ANN001
    receiver.up()
    sessions = sessions_to(engine, receiver.url)
    emit_many(sessions, 1)
    deliverer = Deliverer(sessions, webhook_settings(database_url, [receiver.url]))
    try:
        before = int(time.time())
        done = deliverer.deliver_due()
        after = int(time.time())
    finally:
        deliverer.close()
    assert (done.claimed, done.delivered) == (1, 1)
    [receipt] = receiver.receipts
    headers = {k.lower(): v for k, v in receipt.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"] == "lead-0:routed"
    assert headers["x-leadmatch-event"] == "lead.routed"
    timestamp = headers["x-leadmatch-timestamp"]
    assert before <= int(timestamp) <= after
    # what a receiver computes, with nothing from leadmatch: HMAC-SHA256(secret, "<ts>.<body>")
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + receipt.body, hashlib.sha256).hexdigest()
    assert headers["x-leadmatch-signature"] == f"v1={expected}"
    # the body sent is the stored one, byte for byte
    [row] = outbox(sessions)
    assert receipt.body == row.body.encode()
    assert json.loads(receipt.body)["data"] == {"lead_id": "lead-0", "owner": "Dana Whitfield"}
    assert (row.state, row.attempts, row.last_status, row.locked_until) == ("delivered", 1, 200, None)


def test_a_500_is_tried_again_after_the_backoff_then_delivered(database_url: str, engine) -> None:  # noqa: ANN001
    receiver = Receiver(status=lambda key, n: 500 if n == 1 else 200).up()
    try:
        sessions = sessions_to(engine, receiver.url)
        with session_scope(sessions) as session:
            service.emit(session, "lead.routed", {"lead_id": "L1"}, "L1:routed", now=T0)
        clock = Clock(T0)
        # rand 0.5: the jitter takes a tenth (0.2 * 0.5) off the delay
        settings = webhook_settings(database_url, [receiver.url], webhook_backoff_base_seconds=10,
                                    webhook_backoff_max_seconds=60)
        deliverer = Deliverer(sessions, settings, clock=clock, rand=lambda: 0.5)
        try:
            assert deliverer.deliver_due().failed == 1
            [row] = outbox(sessions)
            assert (row.state, row.attempts, row.last_status, row.last_error) == ("pending", 1, 500, "HTTP 500")
            assert row.next_attempt_at == T0 + timedelta(seconds=9)  # 10 s less a tenth
            clock.now = T0 + timedelta(seconds=8.999)
            assert deliverer.deliver_due().claimed == 0  # not due yet
            clock.now = T0 + timedelta(seconds=9)
            assert deliverer.deliver_due().delivered == 1
        finally:
            deliverer.close()
        [row] = outbox(sessions)
        assert (row.state, row.attempts, row.last_status, row.last_error) == ("delivered", 2, 200, None)
        assert row.delivered_at == T0 + timedelta(seconds=9)
        assert [r.status for r in receiver.receipts] == [500, 200]
    finally:
        receiver.down()


def test_the_backoff_doubles_up_to_its_cap_and_the_last_attempt_makes_it_dead(database_url: str, engine) -> None:  # noqa: ANN001
    receiver = Receiver(status=lambda key, n: 503).up()
    try:
        sessions = sessions_to(engine, receiver.url)
        with session_scope(sessions) as session:
            service.emit(session, "lead.routed", {"lead_id": "L1"}, "L1:routed", now=T0)
        clock = Clock(T0)
        settings = webhook_settings(database_url, [receiver.url], webhook_backoff_base_seconds=10,
                                    webhook_backoff_max_seconds=25, webhook_max_attempts=4)
        deliverer = Deliverer(sessions, settings, clock=clock, rand=lambda: 0.0)
        # delays after failures 1, 2, 3: 10, 20, min(25, 40) = 25; the 4th failure is the last
        expected_due = [T0 + timedelta(seconds=10), T0 + timedelta(seconds=30), T0 + timedelta(seconds=55)]
        try:
            for attempt, due in enumerate(expected_due, start=1):
                assert deliverer.deliver_due().failed == 1
                [row] = outbox(sessions)
                assert (row.state, row.attempts, row.next_attempt_at) == ("pending", attempt, due)
                clock.now = due
            done = deliverer.deliver_due()
            assert (done.failed, done.dead) == (0, 1)
            [row] = outbox(sessions)
            assert (row.state, row.attempts, row.last_status) == ("dead", 4, 503)
            clock.now = T0 + timedelta(days=1)
            assert deliverer.deliver_due().claimed == 0  # dead stays dead
        finally:
            deliverer.close()
        assert len(receiver.receipts) == 4
    finally:
        receiver.down()


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(database_url: str, engine) -> None:  # noqa: ANN001
    receiver = Receiver(delay=1.5).up()
    try:
        sessions = sessions_to(engine, receiver.url)
        emit_many(sessions, 1)
        clock = Clock(datetime.now(timezone.utc))
        deliverer = Deliverer(sessions, webhook_settings(database_url, [receiver.url], webhook_timeout_seconds=0.3),
                              clock=clock, rand=lambda: 0.0)
        try:
            assert deliverer.deliver_due().failed == 1
            [row] = outbox(sessions)
            assert (row.state, row.attempts, row.last_status) == ("pending", 1, None)
            assert row.last_error.startswith("ReadTimeout")
            receiver.delay = 0.0
            clock.now += timedelta(seconds=0.2)  # the first backoff
            assert deliverer.deliver_due().delivered == 1
        finally:
            deliverer.close()
        # the receiver got it twice (the first answer came too late): the same key both times
        assert receiver.counts() == {"lead-0:routed": 2}
        assert receiver.acknowledged() == {"lead-0:routed": 2}
    finally:
        receiver.down()


def test_a_receiver_down_then_up_gets_every_event_exactly_once(database_url: str, engine) -> None:  # noqa: ANN001
    receiver = Receiver()  # its port stays closed for now: connections are refused
    sessions = sessions_to(engine, receiver.url)
    keys = emit_many(sessions, 40)
    deliverer = Deliverer(sessions, webhook_settings(database_url, [receiver.url]))
    deliverer.start()
    try:
        wait_for(lambda: all(r.attempts >= 2 for r in outbox(sessions)))
        assert receiver.receipts == []
        errors = {r.last_error.split(":")[0] for r in outbox(sessions)}
        assert errors == {"ConnectError"}
        receiver.up()
        wait_for(lambda: all(r.state == "delivered" for r in outbox(sessions)))
    finally:
        deliverer.close()
        receiver.down()
    assert receiver.counts() == {key: 1 for key in keys}


def test_two_deliverers_at_once_never_send_one_row_twice(database_url: str, engine) -> None:  # noqa: ANN001
    receiver = Receiver(delay=0.002).up()
    sessions = sessions_to(engine, receiver.url)
    keys = emit_many(sessions, 200)
    settings = webhook_settings(database_url, [receiver.url], webhook_batch_size=5)
    deliverers = [Deliverer(sessions, settings) for _ in range(2)]
    totals = []
    start = threading.Barrier(2)

    def drain(deliverer: Deliverer) -> None:
        start.wait()
        totals.append(deliverer.drain())

    threads = [threading.Thread(target=drain, args=(d,)) for d in deliverers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for d in deliverers:
            d.close()
        receiver.down()
    assert receiver.counts() == {key: 1 for key in keys}
    # both took part (each claims 5 at a time), and between them sent each row once
    assert len(totals) == 2 and all(t.delivered > 0 for t in totals) and sum(t.delivered for t in totals) == 200
    assert all(r.state == "delivered" for r in outbox(sessions))


def test_a_stopped_deliverer_hands_its_rows_to_the_next(database_url: str, engine) -> None:  # noqa: ANN001
    receiver = Receiver(delay=0.05).up()
    sessions = sessions_to(engine, receiver.url)
    keys = emit_many(sessions, 30)
    settings = webhook_settings(database_url, [receiver.url], webhook_batch_size=30)
    first = Deliverer(sessions, settings)
    first.start()
    try:
        wait_for(lambda: len(receiver.receipts) >= 3)
    finally:
        first.close()  # mid-batch: finishes the row in flight, gives the rest back
    sent_by_first = len(receiver.receipts)
    states = [r.state for r in outbox(sessions)]
    assert states.count("delivered") == sent_by_first < 30
    assert all(r.locked_until is None for r in outbox(sessions) if r.state == "pending")
    second = Deliverer(sessions, settings)
    try:
        second.drain()
    finally:
        second.close()
        receiver.down()
    assert receiver.counts() == {key: 1 for key in keys}


def test_rows_a_crashed_deliverer_leased_are_sent_once_the_lease_runs_out(database_url: str, engine) -> None:  # noqa: ANN001
    receiver = Receiver().up()
    sessions = sessions_to(engine, receiver.url)
    keys = emit_many(sessions, 5)
    now = datetime.now(timezone.utc)
    with session_scope(sessions) as session:  # a deliverer claims, then dies before sending
        assert len(store.claim_due(session, now, now + timedelta(seconds=60), 10)) == 5
    settings = webhook_settings(database_url, [receiver.url])
    clock = Clock(now + timedelta(seconds=59))
    deliverer = Deliverer(sessions, settings, clock=clock)
    try:
        assert deliverer.deliver_due().claimed == 0  # still leased
        clock.now = now + timedelta(seconds=60)
        assert deliverer.deliver_due().delivered == 5
    finally:
        deliverer.close()
        receiver.down()
    assert receiver.counts() == {key: 1 for key in keys}


def test_the_thread_survives_database_errors(database_url: str, engine, receiver: Receiver,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    receiver.up()
    sessions = sessions_to(engine, receiver.url)
    keys = emit_many(sessions, 3)
    claim = store.claim_due
    failures = []

    def flaky_claim(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if len(failures) < 3:
            failures.append(1)
            raise OperationalError("SELECT ...", {}, Exception("server closed the connection unexpectedly"))
        return claim(*args, **kwargs)

    monkeypatch.setattr(store, "claim_due", flaky_claim)
    deliverer = Deliverer(sessions, webhook_settings(database_url, [receiver.url]))
    deliverer.start()
    try:
        wait_for(lambda: all(r.state == "delivered" for r in outbox(sessions)))
    finally:
        deliverer.close()
    assert len(failures) == 3
    assert receiver.counts() == {key: 1 for key in keys}


@pytest.mark.postgres
def test_a_claim_skips_rows_another_transaction_holds(engine, database_url: str) -> None:  # noqa: ANN001
    if not database_url.startswith("postgresql"):
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    sessions = sessions_to(engine, "http://crm.example/a")
    emit_many(sessions, 3)
    ids = [r.id for r in outbox(sessions)]
    now = datetime.now(timezone.utc)
    with session_scope(sessions) as holder:  # another deliverer, mid-claim: row 1 locked, not committed
        holder.execute(text("SELECT id FROM webhook_outbox WHERE id = :id FOR UPDATE"), {"id": ids[0]})
        with session_scope(sessions) as session:
            # waiting for the lock would be an error here rather than a hang
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
            claimed = store.claim_due(session, now, now + timedelta(seconds=60), 10)
        assert [c.id for c in claimed] == ids[1:]
