"""The monthly pipeline review's question, as a pure decision (issue 11; docs/gone_dark.md): why
an open opportunity is on the list. Listed when its account had no touch in the last N days, or
it has no next step, or its next step is overdue."""
from __future__ import annotations

from datetime import datetime

NO_TOUCH = "no_touch"                    # no two-way or outbound touch on the account since the cut-off
NO_NEXT_STEP = "no_next_step"            # neither a next step nor its date
NEXT_STEP_OVERDUE = "next_step_overdue"  # its date is before now
REASONS = (NO_TOUCH, NO_NEXT_STEP, NEXT_STEP_OVERDUE)


def review_reasons(*, last_touch_at: datetime | None, quiet_since: datetime, next_step: str | None,
                   next_step_at: datetime | None, now: datetime) -> list[str]:
    """The reasons it is listed, in ``REASONS`` order (none: it is not). ``quiet_since``: now minus
    N days; a latest touch at or before it (or none) is ``no_touch``. A next step is there when
    either its text or its date is (a dated step with no text is still a plan); it is overdue
    when its date is before ``now`` (a step with no date never is)."""
    reasons = []
    if last_touch_at is None or last_touch_at <= quiet_since:
        reasons.append(NO_TOUCH)
    if next_step is None and next_step_at is None:
        reasons.append(NO_NEXT_STEP)
    if next_step_at is not None and next_step_at < now:
        reasons.append(NEXT_STEP_OVERDUE)
    return reasons


__all__ = ["NEXT_STEP_OVERDUE", "NO_NEXT_STEP", "NO_TOUCH", "REASONS", "review_reasons"]
