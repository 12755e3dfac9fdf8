"""The ``leadmatch`` command line: the root command and the list of its subcommands, each defined in
its domain's ``commands.py``. Every command honours DATABASE_URL and REDIS_URL.

Heavy imports (FastAPI, uvicorn, SQLAlchemy) happen inside the commands that need them, so that
``match-file`` and the importers start fast: they are run as whole processes in benchmarks.
"""
from __future__ import annotations

import os
import sys

import typer

from api import console, demo
from api.accounts import commands as account_commands
from api.batches import commands as batch_commands
from api.closing import commands as closing_commands
from api.matching import commands as matching_commands
from api.ops import commands as ops_commands
from api.qualification import commands as qualification_commands
from api.reports import commands as report_commands
from api.routing import commands as routing_commands
from api.scheduling import commands as scheduling_commands
from api.webhooks import commands as webhook_commands

app = typer.Typer(help="Lead-to-account matching: serve the API, import accounts, match files.",
                  no_args_is_help=True, add_completion=False)
app.command("migrate")(ops_commands.migrate)
app.command("serve")(ops_commands.serve)
app.command("import-accounts")(account_commands.import_accounts)
app.command("import-contacts")(account_commands.import_contacts)
app.command("match-file")(matching_commands.match_file)
app.command("upload")(batch_commands.upload)
app.command("demo")(demo.demo)
app.add_typer(qualification_commands.rules_app, name="rules")
app.command("recompute")(qualification_commands.recompute)
app.add_typer(routing_commands.routing_app, name="routing")
app.add_typer(webhook_commands.webhooks_app, name="webhooks")
app.add_typer(closing_commands.closing_app, name="closing")
app.add_typer(scheduling_commands.schedule_app, name="schedule")
app.command("worker")(scheduling_commands.worker)
app.add_typer(report_commands.report_app, name="report")


def main() -> None:
    """The ``leadmatch`` console script. After match-file, freeing the index object by object
    only to exit costs 0.6 s at a million accounts: its output is written and closed, so the
    process ends at once instead. Every other command exits the ordinary way."""
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if matching_commands.left_for_exit is not None:
        if code is not None and not isinstance(code, int):
            console.err.print(str(code))
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    sys.exit(code)
