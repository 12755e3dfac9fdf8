"""close-rate: won / (won + lost) over the opportunities closed in the period; overall, per owner
and per opportunity type."""
from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable

from matcher.reports.types import Opportunity, Period, Report, Table, closed_in, owner_label, share

_COLUMNS = ("won", "lost", "close_rate")


def close_rate(opportunities: Iterable[Opportunity], period: Period) -> Report:
    closed = closed_in(opportunities, period)
    return Report("close-rate", (
        _table("overall", closed, lambda o: "all", "scope"),
        _table("by_owner", closed, lambda o: owner_label(o.owner), "owner"),
        _table("by_type", closed, lambda o: o.type, "type"),
    ))


def _table(name: str, closed: list[Opportunity], key: Callable[[Opportunity], str], column: str) -> Table:
    counts = Counter((key(o), o.state) for o in closed)
    keys = sorted({k for k, _ in counts}) or (["all"] if name == "overall" else [])
    rows = tuple((k, counts[k, "won"], counts[k, "lost"], share(counts[k, "won"], counts[k, "won"] + counts[k, "lost"]))
                 for k in keys)
    return Table(name, (column, *_COLUMNS), rows)
