"""A small key-value cache with TTLs: in-process, or Redis when ``REDIS_URL`` is set.

Values are bytes (``get``/``set``) or JSON (``get_json``/``set_json``, encoded with orjson).
Keys are namespaced by a prefix so several deployments (or test runs) can share one Redis.
``delete_prefix`` drops a whole family of keys, e.g. every cached view of one account.

Invalidation is the writer's job: whoever commits a change deletes the keys it made stale,
after the commit. A reader that loaded the old row just before the commit may still write it
back; the TTL bounds how long such a stale entry can live. Every entry the service stores has
a TTL (``ACCOUNT_TTL_SECONDS``, ``STATUS_TTL_SECONDS`` in api/deps.py); the reasoning below
leans on it.

Redis may go away (api/redis_guard.py); ``RedisCache`` then never raises: a read is a miss
(the caller asks the database), a write is skipped, and an invalidation is *remembered*:
- This process's lost invalidations (keys, prefixes; past ``LOST_KEYS_MAX`` keys, the whole
  namespace) are replayed on its next contact with Redis, before that contact reads or
  writes anything; until the replay has succeeded every read is a miss. So this process never
  reads an entry it failed to invalidate.
- If Redis restarted empty (no persistence), nothing stale survived; the replay deletes nothing.
- Another replica's lost invalidation is that replica's to replay, when it reaches Redis again.
  Until then (it may be cut off from Redis while this one is not, or have crashed) this
  process may read the stale entry, for at most its TTL after it was set: nothing stored
  without a TTL is ever invalidated. The index-change notification of the same write, which
  that replica owes and sends once it reaches Redis (api/matching/index_sync.py), makes every
  receiver drop the accounts' entries too, usually well before the TTL.
- A process that cannot reach Redis stores nothing in it. One that can (a partial outage)
  stores what it read from the database: the usual race with a writer, bounded by the TTL.
"""
from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any

import orjson

from api.redis_guard import RedisGuard, RedisUnavailable

log = logging.getLogger("leadmatch.cache")

DEFAULT_PREFIX = "leadmatch:cache:"
# lost invalidations remembered one by one; beyond this the whole namespace is dropped instead
LOST_KEYS_MAX = 10_000


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
    """Shared by every process that points at the same Redis and prefix; degrades to a cache
    that holds nothing while Redis is unreachable (module docstring)."""

    def __init__(self, client, prefix: str = DEFAULT_PREFIX, guard: RedisGuard | None = None) -> None:  # client: redis.Redis
        self._r = client
        self._prefix = prefix
        self._guard = guard if guard is not None else RedisGuard()
        # invalidations Redis did not get (full keys, key prefixes, or the whole namespace once
        # there are too many keys to remember); replayed before anything else on the next contact
        self._lost_lock = threading.Lock()
        self._lost_keys: set[str] = set()
        self._lost_prefixes: set[str] = set()
        self._lost_everything = False
        self._replaying = threading.Lock()

    @property
    def guard(self) -> RedisGuard:
        return self._guard

    @property
    def invalidations_pending(self) -> bool:
        return bool(self._lost_keys or self._lost_prefixes or self._lost_everything)

    def get(self, key: str) -> bytes | None:
        if not self._clean():
            return None
        try:
            return self._guard.call("get", self._r.get, self._prefix + key)
        except RedisUnavailable:
            return None

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if not self._clean():
            return
        kwargs = {} if ttl is None else {"px": max(1, int(ttl * 1000))}
        try:
            self._guard.call("set", self._r.set, self._prefix + key, value, **kwargs)
        except RedisUnavailable:
            pass

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        full = [self._prefix + k for k in keys]
        if self._clean():
            try:
                return int(self._guard.call("delete", self._r.delete, *full))
            except RedisUnavailable:
                pass
        self._lose(keys=full)
        return 0

    def delete_prefix(self, prefix: str) -> int:
        if self._clean():
            try:
                return self._guard.call("delete_prefix", self._unlink_prefix, self._prefix + prefix)
            except RedisUnavailable:
                pass
        self._lose(prefixes=[self._prefix + prefix])
        return 0

    def _unlink_prefix(self, full_prefix: str) -> int:
        # SCAN, not KEYS: never block Redis on a big keyspace. Glob characters in the prefix
        # are escaped so 'a*' deletes keys starting with 'a*', not every key starting with 'a'.
        pattern = _glob_escape(full_prefix) + "*"
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

    # ------------------------------------------------------------------ lost invalidations

    def _lose(self, keys: list[str] = (), prefixes: list[str] = ()) -> None:  # type: ignore[assignment]
        with self._lost_lock:
            self._lost_prefixes.update(prefixes)
            if not self._lost_everything:
                self._lost_keys.update(keys)
                if len(self._lost_keys) > LOST_KEYS_MAX:
                    self._lost_everything = True
                    self._lost_keys.clear()

    def _clean(self) -> bool:
        """True when no invalidation is owed (replaying what is owed first, if Redis answers);
        False means: act as if Redis were unreachable."""
        if not self.invalidations_pending:
            return True
        if not self._replaying.acquire(blocking=False):
            return False  # another thread is replaying: until it is done, entries may be stale
        try:
            with self._lost_lock:
                keys, prefixes, everything = self._lost_keys, self._lost_prefixes, self._lost_everything
                self._lost_keys, self._lost_prefixes, self._lost_everything = set(), set(), False
            try:
                if everything:
                    self._guard.call("replay", self._unlink_prefix, self._prefix)
                else:
                    for p in sorted(prefixes):
                        self._guard.call("replay", self._unlink_prefix, p)
                    ordered = sorted(keys)
                    for i in range(0, len(ordered), 500):
                        self._guard.call("replay", self._r.delete, *ordered[i:i + 500])
            except RedisUnavailable:
                self._lose(keys=list(keys), prefixes=list(prefixes))
                if everything:
                    with self._lost_lock:
                        self._lost_everything, self._lost_keys = True, set()
                return False
            log.info("replayed invalidations lost while Redis was unreachable (%s)",
                     "the whole namespace" if everything else f"{len(keys)} keys, {len(prefixes)} prefixes")
            return not self.invalidations_pending
        finally:
            self._replaying.release()


def _glob_escape(s: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in s)


def make_cache(redis_client=None, prefix: str = DEFAULT_PREFIX, guard: RedisGuard | None = None) -> Cache:
    """Redis-backed when a client is given (``REDIS_URL`` set), else in-process."""
    return RedisCache(redis_client, prefix, guard) if redis_client is not None else MemoryCache()
