"""/v1/routing: the whole document and its entries, every write validated whole (SQLite and PostgreSQL)."""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import app_client, settings_for

DOC = {
    "members": [{"id": "ann", "timezone": "Europe/Berlin"}, {"id": "bob", "cap_per_day": 40}],
    "pools": [{"id": "sdr", "members": [{"member": "ann", "weight": 2}, {"member": "bob"}]}],
    "default_pool": "sdr",
    "territories": [{"id": "dach", "when": {"country": ["DE", "AT", "CH"]}, "member": "ann"},
                    {"id": "us", "when": {"country": ["US"]}, "pool": "sdr"}],
}


def test_put_and_get_the_whole_document(client: TestClient) -> None:
    r = client.get("/v1/routing")
    assert r.status_code == 200 and r.json()["version"] == 0  # nothing stored: the shipped defaults
    assert r.json()["document"]["catch_all_queue"] == "sdr-queue"
    r = client.put("/v1/routing", json=DOC)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    got = client.get("/v1/routing").json()
    assert got["version"] == 1 and [m["id"] for m in got["document"]["members"]] == ["ann", "bob"]


def test_bad_documents_are_refused_naming_the_entry_and_store_nothing(client: TestClient) -> None:
    assert client.put("/v1/routing", json=DOC).status_code == 200
    cases = [
        ({"territories": [*DOC["territories"], {"id": "x", "when": {"colour": ["red"]}, "pool": "sdr"}]},
         "territories[2].when", "territories[2] 'x': unknown field 'colour'"),
        ({"pools": [{"id": "sdr", "members": []}]}, "pools[0].members", "pools[0] 'sdr': a pool has at least one member"),
        ({"members": [{"id": "ann", "timezone": "Mars/Olympus"}, {"id": "bob"}]}, "members[0].timezone",
         "members[0] 'ann': unknown time zone 'Mars/Olympus'"),
        ({"pools": [{"id": "sdr", "members": [{"member": "ann", "weight": -1}]}]}, "pools[0].members[0].weight",
         "pools[0] 'sdr': Input should be greater than or equal to 0"),
        ({"territories": [{"id": "all", "pool": "sdr"}, DOC["territories"][1]]}, "territories[1]",
         "territories[1] 'us' can never fire: territories[0] 'all' comes first"),
    ]
    for change, field, message in cases:
        r = client.put("/v1/routing", json={**DOC, **change})
        assert r.status_code == 422, (change, r.text)
        fields = {f["field"]: f["message"] for f in r.json()["fields"]}
        assert field in fields and fields[field].startswith(message), (field, fields)
    assert client.get("/v1/routing").json()["version"] == 1


def test_entries_crud_pause_and_positions(client: TestClient) -> None:
    assert client.put("/v1/routing", json=DOC).status_code == 200
    assert client.get("/v1/routing/members/bob").json()["entry"]["cap_per_day"] == 40
    r = client.put("/v1/routing/members/cy", json={"timezone": "Asia/Tokyo"})
    assert r.status_code == 200 and r.json() == {"version": 2, "entry": {**r.json()["entry"], "id": "cy"}}
    assert [m["id"] for m in client.get("/v1/routing/members").json()["items"]] == ["ann", "bob", "cy"]
    assert client.post("/v1/routing/members/cy/pause").json()["entry"]["paused"] is True
    assert client.post("/v1/routing/members/cy/resume").json()["entry"]["paused"] is False
    assert client.post("/v1/routing/members/nobody/pause").status_code == 404
    # a member still in a pool cannot go
    r = client.delete("/v1/routing/members/bob")
    assert r.status_code == 409 and r.json()["fields"][0]["field"] == "pools[0]" and "'sdr'" in r.json()["error"]
    assert client.delete("/v1/routing/members/cy").status_code == 200
    # a territory replaced keeps its place, a new one is appended or goes where `position` says
    assert client.put("/v1/routing/territories/dach", json={"when": {"country": ["DE"]}, "member": "bob"}).status_code == 200
    assert client.put("/v1/routing/territories/uk", json={"when": {"country": ["GB"]}, "member": "ann"}).status_code == 200
    assert client.put("/v1/routing/territories/fr", params={"position": 0},
                      json={"when": {"country": ["FR"]}, "member": "ann"}).status_code == 200
    ids = [t["id"] for t in client.get("/v1/routing").json()["document"]["territories"]]
    assert ids == ["fr", "dach", "us", "uk"]
    r = client.put("/v1/routing/territories/bad", json={"when": {"colour": ["red"]}, "member": "ann"})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "territories[4].when"
    assert client.put("/v1/routing/schedules/night", json={"hours": {"mon": ["22:00-24:00"]}}).status_code == 200
    assert client.get("/v1/routing/schedules/night").json()["entry"]["hours"] == {"mon": ["22:00-24:00"]}
    assert client.delete("/v1/routing/pools/sdr").status_code == 422  # default_pool and a territory name it
    assert client.get("/v1/routing/pools/none").status_code == 404


def test_a_new_version_is_followed_by_another_process(database_url: str) -> None:
    with app_client(settings_for(database_url)) as one, app_client(settings_for(database_url)) as two:
        assert one.put("/v1/routing", json=DOC).status_code == 200
        assert two.get("/v1/routing/members/ann").json() == {"version": 1, "entry": two.get(
            "/v1/routing/members/ann").json()["entry"]}
        assert two.post("/v1/routing/members/ann/pause").json()["version"] == 2
        assert one.get("/v1/routing/members/ann").json()["entry"]["paused"] is True
