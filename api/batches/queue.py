"""Where batch work runs: on the Dramatiq queue of the scheduler (api/scheduling/queue.py, same
broker set-up, same ``leadmatch worker``) when Redis is configured, else in this process.

Two actors: ``leadmatch_batch_prepare(batch_id)`` prepares a job and sends one
``leadmatch_batch_chunk(batch_id)`` per chunk; a chunk message claims whichever chunk of the job
is claimable (api/batches/store.py) and does it. Messages carry no work of their own: a message
that finds nothing to claim returns, a duplicate is harmless, and a lost one is re-sent by the
scheduler's ``batches_sweep`` (api/batches/jobs.py ``sweep``). Dramatiq acknowledges a message
only when its actor returns, and its Redis broker re-delivers a dead worker's unacknowledged
messages; the leases in the database are what makes the take-over exact.

Redis speeds this up and spreads it out; it is never needed: when the queue cannot be reached
(the Redis guard says so) the work runs in this process's threads, and no request fails.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

import dramatiq

from api.batches import jobs
from api.redis_guard import RedisUnavailable

if TYPE_CHECKING:
    from api.deps import Services
    from api.scheduling.queue import TaskQueue

PREPARE_ACTOR = "leadmatch_batch_prepare"
CHUNK_ACTOR = "leadmatch_batch_chunk"
QUEUE = "leadmatch-batches"
TIME_LIMIT_MS = 60 * 60 * 1000  # a chunk routed row by row may take minutes
log = logging.getLogger("leadmatch.batches")


class BatchQueue:
    """The batch actors, declared on the scheduler's broker (``TaskQueue.broker``)."""

    def __init__(self, tasks: TaskQueue, prepare: Callable[[str], object] | None = None,
                 chunk: Callable[[str], object] | None = None) -> None:
        options = {"time_limit": TIME_LIMIT_MS, "max_retries": 0}
        self.prepare = dramatiq.Actor(prepare or _not_here, broker=tasks.broker, actor_name=PREPARE_ACTOR,
                                      queue_name=QUEUE, priority=0, options=options)
        self.chunk = dramatiq.Actor(chunk or _not_here, broker=tasks.broker, actor_name=CHUNK_ACTOR,
                                    queue_name=QUEUE, priority=0, options=options)

    def send(self, kind: str, batch_id: str, n: int = 1) -> None:
        actor = self.prepare if kind == "prepare" else self.chunk
        for _ in range(n):
            actor.send(batch_id)


def _not_here(batch_id: str) -> None:
    raise RuntimeError(f"batch {batch_id}: delivered to a process that only sends")


class BatchRunner:
    """Sends batch work to the queue, or runs it in this process's threads (no queue, or Redis
    unreachable). One per process (``Services.batches``)."""

    def __init__(self, services: Services, queue: BatchQueue | None = None) -> None:
        self._services = services
        self._queue = queue
        self._pool: ThreadPoolExecutor | None = None
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, batch_id: str) -> str:
        """A new job: where it went ("queue", "process", "fallback")."""
        return self.send("prepare", batch_id, 1)

    def send(self, kind: str, batch_id: str, n: int = 1) -> str:
        if self._queue is not None:
            guard = self._services.redis_guard
            try:
                if guard is not None:
                    guard.call("batch_enqueue", self._queue.send, kind, batch_id, n)
                else:
                    self._queue.send(kind, batch_id, n)
                return "queue"
            except RedisUnavailable:
                self._local(batch_id)  # the guard has logged that Redis is away
                return "fallback"
        self._local(batch_id)
        return "process"

    def _local(self, batch_id: str) -> None:
        with self._lock:
            if batch_id in self._running:
                return  # a thread here is already at it: it claims every chunk left
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._services.settings.batch_threads,
                                                thread_name_prefix="leadmatch-batch")
            self._running.add(batch_id)
            self._pool.submit(self._run, batch_id)

    def _run(self, batch_id: str) -> None:
        try:
            jobs.run_batch(self._services, batch_id)
        except Exception:  # noqa: BLE001 - the sweep takes the job up again once its leases run out
            log.exception("batch %s: in-process run failed", batch_id)
        finally:
            with self._lock:
                self._running.discard(batch_id)

    def idle(self) -> bool:
        with self._lock:
            return not self._running

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def worker_actors(services: Services, tasks: TaskQueue) -> BatchQueue:
    """The actors as ``leadmatch worker`` runs them: prepare then send the chunks' messages; a
    chunk message does one chunk."""
    queue: BatchQueue

    def prepare(batch_id: str) -> None:
        if jobs.prepare(services, batch_id):
            n = _chunks_to_send(services, batch_id)
            if n:
                queue.send("chunk", batch_id, n)

    def chunk(batch_id: str) -> None:
        start_index(services)
        jobs.work_chunk(services, batch_id)

    queue = BatchQueue(tasks, prepare, chunk)
    return queue


def _chunks_to_send(services: Services, batch_id: str) -> int:
    from api.batches import store
    from api.db import session_scope

    with session_scope(services.sessions) as session:
        row = store.get(session, batch_id)
        return row.chunks_total or 0 if row is not None and row.state == "running" else 0


_index_lock = threading.Lock()
_index_started: set[int] = set()


def start_index(services: Services) -> None:
    """A worker loads the account index when its first chunk comes (the scheduler's tasks alone
    do not need it), or at start with ``leadmatch worker --load-index``; once either way."""
    with _index_lock:
        if id(services) not in _index_started:
            _index_started.add(id(services))
            services.index.start()
