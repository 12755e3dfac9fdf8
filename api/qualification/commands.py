"""``leadmatch rules preview|apply|show`` and ``leadmatch recompute``: the bulk path from a terminal.

Registered on the root command by ``api/cli.py``. Like the rest of the CLI, heavy imports happen
inside the commands.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from api import console

rules_app = typer.Typer(help="Qualification rule sets: preview a change, apply it, show the active one.",
                        no_args_is_help=True)
out = Console()

WorkersOpt = Annotated[int, typer.Option(min=1, help="evaluating processes (PostgreSQL; SQLite runs in one)")]
AsOfOpt = Annotated[Optional[str], typer.Option(help="evaluate at this ISO 8601 time instead of now")]
SamplesOpt = Annotated[int, typer.Option(min=0, max=20, help="sample accounts shown per move")]
MAX_REASON_CHARS = 110


def parse_as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--as-of") from None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t


def _load_file(path: Path):  # noqa: ANN202 - QualificationRules
    from pydantic import ValidationError

    from config import load_qualification_rules

    try:
        return load_qualification_rules(path)
    except (ValidationError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError

        console.err.print(f"[red]error:[/] {path}: {exc}")
        raise typer.Exit(2) from None


def _run(rules, *, apply: bool, workers: int, as_of: datetime | None, samples: int, label: str):  # noqa: ANN001, ANN202
    """Migrate, then recompute with a progress bar; with REDIS_URL, drop the cached status of
    every account whose stored status changed, slice by slice after each commit."""
    from api.db import make_engine, migrate
    from api.qualification.recompute import recompute_all
    from matcher.qualification.rules import compile_rules

    settings = console.settings()
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    on_written = cache_dropper(settings) if apply else None
    try:
        with console.progress() as progress:
            task = progress.add_task(label, total=None)
            report = recompute_all(engine, compile_rules(rules), as_of, apply=apply, workers=workers,
                                   samples_per_cell=samples, on_slice_written=on_written,
                                   progress=lambda done, total: progress.update(task, completed=done, total=total))
    finally:
        engine.dispose()
    for warning in report.warnings:
        console.err.print(f"[yellow]warning:[/] {warning}")
    return report


def cache_dropper(settings):  # noqa: ANN001, ANN202 - callable(ids) or None
    if not settings.redis_url:
        return None  # the in-process caches of running servers expire on their own (STATUS_TTL_SECONDS)
    from api.cache import make_cache
    from api.deps import status_cache_key
    from api.redis_guard import connect

    # a drop Redis does not get (it is unreachable) is only logged and counted: the cached status
    # then expires on its own (STATUS_TTL_SECONDS)
    cache = make_cache(connect(settings.redis_url), settings.cache_prefix)

    def drop(ids: list[str]) -> None:
        for i in range(0, len(ids), 5000):
            cache.delete(*(status_cache_key(a) for a in ids[i:i + 5000]))

    return drop


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 1] + "…"


def print_report(report, title: str) -> None:  # noqa: ANN001 - api.qualification.recompute.RecomputeReport
    """The transition matrix (stored status -> new status) and, per move, sample accounts with the
    reasons of their new status."""
    cells = report.preview.cells
    befores = sorted({c.before for c in cells}, key=lambda s: (s is not None, s or ""))
    afters = sorted({c.after for c in cells})
    matrix = Table(title=title, show_lines=False)
    matrix.add_column("stored \\ new", style="bold")
    for a in afters:
        matrix.add_column(a, justify="right")
    for b in befores:
        row = [b or "(none)"]
        for a in afters:
            n = report.preview.count(b, a)
            row.append("" if n == 0 else (f"[dim]{n:,}[/]" if a == b else f"[bold]{n:,}[/]"))
        matrix.add_row(*row)
    out.print(matrix)
    moves = [c for c in cells if c.before != c.after]
    if moves:
        table = Table(title="moves, with sample accounts and the reasons of their new status")
        table.add_column("from")
        table.add_column("to")
        table.add_column("accounts", justify="right")
        table.add_column("samples")
        for c in sorted(moves, key=lambda c: (-c.count, c.before or "", c.after)):
            samples = "\n".join(f"{account_id}: " + _short("; ".join(r.text for r in reasons) or "-")
                                for account_id, reasons in c.samples)
            table.add_row(c.before or "(none)", c.after, f"{c.count:,}", samples)
        out.print(table)


def _summary(report) -> str:  # noqa: ANN001
    return (f"{report.accounts:,} accounts, {report.contacts:,} contacts, {report.activities:,} events evaluated "
            f"at {report.as_of.isoformat(timespec='seconds')} in {report.seconds:.1f} s "
            f"({report.workers} process{'es' if report.workers > 1 else ''}, {report.slices} slices)")


@rules_app.command("preview")
def preview(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the new rules (TOML, merged over the defaults)")],
    workers: WorkersOpt = 2, as_of: AsOfOpt = None, samples: SamplesOpt = 3,
) -> None:
    """Show how many accounts the new rules would move from each stored status to each other
    one, with sample accounts and reasons. Changes nothing."""
    rules = _load_file(file)
    report = _run(rules, apply=False, workers=workers, as_of=parse_as_of(as_of), samples=samples,
                  label=f"evaluating with {rules.version}")
    print_report(report, f"rule set {rules.version}: stored status -> new status")
    out.print(_summary(report))
    out.print(f"rule set {rules.version} would move {report.accounts_moved:,} accounts and "
              f"{report.contacts_moved:,} contacts; nothing was changed "
              f"(apply with: leadmatch rules apply {file})")


@rules_app.command("apply")
def apply(
    file: Annotated[Optional[Path], typer.Argument(exists=True, dir_okay=False,
                                                   help="the rules to apply (default: LEADMATCH_QUALIFICATION_RULES, "
                                                        "else the shipped defaults)")] = None,
    workers: WorkersOpt = 2, as_of: AsOfOpt = None, samples: SamplesOpt = 3,
) -> None:
    """Make the rules the active rule set, then recompute every status from the ledger and log
    each move under the rule set's version. Running it again changes nothing."""
    from api.qualification import rule_sets
    from api.db import make_engine, make_sessionmaker, migrate, session_scope
    from config import load_qualification_rules

    settings = console.settings()
    source = file or settings.qualification_rules
    rules = _load_file(file) if file else load_qualification_rules(settings.qualification_rules)
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        # recorded first, so API processes switch before the recompute, not after it (api.qualification.rule_sets)
        with session_scope(make_sessionmaker(engine)) as session:
            active = rule_sets.active_rule_set(session)
            if active is not None and active.version == rules.version and active.rules != rules:
                console.err.print(f"[red]error:[/] rule set version {rules.version!r} is already active with other rules; "
                          "give the new rules their own version (or none: a content hash is used)")
                raise typer.Exit(2)
            if active is None or active.version != rules.version:
                rule_sets.record_applied(session, rules, source)
    finally:
        engine.dispose()
    report = _run(rules, apply=True, workers=workers, as_of=parse_as_of(as_of), samples=samples,
                  label=f"applying {rules.version}")
    print_report(report, f"rule set {rules.version}: previous status -> new status")
    out.print(_summary(report))
    out.print(f"rule set {rules.version} is active: {report.accounts_moved:,} accounts and {report.contacts_moved:,} "
              f"contacts moved, {report.rows_written:,} status rows written, {report.transitions:,} transitions logged")


