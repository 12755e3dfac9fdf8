"""The circuit breaker every Redis call goes through (api/redis_guard.py), on a hand-moved clock."""
from __future__ import annotations

import logging

import pytest
import redis

from api.metrics import Metrics
from api.redis_guard import RedisGuard, RedisUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyRedis:
    """Answers "PONG" while ``up``, else raises what the client raises on a refused connection."""

    def __init__(self) -> None:
        self.up = True
        self.calls = 0

    def ping(self) -> str:
        self.calls += 1
        if not self.up:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
        return "PONG"


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_failure_opens_the_circuit_for_a_while_then_one_probe_closes_it() -> None:
    clock, metrics, r = Clock(), Metrics(), FlakyRedis()
    guard = RedisGuard(metrics, open_seconds=1.5, clock=clock)
    assert guard.call("get", r.ping) == "PONG" and guard.up
    r.up = False
    with pytest.raises(RedisUnavailable):
        guard.call("get", r.ping)
    assert r.calls == 2 and not guard.up
    # within the back-off Redis is not asked at all
    clock.now += 1.4
    for _ in range(5):
        with pytest.raises(RedisUnavailable):
            guard.call("set", r.ping)
    assert r.calls == 2
    # after it, one call asks again; still down: open again for another 1.5 s
    clock.now += 0.2
    with pytest.raises(RedisUnavailable):
        guard.call("get", r.ping)
    assert r.calls == 3
    clock.now += 1.0
    with pytest.raises(RedisUnavailable):
        guard.call("get", r.ping)
    assert r.calls == 3
    r.up = True
    clock.now += 0.6
    assert guard.call("get", r.ping) == "PONG" and guard.up
    assert guard.call("get", r.ping) == "PONG" and r.calls == 5
    # two calls failed (first and probe), six were skipped, and Redis is up again
    assert sample(metrics, "leadmatch_redis_errors_total", op="get") == 2
    assert sample(metrics, "leadmatch_redis_skipped_total", op="set") == 5
    assert sample(metrics, "leadmatch_redis_skipped_total", op="get") == 1
    assert sample(metrics, "leadmatch_redis_up") == 1


def test_error_replies_degrade_too_but_other_exceptions_are_not_swallowed() -> None:
    guard = RedisGuard(clock=Clock())

    def read_only() -> None:
        raise redis.ReadOnlyError("You can't write against a read only replica.")

    with pytest.raises(RedisUnavailable):
        guard.call("set", read_only)

    def bug() -> None:
        raise KeyError("ours")

    guard = RedisGuard(clock=Clock())
    with pytest.raises(KeyError):
        guard.call("get", bug)


def test_an_outage_is_logged_once_then_at_most_every_so_often(caplog: pytest.LogCaptureFixture) -> None:
    clock, r = Clock(), FlakyRedis()
    guard = RedisGuard(open_seconds=1.0, warn_every=30.0, clock=clock)
    r.up = False
    caplog.set_level(logging.WARNING, logger="leadmatch.redis")
    for _ in range(100):  # 100 s of requests, ten a second
        for _ in range(10):
            with pytest.raises(RedisUnavailable):
                guard.call("get", r.ping)
        clock.now += 1.0
    r.up = True
    guard.call("get", r.ping)
    lines = [rec.getMessage() for rec in caplog.records]
    # gone at 0 s; still gone at 30, 60, 90 s; back: 5 lines for 1000 requests
    assert len(lines) == 5, lines
    assert lines[0].startswith("Redis unreachable") and lines[-1].startswith("Redis reachable again")
