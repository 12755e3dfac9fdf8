"""The scheduler with Redis: a due task goes on the Dramatiq queue and a worker (the same code as
`leadmatch worker`) runs it against the real Redis; with Redis gone the in-process runner runs
the task itself (a metric says so, nothing raises); one message per interval across replicas."""
from __future__ import annotations

from api.app import build_services
from api.metrics import Metrics
from api.scheduling.queue import TaskQueue
from api.scheduling.runner import Scheduler
from api.scheduling.tasks import Task, requalify_due
from tests.api.scheduling.test_requalify_due import EXPECTED_MOVES, _moves, build
from tests.conftest import settings_for, wait_for


def _without_times(moves: dict) -> dict:
    # the worker and the runner read the clock: only who moved from what to what is compared
    return {a: [(old, new) for old, new, _ in m] for a, m in moves.items()}


EXPECTED = _without_times(EXPECTED_MOVES)  # every review_at of build() is before today's clock


def test_a_worker_runs_the_queued_task(database_url: str, redis_url: str, redis_namespace: str) -> None:
    build(database_url)
    settings = settings_for(database_url, redis_url, scheduler_seconds=0, sla_check_seconds=0)
    api_side, worker_side = build_services(settings, Metrics(), redis_namespace), \
        build_services(settings, Metrics(), redis_namespace)
    task = Task("requalify_due", 60, requalify_due)
    ran: list[dict] = []
    sender = TaskQueue(api_side.redis, namespace=redis_namespace + "queue")
    consumer = TaskQueue(worker_side.redis, lambda name: ran.append(requalify_due(worker_side)),
                         namespace=redis_namespace + "queue")
    worker = consumer.worker(threads=1)
    worker.start()
    try:
        runner = Scheduler(api_side, {"requalify_due": task}, queue=sender)
        assert runner.dispatch(task) == "queue"
        assert runner.dispatch(task) == "sent"  # this interval's message is already on its way
        wait_for(lambda: bool(ran), what="the worker to run requalify_due")
        assert ran == [{"accounts": 4}]
    finally:
        worker.stop()
        sender.close()
        consumer.close()
        api_side.close()
        worker_side.close()
    assert _without_times(_moves(database_url)) == EXPECTED
    assert api_side.metrics.scheduled_runs.labels("requalify_due", "queue")._value.get() == 1


def test_redis_down_the_runner_runs_the_task_itself(database_url: str, own_redis) -> None:  # noqa: ANN001
    build(database_url)
    services = build_services(settings_for(database_url, own_redis.url, scheduler_seconds=0, sla_check_seconds=0),
                              Metrics(), "test:sched:")
    task = Task("requalify_due", 60, requalify_due)
    queue = TaskQueue(services.redis)
    try:
        own_redis.stop()
        runner = Scheduler(services, {"requalify_due": task}, queue=queue)
        assert runner.dispatch(task) == "fallback"
        assert _without_times(_moves(database_url)) == EXPECTED
        assert services.metrics.scheduled_runs.labels("requalify_due", "fallback")._value.get() == 1
        assert services.metrics.redis_up._value.get() == 0
    finally:
        queue.close()
        services.close()


def test_the_runner_thread_keeps_the_schedule(database_url: str) -> None:
    build(database_url)
    services = build_services(settings_for(database_url, scheduler_seconds=0, sla_check_seconds=0), Metrics(),
                              "test:sched:")
    runner = Scheduler(services, {"requalify_due": Task("requalify_due", 0.05, requalify_due)})
    runner.start()
    try:
        wait_for(lambda: services.metrics.scheduled_runs.labels("requalify_due", "process")._value.get() >= 2,
                 what="two passes of the runner")
    finally:
        runner.stop()
        services.close()
    assert _without_times(_moves(database_url)) == EXPECTED
