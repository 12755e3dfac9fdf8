"""The scheduler's job queue on Redis: Dramatiq (docs/scheduling.md says why this library).

One actor, ``leadmatch_scheduled_task(name)``, runs a named task of api/scheduling/tasks.py. The
API processes' runners put a message on the queue when a task falls due (one per interval across
all replicas: a ``SET NX`` key per interval slot); ``leadmatch worker`` consumes them. Messages
are acknowledged only when the task returns; the Redis broker hands the unacknowledged
messages of a worker whose heartbeat stopped (killed, machine gone) to the others, which the
batch uploads of the next issue rely on. A scheduled message older than its task's interval is
dropped unprocessed (``max_age``): the next one does the same work.

Nothing here connects at import time: ``TaskQueue`` is built with the process's Redis client.
"""
from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Callable

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

if TYPE_CHECKING:
    import redis

ACTOR = "leadmatch_scheduled_task"
QUEUE = "leadmatch-scheduled"
NAMESPACE = "leadmatch-queue"
TASK_TIME_LIMIT_MS = 15 * 60 * 1000  # a pass over a backlog of due accounts may take minutes
log = logging.getLogger("leadmatch.scheduling")


class TaskQueue:
    """The broker and the actor, bound to one Redis client. ``run_task(name)`` is what a worker
    does with a message; the sending side never calls it."""

    def __init__(self, client: redis.Redis, run_task: Callable[[str], object] | None = None,
                 namespace: str = NAMESPACE) -> None:
        self.client = client
        self.namespace = namespace
        self.broker = RedisBroker(client=client, namespace=namespace, middleware=[
            AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(), Retries(max_retries=0)])
        self.actor = dramatiq.Actor(run_task or _not_here, broker=self.broker, actor_name=ACTOR, queue_name=QUEUE,
                                    priority=0, options={"time_limit": TASK_TIME_LIMIT_MS, "max_retries": 0})

    def enqueue_once(self, name: str, interval: float, now: float | None = None) -> bool:
        """Put ``name`` on the queue unless another process already did in this interval slot;
        True if this call sent it. Raises the client's errors when Redis does not answer."""
        slot = math.floor((now or time.time()) / interval) if interval > 0 else 0
        key = f"{self.namespace}:sent:{name}:{slot}"
        if not self.client.set(key, "1", nx=True, ex=max(1, math.ceil(interval * 2))):
            return False
        self.actor.send_with_options(args=(name,), max_age=max(1000, int(interval * 1000)))
        return True

    def worker(self, threads: int = 2) -> dramatiq.Worker:
        return dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=1000)

    def close(self) -> None:
        self.broker.close()


def _not_here(name: str) -> None:
    raise RuntimeError(f"scheduled task {name} was delivered to a process that only sends")
