"""The cache on both backends, and its invalidation through the API."""
from __future__ import annotations

import time
from typing import Iterator

import pytest

from api.cache import Cache, MemoryCache, RedisCache
from tests.conftest import account, app_client, contact, settings_for


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    if request.param == "memory":
        yield MemoryCache(max_items=100)
        return
    import redis

    url = request.getfixturevalue("redis_url")
    ns = request.getfixturevalue("redis_namespace")
    client = redis.Redis.from_url(url)
    yield RedisCache(client, prefix=ns)
    client.close()


def test_bytes_and_json_round_trip(cache: Cache) -> None:
    assert cache.get("k") is None
    cache.set("k", b"\x00raw")
    assert cache.get("k") == b"\x00raw"
    cache.set_json("j", {"a": [1, 2], "b": None})
    assert cache.get_json("j") == {"a": [1, 2], "b": None}


def test_ttl_expires(cache: Cache) -> None:
    cache.set("short", b"x", ttl=0.05)
    cache.set("long", b"y", ttl=30)
    time.sleep(0.15)
    assert cache.get("short") is None and cache.get("long") == b"y"


def test_delete_and_delete_prefix(cache: Cache) -> None:
    for k in ("account:1", "account:2", "account:10", "accounting", "other:1", "star*:1"):
        cache.set(k, b"v")
    assert cache.delete("account:1", "missing") == 1
    assert cache.delete_prefix("account:") == 2
    assert cache.get("accounting") == b"v" and cache.get("other:1") == b"v"
    assert cache.delete_prefix("star*") == 1  # glob characters are literal
    assert cache.get("other:1") == b"v"


def test_memory_cache_evicts_least_recently_used() -> None:
    c = MemoryCache(max_items=2)
    c.set("a", b"1")
    c.set("b", b"2")
    c.get("a")
    c.set("c", b"3")
    assert c.get("b") is None and c.get("a") == b"1"


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_account_view_is_cached_and_invalidated_on_change(database_url: str, backend: str,
                                                          request: pytest.FixtureRequest) -> None:
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    ns = request.getfixturevalue("redis_namespace") if backend == "redis" else "t:"
    settings = settings_for(database_url, redis_url, channel=ns + "index")
    with app_client(settings, cache_prefix=ns + "cache:") as c:
        cache = c.app.state.services.cache
        c.put("/v1/accounts", json=[account("A1", "Acme Corporation")])
        assert c.get("/v1/accounts/A1").json()["name"] == "Acme Corporation"
        assert cache.get_json("account:A1")["name"] == "Acme Corporation"
        c.put("/v1/accounts", json=[account("A1", "Acme Holdings")])
        assert cache.get("account:A1") is None
        assert c.get("/v1/accounts/A1").json()["name"] == "Acme Holdings"
        c.put("/v1/contacts", json=[contact("K1", "A1")])
        assert c.get("/v1/accounts/A1").json()["contact_count"] == 1
        c.delete("/v1/accounts/A1")
        assert cache.get("account:A1") is None
        assert c.get("/v1/accounts/A1").status_code == 404


# ---------------------------------------------------------------- Redis away (api/redis_guard.py)


def dead_redis_url() -> str:
    import socket

    with socket.socket() as s:  # a port nothing listens on once the socket is closed
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


def test_a_cache_on_a_dead_redis_misses_skips_and_counts() -> None:
    from api.metrics import Metrics
    from api.redis_guard import RedisGuard, connect

    metrics = Metrics()
    client = connect(dead_redis_url())
    cache = RedisCache(client, "t:", RedisGuard(metrics))
    try:
        assert cache.get("k") is None
        cache.set("k", b"v", ttl=5)
        cache.set_json("j", {"a": 1})
        assert cache.get_json("j") is None
        assert cache.delete("k") == 0 and cache.delete_prefix("account:") == 0
        assert not cache.guard.up and cache.invalidations_pending

        def sample(name: str, op: str) -> float:
            return metrics.registry.get_sample_value(name, {"op": op}) or 0.0

        # the first call failed; every later one fell within the back-off and was not tried
        assert sample("leadmatch_redis_errors_total", "get") == 1
        assert sample("leadmatch_redis_skipped_total", "set") == 2
        assert metrics.registry.get_sample_value("leadmatch_redis_up") == 0
    finally:
        client.close()


@pytest.mark.redis
def test_an_invalidation_redis_did_not_get_is_replayed_before_the_next_read(
        redis_url: str, redis_namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis kept the entry but missed its delete (unreachable from this process for a moment):
    on the next contact the delete is made before anything is read or written."""
    import redis as redis_lib

    from api.redis_guard import RedisGuard

    client = redis_lib.Redis.from_url(redis_url)
    clock = [0.0]
    cache = RedisCache(client, redis_namespace, RedisGuard(open_seconds=1.0, clock=lambda: clock[0]))
    try:
        cache.set("account:A1", b"old")
        cache.set("status:A1", b"old")
        cache.set("status:A2", b"kept")
        real_delete, real_scan = client.delete, client.scan_iter

        def refused(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
            raise redis_lib.ConnectionError("Connection refused")

        monkeypatch.setattr(client, "delete", refused)
        monkeypatch.setattr(client, "scan_iter", refused)
        assert cache.delete("status:A1") == 0
        assert cache.delete_prefix("account:") == 0
        assert cache.invalidations_pending
        # Redis answers again, but the back-off has not passed: still a miss, nothing replayed
        monkeypatch.setattr(client, "delete", real_delete)
        monkeypatch.setattr(client, "scan_iter", real_scan)
        assert cache.get("status:A2") is None and cache.invalidations_pending
        assert client.get(redis_namespace + "status:A1") == b"old"
        clock[0] += 1.5
        assert cache.get("status:A1") is None  # replayed, then read: gone
        assert not cache.invalidations_pending
        assert client.get(redis_namespace + "status:A1") is None
        assert client.get(redis_namespace + "account:A1") is None
        assert cache.get("status:A2") == b"kept"
    finally:
        client.close()


def test_too_many_lost_invalidations_drop_the_whole_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    from api import cache as cache_module
    from api.redis_guard import connect

    monkeypatch.setattr(cache_module, "LOST_KEYS_MAX", 3)
    client = connect(dead_redis_url())
    cache = RedisCache(client, "t:")
    try:
        cache.delete("a", "b", "c")
        assert cache._lost_keys == {"t:a", "t:b", "t:c"} and not cache._lost_everything
        cache.delete("d")
        assert cache._lost_everything and not cache._lost_keys
    finally:
        client.close()
