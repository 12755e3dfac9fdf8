"""Fixtures of the webhook tests: sessions that send events to a receiver's URL, settings with
small backoffs, and reading the outbox back."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.db import make_engine, make_sessionmaker, session_scope
from api.db.rows import WebhookOutboxRow
from api.webhooks import service
from config.settings import Settings
from tests.api.webhooks.receiver import Receiver
from tests.conftest import settings_for

SECRET = "whsec_test_7f3a"


def webhook_settings(database_url: str, urls: list[str], **overrides: Any) -> Settings:
    values = {"webhook_secret": SECRET, "webhook_backoff_base_seconds": 0.2, "webhook_backoff_max_seconds": 1.0,
              "webhook_max_attempts": 100, "webhook_timeout_seconds": 2.0, "webhook_poll_seconds": 0.05,
              "webhook_batch_size": 10, **overrides}
    return settings_for(database_url, webhook_urls=urls, **values)


@pytest.fixture
def engine(database_url: str) -> Iterator[Any]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.down()


def sessions_to(engine: Any, *urls: str) -> sessionmaker[Session]:
    sessions = make_sessionmaker(engine)
    service.use_urls(sessions, urls)
    return sessions


def emit_many(sessions: sessionmaker[Session], n: int, event_type: str = "lead.routed") -> list[str]:
    keys = [f"lead-{i}:routed" for i in range(n)]
    with session_scope(sessions) as session:
        for i, key in enumerate(keys):
            service.emit(session, event_type, {"lead_id": f"lead-{i}", "owner": "Dana Whitfield"}, key)
    return keys


def outbox(sessions: sessionmaker[Session]) -> list[WebhookOutboxRow]:
    with session_scope(sessions) as session:
        return list(session.scalars(select(WebhookOutboxRow).order_by(WebhookOutboxRow.id)))
