"""Redis goes away under load and comes back: no 5xx, the cache is used again, and a replica
catches up on the index changes it could not hear about (api/redis_guard.py, api/cache.py,
api/matching/index_sync.py). Each test runs a redis-server of its own (``own_redis``)."""
from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import OwnRedis, account, app_client, settings_for, wait_for


def matched(client: TestClient, email: str) -> str | None:
    r = client.post("/v1/match", json={"email": email})
    assert r.status_code == 200, r.text
    return r.json()["account_id"]


class Load:
    """Threads sending GET status, PUT accounts (L0-L3: L4 is the test's to delete), DELETE and
    POST match until stopped; counts the answers by status code (and keeps what a 5xx said)."""

    def __init__(self, a: TestClient, b: TestClient) -> None:
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(lambda i: a.get(f"/v1/accounts/L{i % 5}/status"),)),
            threading.Thread(target=self._run, args=(lambda i: a.put(
                "/v1/accounts", json=[account(f"L{i % 4}", f"Loadco {i % 4} Systems", domains=[f"loadco{i % 4}.com"])]),)),
            threading.Thread(target=self._run, args=(lambda i: b.delete(f"/v1/accounts/gone{i}"),)),
            threading.Thread(target=self._run, args=(lambda i: (a if i % 2 else b).post(
                "/v1/match", json={"email": f"x@loadco{i % 5}.com"}),)),
        ]

    def _run(self, send: Callable[[int], object]) -> None:
        i = 0
        while not self._stop.is_set():
            r = send(i)
            with self._lock:
                self.statuses[r.status_code] += 1
                if r.status_code >= 500:
                    self.failures.append(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:200]}")
            i += 1

    def __enter__(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


@pytest.mark.redis
def test_redis_killed_under_load_then_back(database_url: str, own_redis: OwnRedis) -> None:
    settings = settings_for(database_url, own_redis.url, index_check_seconds=0.5)
    with app_client(settings) as a, app_client(settings) as b:
        assert a.put("/v1/accounts", json=[account(f"L{i}", f"Loadco {i} Systems", domains=[f"loadco{i}.com"])
                                           for i in range(5)]).status_code == 200
        cache = a.app.state.services.cache
        # Redis holds it (replica B drops it once when A's notification of the PUT reaches it, which
        # may come after A's first read: read again until it stays)
        deadline = time.monotonic() + 10
        while True:
            assert a.get("/v1/accounts/L1/status").status_code == 200
            # the value read is the one checked: a late notification may drop it again between two
            # reads (the full suite failed once that way)
            held = cache.get("status:L1")
            if held is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert held is not None
        with Load(a, b) as load:
            time.sleep(1.0)
            own_redis.stop()
            time.sleep(1.5)
            # replica B changes the index while Redis is gone: its notification cannot go out
            r = b.put("/v1/accounts", json=[account("Z1", "Zorblax Industries", domains=["zorblax.com"])])
            assert r.status_code == 200, r.text
            assert b.delete("/v1/accounts/L4").status_code == 200
            ready = a.get("/readyz")  # still ready: it serves from the database
            assert ready.status_code == 200 and ready.json()["ready"] and ready.json()["degraded"]
            assert not ready.json()["checks"]["redis"]["ok"]
            time.sleep(1.5)
            during = sum(load.statuses.values())
            own_redis.start()
            wait_for(lambda: a.get("/readyz").json()["checks"]["redis"]["ok"], 10, "A to reach Redis again")
            time.sleep(1.0)
        assert load.failures == [], load.failures[:5]
        assert during > 20 and sum(load.statuses.values()) > during, load.statuses
        # A catches up on what B changed while Redis was away
        wait_for(lambda: matched(a, "x@zorblax.com") == "Z1", 15, "A to see B's new account")
        wait_for(lambda: matched(a, "x@loadco4.com") is None, 15, "A to drop the account B deleted")
        # and the cache is used again: the status A answers is in Redis
        assert a.get("/v1/accounts/L2/status").status_code == 200
        assert cache.get("status:L2") is not None
        assert cache.guard.up
        errors = a.app.state.metrics.registry.get_sample_value("leadmatch_redis_errors_total", {"op": "get"})
        assert errors and errors >= 1


@pytest.mark.redis
def test_a_change_nobody_announced_is_caught_from_the_generation(database_url: str, own_redis: OwnRedis) -> None:
    """Replica B writes without Redis (so it announces nothing): A, listening on a healthy Redis,
    still gets the change, from the database's index generation."""
    with app_client(settings_for(database_url, own_redis.url, index_check_seconds=0.3)) as a, \
            app_client(settings_for(database_url)) as b:
        assert b.put("/v1/accounts", json=[account("Z1", "Zorblax Industries", domains=["zorblax.com"])]).status_code == 200
        wait_for(lambda: matched(a, "x@zorblax.com") == "Z1", 10, "A to see the unannounced account")
        assert a.app.state.services.index.redis_ok


@pytest.mark.redis
def test_a_notification_that_could_not_go_out_is_sent_when_redis_answers(
        database_url: str, own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch) -> None:
    """B cannot reach Redis for a moment (A can); B owes the change and publishes it once Redis
    answers again. A's generation check is too slow here to be what catches up."""
    import redis

    from api.matching import index_sync

    with app_client(settings_for(database_url, own_redis.url, index_check_seconds=3600)) as a, \
            app_client(settings_for(database_url, own_redis.url, index_check_seconds=0.3)) as b:
        publish = index_sync.publish_change

        def cut_off(*_a, **_k) -> None:  # noqa: ANN002, ANN003
            raise redis.ConnectionError("Connection refused")

        monkeypatch.setattr(index_sync, "publish_change", cut_off)
        assert b.put("/v1/accounts", json=[account("Z1", "Zorblax Industries", domains=["zorblax.com"])]).status_code == 200
        assert b.app.state.services.index.owes_notifications
        time.sleep(1.0)
        assert matched(a, "x@zorblax.com") is None  # A has not heard of it
        monkeypatch.setattr(index_sync, "publish_change", publish)
        wait_for(lambda: matched(a, "x@zorblax.com") == "Z1", 10, "A to hear of B's owed change")
        assert not b.app.state.services.index.owes_notifications
