"""velocity: days to close (closed_at - opened_at) of the opportunities closed in the period;
count, median and mean, separately for won and lost. An opportunity without ``opened_at`` has no
days to close and is left out."""
from __future__ import annotations

from typing import Iterable

from matcher.reports.types import Opportunity, Period, Report, Table, closed_in, days, mean, median


def velocity(opportunities: Iterable[Opportunity], period: Period) -> Report:
    rows = []
    closed = [o for o in closed_in(opportunities, period) if o.opened_at is not None]
    for outcome in ("won", "lost"):
        spans = [days(o.opened_at, o.closed_at) for o in closed if o.state == outcome]  # type: ignore[arg-type]
        rows.append((outcome, len(spans), median(spans), mean(spans)))
    return Report("velocity", (Table("velocity", ("outcome", "count", "median_days", "mean_days"), tuple(rows)),))
