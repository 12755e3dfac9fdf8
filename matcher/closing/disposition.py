"""Where an account goes after a close: the disposition rules of ``config/closing.py``
(``DispositionRules``, whose docstring lists them) applied to a close's outcome and answers.

The answers are the checked ones (``matcher/closing/questionnaire.py``). A close whose answers are
incomplete gets no disposition yet: the caller asks only once the questionnaire is complete.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any, Mapping

from config.closing import DispositionKind, DispositionRules


@dataclass(frozen=True, slots=True)
class Disposition:
    kind: DispositionKind
    at: datetime  # from when it holds: the close
    until: datetime | None  # when it ends (recycle: the day the account comes back); None: until replaced
    rule: str  # which rule decided: never_a_fit, never_a_fit_until, short_term, long_term, white_space, won
    reason: str  # the sentence a seller reads


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` that many calendar months later; the 31st becomes the last day of a shorter month."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def start_of_day(day: str | date) -> datetime:
    """An ISO date answer as the instant its day starts (UTC)."""
    value = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime.combine(value, time.min, tzinfo=timezone.utc)


def recycle_on_problem(answers: Mapping[str, Any], closed_at: datetime) -> str | None:
    """Why a ``recycle_on`` answer cannot be a recycle date for a close at ``closed_at``, or None."""
    day = answers.get("recycle_on")
    if day is not None and start_of_day(day) <= closed_at:
        return f"{day} is not after the close ({closed_at.date().isoformat()})"
    return None


def _text(template: str, kind: str, until: datetime | None) -> str:
    return template.format(kind=kind, until=until.date().isoformat() if until else "")


def decide(outcome: str, answers: Mapping[str, Any], rules: DispositionRules, closed_at: datetime) -> Disposition:
    """The disposition of an account whose opportunity closed ``outcome`` at ``closed_at``."""
    reasons = rules.reasons

    def made(kind: DispositionKind, rule: str, until: datetime | None = None) -> Disposition:
        return Disposition(kind=kind, at=closed_at, until=until, rule=rule,
                           reason=_text(getattr(reasons, rule), kind, until))

    if outcome == "won":
        return made("white_space", "white_space") if answers.get("white_space") == "yes" else made("none", "won")
    if answers.get("ever_a_fit") == "no":
        if rules.disqualify_for_years:
            return made("disqualified", "never_a_fit_until", add_months(closed_at, 12 * rules.disqualify_for_years))
        return made("disqualified", "never_a_fit")
    come_back = answers.get("come_back")
    if come_back is None:
        come_back = "long_term" if answers.get("recycle_on") else rules.come_back_default
    if come_back == "short_term":
        return made(rules.short_term, "short_term")
    recycle_on = answers.get("recycle_on")
    until = start_of_day(recycle_on) if recycle_on else add_months(closed_at, rules.recycle_after_months)
    return made("recycle", "long_term", until)
