"""The HTTP API end to end (real app, real database, no mocks)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import account, contact

FAMILY = [
    account("P1", "Acme Corporation", domains=["acme.com"], country="US", owner="Dana Whitfield"),
    account("C1", "Acme GmbH", domains=["acme.de"], country="DE", parent_id="P1", owner="Lena Vogel"),
    account("Z1", "Zorblax Industries", domains=["zorblax.com"], country="GB", owner="Oliver Hughes"),
]


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    r = client.put("/v1/accounts", json=FAMILY)
    assert r.status_code == 200, r.text
    return client


def snapshot(client: TestClient) -> dict:
    return {a["id"]: client.get(f"/v1/accounts/{a['id']}").json() for a in FAMILY}


def match(client: TestClient, **lead) -> dict:
    r = client.post("/v1/match", json=lead)
    assert r.status_code == 200, r.text
    return r.json()


def test_match_returns_decision_confidence_reasons_and_route(seeded: TestClient) -> None:
    body = match(seeded, email="jane@acme.de", company="Acme GmbH", country="DE")
    assert body["decision"] == "matched" and body["account_id"] == "C1"
    assert 0 <= body["confidence"] <= 1 and body["reasons"]
    assert body["route"]["owner"] == "Lena Vogel"
    assert match(seeded, email="nobody@unknown-company.org")["decision"] == "no_match"


BAD_REQUESTS = [
    # (case, method, path, body, status, field)
    ("malformed email", "post", "/v1/match", {"email": "not-an-email"}, 422, "email"),
    ("neither email nor company", "post", "/v1/match", {"country": "DE"}, 422, "email"),
    ("blank email and company", "post", "/v1/match", {"email": "  ", "company": ""}, 422, "email"),
    ("wrong type", "post", "/v1/match", {"email": 42}, 422, "email"),
    ("too long", "post", "/v1/match", {"company": "x" * 301}, 422, "company"),
    ("not an object", "post", "/v1/match", ["x"], 422, "body"),
    ("bulk not an array", "post", "/v1/match/bulk", {"email": "a@b.com"}, 422, "body"),
    ("too many bulk leads", "post", "/v1/match/bulk", [{"company": "x"}] * 51, 413, "items"),
    ("too many accounts", "put", "/v1/accounts", [account(f"N{i}") for i in range(51)], 413, "items"),
    ("account bad country", "put", "/v1/accounts", [account("N1"), account("N2", country="Germany")], 422,
     "items[1].country"),
    ("account missing name", "put", "/v1/accounts", [{"id": "N1"}], 422, "items[0].name"),
    ("account unknown field", "put", "/v1/accounts", [account("N1", colour="red")], 422, "items[0].colour"),
    ("account unknown parent", "put", "/v1/accounts", [account("N1"), account("N2", parent_id="ghost")], 422,
     "items[1].parent_id"),
    ("account cycle", "put", "/v1/accounts", [account("P1", "Acme Corporation", parent_id="C1")], 422,
     "items[0].parent_id"),
    ("account bad domain", "put", "/v1/accounts", [account("N1", domains=["no spaces allowed"])], 422,
     "items[0].domains"),
    ("contact unknown account", "put", "/v1/contacts", [contact("K1", "P1"), contact("K2", "ghost")], 422,
     "items[1].account_id"),
    ("contact bad email", "put", "/v1/contacts", [contact("K1", "P1", email="x@")], 422, "items[0].email"),
    ("delete unknown account", "delete", "/v1/accounts/ghost", None, 404, "account_id"),
    ("get unknown account", "get", "/v1/accounts/ghost", None, 404, "account_id"),
]


@pytest.mark.parametrize(("case", "method", "path", "body", "status", "field"), BAD_REQUESTS,
                         ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_name_the_field_and_change_nothing(seeded: TestClient, case: str, method: str, path: str,
                                                        body, status: int, field: str) -> None:  # noqa: ANN001
    before = snapshot(seeded)
    kwargs = {} if body is None else {"json": body}
    r = getattr(seeded, method)(path, **kwargs)
    assert r.status_code == status, r.text
    payload = r.json()
    assert payload["error"]
    assert field in [f["field"] for f in payload["fields"]], payload
    if field == "account_id":
        assert "ghost" in payload["error"]  # the message names the id
    assert snapshot(seeded) == before
    assert match(seeded, email="x@acme.de")["account_id"] == "C1"  # the index is untouched too


def test_oversized_body_is_413_before_parsing(seeded: TestClient) -> None:
    big = b'{"company": "' + b"x" * (70 * 1024) + b'"}'
    r = seeded.post("/v1/match", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"company": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    r = seeded.post("/v1/match", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_bulk_match_reports_invalid_items_and_matches_the_rest(seeded: TestClient) -> None:
    r = seeded.post("/v1/match/bulk", json=[{"email": "a@acme.com"}, {"email": "broken"}, {"country": "DE"},
                                            "not an object", {"email": "b@zorblax.com"}])
    assert r.status_code == 200
    body = r.json()
    assert [x["index"] for x in body["results"]] == [0, 1, 2, 3, 4]
    assert body["results"][0]["result"]["account_id"] == "P1"
    assert body["results"][1]["error"]["fields"][0]["field"] == "items[1].email"
    assert body["results"][2]["error"]["fields"][0]["field"] == "items[2].email"
    assert body["results"][3]["error"] is not None
    assert body["results"][4]["result"]["account_id"] == "Z1"
    assert body["counts"]["error"] == 3 and body["counts"]["matched"] == 2


def test_put_accounts_is_idempotent_and_atomic(client: TestClient) -> None:
    assert client.put("/v1/accounts", json=FAMILY).json() == {"created": 3, "updated": 0, "unchanged": 0}
    assert client.put("/v1/accounts", json=FAMILY).json() == {"created": 0, "updated": 0, "unchanged": 3}
    stamp = client.get("/v1/accounts/P1").json()["updated_at"]
    renamed = [dict(FAMILY[0], name="Acme Holdings"), account("NEW1", "Brand New Co"),
               account("NEW2", "Other Co", parent_id="ghost")]
    r = client.put("/v1/accounts", json=renamed)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "items[2].parent_id"
    assert client.get("/v1/accounts/P1").json()["name"] == "Acme Corporation"
    assert client.get("/v1/accounts/P1").json()["updated_at"] == stamp
    assert client.get("/v1/accounts/NEW1").status_code == 404


def test_changes_show_in_match_without_restart(seeded: TestClient) -> None:
    # rename
    assert match(seeded, company="Quuxcorp Dynamics", country="GB")["account_id"] != "Z1"
    seeded.put("/v1/accounts", json=[dict(FAMILY[2], name="Quuxcorp Dynamics")])
    assert match(seeded, company="Quuxcorp Dynamics", country="GB")["account_id"] == "Z1"
    # new domain
    assert match(seeded, email="x@zorb.io")["account_id"] is None
    seeded.put("/v1/accounts", json=[dict(FAMILY[2], name="Quuxcorp Dynamics", domains=["zorblax.com", "zorb.io"])])
    assert match(seeded, email="x@zorb.io")["account_id"] == "Z1"
    # contact evidence: a domain learned from a contact's email
    assert match(seeded, email="y@acme-deutschland.de")["account_id"] is None
    seeded.put("/v1/contacts", json=[contact("K1", "C1", email="max@acme-deutschland.de")])
    learned = match(seeded, email="y@acme-deutschland.de")
    assert learned["account_id"] == "C1", learned
    # re-parent: the German child moves to another family; the account itself stays matchable
    seeded.put("/v1/accounts", json=[account("P2", "Other Group", domains=["other.com"]),
                                     dict(FAMILY[1], parent_id="P2")])
    assert seeded.get("/v1/accounts/C1").json()["parent_id"] == "P2"
    assert match(seeded, email="x@acme.de")["account_id"] == "C1"
    # delete: children detached, the account no longer matches
    r = seeded.delete("/v1/accounts/P2")
    assert r.status_code == 200 and r.json()["detached_children"] == ["C1"]
    assert seeded.get("/v1/accounts/C1").json()["parent_id"] is None
    seeded.delete("/v1/accounts/Z1")
    assert match(seeded, email="x@zorb.io")["account_id"] is None
    assert seeded.get("/v1/accounts/Z1").status_code == 404


def test_health_ready_metrics_and_openapi(seeded: TestClient) -> None:
    assert seeded.get("/healthz").json() == {"status": "ok"}
    ready = seeded.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["index"]["ok"]
    match(seeded, email="a@acme.com")
    text = seeded.get("/metrics").text
    assert 'leadmatch_matches_total{decision="matched"}' in text
    assert "leadmatch_match_seconds_bucket" in text
    assert "leadmatch_index_accounts 3.0" in text
    assert 'leadmatch_http_requests_total{method="POST",route="/v1/match",status="200"}' in text
    spec = seeded.get("/openapi.json").json()
    lead_body = spec["paths"]["/v1/match"]["post"]["requestBody"]["content"]["application/json"]
    assert "examples" in lead_body
    assert spec["paths"]["/v1/match/bulk"]["post"]["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"


def test_readyz_is_503_when_the_database_is_gone(tmp_path) -> None:  # noqa: ANN001
    from api.db import migrate
    from tests.conftest import app_client, settings_for

    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate(url)
    with app_client(settings_for(url)) as c:
        c.app.state.services.engine.dispose()
        (tmp_path / "x.db").unlink()
        (tmp_path / "x.db").mkdir()  # now it cannot be opened at all
        r = c.get("/readyz")
        assert r.status_code == 503 and not r.json()["checks"]["database"]["ok"]
