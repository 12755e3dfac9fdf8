"""The in-process runner: a thread in every API process that runs each scheduled task at its
interval (api/scheduling/tasks.py), or, with Redis and ``scheduler_queue``, puts it on the job
queue for ``leadmatch worker`` (api/scheduling/queue.py).

Redis speeds things up, it is never needed: when the queue cannot be reached the runner runs the
task itself (a warning through the Redis guard's log, ``leadmatch_scheduled_runs_total{where=
"fallback"}``), so the schedule is kept with Redis down and no request notices. The runner keeps
nothing that matters in memory: what is due is in the database, so a restart (or a replica
more or less) changes only when the next pass happens.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from api.redis_guard import RedisUnavailable
from api.scheduling.tasks import Task, scheduled_tasks

if TYPE_CHECKING:
    from api.deps import Services
    from api.scheduling.queue import TaskQueue

log = logging.getLogger("leadmatch.scheduling")


class Scheduler:
    """Runs ``tasks`` (default: ``scheduled_tasks(services.settings)``), each every ``interval``
    seconds from start; a task with interval 0 is not run."""

    def __init__(self, services: Services, tasks: dict[str, Task] | None = None,
                 queue: TaskQueue | None = None) -> None:
        self._services = services
        tasks = scheduled_tasks(services.settings) if tasks is None else tasks
        self._tasks = [t for t in tasks.values() if t.interval > 0]
        self._queue = queue
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self._tasks or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="leadmatch-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        start = time.monotonic()
        due = {t.name: start + t.interval for t in self._tasks}
        while True:
            wait = max(0.0, min(due.values()) - time.monotonic())
            if self._stop.wait(wait):
                return
            now = time.monotonic()
            for task in self._tasks:
                if due[task.name] <= now:
                    due[task.name] = now + task.interval
                    self.dispatch(task)

    def dispatch(self, task: Task) -> str:
        """Send ``task`` to the queue, or run it here; where it went ("queue", "sent": another
        replica sent it in this interval, "process", "fallback", "failed")."""
        metrics = self._services.metrics
        if self._queue is not None and task.queued:
            guard = self._services.redis_guard
            try:
                sent = guard.call("scheduler_enqueue", self._queue.enqueue_once, task.name, task.interval) \
                    if guard is not None else self._queue.enqueue_once(task.name, task.interval)
            except RedisUnavailable:
                where = "fallback"  # the guard has logged that Redis is away
            else:
                if sent:
                    metrics.scheduled_runs.labels(task.name, "queue").inc()
                return "queue" if sent else "sent"
        else:
            where = "process"
        try:
            counts = task.run(self._services, None)  # type: ignore[arg-type] - None: the task reads the clock
        except Exception:  # noqa: BLE001 - a database hiccup must not end the scheduler
            metrics.scheduled_failures.labels(task.name).inc()
            log.exception("scheduled task %s failed; next try in %.0f s", task.name, task.interval)
            return "failed"
        metrics.scheduled_runs.labels(task.name, where).inc()
        if counts:
            log.info("scheduled task %s: %s", task.name, counts)
        return where

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
