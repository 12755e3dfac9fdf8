"""Fixtures of the closing tests: an app whose webhooks go to a URL nobody answers (the outbox
keeps the events, which is what the tests read), seeded accounts, contacts and opportunities, and
snapshots of every table a close writes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.conftest import account, app_client, contact, settings_for

NOW = datetime.now(timezone.utc).replace(microsecond=0)
OPENED = NOW - timedelta(days=40)
CLOSED = NOW - timedelta(days=2)
# nobody listens on port 9 (discard); long backoffs so the deliverer leaves the rows alone
HOOKS = {"webhook_urls": ["http://127.0.0.1:9/hooks"], "webhook_secret": "whsec_closing_test",
         "webhook_backoff_base_seconds": 3600.0, "webhook_backoff_max_seconds": 3600.0}
# what a close may write: the opportunity, its stages, the close, the disposition, the interviews,
# the webhook outbox and the statuses re-qualification stores
TABLES = ("opportunities", "opportunity_stage_changes", "close_records", "account_dispositions",
          "win_loss_interviews", "webhook_outbox", "account_statuses", "contact_statuses", "status_transitions")

# the outbox's events, not its delivery bookkeeping (attempts, next_attempt_at, ...): the app's
# deliverer makes its first attempt whenever it wakes, so those columns move on their own
COLUMNS = {"webhook_outbox": "id, event_id, event_type, url, idempotency_key, body, created_at"}

LOST_ANSWERS = {"primary_reason": "outsold", "competitor": "Initech", "stalled_stage": "proposal",
                "heard_from": "event", "reason_confirmed": "yes", "ever_a_fit": "yes", "come_back": "long_term",
                "recycle_on": (NOW + timedelta(days=300)).date().isoformat()}
WON_ANSWERS = {"primary_reason": "product_fit", "heard_from": "referral", "heard_from_whom": "a customer",
               "white_space": "yes"}


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def ok(response) -> dict:  # noqa: ANN001
    assert response.status_code == 200, response.text
    return response.json()


def opportunity(id: str = "O1", account_id: str = "A1", **kw: Any) -> dict:  # noqa: A002
    return {"id": id, "account_id": account_id, "primary_contact_id": None, "owner": "Dana Whitfield",
            "type": "new_business", "stage": "proposal", "amount": 48000, "state": "open",
            "opened_at": iso(OPENED), **kw}


def seed(c: TestClient) -> TestClient:
    ok(c.put("/v1/accounts", json=[account("A1", "Acme Corporation", fit_tier="1"),
                                   account("A2", "Zorblax Industries", domains=["zorblax.com"])]))
    ok(c.put("/v1/contacts", json=[contact("K1", "A1", "jane@acme.com", title="VP Engineering")]))
    ok(c.put("/v1/opportunities", json=[opportunity("O1"), opportunity("O2"),
                                        opportunity("O3", "A2", owner="Lee Park")]))
    return c


@pytest.fixture
def app(database_url: str) -> Iterator[TestClient]:
    with app_client(settings_for(database_url, **HOOKS)) as c:
        yield seed(c)


class Tables:
    """Every row of the tables a close writes, to compare before and after a refused request."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)

    def snapshot(self) -> dict[str, list[tuple]]:
        with self.engine.connect() as conn:
            return {t: sorted(map(tuple, conn.execute(text(f"SELECT {COLUMNS.get(t, '*')} FROM {t}"))), key=repr)
                    for t in TABLES}

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def events(self, event_type: str) -> list[tuple[str, dict]]:
        import orjson

        return [(r.idempotency_key, orjson.loads(r.body)["data"]) for r in self.rows(
            "SELECT idempotency_key, body FROM webhook_outbox WHERE event_type = :t ORDER BY id", t=event_type)]


@pytest.fixture
def tables(database_url: str) -> Iterator[Tables]:
    t = Tables(database_url)
    yield t
    t.engine.dispose()
