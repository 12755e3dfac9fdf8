"""``leadmatch closing remind``: one pass of the reminders of unanswered closes (the scheduler's
``remind_unanswered`` task, api/scheduling/tasks.py, run once here)."""
from __future__ import annotations

from typing import Annotated

import typer

from api import console

closing_app = typer.Typer(help="After the close: reminders of unanswered closes.", no_args_is_help=True)


@closing_app.command("remind")
def remind(batch: Annotated[int, typer.Option("--batch", min=1, max=10_000,
                                              help="closes per transaction")] = 100) -> None:
    """Send one close.unanswered webhook to each unanswered close whose reminder is due, once, and
    set its next reminder by the cadence (config/closing.toml [reminders]). Safe beside other
    replicas doing the same (api/closing/store.py claim_due_reminders)."""
    from api.app import build_services
    from api.metrics import Metrics
    from api.scheduling import tasks

    settings = console.settings()
    services = build_services(settings, Metrics(), settings.cache_prefix)  # the index is not loaded: not needed
    try:
        total = tasks.remind_unanswered(services, batch=batch).get("reminded", 0)
    finally:
        services.close()
    console.err.print(f"reminded {total} unanswered close{'s' if total != 1 else ''}")
