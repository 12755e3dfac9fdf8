"""Closing an opportunity through the API, on SQLite and PostgreSQL: what a success stores (the
opportunity, the close, the disposition, the webhook), and that every refusal (404, 409, 422)
names its fields and leaves every table as it was."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.api.closing.conftest import CLOSED, HOOKS, LOST_ANSWERS, NOW, OPENED, WON_ANSWERS, Tables, iso, ok, seed
from tests.conftest import app_client, post_at_once, settings_for


def close(c: TestClient, opportunity_id: str = "O1", outcome: str = "lost", closed_at: datetime = CLOSED,
          answers: dict | None = None, **kw):  # noqa: ANN201
    body = {"outcome": outcome, "closed_at": iso(closed_at),
            "answers": LOST_ANSWERS if answers is None else answers, **kw}
    return c.post(f"/v1/opportunities/{opportunity_id}/close", json=body)


def test_a_lost_close_stores_everything_in_one_go(app: TestClient, tables: Tables) -> None:
    body = ok(close(app, by="Dana Whitfield"))
    record = body["close"]
    assert (record["state"], record["outcome"], record["source"], record["missing"]) == ("answered", "lost", "api", [])
    assert record["answers"] == LOST_ANSWERS and record["answered_by"] == "Dana Whitfield"
    assert record["next_reminder_at"] is None
    recycle_on = LOST_ANSWERS["recycle_on"]
    disposition = body["disposition"]
    assert (disposition["kind"], disposition["until"], disposition["source"], disposition["in_force"]) == (
        "recycle", f"{recycle_on}T00:00:00Z", "rules", True)
    assert disposition["reasons"] == [{"rule": "long_term", "text": "lost but a fit, worth another look later "
                                                                   f"(come_back: long_term): recycled on {recycle_on}"}]
    # the opportunity itself is closed (qualification's row), the close and the disposition stored
    assert [tuple(r) for r in tables.rows("SELECT state FROM opportunities WHERE id = 'O1'")] == [("lost",)]
    assert len(tables.rows("SELECT * FROM close_records")) == 1
    assert len(tables.rows("SELECT * FROM account_dispositions WHERE superseded_at IS NULL")) == 1
    events = tables.events("opportunity.closed")
    assert [key for key, _ in events] == [f"opportunity.closed:O1:{iso(CLOSED)}:answered"]
    assert events[0][1]["disposition"]["kind"] == "recycle" and events[0][1]["outcome"] == "lost"
    # read back
    document = ok(app.get("/v1/opportunities/O1/close"))
    assert document["close"] == record and document["disposition"] == disposition and document["interviews"] == []


def test_a_won_close_with_white_space(app: TestClient) -> None:
    body = ok(close(app, "O2", "won", answers=WON_ANSWERS))
    assert body["disposition"]["kind"] == "white_space" and body["disposition"]["until"] is None


def test_a_second_close_supersedes_the_disposition_in_force(app: TestClient, tables: Tables) -> None:
    first = ok(close(app, "O1"))["disposition"]
    second = ok(close(app, "O2", "won", closed_at=CLOSED + timedelta(hours=1), answers=WON_ANSWERS))["disposition"]
    history = ok(app.get("/v1/accounts/A1/dispositions"))["items"]
    assert [(d["id"], d["kind"], d["in_force"]) for d in history] == [
        (second["id"], "white_space", True), (first["id"], "recycle", False)]
    assert history[1]["superseded_at"] is not None


def test_unknown_opportunity_is_404_and_stores_nothing(app: TestClient, tables: Tables) -> None:
    before = tables.snapshot()
    response = close(app, "O404")
    assert response.status_code == 404
    assert response.json()["fields"] == [{"field": "opportunity_id", "message": "no such opportunity"}]
    assert app.get("/v1/opportunities/O404/close").status_code == 404
    assert tables.snapshot() == before


def test_closed_and_answered_is_409_and_stores_nothing(app: TestClient, tables: Tables) -> None:
    ok(close(app))
    before = tables.snapshot()
    response = close(app, answers={**LOST_ANSWERS, "primary_reason": "price"})
    assert response.status_code == 409, response.text
    assert response.json()["fields"][0]["field"] == "opportunity_id"
    assert tables.snapshot() == before


def test_422_names_every_missing_and_invalid_answer_and_stores_nothing(app: TestClient, tables: Tables) -> None:
    before = tables.snapshot()
    response = close(app, closed_at=OPENED - timedelta(days=1), answers={
        "primary_reason": "cheap", "budget": 10, "competitor": 7, "recycle_on": "someday"})
    assert response.status_code == 422, response.text
    fields = {f["field"]: f["message"] for f in response.json()["fields"]}
    assert set(fields) == {"answers.budget", "answers.primary_reason", "answers.competitor", "answers.stalled_stage",
                           "answers.heard_from", "answers.reason_confirmed", "answers.ever_a_fit",
                           "answers.recycle_on", "closed_at"}
    assert fields["answers.budget"] == "no such question"
    assert "'cheap' is not an option" in fields["answers.primary_reason"]
    assert fields["answers.stalled_stage"] == "mandatory: answer it"
    assert "before the opportunity opened" in fields["closed_at"]
    assert tables.snapshot() == before


def test_422_for_a_close_in_the_future_and_a_recycle_date_before_it(app: TestClient, tables: Tables) -> None:
    before = tables.snapshot()
    response = close(app, closed_at=NOW + timedelta(days=1))
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == ["closed_at"]
    response = close(app, answers={**LOST_ANSWERS, "recycle_on": (CLOSED - timedelta(days=1)).date().isoformat()})
    assert [f["field"] for f in response.json()["fields"]] == ["answers.recycle_on"]
    # the body's own types: an outcome that is none, an answer of no JSON kind the schema allows
    response = app.post("/v1/opportunities/O1/close", json={"outcome": "tied", "closed_at": iso(CLOSED)})
    assert response.status_code == 422 and [f["field"] for f in response.json()["fields"]] == ["outcome"]
    response = app.post("/v1/opportunities/O1/close", json={"outcome": "lost", "closed_at": iso(CLOSED),
                                                             "answers": {"ever_a_fit": True}})
    assert response.status_code == 422
    assert all(f["field"].startswith("answers.ever_a_fit") for f in response.json()["fields"])
    assert tables.snapshot() == before


def test_an_open_opportunity_has_no_close_record(app: TestClient) -> None:
    response = app.get("/v1/opportunities/O1/close")
    assert response.status_code == 404 and "no close record" in response.json()["error"]


def test_the_questionnaires_are_served(app: TestClient) -> None:
    body = ok(app.get("/v1/closes/questions"))
    assert [q["id"] for q in body["won"]] == ["primary_reason", "competitor", "heard_from", "heard_from_whom",
                                              "white_space"]
    assert body["lost"][0] == {"id": "primary_reason", "label": "Primary reason the deal was lost", "type": "choice",
                               "options": ["price", "product_fit", "outsold", "timing", "no_decision", "went_dark",
                                           "other"], "mandatory": True}


@pytest.mark.postgres
@pytest.mark.parametrize("bodies", [
    [{"outcome": "lost", "closed_at": iso(CLOSED), "answers": LOST_ANSWERS}] * 2,
    [{"outcome": "lost", "closed_at": iso(CLOSED), "answers": LOST_ANSWERS},
     {"outcome": "won", "closed_at": iso(CLOSED), "answers": WON_ANSWERS}],
], ids=["the same close", "lost against won"])
def test_two_closes_of_one_opportunity_at_once_store_one(database_url: str, tables: Tables, bodies: list) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas side by side: PostgreSQL (SQLite serialises writers by design)")
    settings = settings_for(database_url, **HOOKS)
    with app_client(settings) as a, app_client(settings) as b:
        seed(a)
        answers = post_at_once((a, b), "/v1/opportunities/O1/close", bodies)
    # one close wins; the other is told the opportunity is closed and answered already, never a 500
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    won, lost = sorted(answers, key=lambda r: r.status_code)
    assert lost.json()["fields"][0]["field"] == "opportunity_id"
    outcome = won.json()["close"]["outcome"]
    assert lost.json()["outcome"] == outcome  # the 409 names the stored close
    assert [tuple(r) for r in tables.rows("SELECT opportunity_id, outcome, state FROM close_records")] == [
        ("O1", outcome, "answered")]
    assert [tuple(r) for r in tables.rows("SELECT state FROM opportunities WHERE id = 'O1'")] == [(outcome,)]
    assert len(tables.rows("SELECT * FROM account_dispositions WHERE opportunity_id = 'O1'")) == 1
    assert [key for key, _ in tables.events("opportunity.closed")] == [f"opportunity.closed:O1:{iso(CLOSED)}:answered"]
