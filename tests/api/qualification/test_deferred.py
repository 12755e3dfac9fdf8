"""The re-qualification worker behind lead intake (api/qualification/deferred.py): ids that
arrive while it lingers go into one batch; ``wait_idle`` does not wait out the linger."""
from __future__ import annotations

import threading
import time
from typing import Collection

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from api.qualification.deferred import Requalifier


def _worker(linger: float) -> tuple[Requalifier, list[list[str]]]:
    batches: list[list[str]] = []
    lock = threading.Lock()

    def refresh(session: Session, ids: Collection[str]) -> None:
        with lock:
            batches.append(sorted(ids))

    return Requalifier(sessionmaker(bind=create_engine("sqlite://")), refresh, linger), batches


def test_ids_that_arrive_while_it_lingers_are_one_batch() -> None:
    worker, batches = _worker(linger=30.0)
    try:
        worker.submit(["b", "a"])
        time.sleep(0.2)  # without a linger the worker would have taken the first batch by now
        worker.submit(["c", "a"])
        # a 30 s linger: both submissions are pending together when wait_idle ends the wait
        assert worker.wait_idle(10)
        assert batches == [["a", "b", "c"]]
    finally:
        worker.close(10)


def test_without_linger_each_submission_is_taken_as_it_comes() -> None:
    worker, batches = _worker(linger=0.0)
    try:
        worker.submit(["a"])
        assert worker.wait_idle(10)
        worker.submit(["b"])
        assert worker.wait_idle(10)
        assert batches == [["a"], ["b"]]
    finally:
        worker.close(10)


def test_close_re_qualifies_what_is_still_pending() -> None:
    worker, batches = _worker(linger=30.0)
    worker.submit(["x"])
    worker.close(10)
    assert batches == [["x"]]
