"""A small key-value cache with TTLs: in-process, or Redis when ``REDIS_URL`` is set.

Values are bytes (``get``/``set``) or JSON (``get_json``/``set_json``, encoded with orjson).
Keys are namespaced by a prefix so several deployments (or test runs) can share one Redis.
``delete_prefix`` drops a whole family of keys, e.g. every cached view of one account.

Invalidation is the writer's job: whoever commits a change deletes the keys it made stale,
after the commit. A reader that loaded the old row just before the commit may still write it
back; the TTL bounds how long such a stale entry can live.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any

import orjson

DEFAULT_PREFIX = "leadmatch:cache:"


class Cache(ABC):
    @abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value``; ``ttl`` in seconds (None = until evicted or deleted)."""

    @abstractmethod
    def delete(self, *keys: str) -> int: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int: ...

    def get_json(self, key: str) -> Any | None:
        raw = self.get(key)
        return None if raw is None else orjson.loads(raw)

    def set_json(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.set(key, orjson.dumps(value), ttl)

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


class MemoryCache(Cache):
    """Per-process LRU with expiry. Thread-safe (sync handlers run in a thread pool)."""

    def __init__(self, max_items: int = 100_000) -> None:
        self._data: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, value = item
            if expires is not None and expires <= time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        expires = None if ttl is None else time.monotonic() + ttl
        with self._lock:
            self._data[key] = (expires, bytes(value))
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def delete(self, *keys: str) -> int:
        with self._lock:
            return sum(self._data.pop(k, None) is not None for k in keys)

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            doomed = [k for k in self._data if k.startswith(prefix)]
            for k in doomed:
                del self._data[k]
            return len(doomed)


class RedisCache(Cache):
    """Shared by every process that points at the same Redis and prefix."""

    def __init__(self, client, prefix: str = DEFAULT_PREFIX) -> None:  # client: redis.Redis
        self._r = client
        self._prefix = prefix

    def get(self, key: str) -> bytes | None:
        return self._r.get(self._prefix + key)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if ttl is None:
            self._r.set(self._prefix + key, value)
        else:
            self._r.set(self._prefix + key, value, px=max(1, int(ttl * 1000)))

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(self._r.delete(*(self._prefix + k for k in keys)))

    def delete_prefix(self, prefix: str) -> int:
        # SCAN, not KEYS: never block Redis on a big keyspace. Glob characters in the prefix
        # are escaped so 'a*' deletes keys starting with 'a*', not every key starting with 'a'.
        pattern = _glob_escape(self._prefix + prefix) + "*"
        n = 0
        batch: list[bytes] = []
        for key in self._r.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                n += int(self._r.unlink(*batch))
                batch.clear()
        if batch:
            n += int(self._r.unlink(*batch))
        return n


def _glob_escape(s: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in s)


def make_cache(redis_client=None, prefix: str = DEFAULT_PREFIX) -> Cache:
    """Redis-backed when a client is given (``REDIS_URL`` set), else in-process."""
    return RedisCache(redis_client, prefix) if redis_client is not None else MemoryCache()
