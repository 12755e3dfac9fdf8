"""``leadmatch migrate`` and ``leadmatch serve``."""
from __future__ import annotations

from typing import Annotated

import typer

from api import console


def migrate() -> None:
    """Create or upgrade the database schema (Alembic ``upgrade head``)."""
    from api.db import migrate as run

    url = console.settings().database_url
    run(url)
    console.err.print(f"database schema is up to date ({console.redact(url)})")


def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request (costs ~10% of /v1/match throughput; "
                                                  "/metrics counts requests anyway)")] = False,
) -> None:
    """Migrate the database, then serve the HTTP API with uvicorn."""
    import uvicorn

    from api.db import migrate as run

    settings = console.settings()
    run(settings.database_url)
    if workers > 1 and not settings.redis_url:
        console.err.print("[yellow]warning:[/] several workers without REDIS_URL: an account change made through "
                  "one worker does not reach the others' indexes until they restart")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level.lower(), access_log=access_log)
