"""Qualification through the HTTP API: ingestion, statuses with reasons, manual states, history,
and the status cache (in-process and Redis), on SQLite and PostgreSQL. No mocks.

The rules are the shipped defaults (config/qualification.toml): a demo request by a contact of a
tier-1 account qualifies the contact and so the account.
"""
from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from api.qualification import service as qualification
from tests.conftest import account, app_client, contact, settings_for

NOW = datetime.now(timezone.utc).replace(microsecond=0)
T0 = NOW - timedelta(days=3)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def activity(id: str, type: str = "demo_request", at: datetime = T0, **kw) -> dict:  # noqa: A002
    if "email" not in kw:
        kw.setdefault("contact_id", "K1")
    return {"id": id, "type": type, "occurred_at": iso(at), **kw}


def opportunity(id: str = "O1", **kw) -> dict:  # noqa: A002
    return {"id": id, "account_id": "A1", "primary_contact_id": "K1", "owner": "Dana Whitfield",
            "type": "new_business", "stage": "discovery", "amount": 48000, "state": "open",
            "opened_at": iso(T0 + timedelta(days=1)), **kw}


def ok(response) -> dict:  # noqa: ANN001
    assert response.status_code == 200, response.text
    return response.json()


def status(c: TestClient, account_id: str = "A1") -> dict:
    return ok(c.get(f"/v1/accounts/{account_id}/status"))


def history(c: TestClient, account_id: str = "A1", **params) -> list[tuple]:
    body = ok(c.get(f"/v1/accounts/{account_id}/history", params=params))
    return [(h["entity_kind"], h["entity_id"], h["old_status"], h["new_status"]) for h in body["items"]]


def contacts(c: TestClient, account_id: str = "A1") -> dict[str, dict]:
    return {x["id"]: x for x in ok(c.get(f"/v1/accounts/{account_id}/contacts"))["items"]}


def seed(c: TestClient) -> TestClient:
    ok(c.put("/v1/accounts", json=[account("A1", "Acme Corporation", fit_tier="1"),
                                   account("A2", "Zorblax Industries", fit_tier="1")]))
    ok(c.put("/v1/contacts", json=[
        contact("K1", "A1", "jane@acme.com", first_name="Jane", last_name="Doe", title="VP Engineering"),
        contact("K2", "A1", "max@acme.com", first_name="Max", last_name="Muster", title="CFO")]))
    return c


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    return seed(client)


def test_a_demo_request_qualifies_the_contact_and_the_account(seeded: TestClient) -> None:
    assert status(seeded)["status"] == "pre_qualified"
    assert ok(seeded.post("/v1/activities", json=[activity("E1")])) == {"created": 1, "unchanged": 0, "unmatched": 0}
    body = status(seeded)
    assert body["status"] == "qualified" and body["since"] is not None
    assert any("E1" in r["event_ids"] for r in body["reasons"]), body["reasons"]
    assert body["summary"].startswith("Qualified since") and "Jane Doe" in body["summary"]
    assert body["rule_version"] == seeded.app.state.services.qualifier.version
    assert body["engagement_points"] > 0
    assert body["contacts"]["total"] == 2 and body["contacts"]["by_status"]["qualified"] == 1
    assert [x["id"] for x in body["contacts"]["engaged"]] == ["K1"]
    k1 = contacts(seeded)["K1"]
    assert (k1["status"], k1["persona"], k1["seniority"]) == ("qualified", "engineering", "vp")
    assert k1["reasons"] and k1["title"] == "VP Engineering"
    assert contacts(seeded)["K2"]["persona"] == "finance"
    log = history(seeded)
    assert log[:2] == [("account", "A1", "pre_qualified", "qualified"), ("contact", "K1", "pre_qualified", "qualified")]
    assert history(seeded, kind="account") == [("account", "A1", "pre_qualified", "qualified"),
                                               ("account", "A1", None, "pre_qualified")]


