"""``leadmatch closing remind``: one pass of the reminders of unanswered closes."""
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
    from api.closing import service
    from api.db import session_scope
    from api.db.bulk import utc_now
    from api.metrics import Metrics

    settings = console.settings()
    services = build_services(settings, Metrics(), settings.cache_prefix)  # the index is not loaded: not needed
    total = 0
    try:
        while True:
            with session_scope(services.sessions) as session:
                reminded = service.remind_unanswered(session, services, utc_now(), batch)
            total += reminded
            if reminded < batch:
                break
    finally:
        services.close()
    console.err.print(f"reminded {total} unanswered close{'s' if total != 1 else ''}")
