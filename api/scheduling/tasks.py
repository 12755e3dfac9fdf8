"""The scheduler's named tasks: what each does and how often it runs.

A task is a function of the process's ``Services`` and ``now`` that does what has fallen due and
returns counts for the log. Every task keeps its state in the database and is safe to run in
several processes at once and again after a crash (what it does is claimed under row locks and
moved on in the same transaction), so where a task runs (the in-process runner, a queue worker,
``leadmatch schedule run``) and how often changes nothing but latency.

Registering a task: add it to ``scheduled_tasks`` below with its interval setting (0 turns it
off).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from api.db import session_scope
from api.closing import service as closing_service
from api.db.bulk import hold_write_lock, utc_now
from api.pipeline import service as pipeline_service
from api.qualification import service as qualification_service
from api.routing import sla_scheduler

if TYPE_CHECKING:
    from api.deps import Services
    from config.settings import Settings

TaskFunction = Callable[["Services", datetime], dict[str, int]]


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    interval: float  # seconds between runs; 0: not scheduled (still runnable by hand)
    run: TaskFunction
    # with Redis, sent to the job queue for `leadmatch worker` (else run by every API process's runner)
    queued: bool = True


def requalify_due(services: Services, now: datetime | None = None, *, batch: int | None = None) -> dict[str, int]:
    """Every account whose ``review_at`` has come (a recycle date, the end of a disqualification,
    a contract's edge, decay ending an MQA) re-evaluated at ``now``, ``batch`` accounts per
    transaction: claimed under the per-write path's lock (``claim_due``), re-qualified, their
    ``review_at`` moved past ``now`` in the same transaction."""
    now = now or utc_now()
    batch = batch or services.settings.scheduler_batch_size
    done: set[str] = set()
    while True:
        with session_scope(services.sessions) as session:
            hold_write_lock(session)
            ids = qualification_service.claim_due(session, now, batch)
            if ids:
                services.requalify(session, ids, now=now)
        again = done.issuperset(ids)  # a re-evaluation that did not move review_at: never loop on it
        done.update(ids)
        if len(ids) < batch or again:
            return {"accounts": len(done)} if done else {}


def remind_unanswered(services: Services, now: datetime | None = None, *, batch: int | None = None) -> dict[str, int]:
    """Every unanswered close whose reminder is due reminded once (api/closing/service.py
    ``remind_unanswered``), ``batch`` closes per transaction."""
    now = now or utc_now()
    batch = batch or services.settings.scheduler_batch_size
    total = 0
    while True:
        with session_scope(services.sessions) as session:
            reminded = closing_service.remind_unanswered(session, services, now, batch)
        total += reminded
        if reminded < batch:
            return {"reminded": total} if total else {}


def gone_dark(services: Services, now: datetime | None = None, *, batch: int | None = None) -> dict[str, int]:
    """Gone dark (api/pipeline/service.py): flag the opportunities that went dark, then the
    accounts (``accounts_flagged``), ``batch`` candidates per transaction, each under its row
    lock; then move on every running episode with something to do (a cadence step or the second
    limit come, answered, its opportunity closed or its account out of the status), ``batch``
    per transaction."""
    now = now or utc_now()
    batch = batch or services.settings.scheduler_batch_size
    counts: dict[str, int] = {}
    for count, flag in (("flagged", pipeline_service.flag_dark),
                        ("accounts_flagged", pipeline_service.flag_dark_accounts)):
        after: str | None = None
        while True:
            with session_scope(services.sessions) as session:
                flagged, after = flag(session, services, now, after=after, batch=batch)
            counts[count] = counts.get(count, 0) + flagged
            if after is None:
                break
    last: int | None = None
    while True:
        with session_scope(services.sessions) as session:
            moved, last = pipeline_service.advance_episodes(session, services, now, batch=batch, after=last)
        claimed = moved.pop("claimed")
        for k, v in moved.items():
            counts[k] = counts.get(k, 0) + v
        if claimed < batch or last is None:
            break
    return {k: v for k, v in counts.items() if v}


def check_sla(services: Services, now: datetime | None = None) -> dict[str, int]:
    """The SLA pass of api/routing/sla_scheduler.py, unchanged (its own clock when ``now`` is None)."""
    return sla_scheduler.check_sla(services, now=now)


def batches_sweep(services: Services, now: datetime | None = None) -> dict[str, int]:
    """Batch jobs whose work was lost (a worker killed: its chunk's lease ran out; a message
    that never came) sent again, and jobs whose chunks are all done finished
    (api/batches/jobs.py ``sweep``): through this process's batch runner (the queue, or its
    threads), or run here when it has none (``leadmatch schedule run``)."""
    from api.batches import jobs

    runner = services.batches
    return jobs.sweep(services, now, runner.send if runner is not None else None)


def scheduled_tasks(settings: Settings) -> dict[str, Task]:
    """The tasks by name, with this deployment's intervals. The registration point."""
    tasks = [
        Task("requalify_due", settings.scheduler_seconds, requalify_due),
        Task("remind_unanswered", settings.scheduler_seconds, remind_unanswered),
        Task("gone_dark", settings.scheduler_seconds, gone_dark),
        Task("batches_sweep", settings.batch_sweep_seconds, batches_sweep),
        # in every API process, as before the scheduler existed: a deployment with Redis and no
        # worker keeps its SLA checks
        Task("sla_check", settings.sla_check_seconds, check_sla, queued=False),
    ]
    return {t.name: t for t in tasks}
