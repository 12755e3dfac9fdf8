"""An opportunity closed, re-opened by a CRM sync and closed again: the latest close counts (its
record replaces the earlier one, its answers feed the reports, its events are new ones); the earlier
close's disposition stays in the account's history. On SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from api.closing import service
from api.db import session_scope
from tests.api.closing.conftest import CLOSED, LOST_ANSWERS, NOW, WON_ANSWERS, Tables, iso, ok, opportunity

AGAIN = CLOSED + timedelta(days=1)  # the second close, after the re-open


def _reopen(app: TestClient) -> None:
    ok(app.put("/v1/opportunities", json=[opportunity("O1")]))  # state open, no closed_at


def _remind(app: TestClient, now: datetime) -> int:
    services = app.app.state.services
    with session_scope(services.sessions) as session:
        return service.remind_unanswered(session, services, now, 100)


def _loss_reasons(app: TestClient) -> dict[str, list]:
    r = app.get("/v1/reports/loss-reasons", params={"from": iso(CLOSED - timedelta(days=1)), "to": iso(NOW)})
    assert r.status_code == 200, r.text
    return {t["name"]: t["rows"] for t in r.json()["tables"]}


def test_closed_again_through_the_api_the_latest_close_counts(app: TestClient, tables: Tables) -> None:
    first = ok(app.post("/v1/opportunities/O1/close", json={"outcome": "won", "closed_at": iso(CLOSED),
                                                            "answers": WON_ANSWERS}))
    _reopen(app)
    lost = {**LOST_ANSWERS, "primary_reason": "price", "competitor": "Globex"}
    second = ok(app.post("/v1/opportunities/O1/close", json={"outcome": "lost", "closed_at": iso(AGAIN),
                                                             "answers": lost, "by": "Lee"}))
    record = second["close"]
    assert (record["outcome"], record["closed_at"], record["state"], record["answered_by"]) == (
        "lost", iso(AGAIN), "answered", "Lee")
    assert record["answers"] == lost  # nothing of the won close's answers carried over
    assert [tuple(r) for r in tables.rows("SELECT opportunity_id, outcome FROM close_records")] == [("O1", "lost")]
    # the new close's disposition is in force; the won close's one stays in the history, superseded
    history = ok(app.get("/v1/accounts/A1/dispositions"))["items"]
    assert [(d["id"], d["kind"], d["in_force"]) for d in history] == [
        (second["disposition"]["id"], "recycle", True), (first["disposition"]["id"], "white_space", False)]
    assert ok(app.get("/v1/opportunities/O1/close"))["disposition"]["id"] == second["disposition"]["id"]
    # each close told the webhooks once
    assert [k for k, _ in tables.events("opportunity.closed")] == [
        f"opportunity.closed:O1:{iso(CLOSED)}:answered", f"opportunity.closed:O1:{iso(AGAIN)}:answered"]
    # the report reads the latest close: one loss, for price against Globex
    got = _loss_reasons(app)
    assert got["summary"][0][0] == 1
    assert got["reasons"] == [["price", 1, 0]] and got["competitors"] == [["Globex", 1, 0]]


def test_closed_again_by_a_sync_the_record_starts_over_unanswered(app: TestClient, tables: Tables) -> None:
    ok(app.put("/v1/opportunities", json=[opportunity("O1", state="lost", closed_at=iso(CLOSED))]))
    answered = ok(app.post("/v1/opportunities/O1/close", json={"outcome": "lost", "closed_at": iso(CLOSED),
                                                               "answers": LOST_ANSWERS}))
    _reopen(app)
    ok(app.put("/v1/opportunities", json=[opportunity("O1", state="won", closed_at=iso(AGAIN))]))
    document = ok(app.get("/v1/opportunities/O1/close"))
    record = document["close"]
    assert (record["outcome"], record["closed_at"], record["source"], record["state"], record["answers"],
            record["reminders_sent"], record["answered_at"]) == ("won", iso(AGAIN), "sync", "unanswered", {}, 0, None)
    assert record["missing"] == ["primary_reason", "heard_from", "white_space"]  # the won questionnaire's
    assert record["next_reminder_at"] is not None
    # no disposition from this close yet; the lost close's one is still in force, in the history
    assert document["disposition"] is None
    history = ok(app.get("/v1/accounts/A1/dispositions"))["items"]
    assert [(d["id"], d["in_force"]) for d in history] == [(answered["disposition"]["id"], True)]
    # the seller answers the new close: outcome and closed_at are the sync's
    done = ok(app.post("/v1/opportunities/O1/close", json={"outcome": "won", "closed_at": iso(AGAIN),
                                                           "answers": WON_ANSWERS}))
    assert done["close"]["state"] == "answered" and done["disposition"]["kind"] == "white_space"
    assert len(tables.rows("SELECT * FROM close_records")) == 1
    # the lost close is gone from the loss report: the opportunity's latest close is a win
    assert _loss_reasons(app)["summary"][0][0] == 0


def test_an_unanswered_close_is_not_owed_while_its_opportunity_is_reopened(app: TestClient, tables: Tables) -> None:
    ok(app.put("/v1/opportunities", json=[opportunity("O1", state="lost", closed_at=iso(CLOSED))]))
    due = datetime.fromisoformat(ok(app.get("/v1/opportunities/O1/close"))["close"]["next_reminder_at"]
                                 .replace("Z", "+00:00"))
    _reopen(app)
    # the deal is open again: nobody is asked why it was lost, neither in the list nor by a reminder
    assert ok(app.get("/v1/closes/unanswered"))["total"] == 0
    assert _remind(app, due + timedelta(days=30)) == 0
    assert tables.events("close.unanswered") == []
    # closed again by the CRM: owed again, reminded from the new record
    ok(app.put("/v1/opportunities", json=[opportunity("O1", state="lost", closed_at=iso(AGAIN))]))
    assert ok(app.get("/v1/closes/unanswered"))["total"] == 1
    assert _remind(app, due + timedelta(days=30)) == 1


def test_an_interview_about_the_earlier_close_is_not_paired_with_the_new_one(app: TestClient, tables: Tables) -> None:
    ok(app.post("/v1/opportunities/O1/close", json={"outcome": "lost", "closed_at": iso(CLOSED),
                                                    "answers": LOST_ANSWERS}))
    ok(app.post("/v1/opportunities/O1/interview",
                json={"reason": "price", "interviewed_at": iso(CLOSED + timedelta(hours=2))}))
    _reopen(app)
    lost = {**LOST_ANSWERS, "primary_reason": "timing"}
    ok(app.post("/v1/opportunities/O1/close", json={"outcome": "lost", "closed_at": iso(AGAIN), "answers": lost}))
    got = _loss_reasons(app)
    # one loss (the latest close, for timing), nobody interviewed about it: the price interview
    # was about the earlier close
    assert got["summary"][0][0] == 1 and got["summary"][0][3] == 0
    assert got["reasons"] == [["timing", 1, 0]]
    # an interview after the new close is paired with it
    ok(app.post("/v1/opportunities/O1/interview",
                json={"reason": "timing", "interviewed_at": iso(AGAIN + timedelta(hours=1))}))
    got = _loss_reasons(app)
    assert got["summary"][0][3] == 1 and got["reasons"] == [["timing", 1, 1]]
