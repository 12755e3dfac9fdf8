"""``leadmatch webhooks deliver``: send the outbox's due events from the command line."""
from __future__ import annotations

from typing import Annotated

import typer

from api import console

webhooks_app = typer.Typer(help="Signed webhooks from the outbox.", no_args_is_help=True)


@webhooks_app.command("deliver")
def deliver(once: Annotated[bool, typer.Option("--once", help="send what is due now, then exit")] = False) -> None:
    """Send the outbox's events to their URLs (until interrupted, or with --once until nothing is due)."""
    import signal
    import threading

    from api.db import make_engine, make_sessionmaker
    from api.webhooks.delivery import Deliverer

    settings = console.settings()
    if not settings.webhook_secret:
        console.err.print("[red]error:[/] LEADMATCH_WEBHOOK_SECRET is not set (webhooks are always signed)")
        raise typer.Exit(2)
    engine = make_engine(settings.database_url)
    deliverer = Deliverer(make_sessionmaker(engine), settings)
    try:
        if once:
            done = deliverer.drain()
            console.err.print(f"delivered {done.delivered}, failed {done.failed} (will retry), dead {done.dead}")
            return
        # the deliverer works in its thread; this one waits for Ctrl-C or SIGTERM, then stops it
        # cleanly (the row in flight is finished, the rest of its batch given back at once)
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        deliverer.start()
        console.err.print("delivering webhooks (Ctrl-C to stop)")
        try:
            while not stopped.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        deliverer.close()
        engine.dispose()
