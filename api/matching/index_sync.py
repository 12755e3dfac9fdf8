"""Keeps this process's in-memory account index equal to the database.

- At start the index is built from the database in a background thread; until it is loaded
  ``ready`` is False (``/readyz`` says 503 and ``/v1/match`` answers 503).
- Every account/contact change committed by this process calls ``refresh(ids)`` right after the
  commit: the ids are re-read from the database (so owner names and contact domains are exactly
  what is stored) and upserted into, or removed from, the index.
- With Redis, ``refresh`` also publishes ``{"origin", "op", "ids"}`` on the index channel; a
  listener thread in every process re-reads those ids (ignoring its own messages). Pub/sub is
  fire-and-forget, so after a lost connection the listener reloads the whole index.

Catching up when a notification was missed (Redis may go away: api/redis_guard.py). A process
misses a change when
1. its own subscription was down when the message went out: the listener reloads the whole
   index once it has subscribed again (so every change committed before that is read);
2. the writer could not publish (Redis unreachable from the writer, maybe not from us): the
   writer *owes* the ids and publishes them once Redis answers again (on its next publish, at
   its next generation check, or when its own listener has subscribed again). Past
   ``OWED_IDS_MAX`` ids it owes a ``"reload"`` message instead, and receivers reload everything;
3. nobody announced the change, or the writer died while it owed it: a watcher thread reads the
   database's index *generation* (a counter the database moves on every change to accounts,
   domains, contacts and owners, migrations 0005/0006, ``index_snapshot.read_generation``)
   every ``check_interval`` seconds. The process knows which generation it has *covered*: the
   one read before its last full load, and the one read (after the writer's commit) each time it
   re-read announced ids. A generation above the covered one is a change not yet explained by a
   notification; if it is still unexplained at the next check (a notification takes
   milliseconds, the interval seconds) the index is reloaded from the database.
   The check cannot see a lost change that a later, announced change covers (its generation is
   read after both); such a loss needs cases 1 or 2 to have failed too (a writer cut off from
   Redis while the readers are not, that also dies before Redis answers it again).
The watcher and the listener run only with Redis (one process without Redis is alone: every
change it makes is applied by ``refresh``). The hot path (``match``) does no I/O: it reads the
index under the lock, as before.

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
from api.matching import index_snapshot
from api.matching import store
from api.db import session_scope
from api.redis_guard import RedisGuard, RedisUnavailable
from config.matching import MatchingRules
from matcher.matching.index import AccountIndex
from matcher.matching.types import Lead, MatchResult
from matcher.routing import review
from matcher.routing.review import Lesson

log = logging.getLogger("leadmatch.index")

OWED_IDS_MAX = 10_000  # ids a writer remembers to publish later; beyond, it owes a full reload
PUBLISH_CHUNK = 1_000
Generation = tuple[str, int]  # (database instance, changes): index_snapshot.read_generation


def publish_change(client, channel: str, origin: str, op: str, ids: list[str]) -> None:  # noqa: ANN001
    """Announce committed changes to every process listening on ``channel``."""
    client.publish(channel, orjson.dumps({"origin": origin, "op": op, "ids": ids}))


class IndexSync:
    def __init__(self, rules: MatchingRules, session_factory, *, redis_client=None,  # noqa: ANN001
                 channel: str = "leadmatch:index-changes",
                 on_change: Callable[[Sequence[str]], None] | None = None,
                 on_size: Callable[[int], None] | None = None,
                 redis_guard: RedisGuard | None = None, check_interval: float = 5.0) -> None:
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
        self._guard = redis_guard if redis_guard is not None else RedisGuard()
        self._check_interval = check_interval
        self._covered: Generation | None = None  # see the module docstring, case 3
        self._unexplained: Generation | None = None  # seen at the last check, not covered then
        self._owed: set[str] = set()  # ids whose publication failed (case 2)
        self._owe_reload = False
        self._owed_lock = threading.Lock()
        self._changes = 0  # moves on with every reload and every applied change (``version``)

    # ------------------------------------------------------------------ reading

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def version(self) -> int:
        """Moves on whenever the accounts behind the answers may have changed (a reload, an applied
        change): answers kept under one version are the answers the index gives while it holds."""
        return self._changes

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
            # read before the accounts: a change committed during the build is re-checked, not lost
            generation = self._read_generation()
            fresh = index_load.build_index(self._sessions.kw["bind"], self.rules)
        except BaseException:
            with self._lock:
                self._loading = False
            raise
        with self._lock:
            self._index = fresh
            self._changes += 1
            self._loading = False
            pending, self._pending = self._pending, set()
            if generation is not None and not self._is_covered(generation):
                self._covered = generation
            self._unexplained = None
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
            # read before the accounts (and after the commit that announced them): the accounts
            # read are at least this generation
            generation = index_snapshot.read_generation(session.connection()) if self._redis is not None else None
            found = store.load_accounts_by_id(session, ids)
        with self._lock:
            if self._loading:
                self._pending.update(ids)
            if generation is not None and not self._is_covered(generation) and \
                    (self._covered is None or self._covered[0] == generation[0]):
                self._covered = generation
            for account_id in ids:
                account = found.get(account_id)
                if account is None:
                    self._index.remove(account_id)
                else:
                    self._index.upsert(account)
            self._changes += 1
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
        if not self._send(op, ids):
            # a Redis outage must not fail a committed write: other processes hear of it later
            self._owe(ids)
        elif self._owed or self._owe_reload:
            self.flush_owed()

    def _send(self, op: str, ids: list[str]) -> bool:
        try:
            for i in range(0, max(len(ids), 1), PUBLISH_CHUNK):
                self._guard.call("publish", publish_change, self._redis, self._channel, self.origin, op,
                                 ids[i:i + PUBLISH_CHUNK])
        except RedisUnavailable as exc:
            self.redis_ok = False
            self.last_error = f"publish failed: {exc}"
            return False
        return True

    def _owe(self, ids: Iterable[str] = (), *, reload: bool = False) -> None:
        with self._owed_lock:
            self._owed.update(ids)
            if reload or len(self._owed) > OWED_IDS_MAX:
                self._owe_reload = True
                self._owed.clear()

    @property
    def owes_notifications(self) -> bool:
        return bool(self._owed or self._owe_reload)

    def flush_owed(self) -> bool:
        """Publish what could not be published before; True when nothing is owed any more."""
        if self._redis is None:
            return True
        with self._owed_lock:
            owed, reload = sorted(self._owed), self._owe_reload
            self._owed, self._owe_reload = set(), False
        if not owed and not reload:
            return True
        sent = self._send("reload", []) if reload else self._send("upsert", owed)
        if not sent:
            self._owe(owed, reload=reload)
            return False
        log.info("published index changes owed since Redis was unreachable (%s)",
                 "a full reload" if reload else f"{len(owed)} ids")
        return True

    def handle_message(self, data: bytes) -> None:
        try:
            msg = orjson.loads(data)
            if msg.get("origin") == self.origin:
                return
            op = msg.get("op")
            ids = [str(i) for i in msg.get("ids", [])]
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            log.warning("ignoring malformed index message: %r", data[:200])
            return
        if op == "reload":  # a writer lost more changes than it could remember (module docstring)
            self.full_reload()
            return
        # upsert and remove are handled alike: the database says what is current
        self._apply(ids)
        if self._on_change is not None:
            self._on_change(ids)

    # ------------------------------------------------------------------ catching up

    def _read_generation(self) -> Generation | None:
        with self._sessions.kw["bind"].connect() as conn:
            return index_snapshot.read_generation(conn)

    def _is_covered(self, generation: Generation) -> bool:
        covered = self._covered
        return covered is not None and covered[0] == generation[0] and covered[1] >= generation[1]

    def check_generation(self) -> bool:
        """Reload the index if the database's generation moved beyond what this process has
        covered and had already done so at the previous check (module docstring, case 3).
        True when it reloaded."""
        if not self.ready:
            return False
        now = self._read_generation()
        if now is None:  # a database without the generation (before migration 0005)
            return False
        with self._lock:
            if self._is_covered(now):
                self._unexplained = None
                return False
            earlier, self._unexplained = self._unexplained, now
            if earlier is None or self._is_covered(earlier):
                return False  # new since the last check: its notification may be on its way
        log.warning("index generation %s moved beyond %s without a notification; reloading the index",
                    earlier, self._covered)
        self.full_reload()
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self._check_interval):
            try:
                self.flush_owed()
                self.check_generation()
            except Exception:  # noqa: BLE001 - e.g. the database is away: check again later
                log.exception("index generation check failed")

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, subscribe_timeout: float = 5.0) -> None:
        """Subscribe first (so no change slips between load and subscription), then load."""
        if self._redis is not None:
            t = threading.Thread(target=self._listen, name="leadmatch-index-listener", daemon=True)
            t.start()
            self._threads.append(t)
            self._subscribed.wait(subscribe_timeout)
            t = threading.Thread(target=self._watch, name="leadmatch-index-watch", daemon=True)
            t.start()
            self._threads.append(t)
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
                self.flush_owed()  # Redis is back: tell the others what we could not tell them
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
