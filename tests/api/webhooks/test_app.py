"""The app's lifespan runs a Deliverer; `leadmatch webhooks deliver --once` sends what is due."""
from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from api.db import session_scope
from api.webhooks import service
from config import get_settings
from tests.api.webhooks.conftest import SECRET, emit_many, outbox, sessions_to, webhook_settings
from tests.api.webhooks.receiver import Receiver
from tests.conftest import app_client


def test_the_app_delivers_what_its_requests_emit(database_url: str, receiver: Receiver) -> None:
    receiver.up()
    with app_client(webhook_settings(database_url, [receiver.url])) as client:
        services = client.app.state.services
        # what a route does: emit in the request's session (its sessions carry the app's URLs)
        with session_scope(services.sessions) as session:
            service.emit(session, "review.resolved", {"lead_id": "L9", "account_id": "A1"}, "L9:resolved")
        deadline = time.monotonic() + 30
        while receiver.counts() != {"L9:resolved": 1}:
            assert time.monotonic() < deadline, "not delivered"
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while "leadmatch_webhooks_pending 0.0" not in (text := client.get("/metrics").text):
            assert time.monotonic() < deadline, "pending gauge not updated"
            time.sleep(0.05)
        assert "leadmatch_webhooks_delivered_total 1.0" in text
        assert "leadmatch_webhooks_failed_total 0.0" in text
        assert services.webhooks.running
    assert not services.webhooks.running  # stopped with the app


def test_deliver_once_sends_what_is_due_and_exits(database_url: str, engine, receiver: Receiver,  # noqa: ANN001
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    receiver.up()
    keys = emit_many(sessions_to(engine, receiver.url), 25)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LEADMATCH_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(cli, ["webhooks", "deliver", "--once"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    assert "delivered 25, failed 0" in r.output
    assert receiver.counts() == {key: 1 for key in keys}
    assert {row.state for row in outbox(sessions_to(engine))} == {"delivered"}


def test_deliver_without_a_secret_is_refused(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("LEADMATCH_WEBHOOK_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(cli, ["webhooks", "deliver", "--once"])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 2 and "LEADMATCH_WEBHOOK_SECRET" in r.output
