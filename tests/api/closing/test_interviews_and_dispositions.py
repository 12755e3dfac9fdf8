"""Win/loss interviews beside the seller's answers, dispositions overridden by a person, and
``leadmatch closing remind``; on both backends."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app as cli
from config import get_settings
from tests.api.closing.conftest import (CLOSED, HOOKS, LOST_ANSWERS, NOW, WON_ANSWERS, Tables, iso, ok, opportunity,
                                        seed)
from tests.conftest import app_client, settings_for

INTERVIEW = {"reason": "price", "competitor": "Globex", "heard_from": "referral",
             "notes": "Their CFO wanted a cheaper tool.", "interviewed_at": iso(NOW - timedelta(hours=3)),
             "interviewer": "Win/loss team"}


def _close_lost(app: TestClient) -> dict:
    return ok(app.post("/v1/opportunities/O1/close", json={"outcome": "lost", "closed_at": iso(CLOSED),
                                                           "answers": LOST_ANSWERS}))


def test_an_interview_is_kept_beside_the_answers(app: TestClient, tables: Tables) -> None:
    answered = _close_lost(app)["close"]
    interview = ok(app.post("/v1/opportunities/O1/interview", json=INTERVIEW))
    assert {k: interview[k] for k in INTERVIEW if k != "interviewed_at"} == {
        k: v for k, v in INTERVIEW.items() if k != "interviewed_at"}
    assert interview["account_id"] == "A1" and interview["interviewed_at"] == INTERVIEW["interviewed_at"]
    second = ok(app.post("/v1/opportunities/O1/interview", json={"reason": "timing"}))
    document = ok(app.get("/v1/opportunities/O1/close"))
    assert document["close"] == answered  # the seller's answers, untouched (primary_reason stays 'outsold')
    assert document["close"]["answers"]["primary_reason"] == "outsold"
    assert [i["id"] for i in document["interviews"]] == [interview["id"], second["id"]]


def test_an_interview_needs_a_closed_opportunity(app: TestClient, tables: Tables) -> None:
    before = tables.snapshot()
    missing = app.post("/v1/opportunities/O404/interview", json=INTERVIEW)
    assert missing.status_code == 404 and missing.json()["fields"][0]["field"] == "opportunity_id"
    still_open = app.post("/v1/opportunities/O1/interview", json=INTERVIEW)
    assert still_open.status_code == 409 and still_open.json()["state"] == "open"
    _close_lost(app)
    before = tables.snapshot()
    future = app.post("/v1/opportunities/O1/interview", json={"interviewed_at": iso(NOW + timedelta(days=2))})
    assert future.status_code == 422 and [f["field"] for f in future.json()["fields"]] == ["interviewed_at"]
    assert tables.snapshot() == before


def test_an_interview_answers_with_the_sellers_options(app: TestClient, tables: Tables) -> None:
    _close_lost(app)
    before = tables.snapshot()
    # lost: 'relationship' is an option of the won questionnaire only; 'a podcast' no heard_from option
    refused = app.post("/v1/opportunities/O1/interview", json={
        "reason": "relationship", "heard_from": "a podcast", "competitor": "Globex",
        "interviewed_at": iso(NOW + timedelta(days=2))})
    assert refused.status_code == 422, refused.text
    assert [f["field"] for f in refused.json()["fields"]] == ["reason", "heard_from", "interviewed_at"]
    assert "outsold" in refused.json()["fields"][0]["message"]  # the options are listed
    free_text = app.post("/v1/opportunities/O1/interview", json={"reason": "their CFO found us too expensive"})
    assert free_text.status_code == 422 and [f["field"] for f in free_text.json()["fields"]] == ["reason"]
    assert tables.snapshot() == before
    # the buyer's words go in notes; a competitor is text as the seller's question is
    said = ok(app.post("/v1/opportunities/O1/interview", json={
        "reason": "price", "competitor": "Globex (the cheaper one)", "notes": "their CFO found us too expensive"}))
    assert (said["reason"], said["competitor"], said["notes"]) == (
        "price", "Globex (the cheaper one)", "their CFO found us too expensive")
    # won: the won questionnaire's options
    ok(app.post("/v1/opportunities/O2/close", json={"outcome": "won", "closed_at": iso(CLOSED), "answers": WON_ANSWERS}))
    assert ok(app.post("/v1/opportunities/O2/interview", json={"reason": "relationship"}))["reason"] == "relationship"
    outsold = app.post("/v1/opportunities/O2/interview", json={"reason": "outsold"})
    assert outsold.status_code == 422 and [f["field"] for f in outsold.json()["fields"]] == ["reason"]


def test_an_interview_competitor_is_a_choice_when_the_sellers_is(database_url: str, tmp_path) -> None:  # noqa: ANN001
    rules = tmp_path / "closing.toml"
    rules.write_text('''
[[questions.lost]]
id = "primary_reason"
label = "Why lost"
type = "choice"
options = ["price", "outsold", "went_dark"]
mandatory = true

[[questions.lost]]
id = "competitor"
label = "Competitor chosen"
type = "choice"
options = ["Initech", "Globex"]

[[questions.lost]]
id = "ever_a_fit"
label = "Ever a fit?"
type = "choice"
options = ["yes", "no"]
mandatory = true

[[questions.lost]]
id = "come_back"
label = "When"
type = "choice"
options = ["short_term", "long_term"]

[[questions.lost]]
id = "recycle_on"
label = "On"
type = "date"
''', encoding="utf-8")
    with app_client(settings_for(database_url, closing_rules=rules, **HOOKS)) as app:
        seed(app)
        ok(app.post("/v1/opportunities/O1/close", json={"outcome": "lost", "closed_at": iso(CLOSED), "answers": {
            "primary_reason": "outsold", "competitor": "Globex", "ever_a_fit": "yes", "come_back": "short_term"}}))
        refused = app.post("/v1/opportunities/O1/interview", json={"reason": "outsold", "competitor": "Hooli"})
        assert refused.status_code == 422 and [f["field"] for f in refused.json()["fields"]] == ["competitor"]
        # heard_from is not in this questionnaire: any text
        said = ok(app.post("/v1/opportunities/O1/interview", json={
            "reason": "outsold", "competitor": "Initech", "heard_from": "a podcast"}))
        assert (said["competitor"], said["heard_from"]) == ("Initech", "a podcast")


def test_an_override_supersedes_the_rules(app: TestClient, tables: Tables) -> None:
    by_rules = _close_lost(app)["disposition"]
    until = iso((NOW + timedelta(days=90)).replace(hour=0, minute=0, second=0))
    override = ok(app.put("/v1/accounts/A1/disposition", json={"kind": "recycle", "until": until,
                                                               "reason": "new CIO starts in spring", "by": "Lena"}))
    assert (override["kind"], override["until"], override["source"], override["by"], override["in_force"]) == (
        "recycle", until, "override", "Lena", True)
    assert override["reasons"] == [{"rule": "override", "text": "new CIO starts in spring"}]
    assert override["opportunity_id"] is None
    history = ok(app.get("/v1/accounts/A1/dispositions"))["items"]
    assert [(d["id"], d["source"], d["in_force"]) for d in history] == [
        (override["id"], "override", True), (by_rules["id"], "rules", False)]
    # the close still shows the disposition its answers gave
    assert ok(app.get("/v1/opportunities/O1/close"))["disposition"]["id"] == by_rules["id"]
    assert ok(app.get("/v1/accounts/A2/dispositions"))["items"] == []


def test_the_account_status_says_when_a_disposition_ends(app: TestClient) -> None:
    # nothing of A2 changes by time alone (one open opportunity, no contract, no activity, no disposition)
    assert ok(app.get("/v1/accounts/A2/status"))["review_at"] is None
    # a recycle date is when A1 comes back by itself: the status is re-evaluated then
    until = (NOW + timedelta(days=90)).replace(hour=0, minute=0, second=0)
    ok(app.put("/v1/accounts/A1/disposition", json={"kind": "recycle", "until": iso(until), "reason": "budget in Q3"}))
    assert datetime.fromisoformat(ok(app.get("/v1/accounts/A1/status"))["review_at"]) == until
    # the status body the flags route answers with is the same document
    assert datetime.fromisoformat(ok(app.put("/v1/accounts/A1/flags", json={}))["review_at"]) == until
    # disqualified for good: nothing to wait for
    ok(app.put("/v1/accounts/A2/disposition", json={"kind": "disqualified", "reason": "never a fit"}))
    assert ok(app.get("/v1/accounts/A2/status"))["review_at"] is None


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"kind": "recycle", "reason": "later"}, 422, "until"),
    ({"kind": "nurture_track", "until": iso(NOW + timedelta(days=9)), "reason": "soon"}, 422, "until"),
    ({"kind": "recycle", "until": iso(NOW - timedelta(days=1)), "reason": "later"}, 422, "until"),
    ({"kind": "someday", "reason": "?"}, 422, "kind"),
    ({"kind": "disqualified", "reason": "   "}, 422, "reason"),
], ids=["recycle without until", "until on a kind that takes none", "until in the past", "unknown kind",
        "blank reason"])
def test_a_bad_override_is_refused_naming_the_field(app: TestClient, tables: Tables, body: dict, status: int,
                                                    field: str) -> None:
    before = tables.snapshot()
    response = app.put("/v1/accounts/A1/disposition", json=body)
    assert response.status_code == status, response.text
    assert [f["field"] for f in response.json()["fields"]] == [field]
    assert tables.snapshot() == before


def test_an_override_of_an_unknown_account_is_404(app: TestClient, tables: Tables) -> None:
    before = tables.snapshot()
    response = app.put("/v1/accounts/A404/disposition", json={"kind": "disqualified", "reason": "spam"})
    assert response.status_code == 404 and response.json()["fields"][0]["field"] == "account_id"
    assert app.get("/v1/accounts/A404/dispositions").status_code == 404
    assert tables.snapshot() == before


def _a_due_close_for_the_commands(app: TestClient, tables: Tables, database_url: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # the close became due a while ago: recorded two days back, first reminder a day after; the
    # commands read the database and the webhook settings from the environment
    ok(app.put("/v1/opportunities", json=[opportunity("O1", state="lost", closed_at=iso(CLOSED))]))
    with tables.engine.begin() as conn:
        conn.execute(text("UPDATE close_records SET next_reminder_at = :t"), {"t": NOW - timedelta(days=1)})
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LEADMATCH_WEBHOOK_URLS", "http://127.0.0.1:9/hooks")
    monkeypatch.setenv("LEADMATCH_WEBHOOK_SECRET", "whsec_closing_test")
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()


def test_the_remind_command_runs_one_pass(app: TestClient, tables: Tables, database_url: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _a_due_close_for_the_commands(app, tables, database_url, monkeypatch)
    try:
        result = CliRunner().invoke(cli, ["closing", "remind"])
        assert result.exit_code == 0, result.output
        assert "reminded 1 unanswered close" in result.output
        again = CliRunner().invoke(cli, ["closing", "remind"])
        assert "reminded 0 unanswered closes" in again.output
    finally:
        get_settings.cache_clear()
    assert [k for k, _ in tables.events("close.unanswered")] == [f"close.unanswered:O1:{iso(CLOSED)}:1"]


def test_the_scheduler_reminds_unanswered_closes(app: TestClient, tables: Tables, database_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # the same due close, reminded by the scheduler's task (api/scheduling/tasks.py) run by name
    _a_due_close_for_the_commands(app, tables, database_url, monkeypatch)
    try:
        result = CliRunner().invoke(cli, ["schedule", "run", "remind_unanswered"])
        assert result.exit_code == 0, result.output
    finally:
        get_settings.cache_clear()
    assert [k for k, _ in tables.events("close.unanswered")] == [f"close.unanswered:O1:{iso(CLOSED)}:1"]
