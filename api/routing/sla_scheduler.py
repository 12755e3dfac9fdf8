"""The SLA scheduler: every few seconds, each lead whose SLA deadline passed is handled once
(``api/routing/service.py`` ``check_sla``: met after all, reassigned or escalated).

It runs as a thread in every API process (``sla_check_seconds``; 0 turns it off) and as
``leadmatch routing sla-check``. Several replicas may run it at once: overdue leads are claimed
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and moved out of 'pending' in the same transaction,
so each is handled by exactly one of them. Its only state is in the database, so a restart
loses nothing: what fell due while no scheduler ran is handled on the next pass.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from api.db import session_scope
from api.db.bulk import hold_write_lock, utc_now
from api.routing import service, store

if TYPE_CHECKING:
    from api.deps import Services

log = logging.getLogger("leadmatch.sla")


def check_sla(services: Services, *, now: datetime | None = None, batch: int = 100) -> dict[str, int]:
    """One pass: every overdue lead handled once (``api/routing/store.py`` ``claim_overdue``), in
    transactions of ``batch`` leads."""
    counts: dict[str, int] = {}
    while True:
        moment = now or utc_now()
        with session_scope(services.sessions) as session:
            hold_write_lock(session)
            rows = store.claim_overdue(session, moment, batch)
            for row in rows:
                outcome = service.handle_overdue(session, services, row, moment)
                counts[outcome] = counts.get(outcome, 0) + 1
        if len(rows) < batch:
            return counts


class SlaScheduler:
    def __init__(self, services: Services, interval: float) -> None:
        self._services = services
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="leadmatch-sla", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                counts = check_sla(self._services)
                if counts:
                    log.info("SLA check: %s", counts)
            except Exception:  # noqa: BLE001 - a database hiccup must not end the scheduler
                log.exception("SLA check failed; retrying in %.0f s", self._interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
