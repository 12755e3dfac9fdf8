"""Keeps this process's in-memory account index equal to the database.

- At start the index is built from the database in a background thread; until it is loaded
  ``ready`` is False (``/readyz`` says 503 and ``/v1/match`` answers 503).
- Every account/contact change committed by this process calls ``refresh(ids)`` right after the
  commit: the ids are re-read from the database (so owner names and contact domains are exactly
  what is stored) and upserted into, or removed from, the index.
- With Redis, ``refresh`` also publishes ``{"origin", "op", "ids"}`` on the index channel; a
  listener thread in every process re-reads those ids (ignoring its own messages). Pub/sub is
  fire-and-forget, so after a lost connection the listener reloads the whole index.

Concurrency: matching and small updates take one lock (uncontended it costs well under a
microsecond); a full reload builds a new index without the lock and swaps it in, then re-applies
the ids that changed while it was building.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Callable, Iterable, Sequence

import orjson

from api.matching import index_load
from api.matching import store
from api.db import session_scope
from config.matching import MatchingRules
from matcher.matching.index import AccountIndex
from matcher.matching.types import Lead, MatchResult
from matcher.routing import review
from matcher.routing.review import Lesson

log = logging.getLogger("leadmatch.index")


def publish_change(client, channel: str, origin: str, op: str, ids: list[str]) -> None:  # noqa: ANN001
    """Announce committed changes to every process listening on ``channel``."""
    client.publish(channel, orjson.dumps({"origin": origin, "op": op, "ids": ids}))


class IndexSync:
    def __init__(self, rules: MatchingRules, session_factory, *, redis_client=None,  # noqa: ANN001
                 channel: str = "leadmatch:index-changes",
                 on_change: Callable[[Sequence[str]], None] | None = None,
                 on_size: Callable[[int], None] | None = None) -> None:
        self.rules = rules
        self.origin = uuid.uuid4().hex
        self._sessions = session_factory
        self._redis = redis_client
        self._channel = channel
        self._on_change = on_change  # e.g. cache invalidation for remote changes
        self._on_size = on_size  # e.g. the index-size gauge
        self._index = AccountIndex(rules)
        self._lock = threading.RLock()
        self._ready = threading.Event()
        self._loading = False
        self._pending: set[str] = set()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_error: str | None = None
        self.redis_ok = redis_client is None

    # ------------------------------------------------------------------ reading

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def __len__(self) -> int:
        return len(self._index)

    def match(self, lead: Lead) -> MatchResult:
        with self._lock:
            return self._index.match(lead)

    def match_many(self, leads: Sequence[Lead]) -> list[MatchResult]:
        with self._lock:
            return self._index.match_many(leads)

    def lessons(self, lead: Lead, account_id: str) -> list[Lesson]:
        """What resolving ``lead`` to ``account_id`` teaches, judged against the accounts as
        this index holds them (``matcher.routing.review.lessons``)."""
        with self._lock:
            return review.lessons(lead, account_id, self._index.known())

    def get(self, account_id: str):  # noqa: ANN201 - matcher.Account | None
        with self._lock:
            return self._index.get(account_id)

    # ------------------------------------------------------------------ loading

    def full_reload(self) -> int:
        """Build a fresh index from the database and swap it in."""
        with self._lock:
            self._loading = True
            self._pending.clear()
        started = time.perf_counter()
        try:
            fresh = index_load.build_index(self._sessions.kw["bind"], self.rules)
        except BaseException:
            with self._lock:
                self._loading = False
            raise
        with self._lock:
            self._index = fresh
            self._loading = False
            pending, self._pending = self._pending, set()
        if pending:  # changed while we were reading: read them again
            self._apply(pending)
        self._ready.set()
        self._size_changed()
        log.info("index loaded: %d accounts in %.1f s", len(fresh), time.perf_counter() - started)
        return len(fresh)

    def _apply(self, ids: Iterable[str]) -> None:
        ids = sorted(set(ids))
        if not ids:
            return
        with session_scope(self._sessions) as session:
            found = store.load_accounts_by_id(session, ids)
        with self._lock:
            if self._loading:
                self._pending.update(ids)
            for account_id in ids:
                account = found.get(account_id)
                if account is None:
                    self._index.remove(account_id)
                else:
                    self._index.upsert(account)
        self._size_changed()

    def _size_changed(self) -> None:
        if self._on_size is not None:
            self._on_size(len(self._index))

    # ------------------------------------------------------------------ changes

    def refresh(self, ids: Iterable[str], *, removed: Iterable[str] = ()) -> None:
        """Call after a commit that changed ``ids`` (and deleted ``removed``)."""
        ids, removed = sorted(set(ids)), sorted(set(removed))
        self._apply([*ids, *removed])
        self._publish("upsert", ids)
        self._publish("remove", removed)

    def _publish(self, op: str, ids: list[str]) -> None:
        if self._redis is None or not ids:
            return
        try:
            publish_change(self._redis, self._channel, self.origin, op, ids)
        except Exception as exc:  # noqa: BLE001 - a Redis outage must not fail a committed write
            # Other replicas miss this change until their listener reconnects and reloads.
            self.redis_ok = False
            self.last_error = f"publish failed: {exc}"
            log.warning("could not publish index change (%s ids): %s", len(ids), exc)

    def handle_message(self, data: bytes) -> None:
        try:
            msg = orjson.loads(data)
            if msg.get("origin") == self.origin:
                return
            ids = [str(i) for i in msg.get("ids", [])]
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            log.warning("ignoring malformed index message: %r", data[:200])
            return
        # upsert and remove are handled alike: the database says what is current
        self._apply(ids)
        if self._on_change is not None:
            self._on_change(ids)

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, subscribe_timeout: float = 5.0) -> None:
        """Subscribe first (so no change slips between load and subscription), then load."""
        if self._redis is not None:
            t = threading.Thread(target=self._listen, name="leadmatch-index-listener", daemon=True)
            t.start()
            self._threads.append(t)
            self._subscribed.wait(subscribe_timeout)
        t = threading.Thread(target=self._initial_load, name="leadmatch-index-loader", daemon=True)
        t.start()
        self._threads.append(t)

    def _initial_load(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                self.full_reload()
                self.last_error = None if self.redis_ok else self.last_error
                return
            except Exception as exc:  # noqa: BLE001 - database not reachable yet: retry
                self.last_error = f"index load failed: {exc}"
                log.warning("index load failed, retrying in %.0f s: %s", delay, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def _listen(self) -> None:
        import redis

        must_reload = False  # only after a connection was lost (or never made before the load)
        delay = 0.5
        while not self._stop.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._channel)
                self.redis_ok = True
                delay = 0.5
                if must_reload or (not self._subscribed.is_set() and self.ready):
                    self.full_reload()
                self._subscribed.set()
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        self.handle_message(msg["data"])
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self.redis_ok = False
                self.last_error = f"redis: {exc}"
                must_reload = True
                log.warning("index listener lost Redis, retrying in %.1f s: %s", delay, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
            except Exception:  # noqa: BLE001 - e.g. a database error during a reload: keep listening
                log.exception("index listener error")
                must_reload = True
                self._stop.wait(delay)
            finally:
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001
                    pass

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
