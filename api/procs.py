"""Work spread over processes: the one way this service starts them.

Three places use it: the index load (``api.matching.index_load``: spawned processes each read and
prepare one id slice and send it back in chunks), the bulk recompute
(``api.qualification.recompute``: spawned processes take id ranges from a queue and send back a
result per written slice) and ``match-file`` (``api.matching.commands``: forked processes share
the built index and answer parts of a list of leads, in order).

- The start method is the caller's choice. ``spawn`` for a caller that may hold threads or pooled
  connections (the API process, a progress bar, a server's thread pool): a forked child would
  inherit their locks mid-use. Everything a spawned worker gets is pickled, so it gets small
  things (a URL, an id range, rules) and reads the rest itself; its function must be importable
  and the program's main module import-safe (guarded by ``if __name__ == "__main__"``, as the
  ``leadmatch`` script, uvicorn and pytest are). ``fork`` to share a large object built in this
  process (the index) copy-on-write, never pickled.
- ``Pool(work, ...)``: ``processes`` workers. Each makes its state once,
  ``state = initializer(*initargs)`` (e.g. its own engine; None without an initializer), runs
  ``work(state, task)`` for the tasks it takes from one queue, and ``finalizer(state)`` when told
  to stop. ``as_completed(tasks)``: ``work`` is a generator and every item it yields comes back as
  soon as it is made, in whatever order the workers make them. ``map(tasks)``: one result per
  task, in the tasks' order; ``submit(tasks)`` then ``collect(...)`` the same without waiting in
  between. ``results_backlog`` bounds the results waiting for this process (back-pressure:
  the workers wait while it is busy).
- A worker that fails is never waited for: its exception (or its initializer's) is raised here as
  ``WorkerFailed`` with the worker's traceback; a worker that dies without a word (killed, out of
  memory) too, with its exit code; and, with ``quiet_timeout``, workers that send nothing for that
  long.
- Leaving the ``with`` block normally tells the workers to stop and joins them; leaving it on an
  error (or abandoning ``as_completed`` midway) terminates them.
"""
from __future__ import annotations

import multiprocessing
import pickle
import queue as queue_mod
import time
import traceback
from typing import Any, Callable, Iterable, Iterator

POLL_SECONDS = 1.0  # how often a waiting caller checks that its workers are alive
STOP_GRACE_SECONDS = 30.0  # after being told to stop, a worker is terminated if it has not exited by then

_ITEM, _DONE, _FAILED = "item", "done", "failed"


class WorkerFailed(RuntimeError):
    """A worker process raised (the message holds its traceback) or died."""


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _serve(work: Callable, initializer: Callable | None, initargs: tuple, finalizer: Callable | None,
           tasks: Any, results: Any) -> None:
    """A worker process: tasks until told to stop; every result, and any failure, goes back."""

    def send(seq: int | None, kind: str, value: Any) -> None:
        # pickled here, not in the queue's feeder thread: a result that does not pickle is this
        # worker's failure, reported, instead of a message lost and a caller waiting for it
        results.put(pickle.dumps((seq, kind, value), pickle.HIGHEST_PROTOCOL))

    try:
        state = initializer(*initargs) if initializer is not None else None
        while (message := tasks.get()) is not None:
            seq, task, streamed = message
            if streamed:
                for item in work(state, task):
                    send(seq, _ITEM, item)
                send(seq, _DONE, None)
            else:
                send(seq, _DONE, work(state, task))
        if finalizer is not None:
            finalizer(state)
    except BaseException:  # noqa: BLE001 - reported to the caller, who raises it
        send(None, _FAILED, traceback.format_exc())