def test_resending_the_same_events_changes_nothing(seeded: TestClient) -> None:
    batch = [activity("E1", "webinar"), activity("E2", "page_view", page_kind="pricing", contact_id="K2")]
    assert ok(seeded.post("/v1/activities", json=batch))["created"] == 2
    before, log = status(seeded), history(seeded)
    assert ok(seeded.post("/v1/activities", json=batch)) == {"created": 0, "unchanged": 2, "unmatched": 0}
    assert status(seeded) == before and history(seeded) == log


BAD_ACTIVITIES = [
    # (case, the bad item, status, field)
    ("unknown event type", activity("N2", "telepathy"), 422, "items[1].type"),
    ("unknown contact", activity("N2", contact_id="ghost"), 422, "items[1].contact_id"),
    ("neither contact nor email", {"id": "N2", "type": "webinar", "occurred_at": iso(T0)}, 422, "items[1].contact_id"),
    ("future timestamp", activity("N2", at=NOW + timedelta(hours=1)), 422, "items[1].occurred_at"),
    ("not a timestamp", activity("N2") | {"occurred_at": "yesterday"}, 422, "items[1].occurred_at"),
    ("bad direction", activity("N2", direction="sideways"), 422, "items[1].direction"),
    ("bad email", activity("N2", email="not-an-email", contact_id=None), 422, "items[1].email"),
    ("stored id with different content", activity("E0", "webinar"), 422, "items[1].id"),
    ("unknown field", activity("N2", colour="red"), 422, "items[1].colour"),
]


@pytest.mark.parametrize(("case", "bad", "code", "field"), BAD_ACTIVITIES, ids=[c[0] for c in BAD_ACTIVITIES])
def test_a_bad_activity_names_the_field_and_nothing_is_stored(seeded: TestClient, case: str, bad: dict, code: int,
                                                              field: str) -> None:
    ok(seeded.post("/v1/activities", json=[activity("E0", "email_open")]))
    before, log = status(seeded), history(seeded)
    r = seeded.post("/v1/activities", json=[activity("N1"), bad])
    assert r.status_code == code, r.text
    assert field in [f["field"] for f in r.json()["fields"]], r.json()
    assert status(seeded) == before and history(seeded) == log
    # N1 (a valid demo request) was not stored half-way: sending it alone creates it now
    assert ok(seeded.post("/v1/activities", json=[activity("N1")]))["created"] == 1


def test_events_of_an_unmatched_person_attach_when_the_contact_appears(seeded: TestClient) -> None:
    body = ok(seeded.post("/v1/activities", json=[activity("E1", email="Ann.Lee@acme.com")]))
    assert body == {"created": 1, "unchanged": 0, "unmatched": 1}
    assert status(seeded)["status"] == "pre_qualified"
    ok(seeded.put("/v1/contacts", json=[contact("K3", "A1", "ann.lee@acme.com", first_name="Ann", last_name="Lee",
                                                title="Director of IT")]))
    body = status(seeded)
    assert body["status"] == "qualified" and [x["id"] for x in body["contacts"]["engaged"]] == ["K3"]
    assert contacts(seeded)["K3"]["status"] == "qualified"


def test_a_contact_moving_to_another_account_takes_its_events_along(seeded: TestClient) -> None:
    ok(seeded.post("/v1/activities", json=[activity("E1")]))
    assert status(seeded)["status"] == "qualified"
    ok(seeded.put("/v1/contacts", json=[contact("K1", "A2", "jane@zorblax.com", first_name="Jane", last_name="Doe",
                                                title="VP Engineering")]))
    assert status(seeded, "A2")["status"] == "qualified"
    assert status(seeded)["status"] == "pre_qualified"
    assert "K1" not in contacts(seeded)


