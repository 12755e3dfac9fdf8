"""Gone dark (TRIM), as pure decisions over plain data (domain.md section 6; docs/gone_dark.md).

*Dark at instant t*: the opportunity is open at t, has been open for at least N days, and its
account had no two-way touch in the N days up to t (a touch at τ covers [τ, τ + N)); N is the dark
days of the stage it is in at t. ``dark_spells`` is that definition, shared with the gone-dark
report (``matcher/reports/gone_dark.py``): a dark spell that runs on across a stage change went
dark in the stage where it began. An account in a watched status (Qualified, Sales Working)
is read the same way, as one stay in its status from the status's ``since``.

Flagging starts the re-qualification cadence: step 1 is due at the flag, each later step when the
one before it has had its days. A step is *done* when an outbound touch of its channel on the
account is in the ledger between its due time and the next step's (``until``). A two-way touch at
or after the episode's ``dark_since`` answers it. Past the second limit (``close_after_days`` after
the flag, never before the cadence has run its course) an unanswered opportunity is closed lost.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable, Sequence

# the states of an episode (api/db/rows/closing.py GoneDarkEpisodeRow.state)
DARK = "dark"            # flagged, cadence running (or past the limit with auto-close off)
ANSWERED = "answered"    # a two-way touch came
CLOSED_LOST = "closed_lost"  # closed lost with reason "went dark"
CLOSED = "closed"        # ended otherwise: the opportunity closed, the account left the status
EXPIRED = "expired"      # an account (nothing to close) past the second limit with no answer


@dataclass(frozen=True, slots=True)
class StageEntry:
    stage: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Watched:
    """An open opportunity (``stages``: its recorded stage changes; the first one counts from
    ``opened_at``; none: one stay in no stage, which gets the default days) or an account in a
    watched status (``opened_at``: the status's since; ``stages``: the status)."""
    opened_at: datetime
    stages: tuple[StageEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Dark:
    since: datetime  # when the current dark spell began
    stage: str | None  # the stage (or status) it was in then: where it went dark


def _stays(watched: Watched, t: datetime) -> list[tuple[str | None, datetime]]:
    """(stage, entered) of each stay up to ``t``, in time order; the same stage twice is one stay."""
    entries = sorted(watched.stages, key=lambda e: e.at) or [StageEntry(None, watched.opened_at)]
    out: list[tuple[str | None, datetime]] = []
    for i, e in enumerate(entries):
        at = watched.opened_at if i == 0 else max(e.at, watched.opened_at)
        if at > t:
            break
        if out and out[-1][0] == e.stage:
            continue
        out.append((e.stage, at))
    return out


@dataclass(frozen=True, slots=True)
class Spell:
    start: datetime
    end: datetime  # excluded; the horizon when it is still dark there
    stage: str | None  # the stage it went dark in (a spell runs on across stage changes)


def dark_spells(opened_at: datetime, stays: Sequence[tuple[str | None, datetime, datetime | None]],
                touches: Sequence[datetime], dark_days: Callable[[str | None], float],
                horizon: datetime) -> list[Spell]:
    """The dark spells before ``horizon``, in time order: the one definition of dark that the
    scheduler (``dark_at``) and the gone-dark report (``matcher/reports/gone_dark.py``) share.
    ``stays``: (stage, entered, left or None) in time order, the first entered at ``opened_at``;
    ``touches``: the account's two-way touch times, sorted. Within a stay of N days, the first N
    days open and N days from each touch are not dark; a dark stretch that runs on into the next
    stay is the same spell, and went dark in the stay where it began."""
    pieces: list[tuple[datetime, datetime, str | None]] = []
    for stage, entered, left in stays:
        start, end = entered, min(left or horizon, horizon)
        if start >= end:
            continue
        n = timedelta(days=dark_days(stage))
        covered = [(opened_at, opened_at + n)]
        lo = bisect.bisect_left(touches, max(opened_at, start - n))
        hi = bisect.bisect_left(touches, end)
        covered += [(t, t + n) for t in touches[lo:hi]]
        cursor = start
        for c_start, c_end in covered:  # sorted by start: opened_at <= every touch taken
            if c_start > cursor:
                pieces.append((cursor, min(c_start, end), stage))
            cursor = max(cursor, c_end)
            if cursor >= end:
                break
        if cursor < end:
            pieces.append((cursor, end, stage))
    spells: list[Spell] = []
    for start, end, stage in pieces:
        if start >= end:
            continue
        if spells and spells[-1].end == start:  # runs on across a stage change
            spells[-1] = Spell(spells[-1].start, end, spells[-1].stage)
        else:
            spells.append(Spell(start, end, stage))
    return spells


# the clock's resolution: a spell still dark at t reaches t + _TICK
_TICK = timedelta(microseconds=1)


def dark_at(watched: Watched, touches: Sequence[datetime], dark_days: Callable[[str | None], float],
            t: datetime) -> Dark | None:
    """Whether it is dark at ``t`` and since when (None: not dark). ``touches``: the account's
    two-way touch times, sorted; ``dark_days``: N of a stage (or status)."""
    stays = _stays(watched, t)
    bounded = [(stage, entered, stays[i + 1][1] if i + 1 < len(stays) else None)
               for i, (stage, entered) in enumerate(stays)]
    spells = dark_spells(watched.opened_at, bounded, touches, dark_days, t + _TICK)
    if not spells or spells[-1].end <= t:
        return None
    return Dark(spells[-1].start, spells[-1].stage)


def should_flag(dark: Dark | None, *, open_episode: bool, last_dark_since: datetime | None) -> bool:
    """Flag a dark spell once: not while an episode is running, and never the spell an earlier
    episode already flagged (one that ended without an answer, say)."""
    return dark is not None and not open_episode and (last_dark_since is None or dark.since > last_dark_since)


# ---------------------------------------------------------------- the re-qualification cadence


@dataclass(frozen=True, slots=True)
class CadenceStep:
    channel: str
    days: float


@dataclass(frozen=True, slots=True)
class Step:
    number: int  # 1, 2, ...
    channel: str
    due_at: datetime
    until: datetime  # the next step's due time (the last one: its own due time plus its days)
    done_at: datetime | None = None
    activity_id: str | None = None
    notified: bool = False  # cadence.step_due was sent


@dataclass(frozen=True, slots=True)
class Touch:
    """An outbound touch of ours: when, in which channel, which ledger activity."""
    at: datetime
    channel: str
    activity_id: str


def plan(steps: Sequence[CadenceStep], flagged_at: datetime) -> tuple[Step, ...]:
    out = []
    due = flagged_at
    for i, s in enumerate(steps, start=1):
        until = due + timedelta(days=s.days)
        out.append(Step(i, s.channel, due, until))
        due = until
    return tuple(out)


def adherence(steps: Sequence[Step], outbound: Sequence[Touch], now: datetime) -> tuple[Step, ...]:
    """Each step that has come due by ``now`` marked done by the first outbound touch of its
    channel in [due_at, until) up to ``now`` (and not done if there is none); steps still to
    come unchanged. ``outbound``: sorted by time."""
    out = []
    for step in steps:
        if step.due_at > now:
            out.append(step)
            continue
        hit = next((o for o in outbound if o.channel == step.channel and step.due_at <= o.at < step.until
                    and o.at <= now), None)
        out.append(replace(step, done_at=hit.at if hit else None, activity_id=hit.activity_id if hit else None))
    return tuple(out)


def complete(steps: Sequence[Step]) -> bool:
    """Every step done (the follow-up report's "cadence complete")."""
    return bool(steps) and all(s.done_at is not None for s in steps)


# ---------------------------------------------------------------- an episode moving on


@dataclass(frozen=True, slots=True)
class Episode:
    dark_since: datetime
    flagged_at: datetime
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Close:
    after_days: float
    enabled: bool


@dataclass(frozen=True, slots=True)
class Advance:
    state: str
    steps: tuple[Step, ...]
    newly_due: tuple[int, ...]  # numbers of the steps to announce (cadence.step_due) now
    next_step_at: datetime | None  # when to look at it again (None: only an answer or a close moves it)
    ended_at: datetime | None
    close_at: datetime | None = None  # CLOSED_LOST: the closed_at of the close (the second limit)


def limit_of(episode: Episode, close: Close) -> datetime:
    return episode.flagged_at + timedelta(days=close.after_days)


def advance(episode: Episode, *, now: datetime, two_way: Sequence[datetime], outbound: Sequence[Touch],
            still_watched: bool, close: Close, can_close: bool) -> Advance:
    """What an episode in state dark becomes at ``now``. ``two_way``: the account's two-way
    touch times, sorted; ``still_watched``: the opportunity is still open (the account still in
    a watched status); ``can_close``: an opportunity (an account has nothing to close)."""
    i = bisect.bisect_left(two_way, episode.dark_since)
    if i < len(two_way) and two_way[i] <= now:
        answered = two_way[i]
        return Advance(ANSWERED, adherence(episode.steps, outbound, answered), (), None, answered)
    steps = adherence(episode.steps, outbound, now)
    if not still_watched:
        return Advance(CLOSED, steps, (), None, now)
    newly_due = tuple(s.number for s in steps if s.due_at <= now and not s.notified)
    steps = tuple(replace(s, notified=True) if s.number in newly_due else s for s in steps)
    limit = limit_of(episode, close)
    if now >= limit:
        if not can_close:
            return Advance(EXPIRED, steps, newly_due, None, now)
        if close.enabled:
            return Advance(CLOSED_LOST, steps, newly_due, None, now, close_at=limit)
        return Advance(DARK, steps, newly_due, None, None)
    upcoming = [s.due_at for s in steps if not s.notified]
    return Advance(DARK, steps, newly_due, min(upcoming) if upcoming else limit, None)


__all__ = ["ANSWERED", "CLOSED", "CLOSED_LOST", "DARK", "EXPIRED", "Advance", "CadenceStep", "Close", "Dark",
           "Episode", "Spell", "StageEntry", "Step", "Touch", "Watched", "adherence", "advance", "complete", "dark_at",
           "dark_spells",
           "limit_of", "plan", "should_flag"]