class Pool:
    def __init__(self, work: Callable, *, processes: int, start_method: str,
                 initializer: Callable | None = None, initargs: tuple = (), finalizer: Callable | None = None,
                 results_backlog: int = 0, quiet_timeout: float | None = None, name: str = "a worker process") -> None:
        self._context = multiprocessing.get_context(start_method)
        self._tasks = self._context.Queue()
        self._results = self._context.Queue(maxsize=results_backlog)
        self._processes = [self._context.Process(target=_serve, daemon=True,
                                                 args=(work, initializer, initargs, finalizer, self._tasks,
                                                       self._results))
                           for _ in range(max(1, processes))]
        self._quiet_timeout = quiet_timeout
        self._name = name
        self._next_seq = 0
        self._broken = False
        self._arrived: dict[int, Any] = {}  # results of submitted tasks not yet collected

    def __enter__(self) -> Pool:
        for p in self._processes:
            p.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None and not self._broken:
            self._stop()
        else:
            self._terminate()

    def as_completed(self, tasks: Iterable) -> Iterator:
        """Every item ``work(state, task)`` yields, for every task, as the workers make them."""
        pending = self._submit(tasks, streamed=True)
        finished = False
        try:
            while pending:
                seq, kind, value = self._receive()
                if kind == _ITEM:
                    yield value
                else:
                    pending.discard(seq)
            finished = True
        finally:
            if not finished:
                self._broken = True  # results of the abandoned tasks would still arrive

    def map(self, tasks: Iterable) -> list:
        """``work(state, task)`` for every task, in the tasks' order."""
        pending = self._submit(tasks, streamed=False)
        first = min(pending, default=0)
        out: list = [None] * len(pending)
        try:
            while pending:
                seq, _, value = self._receive()
                out[seq - first] = value
                pending.discard(seq)
        except BaseException:
            self._broken = True
            raise
        return out

    def submit(self, tasks: Iterable) -> list[int]:
        """Hand tasks to the workers without waiting for them; ``collect`` returns their results.
        The caller may prepare (and submit) more work meanwhile, so the workers need not wait
        for it between batches. Not to be mixed with ``map`` while submitted tasks are pending."""
        return sorted(self._submit(tasks, streamed=False))

    def collect(self, submitted: list[int]) -> list:
        """The results of tasks ``submit`` handed over, in their order; results of other
        submitted tasks that arrive meanwhile are kept for their own ``collect``."""
        arrived = self._arrived
        try:
            while any(seq not in arrived for seq in submitted):
                seq, _, value = self._receive()
                arrived[seq] = value
        except BaseException:
            self._broken = True
            raise
        return [arrived.pop(seq) for seq in submitted]

    def _submit(self, tasks: Iterable, *, streamed: bool) -> set[int]:
        if self._broken:
            raise RuntimeError(f"a pool whose worker failed, or whose results were abandoned, takes no more work "
                               f"({self._name}); start a new one")
        pending = set()
        for task in tasks:
            self._tasks.put((self._next_seq, task, streamed))
            pending.add(self._next_seq)
            self._next_seq += 1
        return pending

    def _receive(self) -> tuple:
        quiet_since = time.monotonic()
        while True:
            try:
                message = pickle.loads(self._results.get(timeout=POLL_SECONDS))
            except queue_mod.Empty:
                self._check_alive()
                if self._quiet_timeout is not None and time.monotonic() - quiet_since > self._quiet_timeout:
                    self._broken = True
                    raise WorkerFailed(f"{self._name} sent nothing for {self._quiet_timeout:.0f} s") from None
                continue
            if message[1] == _FAILED:
                self._broken = True
                raise WorkerFailed(f"{self._name} failed:\n{message[2]}")
            return message

    def _check_alive(self) -> None:
        dead = [p for p in self._processes if p.exitcode is not None]
        if not dead:
            return
        self._broken = True
        deadline = time.monotonic() + POLL_SECONDS
        while time.monotonic() < deadline:  # its last words may still be on their way
            try:
                message = pickle.loads(self._results.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue_mod.Empty:
                break
            if message[1] == _FAILED:
                raise WorkerFailed(f"{self._name} failed:\n{message[2]}")
        raise WorkerFailed(f"{self._name} died (exit code {dead[0].exitcode})")

    def _stop(self) -> None:
        for _ in self._processes:
            self._tasks.put(None)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for p in self._processes:
            p.join(max(0.0, deadline - time.monotonic()))
        self._terminate()

    def _terminate(self) -> None:
        for p in self._processes:
            if p.is_alive():
                p.terminate()
        for p in self._processes:
            p.join()
        self._tasks.cancel_join_thread()  # tasks no worker will take: do not wait to send them at exit
        self._tasks.close()
        self._results.close()
