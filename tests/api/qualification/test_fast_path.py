"""The cached account status is answered ahead of FastAPI's routing; it must be the same answer."""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import account


def test_cache_hit_answers_what_the_route_answers(client: TestClient) -> None:
    assert client.put("/v1/accounts", json=[account("A1")]).status_code == 200
    miss = client.get("/v1/accounts/A1/status")  # built by the route, then cached
    hit = client.get("/v1/accounts/A1/status")  # from the cache, ahead of the route
    assert miss.status_code == hit.status_code == 200
    assert hit.content == miss.content and hit.headers["content-type"] == "application/json"
    assert int(hit.headers["content-length"]) == len(hit.content)
    # counted under the route's template like any other request
    metrics = client.get("/metrics").text
    assert 'route="/v1/accounts/{account_id}/status",status="200"} 2.0' in metrics
    # a change drops the cached answer: the next read is the new status, not the cached one
    assert client.put("/v1/accounts/A1/flags", json={"disqualified": True, "partner": False}).status_code == 200
    assert client.get("/v1/accounts/A1/status").json()["status"] == "disqualified"
    # what the fast path does not know goes on to the route (404 with its message)
    assert client.get("/v1/accounts/NOPE/status").status_code == 404
    assert client.get("/v1/accounts/" + "x" * 65 + "/status").status_code == 422