def test_manual_moves_follow_the_rules_and_an_illegal_one_is_409(seeded: TestClient) -> None:
    ok(seeded.post("/v1/activities", json=[activity("E1")]))
    body = ok(seeded.post("/v1/contacts/K1/status", json={"status": "sales_working", "by": "Dana Whitfield"}))
    assert body["contact"]["status"] == "sales_working" and body["account"]["status"] == "sales_working"
    assert status(seeded)["status"] == "sales_working"
    assert history(seeded)[0] == ("account", "A1", "qualified", "sales_working")

    log = history(seeded)
    r = seeded.post("/v1/contacts/K1/status", json={"status": "qualified"})
    assert r.status_code == 409, r.text
    assert r.json()["current"] == "sales_working"
    assert r.json()["allowed"] == ["disqualified", "no_longer_with_company", "nurture", "partner"]
    assert r.json()["fields"][0]["field"] == "status"
    assert history(seeded) == log  # nothing recorded
    # the same status again is no move: nothing recorded, no error (a retry is safe)
    assert ok(seeded.post("/v1/contacts/K1/status", json={"status": "sales_working"}))["contact"]["status"] == "sales_working"
    assert history(seeded) == log

    r = seeded.post("/v1/contacts/ghost/status", json={"status": "nurture"})
    assert r.status_code == 404 and "ghost" in r.json()["error"]
    r = seeded.post("/v1/contacts/K1/status", json={"status": "sleeping"})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "status"
    r = seeded.post("/v1/contacts/K1/status", json={"status": "nurture", "at": iso(NOW + timedelta(days=1))})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "at"


def test_no_longer_with_company_is_sticky(seeded: TestClient) -> None:
    ok(seeded.post("/v1/contacts/K1/status", json={"status": "no_longer_with_company"}))
    ok(seeded.post("/v1/activities", json=[activity("E1", at=NOW - timedelta(hours=1))]))
    assert contacts(seeded)["K1"]["status"] == "no_longer_with_company"
    assert status(seeded)["status"] != "qualified"


def test_flags_win_over_everything_and_clearing_them_restores_the_derived_status(seeded: TestClient) -> None:
    ok(seeded.post("/v1/activities", json=[activity("E1")]))
    body = ok(seeded.put("/v1/accounts/A1/flags", json={"disqualified": True}))
    assert body["status"] == "disqualified" and status(seeded)["status"] == "disqualified"
    assert ok(seeded.put("/v1/accounts/A1/flags", json={"partner": True}))["status"] == "partner"
    assert ok(seeded.put("/v1/accounts/A1/flags", json={}))["status"] == "qualified"
    assert [h[3] for h in history(seeded, kind="account")[:3]] == ["qualified", "partner", "disqualified"]
    # PUT /v1/accounts (a CRM sync) does not clear the manual flags
    ok(seeded.put("/v1/accounts/A1/flags", json={"disqualified": True}))
    ok(seeded.put("/v1/accounts", json=[account("A1", "Acme Corporation", fit_tier="1", industry="Software")]))
    assert status(seeded)["status"] == "disqualified"
    r = seeded.put("/v1/accounts/ghost/flags", json={"disqualified": True})
    assert r.status_code == 404
    r = seeded.put("/v1/accounts/A1/flags", json={"disqualified": "maybe"})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "disqualified"


def test_opportunities_and_contracts_drive_the_account_status(seeded: TestClient) -> None:
    ok(seeded.post("/v1/activities", json=[activity("E1")]))
    assert ok(seeded.put("/v1/opportunities", json=[opportunity()])) == {"created": 1, "updated": 0, "unchanged": 0}
    assert ok(seeded.put("/v1/opportunities", json=[opportunity()]))["unchanged"] == 1
    assert status(seeded)["status"] == "opportunity_open"
    assert contacts(seeded)["K1"]["status"] == "opportunity_open"
    won = opportunity(stage="closed", state="won", closed_at=iso(T0 + timedelta(days=2)))
    assert ok(seeded.put("/v1/opportunities", json=[won]))["updated"] == 1
    assert contacts(seeded)["K1"]["status"] == "nurture"
    contract = {"id": "K-1", "account_id": "A1", "starts_on": (T0 + timedelta(days=2)).date().isoformat()}
    assert ok(seeded.put("/v1/contracts", json=[contract]))["created"] == 1
    assert status(seeded)["status"] == "customer"
    ended = contract | {"ends_on": (T0 + timedelta(days=2)).date().isoformat()}
    ok(seeded.put("/v1/contracts", json=[ended]))
    assert status(seeded)["status"] == "churned"


