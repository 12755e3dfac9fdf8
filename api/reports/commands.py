"""``leadmatch report NAME --from --to [--format table|csv|json]`` and ``leadmatch report monthly
--month YYYY-MM [--out DIR]``: the reports in a terminal (Rich tables) and the monthly review pack
(``pack.py``). Registered on the root command by ``api/cli.py``."""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table as RichTable

from api import console
from matcher.reports import NAMES

report_app = typer.Typer(help="The win/loss reports (docs/reports.md) and the monthly review pack.",
                         no_args_is_help=True)
out = Console()

OwnerOpt = Annotated[Optional[str], typer.Option(help="only this owner's opportunities (accounts)")]
SegmentOpt = Annotated[Optional[str], typer.Option(help="fit_tier:A, industry:Software or country:DE")]


def parse_time(value: str, hint: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an RFC 3339 time: {value!r}", param_hint=hint) from None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t


def month_period(month: str) -> tuple[datetime, datetime]:
    m = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if m is None or not 1 <= int(m[2]) <= 12:
        raise typer.BadParameter(f"not a month like 2026-03: {month!r}", param_hint="--month")
    year, mon = int(m[1]), int(m[2])
    start = datetime(year, mon, 1, tzinfo=timezone.utc)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=timezone.utc)
    return start, end


def _filters(start: datetime, end: datetime, owner: str | None, segment: str | None):  # noqa: ANN202 - Filters
    from api.errors import ValidationFailed
    from api.reports import service
    from api.reports.store import Filters

    try:
        return Filters(service.period(start, end), owner, service.parse_segment(segment))
    except ValidationFailed as exc:
        console.err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from None


def _run(names: tuple[str, ...], filters):  # noqa: ANN001, ANN202 - list of (Report, seconds)
    from api.db import make_engine, make_sessionmaker, migrate, session_scope
    from api.reports import service

    settings = console.settings()
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    rules = service.pipeline_rules(settings.pipeline_rules)
    done = []
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            for name in names:
                started = time.perf_counter()
                done.append((service.run(session, name, filters, rules), time.perf_counter() - started))
    finally:
        engine.dispose()
    return done


def print_report(report, seconds: float | None = None) -> None:  # noqa: ANN001 - matcher.reports.types.Report
    from api.reports.pack import fmt

    for table in report.tables:
        title = f"{report.name} · {table.name}" + (f"  ({seconds:.2f} s)" if seconds is not None else "")
        rich = RichTable(title=title, title_justify="left")
        for c in table.columns:
            rich.add_column(c, justify="left" if c == table.columns[0] else "right")
        for row in table.rows:
            rich.add_row(*(fmt(v, c) for v, c in zip(row, table.columns)))
        out.print(rich)


@report_app.command("monthly")
def monthly(month: Annotated[str, typer.Option(help="the month, YYYY-MM (UTC)")],
            out_dir: Annotated[Path, typer.Option("--out", help="where the pack is written")] = Path("."),
            owner: OwnerOpt = None, segment: SegmentOpt = None) -> None:
    """Print every report of the month as tables and write the review pack: review-YYYY-MM.html
    (self-contained, charts inline) and review-YYYY-MM-<report>.csv."""
    from api.reports.pack import write_pack

    start, end = month_period(month)
    filters = _filters(start, end, owner, segment)
    started = time.perf_counter()
    done = _run(NAMES, filters)
    for report, seconds in done:
        print_report(report, seconds)
    paths = write_pack([r for r, _ in done], filters, f"Win/loss review {month}", out_dir, f"review-{month}")
    console.err.print(f"wrote {paths[0]} and {len(paths) - 1} CSV files in {time.perf_counter() - started:.1f} s")


def _one(name: str):  # noqa: ANN202 - the command of one report
    def command(from_: Annotated[str, typer.Option("--from", help="start (RFC 3339), included")],
                to: Annotated[str, typer.Option("--to", help="end (RFC 3339), excluded")],
                owner: OwnerOpt = None, segment: SegmentOpt = None,
                format: Annotated[str, typer.Option(help="table, csv or json")] = "table") -> None:  # noqa: A002
        from api.reports import render

        if format not in ("table", "csv", "json"):
            raise typer.BadParameter("table, csv or json", param_hint="--format")
        filters = _filters(parse_time(from_, "--from"), parse_time(to, "--to"), owner, segment)
        (report, seconds), = _run((name,), filters)
        if format == "csv":
            typer.echo(render.as_csv(report), nl=False)
        elif format == "json":
            typer.echo(json.dumps(render.as_dict(report, filters), default=str, indent=1))
        else:
            print_report(report, seconds)
    command.__doc__ = f"The {name} report over [--from, --to) (docs/reports.md)."
    return command


for _name in NAMES:
    report_app.command(_name)(_one(_name))
