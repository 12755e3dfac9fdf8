"""``Deliverer``: sends what the outbox holds, signed, and records what became of each send.

A round claims up to ``webhook_batch_size`` due rows with a lease (api/webhooks/store.py
claim_due: on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so replicas never hold the same row), POSTs
each one and records its outcome in a transaction of its own, so that a crash loses at most the
outcome of the row in flight. A 2xx marks the row delivered; any other status, a timeout or a
connection error counts an attempt and schedules the next one with exponential backoff
(matcher/webhooks/backoff.py), until ``webhook_max_attempts``: then the row is dead, kept and
listed until someone retries it (POST /v1/webhooks/outbox/{id}/retry).

Delivery is at least once: a receiver that took a request but whose answer was lost (a timeout,
the service dying between the send and the commit) gets it again with the same
``Idempotency-Key``, and must keep the first. docs/webhooks.md says what a receiver checks.

The app runs a Deliverer as a background thread (api/app.py); ``leadmatch webhooks deliver`` runs
one in the foreground. Any error of a round (the database away, say) is logged and the next
round comes after the poll interval: the thread never dies of it.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import httpx
from sqlalchemy.orm import Session, sessionmaker

from api import db
from api.db.bulk import utc_now
from api.metrics import Metrics
from api.webhooks import store
from config.settings import Settings
from matcher.webhooks import backoff, signing

log = logging.getLogger("leadmatch.webhooks")

USER_AGENT = "leadmatch-webhooks/0.1.0"
# what a lease adds to the batch's worst-case sending time: the claim's own commit and clock skew
LEASE_MARGIN_SECONDS = 30.0


@dataclass
class DeliveryRound:
    """What one or more rounds did."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that failed and will be tried again
    dead: int = 0  # attempts that failed for the last time
    released: int = 0  # claimed but given back unsent (stopping, or the lease running short)

    def add(self, other: "DeliveryRound") -> None:
        for name in ("claimed", "delivered", "failed", "dead", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def request_headers(secret: str, event_type: str, key: str, body: bytes, timestamp: int) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Idempotency-Key": key,
            "X-Leadmatch-Event": event_type, "X-Leadmatch-Timestamp": str(timestamp),
            "X-Leadmatch-Signature": signing.signature(secret, timestamp, body)}


class Deliverer:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings, *, metrics: Metrics | None = None,
                 transport: httpx.BaseTransport | None = None, clock: Callable[[], datetime] = utc_now,
                 rand: Callable[[], float] = random.random) -> None:
        if not settings.webhook_secret:
            raise ValueError("webhook_secret is not set: webhooks are always signed")
        self._sessions = sessions
        self._secret = settings.webhook_secret
        self._batch = settings.webhook_batch_size
        self._base = settings.webhook_backoff_base_seconds
        self._max = settings.webhook_backoff_max_seconds
        self._max_attempts = settings.webhook_max_attempts
        self._poll = settings.webhook_poll_seconds
        self._timeout = settings.webhook_timeout_seconds
        # a request may wait out its connect, write and read timeouts one after the other
        self._per_send = 3 * self._timeout
        self._metrics = metrics
        self._clock = clock
        self._rand = rand
        # no redirects: a signed body is meant for the URL that was configured, nowhere else
        self._client = httpx.Client(timeout=self._timeout, transport=transport, follow_redirects=False)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ rounds

    def deliver_due(self) -> DeliveryRound:
        """One round: claim the due rows (a batch at most), send them, record each outcome."""
        now = self._clock()
        lease_until = now + timedelta(seconds=self._batch * self._per_send + LEASE_MARGIN_SECONDS)
        with db.session_scope(self._sessions) as session:
            claimed = store.claim_due(session, now, lease_until, self._batch)
        done = DeliveryRound(claimed=len(claimed))
        for i, row in enumerate(claimed):
            # never send after the lease could have run out: another deliverer may hold the row then
            if self._stopping.is_set() or self._clock() + timedelta(seconds=self._per_send) > lease_until:
                rest = [r.id for r in claimed[i:]]
                with db.session_scope(self._sessions) as session:
                    store.release(session, rest)
                done.released += len(rest)
                break
            self._send(row, done)
        return done

    def drain(self) -> DeliveryRound:
        """Rounds until one finds nothing due (``leadmatch webhooks deliver --once``)."""
        total = DeliveryRound()
        while not self._stopping.is_set():
            done = self.deliver_due()
            total.add(done)
            self._observe_pending()
            if done.claimed == 0 or done.claimed == done.released:
                break
        return total

    def _send(self, row: store.Claimed, done: DeliveryRound) -> None:
        body = row.body.encode()
        status: int | None = None
        error: str | None = None
        try:
            headers = request_headers(self._secret, row.event_type, row.idempotency_key, body, int(time.time()))
            with self._client.stream("POST", row.url, content=body, headers=headers) as response:
                status = response.status_code  # the body is not read: a receiver's answer is its status
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        now = self._clock()
        with db.session_scope(self._sessions) as session:
            if error is None:
                store.mark_delivered(session, row.id, now, status or 0)
            else:
                attempts = row.attempts + 1
                dead = backoff.gives_up(attempts, self._max_attempts)
                delay = backoff.retry_delay(attempts, self._base, self._max, self._rand())
                store.mark_failed(session, row.id, attempts=attempts, next_attempt_at=now + timedelta(seconds=delay),
                                  dead=dead, status=status, error=error)
        if error is None:
            done.delivered += 1
            if self._metrics is not None:
                self._metrics.webhooks_delivered.inc()
        else:
            if dead:
                done.dead += 1
                log.warning("webhook %s to %s is dead after %d attempts: %s", row.idempotency_key, row.url,
                            attempts, error)
            else:
                done.failed += 1
            if self._metrics is not None:
                self._metrics.webhooks_failed.inc()

    def _observe_pending(self) -> None:
        if self._metrics is None:
            return
        with db.session_scope(self._sessions) as session:
            self._metrics.webhooks_pending.set(store.count_pending(session))

    # ------------------------------------------------------------ background thread

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self.run, name="leadmatch-webhooks", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Deliver until ``stop()``: at once again after a busy round, after the poll interval
        after an idle one or an error."""
        while not self._stopping.is_set():
            busy = False
            try:
                done = self.deliver_due()
                busy = done.claimed > 0 and done.claimed > done.released
                self._observe_pending()
            except Exception:  # noqa: BLE001 - the database away or any bug: log it, keep the thread
                log.warning("webhook delivery round failed; trying again in %.1f s", self._poll, exc_info=True)
            if not busy:
                self._stopping.wait(self._poll)

    def stop(self, timeout: float | None = None) -> None:
        """Finish the row in flight, give the rest of the batch back, end the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self._per_send + 5)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._client.close()