@rules_app.command("show")
def show() -> None:
    """The active rule set: version, where it came from, when it was applied."""
    from api.qualification import rule_sets
    from api.db import make_engine, migrate
    from config import load_qualification_rules

    settings = console.settings()
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        active = rule_sets.active_rule_set(conn)
    engine.dispose()
    if active is None:
        rules = load_qualification_rules(settings.qualification_rules)
        out.print(f"no rule set applied yet: statuses follow {settings.qualification_rules or 'the shipped defaults'} "
                  f"(version {rules.version})")
    else:
        out.print(f"active rule set {active.version}, applied {active.applied_at.isoformat(timespec='seconds')}"
                  + (f" from {active.source}" if active.source else ""))


def recompute(workers: WorkersOpt = 2, as_of: AsOfOpt = None, samples: SamplesOpt = 3) -> None:
    """Recompute every account's and contact's status from the ledger with the active rule set
    (the applied one; else the settings file or the defaults), logging each status that changed."""
    from api.qualification import rule_sets
    from api.db import make_engine, migrate

    settings = console.settings()
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        rules = rule_sets.current_rules(engine, settings.qualification_rules)
    finally:
        engine.dispose()
    report = _run(rules, apply=True, workers=workers, as_of=parse_as_of(as_of), samples=samples,
                  label=f"recomputing with {rules.version}")
    if report.accounts_moved:
        print_report(report, f"rule set {rules.version}: previous status -> new status")
    out.print(_summary(report))
    out.print(f"{report.accounts_moved:,} accounts and {report.contacts_moved:,} contacts moved, "
              f"{report.rows_written:,} status rows written, {report.transitions:,} transitions logged "
              f"under {rules.version}")
