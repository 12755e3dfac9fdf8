"""The ``leadmatch`` command line: the root command and the list of its subcommands, each defined in
its domain's ``commands.py``. Every command honours DATABASE_URL and REDIS_URL.

A run imports only the module of the command it runs (``COMMANDS``), and heavy imports (FastAPI,
uvicorn, SQLAlchemy) happen inside the commands that need them, so that ``match-file`` and the
importers start fast: they are run as whole processes, in batch scripts and benchmarks.
"""
from __future__ import annotations

import importlib
import os
import sys

import typer

from api import console

# Every subcommand, where it lives: (name, module, attribute, a group of subcommands?). A run
# imports only the module of the command it runs (``main``): match-file and the importers are
# run as whole processes, many times a day, and every other command's imports cost them a
# tenth of a second.
COMMANDS = (
    ("migrate", "api.ops.commands", "migrate", False),
    ("serve", "api.ops.commands", "serve", False),
    ("import-accounts", "api.accounts.commands", "import_accounts", False),
    ("import-contacts", "api.accounts.commands", "import_contacts", False),
    ("match-file", "api.matching.commands", "match_file", False),
    ("upload", "api.batches.commands", "upload", False),
    ("demo", "api.demo", "demo", False),
    ("rules", "api.qualification.commands", "rules_app", True),
    ("recompute", "api.qualification.commands", "recompute", False),
    ("routing", "api.routing.commands", "routing_app", True),
    ("webhooks", "api.webhooks.commands", "webhooks_app", True),
    ("closing", "api.closing.commands", "closing_app", True),
    ("schedule", "api.scheduling.commands", "schedule_app", True),
    ("worker", "api.scheduling.commands", "worker", False),
    ("report", "api.reports.commands", "report_app", True),
)


def build_app(only: str | None = None) -> typer.Typer:
    """The ``leadmatch`` command with every subcommand, or with the one named ``only`` alone."""
    root = typer.Typer(help="Lead-to-account matching: serve the API, import accounts, match files.",
                       no_args_is_help=True, add_completion=False)

    @root.callback()
    def _root() -> None:
        # a group even with one subcommand: ``leadmatch match-file FILE`` keeps its name
        pass

    for name, module, attribute, group in COMMANDS:
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(module), attribute)
        if group:
            root.add_typer(target, name=name)
        else:
            root.command(name)(target)
    return root


def __getattr__(name: str) -> typer.Typer:
    """``api.cli.app``, the whole command (tests and help), built on first use."""
    if name == "app":
        global app
        app = build_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The ``leadmatch`` console script. After match-file, freeing the index object by object
    only to exit costs 0.6 s at a million accounts: its output is written and closed, so the
    process ends at once instead. Every other command exits the ordinary way."""
    asked = sys.argv[1] if len(sys.argv) > 1 else None
    command = build_app(asked if asked in {c[0] for c in COMMANDS} else None)
    try:
        command()
        code = 0
    except SystemExit as exc:
        code = exc.code
    matching_commands = sys.modules.get("api.matching.commands")
    if matching_commands is not None and matching_commands.left_for_exit is not None:
        if code is not None and not isinstance(code, int):
            console.err.print(str(code))
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    sys.exit(code)
