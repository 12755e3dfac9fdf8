"""When a failed delivery is tried again, and when it is given up."""
from __future__ import annotations

# the share of a delay taken off at random, so that replicas retrying one receiver spread out
JITTER = 0.2


def retry_delay(failures: int, base: float, maximum: float, rand: float) -> float:
    """Seconds to wait after the ``failures``-th failed attempt (1, 2, ...): ``base``, then twice
    as long each time, at most ``maximum``; then less by up to ``JITTER`` of it (``rand`` in [0, 1)
    says how much, so the caller owns the randomness)."""
    if failures < 1:
        raise ValueError("failures counts from 1")
    # 2**failures overflows a float past ~1024 failures; the cap is reached long before
    exponent = min(failures - 1, 64)
    delay = min(maximum, base * 2.0 ** exponent)
    return delay * (1.0 - JITTER * rand)


def gives_up(attempts: int, max_attempts: int) -> bool:
    """After ``attempts`` failed attempts, is the event dead?"""
    return attempts >= max_attempts
