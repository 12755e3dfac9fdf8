"""An opportunity's stay in each stage (domain.md section 6): it *enters* a stage at its recorded
stage-change time (its first stage at ``opened_at``) and *leaves* it when it enters another stage
or closes."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from matcher.reports.types import Opportunity


@dataclass(frozen=True, slots=True)
class Visit:
    stage: str
    start: datetime
    end: datetime | None  # None: still in the stage (open)


def visits(opportunity: Opportunity) -> list[Visit]:
    entries = sorted(opportunity.stages, key=lambda e: e.at)
    if not entries:
        return []
    times = [e.at for e in entries]
    if opportunity.opened_at is not None:
        times[0] = opportunity.opened_at
    out: list[Visit] = []
    for i, entry in enumerate(entries):
        if out and out[-1].stage == entry.stage:  # the same stage sent twice is one stay
            continue
        out.append(Visit(entry.stage, times[i], None))
        if len(out) > 1:
            prev = out[-2]
            out[-2] = Visit(prev.stage, prev.start, times[i])
    if opportunity.state in ("won", "lost") and opportunity.closed_at is not None:
        last = out[-1]
        out[-1] = Visit(last.stage, last.start, max(opportunity.closed_at, last.start))
    return out
