"""Re-qualification just after the commit, off the request's path.

Lead intake (``api/routing/service.py``) writes the form fill into the ledger inside its
transaction, but re-evaluating the account (read its whole ledger, evaluate, store the verdict
and the transitions: about 4 ms on SQLite) would double what a web-form handler waits for. So the
ids go to this per-process worker once the lead's transaction has committed, and the worker
re-qualifies them in its own transactions. It lingers ``requalify_linger_seconds`` after the
first id arrives, collecting the ids that come meanwhile: the statements of a batch do not grow
with its size (on PostgreSQL here one account took 7.6 ms and twenty 12.8 ms), so a burst of
form fills costs the database a few batches instead of one per lead, and competes less with the
requests that are waiting (benchmarks/routing/bench_leads.py). ``Services.close`` drains it. A process that dies with ids still queued leaves
those statuses behind their ledgers until the account's next write or the next
``leadmatch recompute``; the ledger itself is never behind.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Collection

from sqlalchemy.orm import Session, sessionmaker

from api.db import session_scope

log = logging.getLogger("leadmatch.requalify")

BATCH = 200


class Requalifier:
    def __init__(self, sessions: sessionmaker[Session], refresh: Callable[[Session, Collection[str]], None],
                 linger: float = 0.0) -> None:
        self._sessions = sessions
        self._refresh = refresh
        self._linger = linger
        self._pending: set[str] = set()
        self._busy = False
        self._closed = False
        self._flushing = 0  # callers in wait_idle: no lingering for them
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="leadmatch-requalify", daemon=True)
        self._thread.start()

    def submit(self, account_ids: Collection[str]) -> None:
        with self._cond:
            self._pending.update(account_ids)
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until everything submitted so far is re-qualified (tests, shutdown)."""
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)
            finally:
                self._flushing -= 1

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if not self._pending and self._closed:
                    return
                self._cond.wait_for(lambda: self._closed or self._flushing or len(self._pending) >= BATCH,
                                    self._linger)
                batch = sorted(self._pending)[:BATCH]
                self._pending.difference_update(batch)
                self._busy = True
            try:
                with session_scope(self._sessions) as session:
                    self._refresh(session, batch)
            except Exception:  # noqa: BLE001 - a failed batch must not end the worker
                log.exception("re-qualifying %d accounts failed; they wait for their next write or a recompute",
                              len(batch))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def close(self, timeout: float = 30.0) -> None:
        self.wait_idle(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
