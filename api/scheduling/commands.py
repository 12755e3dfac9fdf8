"""``leadmatch worker`` (consume the job queue) and ``leadmatch schedule`` (list the tasks, run one
now): the scheduler from the command line (docs/scheduling.md)."""
from __future__ import annotations

import json
import signal
import threading
from datetime import datetime
from typing import Annotated, Optional

import typer

from api import console

schedule_app = typer.Typer(help="The scheduler's tasks: list them, run one now.", no_args_is_help=True)


@schedule_app.command("list")
def list_tasks() -> None:
    """The scheduled tasks with this deployment's intervals (seconds; 0: not scheduled)."""
    from api.scheduling.tasks import scheduled_tasks

    tasks = scheduled_tasks(console.settings())
    typer.echo(json.dumps({t.name: {"interval_seconds": t.interval, "queued": t.queued} for t in tasks.values()},
                          indent=2))


@schedule_app.command("run")
def run(task: Annotated[str, typer.Argument(help="the task's name (leadmatch schedule list)")],
        now: Annotated[Optional[datetime], typer.Option(  # noqa: UP007 - typer needs Optional
            "--now", help="the time the task takes as now (ISO 8601, UTC if no offset); default the clock")] = None,
        ) -> None:
    """Run one scheduled task now, in this process (safe beside the API processes and workers)."""
    from datetime import timezone

    from api.app import build_services
    from api.metrics import Metrics
    from api.scheduling.tasks import scheduled_tasks

    settings = console.settings()
    tasks = scheduled_tasks(settings)
    if task not in tasks:
        raise typer.BadParameter(f"unknown task {task!r}; known: {', '.join(tasks)}", param_hint="TASK")
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    services = build_services(settings, Metrics(), settings.cache_prefix)  # the index is not loaded: not needed
    try:
        counts = tasks[task].run(services, now)  # type: ignore[arg-type]
    finally:
        services.close()
    console.err.print(f"{task}: {counts or 'nothing due'}")


def worker(threads: Annotated[int, typer.Option("--threads", min=1, max=64,
                                                help="tasks this worker runs at once")] = 2,
           load_index: Annotated[bool, typer.Option(
               "--load-index", help="load the account index at start, not when the first batch chunk "
                                    "comes (a worker kept for uploads answers its first chunk at once)")] = False,
           ) -> None:
    """Consume the Redis job queue: run the scheduled tasks the API processes put on it and the
    chunks of batch jobs (docs/batches.md), until SIGINT or SIGTERM. Any number of workers on any
    number of machines may run."""
    from api.app import build_services
    from api.metrics import Metrics
    from api.scheduling.queue import TaskQueue
    from api.scheduling.tasks import scheduled_tasks

    settings = console.settings()
    if not settings.redis_url:
        raise typer.BadParameter("the worker consumes the Redis job queue: set REDIS_URL", param_hint="REDIS_URL")
    services = build_services(settings, Metrics(), settings.cache_prefix)
    tasks = scheduled_tasks(settings)

    def run_task(name: str) -> None:
        counts = tasks[name].run(services, None)  # type: ignore[arg-type] - None: the task reads the clock
        services.metrics.scheduled_runs.labels(name, "worker").inc()
        if counts:
            console.err.print(f"{name}: {counts}")

    queue = TaskQueue(services.redis, run_task)  # type: ignore[arg-type] - redis_url is set
    # batch jobs' prepare and chunk messages, on the same broker (api/batches/queue.py)
    from api.batches.queue import BatchRunner, start_index, worker_actors

    services.batches = BatchRunner(services, worker_actors(services, queue))
    if load_index:
        start_index(services)

        def say_loaded() -> None:  # the line scripts wait for before sending work (benchmarks/batches)
            if services.index.wait_ready(None):
                console.err.print(f"leadmatch worker: account index loaded ({len(services.index)} accounts)")

        threading.Thread(target=say_loaded, name="leadmatch-index-ready", daemon=True).start()
    w = queue.worker(threads)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    w.start()
    console.err.print(f"leadmatch worker: consuming {console.redact(settings.redis_url)} with {threads} threads")
    try:
        stop.wait()
    finally:
        w.stop()
        queue.close()
        services.close()
