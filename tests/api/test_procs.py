"""api.procs: work spread over spawned or forked processes, results streamed or in order, a
failing or dying worker raised here with what it said, and no process left behind."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from api import procs

START_METHODS = ["spawn", pytest.param("fork", marks=pytest.mark.skipif(not procs.can_fork(), reason="no fork"))]


class _Counter:
    """A worker's state: where it writes that it stopped."""

    def __init__(self, stopped_dir: str) -> None:
        self.stopped = Path(stopped_dir) / str(os.getpid())

    def close(self) -> None:
        self.stopped.write_text("stopped", encoding="utf-8")


def _count_up(state: _Counter, n: int):  # noqa: ANN202 - a generator
    for i in range(n):
        yield (n, i, os.getpid())


def _square_slowly(state: None, x: int) -> int:
    time.sleep(0.3 if x == 0 else 0.0)  # the first task finishes last
    return x * x


def _raise_on_three(state: None, x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed here")
    return x


def _die_on_three(state: None, x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def _unpicklable(state: None, x: int):  # noqa: ANN202
    return (lambda: x) if x == 2 else x


def _no_state(url: str) -> None:
    raise ConnectionError(f"cannot reach {url}")


def _hang(state: None, x: int) -> int:
    time.sleep(60)
    return x


@pytest.mark.parametrize("method", START_METHODS)
def test_every_item_of_every_task_comes_back_and_the_workers_stop(method: str, tmp_path: Path) -> None:
    with procs.Pool(_count_up, processes=2, start_method=method, initializer=_Counter, initargs=(str(tmp_path),),
                    finalizer=_Counter.close, results_backlog=2) as pool:
        items = list(pool.as_completed([3, 1, 4, 2]))
        workers = pool._processes  # noqa: SLF001 - what the test checks
    assert sorted((n, i) for n, i, _ in items) == [(n, i) for n in (1, 2, 3, 4) for i in range(n)]
    # a task's items come in the order its generator made them
    for n in (1, 2, 3, 4):
        assert [i for m, i, _ in items if m == n] == list(range(n))
    assert {pid for *_, pid in items} <= {p.pid for p in workers}
    assert all(p.exitcode == 0 for p in workers)
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(str(p.pid) for p in workers)  # each finalised


@pytest.mark.parametrize("method", START_METHODS)
def test_map_answers_in_the_order_of_the_tasks_and_the_pool_serves_several_calls(method: str) -> None:
    with procs.Pool(_square_slowly, processes=2, start_method=method) as pool:
        assert pool.map(range(6)) == [0, 1, 4, 9, 16, 25]
        assert pool.map([7, 0, 3]) == [49, 0, 9]
        assert pool.map([]) == []


def test_submitted_tasks_are_collected_in_their_order_whichever_finishes_first() -> None:
    with procs.Pool(_square_slowly, processes=2, start_method="fork") as pool:
        first = pool.submit([0, 2])  # 0 finishes last
        second = pool.submit([3, 4])
        assert pool.collect(second) == [9, 16]  # arrives while the first is still running
        assert pool.collect(first) == [0, 4]
        assert pool.map([5]) == [25]  # nothing left over for the next caller


def test_a_fork_shares_what_this_process_built() -> None:
    if not procs.can_fork():
        pytest.skip("no fork")
    big = {"built": "here", "size": 3}
    with procs.Pool(lambda shared, key: shared[key], processes=2, start_method="fork",
                    initializer=lambda: big) as pool:
        assert pool.map(["built", "size"]) == ["here", 3]


@pytest.mark.parametrize("method", START_METHODS)
def test_a_failing_task_is_raised_here_with_the_workers_traceback(method: str) -> None:
    with pytest.raises(procs.WorkerFailed) as failed:
        with procs.Pool(_raise_on_three, processes=2, start_method=method, name="a test worker") as pool:
            pool.map(range(6))
    message = str(failed.value)
    assert message.startswith("a test worker failed:")
    assert "ValueError: three is not allowed here" in message and "_raise_on_three" in message
    assert all(not p.is_alive() for p in pool._processes)  # noqa: SLF001


def test_a_result_that_cannot_be_sent_back_is_the_workers_failure() -> None:
    with pytest.raises(procs.WorkerFailed, match="(?s)failed:.*pickle"):
        with procs.Pool(_unpicklable, processes=1, start_method="spawn", quiet_timeout=20) as pool:
            pool.map(range(4))


def test_a_failing_initializer_is_raised_here() -> None:
    with pytest.raises(procs.WorkerFailed, match="ConnectionError: cannot reach db://nowhere"):
        with procs.Pool(_count_up, processes=1, start_method="spawn", initializer=_no_state,
                        initargs=("db://nowhere",)) as pool:
            list(pool.as_completed([1]))


def test_a_worker_that_dies_without_a_word_is_reported_not_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(procs.WorkerFailed, match=r"died \(exit code -9\)"):
        with procs.Pool(_die_on_three, processes=2, start_method="spawn") as pool:
            pool.map(range(6))
    assert time.monotonic() - started < 30
    assert all(not p.is_alive() for p in pool._processes)  # noqa: SLF001


def test_workers_that_send_nothing_for_too_long_are_given_up_and_terminated() -> None:
    started = time.monotonic()
    with pytest.raises(procs.WorkerFailed, match="sent nothing for 2 s"):
        with procs.Pool(_hang, processes=1, start_method="spawn", quiet_timeout=2) as pool:
            pool.map([1])
    assert time.monotonic() - started < 30
    assert all(not p.is_alive() for p in pool._processes)  # noqa: SLF001


def test_an_abandoned_stream_terminates_the_workers() -> None:
    with procs.Pool(_count_up, processes=1, start_method="spawn", initializer=_Counter,
                    initargs=("/nonexistent",)) as pool:
        items = pool.as_completed([1000])
        next(items)
        items.close()
        with pytest.raises(RuntimeError, match="abandoned"):
            pool.map([1])
    assert all(not p.is_alive() for p in pool._processes)  # noqa: SLF001
