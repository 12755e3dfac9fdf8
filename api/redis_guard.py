"""Redis is optional at run time: every call to it goes through a ``RedisGuard``.

When Redis is unreachable (refused, timed out, reset, or answering with an error) the caller
gets ``RedisUnavailable`` instead of the client's exception and falls back to what it would
do without Redis (a cache miss, a skipped write, a notification owed for later: see
api/cache.py and api/matching/index_sync.py). The guard then keeps the circuit *open* for
``open_seconds``: calls in that window are not tried at all, so a dead Redis costs a request
nothing, not a connect timeout each. After the window one call (only one: the others keep
skipping) tries again; if it succeeds the circuit closes.

Failures are counted in ``leadmatch_redis_errors_total{op}``, calls skipped while the circuit
is open in ``leadmatch_redis_skipped_total{op}``, and ``leadmatch_redis_up`` says 1 or 0
(api/metrics.py). The log gets one warning when Redis goes away, then at most one line every
``warn_every`` seconds while it stays away, and one when it is back: never a line per request.

``connect(url)`` builds the client every part of the service uses: short timeouts and a
single immediate retry (a pooled connection that Redis closed while it restarted is retried
once on a fresh socket). The client's default (ten retries with growing back-off) would hold
each request for seconds while Redis is down.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    from api.metrics import Metrics

log = logging.getLogger("leadmatch.redis")

T = TypeVar("T")

OPEN_SECONDS = 1.5
WARN_EVERY_SECONDS = 30.0


class RedisUnavailable(Exception):
    """Redis was not asked (circuit open) or did not answer; the caller degrades."""


def connect(url: str):  # noqa: ANN201 - redis.Redis, imported lazily (the CLI starts without it)
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2, health_check_interval=15,
                                retry=Retry(NoBackoff(), 1))


def _redis_errors() -> tuple[type[BaseException], ...]:
    import redis

    # RedisError covers refused and reset connections, timeouts, a server still loading its data,
    # and error replies (read-only replica, out of memory): none of them may turn into a 5xx
    return (redis.RedisError, OSError)


class RedisGuard:
    """A circuit breaker around one Redis client, shared by everything that uses that client."""

    def __init__(self, metrics: Metrics | None = None, *, open_seconds: float = OPEN_SECONDS,
                 warn_every: float = WARN_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._metrics = metrics
        self._open_seconds = open_seconds
        self._warn_every = warn_every
        self._clock = clock
        self._lock = threading.Lock()
        self._retry_at = 0.0  # calls before this are skipped (the circuit is open)
        self._down_since: float | None = None  # None: Redis answered the last call
        self._last_warning = 0.0
        self._failed = 0  # since the last log line
        self._skipped = 0
        self.last_error: str | None = None
        if metrics is not None:
            metrics.redis_up.set(1)

    @property
    def up(self) -> bool:
        """Whether the last call Redis was asked answered."""
        return self._down_since is None

    def call(self, op: str, fn: Callable[..., T], *args, **kwargs) -> T:
        """``fn(*args, **kwargs)``, or ``RedisUnavailable`` if Redis is not to be asked now or
        did not answer."""
        now = self._clock()
        with self._lock:
            if now < self._retry_at:
                self._skipped += 1
                self._count("skipped", op)
                raise RedisUnavailable(self.last_error or "circuit open")
            if self._down_since is not None:
                # this call is the probe: the others keep skipping until it has answered
                self._retry_at = now + self._open_seconds
        try:
            result = fn(*args, **kwargs)
        except _redis_errors() as exc:
            self._failure(op, exc)
            raise RedisUnavailable(str(exc)) from exc
        if self._down_since is not None:
            self._recovered()
        return result

    def _count(self, what: str, op: str) -> None:
        if self._metrics is not None:
            (self._metrics.redis_skipped if what == "skipped" else self._metrics.redis_errors).labels(op).inc()

    def _failure(self, op: str, exc: BaseException) -> None:
        now = self._clock()
        self._count("errors", op)
        with self._lock:
            self._retry_at = now + self._open_seconds
            self.last_error = f"{op}: {exc}".splitlines()[0][:200]
            self._failed += 1
            first = self._down_since is None
            if first:
                self._down_since = now
            if not first and now - self._last_warning < self._warn_every:
                return
            self._last_warning = now
            failed, skipped, self._failed, self._skipped = self._failed, self._skipped, 0, 0
            down_for = now - self._down_since
        if self._metrics is not None:
            self._metrics.redis_up.set(0)
        if first:
            log.warning("Redis unreachable (%s); serving from the database, retrying every %.1f s",
                        self.last_error, self._open_seconds)
        else:
            log.warning("Redis still unreachable after %.0f s (%d calls failed, %d skipped since the last "
                        "report): %s", down_for, failed, skipped, self.last_error)

    def _recovered(self) -> None:
        now = self._clock()
        with self._lock:
            if self._down_since is None:
                return
            down_for, self._down_since = now - self._down_since, None
            self._retry_at = 0.0
            self._failed = self._skipped = 0
            self.last_error = None
        if self._metrics is not None:
            self._metrics.redis_up.set(1)
        log.warning("Redis reachable again after %.1f s", down_for)
