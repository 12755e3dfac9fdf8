"""follow-up: per owner, for the opportunities closed in the period, the outbound touches per
channel between ``opened_at`` and ``closed_at`` (count and per opportunity), and for those closed
as gone dark (close source ``gone_dark``) the share whose re-qualification cadence was complete:
every step of its latest gone-dark episode done (an episode without steps, or none at all, is not
complete). A last row ``(all)`` sums every owner."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping, Sequence

from matcher.reports.types import Period, Report, Table, owner_label, share

ALL = "(all)"


@dataclass(frozen=True, slots=True)
class FollowUpOpportunity:
    id: str
    owner: str | None
    closed_at: datetime
    gone_dark_close: bool
    # outbound touches in the window by activity type
    touches: Mapping[str, int] = field(default_factory=dict)
    # done flags of the steps of the latest gone-dark episode; None: no episode
    cadence: tuple[bool, ...] | None = None


def cadence_complete(steps: tuple[bool, ...] | None) -> bool:
    return bool(steps) and all(steps)  # type: ignore[arg-type]


def follow_up(opportunities: Iterable[FollowUpOpportunity], period: Period, channels_of: Mapping[str, str],
              channels: Sequence[str]) -> Report:
    """``channels_of``: outbound activity type -> channel (config/pipeline.toml)."""
    groups: dict[str, list[FollowUpOpportunity]] = {}
    for o in opportunities:
        if period.contains(o.closed_at):
            groups.setdefault(owner_label(o.owner), []).append(o)
    every = [o for opps in groups.values() for o in opps]
    rows = [_row(owner, groups[owner], channels_of, channels) for owner in sorted(groups)]
    rows.append(_row(ALL, every, channels_of, channels))
    columns = ["owner", "opportunities"]
    for c in channels:
        columns += [c, f"{c}_per_opportunity"]
    columns += ["gone_dark_closes", "cadence_complete", "cadence_complete_share"]
    return Report("follow-up", (Table("by_owner", tuple(columns), tuple(rows)),))


def _row(owner: str, opps: list[FollowUpOpportunity], channels_of: Mapping[str, str],
         channels: Sequence[str]) -> tuple:
    per_channel: Counter[str] = Counter()
    for o in opps:
        for activity_type, n in o.touches.items():
            channel = channels_of.get(activity_type)
            if channel is not None:
                per_channel[channel] += n
    row: list = [owner, len(opps)]
    for c in channels:
        row += [per_channel[c], per_channel[c] / len(opps) if opps else None]
    dark = [o for o in opps if o.gone_dark_close]
    complete = sum(1 for o in dark if cadence_complete(o.cadence))
    return (*row, len(dark), complete, share(complete, len(dark)))
