"""The webhook signature: HMAC-SHA256 over ``"{timestamp}.{body}"``, sent as
``X-Leadmatch-Signature: v1=<hex>`` beside ``X-Leadmatch-Timestamp: <unix seconds>``.

Signing the timestamp with the body lets a receiver refuse a replayed request: it checks the
signature, then that the timestamp is within its tolerance of its own clock (docs/webhooks.md).
"""
from __future__ import annotations

import hashlib
import hmac

SCHEME = "v1"
# how far a receiver may let the signed timestamp be from its own clock
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of ``X-Leadmatch-Signature`` for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, header: str, now: float,
           tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the header holds a ``v1=`` signature of this body and timestamp
    (compared in constant time), and the timestamp is within ``tolerance`` seconds of ``now``."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance:
        return False
    expected = signature(secret, ts, body)
    # a header may carry several signatures (while a secret is rotated): any one will do
    return any(hmac.compare_digest(expected, part.strip()) for part in header.split(","))
