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
