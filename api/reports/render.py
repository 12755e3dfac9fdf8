"""A report as JSON-ready data and as CSV: the one shape (named tables of columns and rows) the
API, the command line and the review pack all write."""
from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from api.csvio import csv_writer
from api.reports.store import Filters
from matcher.reports.types import Report, Value


def cell(value: Value) -> str | int | float | None:
    return value.isoformat() if isinstance(value, datetime) else value


def as_dict(report: Report, filters: Filters) -> dict[str, Any]:
    return {"report": report.name, "from": filters.period.start, "to": filters.period.end, "owner": filters.owner,
            "segment": None if filters.segment is None else ":".join(filters.segment),
            "tables": [{"name": t.name, "columns": list(t.columns), "rows": [[cell(v) for v in r] for r in t.rows]}
                       for t in report.tables]}


def as_csv(report: Report) -> str:
    """The report's tables one after the other, each headed by ``table`` and its columns and
    separated by an empty line; every row starts with its table's name."""
    out = io.StringIO()
    # text cells that start like a formula get a leading ' (CSV injection, docs/batches.md); the
    # numbers a report computes are written as they are, a negative one included
    writer = csv_writer(out, lineterminator="\n")
    for i, table in enumerate(report.tables):
        if i:
            writer.writerow([])
        writer.writerow(["table", *table.columns])
        writer.writerows([table.name, *(cell(v) for v in row)] for row in table.rows)
    return out.getvalue()
