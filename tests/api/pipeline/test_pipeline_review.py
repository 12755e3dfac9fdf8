"""GET /v1/pipeline-review with next steps (PUT /v1/opportunities next_step / next_step_at), on
SQLite and PostgreSQL, against the real clock: each open opportunity listed with why (no touch in
`no_touch_days`, no next step, an overdue one), the ones with a recent touch and a next step still
to come left out; a next step left out of a later sync is cleared; bad next steps are refused
naming the field, nothing stored."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient

from tests.conftest import account, contact

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def ago(days: float) -> str:
    return iso(NOW - timedelta(days=days))


def ok(response) -> dict:  # noqa: ANN001
    assert response.status_code == 200, response.text
    return response.json()


def opportunity(id: str, account_id: str, owner: str, **kw) -> dict:  # noqa: A002
    return {"id": id, "account_id": account_id, "owner": owner, "stage": "discovery", "opened_at": ago(60), **kw}


def seed(c: TestClient) -> None:
    """Touches (two-way or outbound; the default no_touch_days is 30) and next steps, by hand:
    Q1 ana  touched yesterday, no next step                      -> no_next_step
    Q2 ana  touched 40 days ago, next step in 5 days             -> no_touch
    Q3 bo   our call 2 days ago, next step in 3 days             -> not listed
    Q4 bo   touched 3 days ago, next step 2 days overdue         -> next_step_overdue
    Q5 bo   never touched, a date 1 day ago but no text          -> no_touch, next_step_overdue
    Q6 ana  closed won, no next step                             -> not listed (not open)
    Q7 ana  on P3 (our call 2 days ago), a step with no date     -> not listed (never overdue)"""
    ids = ("P1", "P2", "P3", "P4", "P5")
    ok(c.put("/v1/accounts", json=[account(a, f"Company {a}", domains=[f"{a.lower()}.com"]) for a in ids]))
    ok(c.put("/v1/contacts", json=[contact(f"{a}-K", a, f"jane@{a.lower()}.com") for a in ids]))
    ok(c.post("/v1/activities", json=[
        {"id": "t1", "type": "email_reply", "occurred_at": ago(1), "contact_id": "P1-K", "direction": "inbound"},
        {"id": "t2", "type": "meeting", "occurred_at": ago(40), "contact_id": "P2-K", "direction": "inbound"},
        {"id": "t3", "type": "call", "occurred_at": ago(2), "contact_id": "P3-K", "direction": "outbound"},
        {"id": "t4", "type": "meeting", "occurred_at": ago(3), "contact_id": "P4-K", "direction": "inbound"},
    ]))
    ok(c.put("/v1/opportunities", json=[
        opportunity("Q1", "P1", "ana"),
        opportunity("Q2", "P2", "ana", next_step="demo to the CFO", next_step_at=iso(NOW + timedelta(days=5))),
        opportunity("Q3", "P3", "bo", next_step="send the proposal", next_step_at=iso(NOW + timedelta(days=3))),
        opportunity("Q4", "P4", "bo", next_step="security review", next_step_at=ago(2)),
        opportunity("Q5", "P5", "bo", next_step_at=ago(1)),
        opportunity("Q6", "P1", "ana", state="won", closed_at=ago(5)),
        opportunity("Q7", "P3", "ana", next_step="call back after the budget meeting"),
    ]))


def listed(c: TestClient, **params) -> list[tuple]:
    body = ok(c.get("/v1/pipeline-review", params=params))
    return [(o["owner"], o["count"], [(i["opportunity_id"], i["reasons"]) for i in o["items"]]) for o in body["owners"]]


def test_listed_with_why(client: TestClient) -> None:
    seed(client)
    assert listed(client) == [
        ("ana", 2, [("Q1", ["no_next_step"]), ("Q2", ["no_touch"])]),
        ("bo", 2, [("Q4", ["next_step_overdue"]), ("Q5", ["no_touch", "next_step_overdue"])]),
    ]
    items = {i["opportunity_id"]: i for o in ok(client.get("/v1/pipeline-review"))["owners"] for i in o["items"]}
    assert (items["Q4"]["next_step"], items["Q4"]["next_step_at"]) == ("security review", ago(2))
    assert (items["Q1"]["next_step"], items["Q1"]["next_step_at"]) == (None, None)
    assert items["Q1"]["last_touch_at"] == ago(1) and items["Q5"]["last_touch_at"] is None
    # with 2 days, Q4's meeting 3 days ago is too old as well; Q3's call 2 days ago (less a few
    # seconds by the time the server reads its clock) too
    assert listed(client, owner="bo", no_touch_days=2) == [
        ("bo", 3, [("Q3", ["no_touch"]), ("Q4", ["no_touch", "next_step_overdue"]),
                   ("Q5", ["no_touch", "next_step_overdue"])])]


def test_a_next_step_left_out_is_cleared(client: TestClient) -> None:
    seed(client)
    assert ok(client.put("/v1/opportunities", json=[opportunity("Q3", "P3", "bo")])) == {
        "created": 0, "updated": 1, "unchanged": 0}
    assert listed(client, owner="bo") == [
        ("bo", 3, [("Q3", ["no_next_step"]), ("Q4", ["next_step_overdue"]), ("Q5", ["no_touch", "next_step_overdue"])])]
    # blank text is no text either: Q2 keeps its date, so it has a next step, still to come
    ok(client.put("/v1/opportunities", json=[opportunity("Q2", "P2", "ana", next_step="  ",
                                                         next_step_at=iso(NOW + timedelta(days=5)))]))
    assert listed(client, owner="ana") == [("ana", 2, [("Q1", ["no_next_step"]), ("Q2", ["no_touch"])])]


def test_bad_next_steps_name_the_field_and_store_nothing(client: TestClient) -> None:
    seed(client)
    before = ok(client.get("/v1/pipeline-review"))["owners"]
    good = opportunity("Q1", "P1", "ana", next_step="intro call", next_step_at=iso(NOW + timedelta(days=1)))
    for bad, field in ((opportunity("Q8", "P1", "ana", next_step="x" * 2001), "items[1].next_step"),
                       (opportunity("Q8", "P1", "ana", next_step_at="next tuesday"), "items[1].next_step_at"),
                       (opportunity("Q8", "P1", "ana", next_step_at="2026-02-30T10:00:00Z"), "items[1].next_step_at")):
        r = client.put("/v1/opportunities", json=[good, bad])
        assert r.status_code == 422, r.text
        assert field in [f["field"] for f in r.json()["fields"]], r.json()
    assert ok(client.get("/v1/pipeline-review"))["owners"] == before
