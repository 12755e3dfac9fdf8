"""Lead intake through the API: match, convert, route, record; idempotency; the lead views; the
SLA clock; the review queue. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.db import session_scope
from api.db.rows import ActivityRow, ContactRow, ContactStatusRow, LeadRoutingRow
from api.routing.sla_scheduler import check_sla
from tests.conftest import account

ALWAYS = {"hours": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
# unmatched leads: a company no account resembles, a free-mail address
UNMATCHED = {"company": "Qzxv Wombat Plumbing", "email": "someone@gmail.com", "country": "US"}


def routing(client: TestClient, **doc: Any) -> None:
    r = client.put("/v1/routing", json=doc)
    assert r.status_code == 200, r.text


def pool_config(**extra: Any) -> dict[str, Any]:
    doc = {
        "schedules": {"default": ALWAYS},
        "members": [{"id": "Ann", "manager": "boss@ours.com"}, {"id": "Ben"}, {"id": "Cid"}],
        "pools": [{"id": "sdr", "members": [{"member": "Ann", "weight": 2}, {"member": "Ben", "weight": 1},
                                            {"member": "Cid", "weight": 1}]}],
        "default_pool": "sdr",
    }
    doc.update(extra)
    return doc


def services(client: TestClient):  # noqa: ANN201
    return client.app.state.services


def count(client: TestClient, row, **where: Any) -> int:  # noqa: ANN001
    with session_scope(services(client).sessions) as s:
        q = select(func.count()).select_from(row)
        for k, v in where.items():
            q = q.where(getattr(row, k) == v)
        return s.scalar(q)


@pytest.fixture
def acme(client: TestClient) -> TestClient:
    r = client.put("/v1/accounts", json=[account("A1", "Acme Corporation", domains=["acme.com"], owner="Dana")])
    assert r.status_code == 200, r.text
    return client


def test_a_matched_lead_goes_to_the_account_owner_becomes_a_contact_and_enters_the_ledger(acme: TestClient) -> None:
    r = acme.post("/v1/leads", json={"id": "L1", "email": "Jane.Doe@acme.com", "company": "Acme",
                                     "first_name": "Jane", "campaign_id": "CMP-1", "source": "web-form"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "created"
    assert body["match"]["decision"] == "matched" and body["match"]["account_id"] == "A1"
    assert body["route"]["owner"] == "Dana" and body["route"]["rule"] == "account_owner"
    assert "Dana" in body["route"]["reason"]
    assert body["contact_id"] == "lead-L1"
    assert body["sla_due_at"] is not None
    with session_scope(services(acme).sessions) as s:
        c = s.get(ContactRow, "lead-L1")
        assert (c.account_id, c.email, c.first_name) == ("A1", "jane.doe@acme.com", "Jane")
        event = s.scalars(select(ActivityRow).where(ActivityRow.contact_id == "lead-L1")).one()
        assert (event.type, event.campaign_id, event.direction, event.account_id) == ("form_fill", "CMP-1",
                                                                                     "inbound", "A1")
    # the account is re-qualified just after the commit (api/qualification/deferred.py)
    assert services(acme).requalifier.wait_idle(10)
    contacts = acme.get("/v1/accounts/A1/contacts").json()["items"]
    assert [c["id"] for c in contacts] == ["lead-L1"]
    with session_scope(services(acme).sessions) as s:
        status = s.get(ContactStatusRow, "lead-L1")
        assert status is not None and status.account_id == "A1"


def test_the_same_lead_again_is_idempotent_and_takes_no_second_turn(client: TestClient) -> None:
    routing(client, **pool_config())
    lead = {"id": "U1", **UNMATCHED}
    first = client.post("/v1/leads", json=lead).json()
    again = client.post("/v1/leads", json=lead).json()
    assert first["outcome"] == "created" and again["outcome"] == "unchanged"
    assert again["route"] == first["route"]
    assert count(client, LeadRoutingRow, lead_id="U1") == 1
    # each turn goes to the smallest (turns so far + 1) / weight, ties to the first in the pool
    assert first["route"]["owner"] == "Ann"
    owners = [client.post("/v1/leads", json={"id": f"U{i}", **UNMATCHED}).json()["route"]["owner"]
              for i in range(2, 6)]
    # U2: Ann 2/2, Ben 1/1, Cid 1/1 -> Ann; U3: Ann 3/2, Ben 1, Cid 1 -> Ben; U4: Ann 1.5, Ben 2, Cid 1 -> Cid;
    # U5: Ann 3/2, Ben 2, Cid 2 -> Ann
    assert owners == ["Ann", "Ben", "Cid", "Ann"]


def test_new_content_updates_and_reroutes_only_when_the_account_changes(client: TestClient) -> None:
    client.put("/v1/accounts", json=[account("A1", "Acme Corporation", domains=["acme.com"], owner="Dana"),
                                     account("B1", "Borealis Shipping", domains=["borealis.com"], owner="Eve")])
    assert client.post("/v1/leads", json={"id": "L1", "email": "jo@acme.com"}).json()["route"]["owner"] == "Dana"
    updated = client.post("/v1/leads", json={"id": "L1", "email": "jo@acme.com", "title": "CFO"}).json()
    assert updated["outcome"] == "updated" and updated["route"]["owner"] == "Dana"
    assert count(client, LeadRoutingRow, lead_id="L1") == 1
    moved = client.post("/v1/leads", json={"id": "L1", "email": "jo@borealis.com"}).json()
    assert moved["outcome"] == "rerouted" and moved["route"]["owner"] == "Eve"
    history = client.get("/v1/leads/L1").json()["history"]
    assert [(h["kind"], h["owner"]) for h in history] == [("routed", "Dana"), ("rerouted", "Eve")]


def test_a_second_form_fill_from_the_same_person_updates_their_contact(acme: TestClient) -> None:
    acme.post("/v1/leads", json={"id": "L1", "email": "jane@acme.com", "first_name": "Jane"})
    second = acme.post("/v1/leads", json={"id": "L2", "email": "JANE@acme.com", "title": "VP Sales"}).json()
    assert second["contact_id"] == "lead-L1"
    assert count(acme, ContactRow, account_id="A1") == 1
    with session_scope(services(acme).sessions) as s:
        c = s.get(ContactRow, "lead-L1")
        assert (c.first_name, c.title) == ("Jane", "VP Sales")
    assert count(acme, ActivityRow, contact_id="lead-L1") == 2  # two form fills, one person


def test_an_unmatched_lead_with_nobody_available_goes_to_the_overflow_queue(client: TestClient) -> None:
    routing(client, **pool_config(members=[{"id": "Ann", "paused": True}, {"id": "Ben", "paused": True},
                                           {"id": "Cid", "out_of_office": [{"start": "2000-01-01",
                                                                            "end": "2999-12-31"}]}]))
    r = client.post("/v1/leads", json={"id": "U1", **UNMATCHED}).json()
    assert r["route"]["owner"] is None and r["route"]["queue"] == "sdr-queue"
    assert {s["member"] for s in r["route"]["considered"]} == {"Ann", "Ben", "Cid"}
    assert r["sla_due_at"] is None


def test_lead_views_filter_and_page(client: TestClient) -> None:
    client.put("/v1/accounts", json=[account("A1", "Acme Corporation", domains=["acme.com"], owner="Dana")])
    routing(client, **pool_config())
    for i in range(3):
        client.post("/v1/leads", json={"id": f"M{i}", "email": f"p{i}@acme.com"})
        client.post("/v1/leads", json={"id": f"U{i}", **UNMATCHED})
    page = client.get("/v1/leads", params={"owner": "Dana", "limit": 2}).json()
    assert [i["lead_id"] for i in page["items"]] == ["M0", "M1"] and page["next_after"] == "M1"
    rest = client.get("/v1/leads", params={"owner": "Dana", "after": "M1"}).json()
    assert [i["lead_id"] for i in rest["items"]] == ["M2"] and rest["next_after"] is None
    assert len(client.get("/v1/leads", params={"decision": "no_match"}).json()["items"]) == 3
    bad = client.get("/v1/leads", params={"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "from"
    missing = client.get("/v1/leads/nope")
    assert missing.status_code == 404 and missing.json()["fields"][0]["field"] == "lead_id"


def test_bulk_takes_in_the_valid_leads_and_reports_the_others(acme: TestClient) -> None:
    r = acme.post("/v1/leads/bulk", json=[{"id": "L1", "email": "a@acme.com"}, {"id": "L2", "email": "nope"},
                                          {"email": "b@acme.com"}, {"id": "L1", "email": "a@acme.com"}])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["counts"] == {"created": 1, "unchanged": 1, "updated": 0, "rerouted": 0, "error": 2}
    assert out["results"][1]["error"]["fields"][0]["field"] == "items[1].email"
    assert out["results"][2]["error"]["fields"][0]["field"] == "items[2].id"


# ------------------------------------------------------------------------------------ SLA


def test_acting_in_time_meets_the_sla(acme: TestClient) -> None:
    acme.post("/v1/leads", json={"id": "L1", "email": "jane@acme.com"})
    r = acme.post("/v1/leads/L1/acted", json={})
    assert r.status_code == 200, r.text
    sla = r.json()["sla"]
    assert sla["state"] == "met" and sla["acted_at"] is not None
    assert acme.post("/v1/leads/nope/acted", json={}).status_code == 404


def test_a_missed_sla_is_reassigned_to_the_next_member_then_escalated(client: TestClient) -> None:
    routing(client, **pool_config(sla={"minutes": 60, "action": "reassign", "max_reassignments": 1}))
    first = client.post("/v1/leads", json={"id": "U1", **UNMATCHED}).json()
    assert first["route"]["owner"] == "Ann"
    due = datetime.fromisoformat(first["sla_due_at"])
    svc = services(client)
    assert check_sla(svc, now=due - timedelta(seconds=1)) == {}
    assert check_sla(svc, now=due + timedelta(seconds=1)) == {"reassigned": 1}
    lead = client.get("/v1/leads/U1").json()
    assert lead["route"]["owner"] != "Ann" and lead["sla"]["reassignments"] == 1
    assert {"member": "Ann", "reason": "missed the SLA on this lead"} in lead["route"]["considered"]
    # again: handled exactly once per deadline, then escalated (max_reassignments 1)
    due2 = datetime.fromisoformat(lead["sla"]["due_at"].replace("Z", "+00:00"))
    assert check_sla(svc, now=due2 + timedelta(seconds=1)) == {"escalated": 1}
    assert check_sla(svc, now=due2 + timedelta(days=30)) == {}
    lead = client.get("/v1/leads/U1").json()
    assert lead["sla"]["state"] == "missed" and lead["sla"]["escalated_at"] is not None
    assert [h["kind"] for h in lead["history"]] == ["routed", "reassigned", "escalated"]


def test_an_outbound_touch_in_the_ledger_stops_the_clock(acme: TestClient) -> None:
    lead = acme.post("/v1/leads", json={"id": "L1", "email": "jane@acme.com"}).json()
    due = datetime.fromisoformat(lead["sla_due_at"])
    touched_at = datetime.now(timezone.utc)
    r = acme.post("/v1/activities", json=[{"id": "call-1", "type": "call", "direction": "outbound",
                                           "contact_id": "lead-L1", "occurred_at": touched_at.isoformat()}])
    assert r.status_code == 200, r.text
    assert check_sla(services(acme), now=due + timedelta(minutes=1)) == {"met": 1}
    assert acme.get("/v1/leads/L1").json()["sla"]["state"] == "met"


# ------------------------------------------------------------------------------------ review


def review_lead(client: TestClient) -> dict[str, Any]:
    """Two accounts with the same name in the same country: a lead naming it is a review."""
    client.put("/v1/accounts", json=[account("A1", "Nimbus Analytics", domains=["nimbus-a.com"], owner="Dana"),
                                     account("A2", "Nimbus Analytics", domains=["nimbus-b.com"], owner="Eve")])
    r = client.post("/v1/leads", json={"id": "R1", "company": "Nimbus Analytics", "email": "kim@gmail.com",
                                       "country": "US"}).json()
    assert r["match"]["decision"] == "review", r["match"]
    return r


def test_a_review_lead_waits_in_the_review_queue_and_a_person_resolves_it(client: TestClient) -> None:
    r = review_lead(client)
    assert r["route"]["queue"] == "match-review" and r["route"]["rule"] == "review"
    queue = client.get("/v1/review").json()["items"]
    assert [i["lead_id"] for i in queue] == ["R1"]
    assert {c["account_id"] for c in queue[0]["candidates"]} == {"A1", "A2"}
    done = client.post("/v1/review/R1/resolve", json={"action": "account", "account_id": "A2", "by": "ops@ours.com"})
    assert done.status_code == 200, done.text
    lead = done.json()["lead"]
    assert lead["route"]["owner"] == "Eve" and lead["contact_id"] == "lead-R1"
    assert client.get("/v1/review").json()["items"] == []
    detail = client.get("/v1/leads/R1").json()
    assert detail["resolution"]["by"] == "ops@ours.com" and detail["history"][-1]["kind"] == "resolved"
    again = client.post("/v1/review/R1/resolve", json={"action": "junk", "by": "x"})
    assert again.status_code == 409 and again.json()["fields"][0]["field"] == "lead_id"


def test_resolving_with_bad_input_names_the_field_and_changes_nothing(client: TestClient) -> None:
    review_lead(client)
    unknown = client.post("/v1/review/R1/resolve", json={"action": "account", "account_id": "ZZ", "by": "x"})
    assert unknown.status_code == 422 and unknown.json()["fields"][0]["field"] == "account_id"
    missing = client.post("/v1/review/R1/resolve", json={"action": "account", "by": "x"})
    assert missing.status_code == 422 and missing.json()["fields"][0]["field"] == "account_id"
    taken = client.post("/v1/review/R1/resolve", json={"action": "new_account", "account_id": "A1", "by": "x"})
    assert taken.status_code == 409 and taken.json()["fields"][0]["field"] == "account_id"
    assert client.post("/v1/review/nope/resolve", json={"action": "junk", "by": "x"}).status_code == 404
    assert client.get("/v1/leads/R1").json()["review_state"] == "open"
    assert count(client, LeadRoutingRow, lead_id="R1") == 1


def test_a_new_account_made_from_a_review_lead(client: TestClient) -> None:
    review_lead(client)
    r = client.post("/v1/review/R1/resolve", json={"action": "new_account", "account_id": "N1",
                                                   "account_name": "Nimbus Analytics West", "owner": "Gus",
                                                   "by": "ops"})
    assert r.status_code == 200, r.text
    assert r.json()["lead"]["route"]["owner"] == "Gus"
    assert client.get("/v1/accounts/N1").json()["name"] == "Nimbus Analytics West"


def test_junk_closes_the_lead(client: TestClient) -> None:
    review_lead(client)
    r = client.post("/v1/review/R1/resolve", json={"action": "junk", "by": "ops"})
    assert r.status_code == 200, r.text
    detail = client.get("/v1/leads/R1").json()
    assert detail["review_state"] == "resolved" and detail["route"]["owner"] is None
    assert detail["sla"]["state"] == "none"


def test_a_resolved_review_teaches_the_alias_and_the_twin_then_matches_by_itself(client: TestClient) -> None:
    client.put("/v1/accounts", json=[account("A1", "Acme Corporation", domains=["acme.com"], owner="Dana")])
    first = client.post("/v1/leads", json={"id": "R1", "company": "Acme International", "email": "kim@gmail.com",
                                           "country": "US"}).json()
    assert first["match"]["decision"] == "review", first["match"]
    done = client.post("/v1/review/R1/resolve", json={"action": "account", "account_id": "A1", "by": "ops@ours.com"})
    assert done.status_code == 200, done.text
    assert [(x["kind"], x["value"]) for x in done.json()["learned"]] == [("alias", "Acme International")]
    assert any("free" in why for why in done.json()["not_learned"])  # gmail.com is nobody's domain
    twin = client.post("/v1/leads", json={"id": "R2", "company": "Acme International", "email": "lee@yahoo.com",
                                          "country": "US"}).json()
    assert twin["match"]["decision"] == "matched" and twin["match"]["account_id"] == "A1"
    assert any("learned from review of lead R1" in r for r in twin["match"]["reasons"]), twin["match"]["reasons"]
    assert twin["route"]["owner"] == "Dana"


def test_owner_policy_ultimate_parent_reads_the_hierarchy(client: TestClient) -> None:
    client.put("/v1/accounts", json=[
        account("P1", "Globex Holding", domains=["globex.com"], owner="Dana"),
        account("C1", "Globex Deutschland", domains=["globex.de"], owner="Lena", parent_id="P1", country="DE")])
    assert client.post("/v1/leads", json={"id": "L1", "email": "a@globex.de"}).json()["route"]["owner"] == "Lena"
    routing(client, owner_policy="ultimate_parent")
    r = client.post("/v1/leads", json={"id": "L2", "email": "b@globex.de"}).json()
    assert r["match"]["account_id"] == "C1"
    assert (r["route"]["owner"], r["route"]["rule"]) == ("Dana", "account_owner")


def test_bad_leads_are_refused_naming_the_field_and_store_nothing(acme: TestClient) -> None:
    future = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    r = acme.post("/v1/leads", json={"id": "L1", "email": "jane@acme.com", "occurred_at": future})
    assert r.status_code == 422 and [f["field"] for f in r.json()["fields"]] == ["occurred_at"], r.text
    no_company = acme.post("/v1/leads", json={"id": "L2"})
    assert no_company.status_code == 422 and no_company.json()["fields"][0]["field"] == "email"
    assert acme.get("/v1/leads/L1").status_code == 404
    assert count(acme, ContactRow) == 0 and count(acme, LeadRoutingRow) == 0


def test_acting_on_a_lead_a_queue_holds_is_a_conflict(client: TestClient) -> None:
    routing(client, **pool_config(members=[{"id": "Ann", "paused": True}, {"id": "Ben", "paused": True},
                                           {"id": "Cid", "paused": True}]))
    client.post("/v1/leads", json={"id": "U1", **UNMATCHED})
    r = client.post("/v1/leads/U1/acted", json={})
    assert r.status_code == 409 and r.json()["fields"][0]["field"] == "lead_id"
    assert client.post("/v1/leads/U1/acted", json={"when": "now"}).status_code == 422
    assert client.get("/v1/leads/U1").json()["sla"]["state"] == "none"
