"""contact-sequence: how the people we spoke to changed over each deal.

For each opportunity closed in the period, its account's contacts in order of their first two-way
touch between 90 days before ``opened_at`` and ``closed_at`` (ties by contact id), each with its
seniority rank. Per outcome, over the opportunities with at least one engaged contact: the share
whose first engaged contact ranks 2 or below, and the median rank of the first and of the last
engaged contact. Over all of them (every opportunity of that outcome): the share where a contact
ranked above every earlier engaged contact (there must be one) first engaged in the last 30 days
before ``closed_at``, and the share where a contact ranked 3 or above became "no longer with
company" between ``opened_at`` and ``closed_at``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from matcher.reports.types import Period, Report, Table, median, share

LOOKBACK = timedelta(days=90)
LATE = timedelta(days=30)
JUNIOR_MAX_RANK = 2
SENIOR_MIN_RANK = 3


@dataclass(frozen=True, slots=True)
class EngagedContact:
    contact_id: str
    first_touch_at: datetime  # first two-way touch in [opened_at - 90 days, closed_at]
    rank: int


@dataclass(frozen=True, slots=True)
class SequenceOpportunity:
    id: str
    outcome: str  # won | lost
    closed_at: datetime
    engaged: tuple[EngagedContact, ...]
    # ranks of the account's contacts that became "no longer with company" in [opened_at, closed_at]
    departed_ranks: tuple[int, ...] = ()


def sequence(opportunity: SequenceOpportunity) -> list[EngagedContact]:
    return sorted(opportunity.engaged, key=lambda c: (c.first_touch_at, c.contact_id))


def senior_joined_late(opportunity: SequenceOpportunity) -> bool:
    order = sequence(opportunity)
    top = None
    for c in order:
        if top is not None and c.rank > top and c.first_touch_at >= opportunity.closed_at - LATE:
            return True
        top = c.rank if top is None else max(top, c.rank)
    return False


def contact_sequence(opportunities: Iterable[SequenceOpportunity], period: Period) -> Report:
    rows = []
    opps = [o for o in opportunities if period.contains(o.closed_at)]
    for outcome in ("won", "lost"):
        mine = [o for o in opps if o.outcome == outcome]
        engaged = [sequence(o) for o in mine if o.engaged]
        junior_first = sum(1 for seq in engaged if seq[0].rank <= JUNIOR_MAX_RANK)
        late = sum(1 for o in mine if senior_joined_late(o))
        departed = sum(1 for o in mine if any(r >= SENIOR_MIN_RANK for r in o.departed_ranks))
        rows.append((outcome, len(mine), len(engaged), share(junior_first, len(engaged)),
                     median(seq[0].rank for seq in engaged), median(seq[-1].rank for seq in engaged),
                     share(late, len(mine)), share(departed, len(mine))))
    return Report("contact-sequence", (Table(
        "by_outcome",
        ("outcome", "opportunities", "with_engaged_contact", "first_rank_2_or_below_share", "median_first_rank",
         "median_last_rank", "senior_joined_last_30_days_share", "senior_left_share"), tuple(rows)),))
