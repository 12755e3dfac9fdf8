"""funnel: accounts per status at the end of the period (each account's latest status that took
effect before the ``to`` instant), and the moves between statuses that took effect in the period.
A move from no status (an account's first) is from ``(new)``."""
from __future__ import annotations

from typing import Mapping, Sequence

from matcher.reports.types import Report, Table

NEW = "(new)"


def funnel(at_end: Mapping[str, int], moves: Mapping[tuple[str | None, str], int], statuses: Sequence[str]) -> Report:
    order = {s: i for i, s in enumerate(statuses)}
    end_rows = tuple((s, at_end.get(s, 0)) for s in statuses) + tuple(
        (s, n) for s, n in sorted(at_end.items()) if s not in order)
    def rank(status: str | None) -> tuple[int, str]:  # no status first, then the vocabulary's order
        return (-1, "") if status is None else (order.get(status, len(order)), status)

    move_rows = tuple((NEW if old is None else old, new, n)
                      for (old, new), n in sorted(moves.items(), key=lambda kv: (rank(kv[0][0]), rank(kv[0][1]))))
    return Report("funnel", (
        Table("at_end", ("status", "accounts"), end_rows),
        Table("moves", ("from_status", "to_status", "moves"), move_rows),
    ))