BAD_DEALS = [
    ("opportunity unknown account", "/v1/opportunities", opportunity("O2", account_id="ghost"), "items[1].account_id"),
    ("opportunity unknown contact", "/v1/opportunities", opportunity("O2", primary_contact_id="ghost"),
     "items[1].primary_contact_id"),
    ("opportunity bad state", "/v1/opportunities", opportunity("O2", state="pending"), "items[1].state"),
    ("opportunity bad type", "/v1/opportunities", opportunity("O2", type="upsell"), "items[1].type"),
    ("opportunity won without closed_at", "/v1/opportunities", opportunity("O2", state="won"), "items[1].closed_at"),
    ("opportunity negative amount", "/v1/opportunities", opportunity("O2", amount=-1), "items[1].amount"),
    ("opportunity future opened_at", "/v1/opportunities", opportunity("O2", opened_at=iso(NOW + timedelta(days=1))),
     "items[1].opened_at"),
    ("opportunity future closed_at", "/v1/opportunities",
     opportunity("O2", state="won", closed_at=iso(NOW + timedelta(days=1))), "items[1].closed_at"),
    ("opportunity future stage_changed_at", "/v1/opportunities",
     opportunity("O2", stage_changed_at=iso(NOW + timedelta(days=1))), "items[1].stage_changed_at"),
    ("contract bad date", "/v1/contracts", {"id": "C2", "account_id": "A1", "starts_on": "2026-02-30"},
     "items[1].starts_on"),
    ("contract ends before it starts", "/v1/contracts",
     {"id": "C2", "account_id": "A1", "starts_on": "2026-02-01", "ends_on": "2026-01-01"}, "items[1].ends_on"),
    ("contract unknown account", "/v1/contracts", {"id": "C2", "account_id": "ghost", "starts_on": "2026-02-01"},
     "items[1].account_id"),
]


@pytest.mark.parametrize(("case", "path", "bad", "field"), BAD_DEALS, ids=[c[0] for c in BAD_DEALS])
def test_bad_opportunities_and_contracts_name_the_field(seeded: TestClient, case: str, path: str, bad: dict,
                                                       field: str) -> None:
    good = opportunity("O1") if path == "/v1/opportunities" else {"id": "C1", "account_id": "A1",
                                                                   "starts_on": "2026-01-01"}
    before = status(seeded)
    r = seeded.put(path, json=[good, bad])
    assert r.status_code == 422, r.text
    assert field in [f["field"] for f in r.json()["fields"]], r.json()
    assert status(seeded) == before
    assert ok(seeded.put(path, json=[good]))["created"] == 1  # the good item was not stored half-way


def test_deal_times_a_little_ahead_of_the_clock_are_taken(seeded: TestClient) -> None:
    """Refused only beyond LEADMATCH_FUTURE_TOLERANCE_SECONDS (300) ahead of the server clock."""
    soon = iso(datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=120))
    assert ok(seeded.put("/v1/opportunities", json=[opportunity(stage_changed_at=soon)]))["created"] == 1
    assert ok(seeded.put("/v1/opportunities", json=[opportunity(state="won", closed_at=soon)]))["updated"] == 1
    later = iso(datetime.now(timezone.utc) + timedelta(seconds=400))
    r = seeded.put("/v1/opportunities", json=[opportunity("O2", state="lost", closed_at=later)])
    assert r.status_code == 422 and [f["field"] for f in r.json()["fields"]] == ["items[0].closed_at"], r.text


