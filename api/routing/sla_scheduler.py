"""The SLA scheduler: every few seconds, each lead whose SLA deadline passed is handled once
(``api/routing/service.py`` ``check_sla``: met after all, reassigned or escalated).

It runs as the scheduler's ``sla_check`` task in every API process (api/scheduling/tasks.py;
``sla_check_seconds``, 0 turns it off) and as ``leadmatch routing sla-check``. Several replicas may run it at once: overdue leads are claimed
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and moved out of 'pending' in the same transaction,
so each is handled by exactly one of them. Its only state is in the database, so a restart
loses nothing: what fell due while no scheduler ran is handled on the next pass.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from api.db import session_scope
from api.db.bulk import hold_write_lock, utc_now
from api.routing import service, store

if TYPE_CHECKING:
    from api.deps import Services



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
