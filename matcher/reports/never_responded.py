"""never-responded: accounts that became Qualified (or any later status, config/pipeline.toml
[never_responded]) in the period and then had no two-way touch at all after that moment, up to
the end of the period or their closing, with their owner and the days since qualification
(counted to that same end).

"Their closing" is the first close of an opportunity at the account after the moment; an account
that became qualified more than once in the period is judged from its first time."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from matcher.reports.types import Period, Report, Table, days, owner_label


@dataclass(frozen=True, slots=True)
class QualifiedAccount:
    account_id: str
    owner: str | None
    qualified_at: datetime
    first_touch_after: datetime | None  # the first two-way touch strictly after qualified_at
    closed_at: datetime | None  # the first opportunity close at the account after qualified_at


def never_responded(accounts: Iterable[QualifiedAccount], period: Period) -> Report:
    rows = []
    for a in sorted(accounts, key=lambda a: (a.qualified_at, a.account_id)):
        if not period.contains(a.qualified_at):
            continue
        end = period.end
        if a.closed_at is not None and a.qualified_at < a.closed_at < end:
            end = a.closed_at
        if a.first_touch_after is not None and a.first_touch_after < end:
            continue
        rows.append((a.account_id, owner_label(a.owner), a.qualified_at, days(a.qualified_at, end)))
    return Report("never-responded", (Table(
        "never_responded", ("account_id", "owner", "qualified_at", "days_since_qualification"), tuple(rows)),))