def test_times_without_an_offset_are_utc(seeded: TestClient) -> None:
    # a server clock in New York: a time without an offset read as local time would be 5 hours off
    tz = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        demo_at = NOW - timedelta(days=2)  # UTC
        naive = demo_at.replace(tzinfo=None).isoformat()
        assert ok(seeded.post("/v1/activities", json=[activity("E1") | {"occurred_at": naive}]))["created"] == 1
        body = status(seeded)
        assert body["status"] == "qualified" and datetime.fromisoformat(body["since"]) == demo_at
        # the same instant with an offset is the same event
        same = (demo_at + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
        assert ok(seeded.post("/v1/activities", json=[activity("E1") | {"occurred_at": same}]))["unchanged"] == 1

        opened_at = NOW - timedelta(days=1)
        deal = opportunity(opened_at=opened_at.replace(tzinfo=None).isoformat())
        assert ok(seeded.put("/v1/opportunities", json=[deal]))["created"] == 1
        assert ok(seeded.put("/v1/opportunities", json=[opportunity(opened_at=iso(opened_at))]))["unchanged"] == 1
        body = status(seeded)  # an open opportunity since it opened
        assert body["status"] == "opportunity_open" and datetime.fromisoformat(body["since"]) == opened_at
        moved_at = NOW - timedelta(hours=1)
        move = {"status": "nurture", "at": moved_at.replace(tzinfo=None).isoformat()}
        assert ok(seeded.post("/v1/contacts/K2/status", json=move))["contact"]["status"] == "nurture"
        assert datetime.fromisoformat(contacts(seeded)["K2"]["since"]) == moved_at
    finally:
        if tz is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = tz
        time.tzset()


def test_history_pages_newest_first(seeded: TestClient) -> None:
    ok(seeded.post("/v1/activities", json=[activity("E1")]))
    ok(seeded.post("/v1/contacts/K1/status", json={"status": "sales_working"}))
    everything = ok(seeded.get("/v1/accounts/A1/history", params={"limit": 500}))["items"]
    assert [h["id"] for h in everything] == sorted((h["id"] for h in everything), reverse=True)
    seen, before = [], None
    while True:
        page = ok(seeded.get("/v1/accounts/A1/history", params={"limit": 2, **({"before": before} if before else {})}))
        seen.extend(h["id"] for h in page["items"])
        before = page["next_before"]
        if before is None:
            break
    assert seen == [h["id"] for h in everything]
    first = everything[-1]
    assert first["rule_version"] and first["since"] and first["at"]
    assert seeded.get("/v1/accounts/ghost/history").status_code == 404


def test_history_answers_kind_limit_and_before(seeded: TestClient) -> None:
    ok(seeded.post("/v1/activities", json=[activity("E1")]))
    ok(seeded.post("/v1/contacts/K1/status", json={"status": "sales_working"}))
    # A1's log as written, newest first: the seller's move (the contact's row before the account's
    # row it causes), the demo request, the two contacts' first statuses, the account's first status
    expected = [("account", "A1", "qualified", "sales_working"), ("contact", "K1", "qualified", "sales_working"),
                ("account", "A1", "pre_qualified", "qualified"), ("contact", "K1", "pre_qualified", "qualified"),
                ("contact", "K2", None, "pre_qualified"), ("contact", "K1", None, "pre_qualified"),
                ("account", "A1", None, "pre_qualified")]
    assert history(seeded) == expected
    assert history(seeded, kind="all") == expected
    assert history(seeded, kind="account") == [h for h in expected if h[0] == "account"]
    assert history(seeded, kind="contact") == [h for h in expected if h[0] == "contact"]
    ids = [h["id"] for h in ok(seeded.get("/v1/accounts/A1/history"))["items"]]

    def page(**params) -> tuple[list[tuple], int | None]:
        body = ok(seeded.get("/v1/accounts/A1/history", params=params))
        return [(h["entity_kind"], h["entity_id"], h["old_status"], h["new_status"]) for h in body["items"]], \
            body["next_before"]

    assert page(limit=3) == (expected[:3], ids[2])
    assert page(limit=3, before=ids[2]) == (expected[3:6], ids[5])
    assert page(limit=3, before=ids[5]) == (expected[6:], None)
    assert page(limit=7) == (expected, None)  # exactly all: no further page
    assert page(before=ids[0]) == (expected[1:], None)  # strictly older than `before`
    assert page(before=ids[-1]) == ([], None)
    contact_rows = [h for h in expected if h[0] == "contact"]
    contact_ids = [i for i, h in zip(ids, expected) if h[0] == "contact"]
    assert page(kind="contact", limit=3) == (contact_rows[:3], contact_ids[2])
    assert page(kind="contact", limit=3, before=contact_ids[2]) == (contact_rows[3:], None)
    assert page(kind="account", before=ids[2]) == ([expected[6]], None)
    # the largest id the column can hold is still a cursor; anything above it is refused, naming `before`
    assert page(before=2**31 - 1) == (expected, None)
    for params, field in [({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"kind": "everything"}, "kind"),
                          ({"before": 0}, "before"), ({"before": 2**31}, "before"), ({"before": 2**63}, "before"),
                          ({"before": 10**30}, "before"), ({"before": "newest"}, "before")]:
        r = seeded.get("/v1/accounts/A1/history", params=params)
        assert r.status_code == 422, (params, r.text)
        assert [f["field"].split(".")[-1] for f in r.json()["fields"]] == [field], r.json()


def test_contacts_page_by_id(seeded: TestClient) -> None:
    ok(seeded.put("/v1/contacts", json=[contact(f"K{i}", "A1", f"p{i}@acme.com") for i in range(3, 8)]))
    page = ok(seeded.get("/v1/accounts/A1/contacts", params={"limit": 4}))
    assert [x["id"] for x in page["items"]] == ["K1", "K2", "K3", "K4"] and page["next_after"] == "K4"
    page = ok(seeded.get("/v1/accounts/A1/contacts", params={"limit": 4, "after": "K4"}))
    assert [x["id"] for x in page["items"]] == ["K5", "K6", "K7"] and page["next_after"] is None
    assert all(x["status"] == "pre_qualified" for x in page["items"])
    assert seeded.get("/v1/accounts/ghost/contacts").status_code == 404


def test_deleting_an_account_drops_its_status_keeps_its_history(seeded: TestClient) -> None:
    ok(seeded.post("/v1/activities", json=[activity("E1")]))
    status(seeded)  # cached
    ok(seeded.delete("/v1/accounts/A1"))
    r = seeded.get("/v1/accounts/A1/status")
    assert r.status_code == 404 and "A1" in r.json()["error"]
    assert history(seeded)[0] == ("account", "A1", "pre_qualified", "qualified")


def test_openapi_documents_the_qualification_endpoints(seeded: TestClient) -> None:
    spec = ok(seeded.get("/openapi.json"))
    paths = spec["paths"]
    for path, method in [("/v1/activities", "post"), ("/v1/opportunities", "put"), ("/v1/contracts", "put"),
                         ("/v1/accounts/{account_id}/flags", "put"), ("/v1/contacts/{contact_id}/status", "post"),
                         ("/v1/accounts/{account_id}/status", "get"), ("/v1/accounts/{account_id}/history", "get"),
                         ("/v1/accounts/{account_id}/contacts", "get")]:
        assert method in paths[path], path
    assert "examples" in paths["/v1/activities"]["post"]["requestBody"]["content"]["application/json"]
    assert "409" in paths["/v1/contacts/{contact_id}/status"]["post"]["responses"]
    assert spec["components"]["schemas"]["AccountStatusOut"]["examples"]


# ---------------------------------------------------------------- the status cache


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cached_client(request: pytest.FixtureRequest, database_url: str) -> Iterator[TestClient]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    ns = request.getfixturevalue("redis_namespace") if request.param == "redis" else "t:"
    with app_client(settings_for(database_url, redis_url, channel=ns + "index"), cache_prefix=ns + "cache:") as c:
        yield seed(c)


def _json(document: dict) -> dict:
    return orjson.loads(orjson.dumps(document))


# Each write changes what the status answer must say (the check); the walk runs them in order.
WRITES = [
    ("activity", "post", "/v1/activities", [activity("E2", "meeting", contact_id="K2")],
     lambda before, after: after["engagement_points"] > before["engagement_points"]),
    ("contact", "put", "/v1/contacts", [contact("K3", "A1", "ann@acme.com")],
     lambda before, after: after["contacts"]["total"] == 3),
    ("opportunity", "put", "/v1/opportunities", [opportunity()],
     lambda before, after: after["status"] == "opportunity_open"),
    ("contract", "put", "/v1/contracts", [{"id": "C1", "account_id": "A1", "starts_on": "2020-01-01"}],
     lambda before, after: after["status"] == "customer_opportunity"),
    ("manual move", "post", "/v1/contacts/K2/status", {"status": "disqualified"},
     lambda before, after: after["contacts"]["by_status"].get("disqualified") == 1),
    ("account fit", "put", "/v1/accounts", [account("A1", "Acme Corporation", fit_tier="4")],
     lambda before, after: after["engagement_points"] == 0),
    ("flags", "put", "/v1/accounts/A1/flags", {"partner": True},
     lambda before, after: after["status"] == "partner"),
]


def test_a_write_never_leaves_a_stale_status_in_the_cache(cached_client: TestClient,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    c = cached_client
    services = c.app.state.services
    ok(c.post("/v1/activities", json=[activity("E1")]))
    for what, method, path, body, check in WRITES:
        before = status(c)
        assert services.cache.get("status:A1") is not None, what  # the answer went into the cache
        with monkeypatch.context() as patch:  # and a hit is answered without opening a session
            patch.setattr(services, "sessions", lambda: pytest.fail("a cache hit opened a database session"))
            assert status(c) == before
        ok(getattr(c, method)(path, json=body))
        assert services.cache.get("status:A1") is None, what
        after = status(c)
        with services.sessions() as s:
            truth = qualification.status_document("A1", *qualification.account_view(s, services.qualifier, "A1"))
        assert after == _json(truth), what
        assert check(before, after), (what, before, after)
    status(c)
    ok(c.delete("/v1/accounts/A1"))
    assert services.cache.get("status:A1") is None
    assert c.get("/v1/accounts/A1/status").status_code == 404


def test_two_writers_on_one_account_store_a_verdict_that_saw_both(database_url: str) -> None:
    """The second writer waits for the first (row lock on PostgreSQL, the write lock on SQLite)
    and then evaluates a ledger with both events: the last verdict stored is never one that
    missed the other writer's event."""
    from api.qualification import ledger_reader, store as ledger_store
    from api.accounts import store
    from api.db import make_engine, make_sessionmaker, session_scope
    from api.qualification.service import Qualifier
    from config import load_qualification_rules
    from matcher.qualification.ledger import Activity

    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    qualifier = Qualifier(load_qualification_rules())
    with session_scope(sessions) as s:
        store.upsert_accounts(s, [store.AccountData("A1", "Acme Corporation", domains=("acme.com",), fit_tier="1")])
        store.upsert_contacts(s, [store.ContactData("K1", "A1", "jane@acme.com", title="VP Engineering"),
                                  store.ContactData("K2", "A1", "max@acme.com", title="CFO")])
        qualifier.refresh(s, ["A1"])  # both writers update stored statuses

    def write(session, event: Activity) -> None:  # noqa: ANN001
        ledger_store.ingest_activities(session, [event])
        qualifier.refresh(session, ["A1"])

    first = sessions()
    write(first, Activity("E1", "webinar", T0, contact_id="K1"))
    second_done = threading.Event()

    def second() -> None:
        with session_scope(sessions) as s:
            write(s, Activity("E2", "demo_request", T0, contact_id="K2"))
        second_done.set()

    thread = threading.Thread(target=second)
    thread.start()
    try:
        assert not second_done.wait(0.5), "the second writer did not wait for the first"
        first.commit()
    finally:
        first.close()
        thread.join(30)
    assert second_done.is_set()
    with sessions() as s:
        stored = ledger_store.read_account_status(s, "A1")
        stored_contacts = {c["id"]: c["status"] for c in ledger_store.read_contact_states(s, "A1")}
        truth = qualifier.evaluate(ledger_reader.load_ledger(s, "A1"))
    engine.dispose()
    assert stored_contacts == {c.contact_id: c.status for c in truth.contacts}
    assert stored_contacts["K2"] == "qualified" and stored_contacts["K1"] != "pre_qualified"
    assert (stored["status"], stored["personas_engaged"]) == (truth.status, list(truth.personas_engaged))
    assert sorted(truth.personas_engaged) == ["engineering", "finance"]  # both events count
