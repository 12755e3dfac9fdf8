"""Gone dark (TRIM) at the edge: the scheduler task that flags dark opportunities and accounts
(in Qualified / Sales Working, with no open opportunity), moves their re-qualification cadence on,
ends the episodes a two-way touch answered and closes lost the opportunities past the second
limit; the episodes' list and the pipeline review. What other domains may call: ``flag_dark``,
``flag_dark_accounts`` and ``advance_episodes`` (the scheduler, api/scheduling/tasks.py),
``list_episodes``, ``pipeline_review``.

When an opportunity is dark is ``config/pipeline.py``'s (the reports read the same rules); what
happens after the flag is ``config/gone_dark.py``'s; the decisions are the core's
(``matcher/pipeline/gone_dark.py``). Everything runs in the caller's transaction; docs/gone_dark.md.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy.orm import Session

from api.closing import service as closing
from api.pipeline import store
from api.webhooks import service as webhooks
from config.gone_dark import GoneDarkRules, load_gone_dark_rules
from config.pipeline import CHANNELS, PipelineRules, load_pipeline_rules
from config.settings import Settings
from matcher.pipeline import gone_dark as core
from matcher.pipeline import review

if TYPE_CHECKING:
    from api.deps import Services

PRIMARY_REASON = "primary_reason"  # config/closing.toml: the lost question the reports read
STALLED_STAGE = "stalled_stage"


@lru_cache(maxsize=8)
def _rules_at(pipeline_path: Path | None, gone_dark_path: Path | None) -> tuple[PipelineRules, GoneDarkRules]:
    pipeline = load_pipeline_rules(pipeline_path)
    rules = load_gone_dark_rules(gone_dark_path)
    rules.check_channels(CHANNELS)
    return pipeline, rules


def rules_for(settings: Settings) -> tuple[PipelineRules, GoneDarkRules]:
    """The pipeline and gone-dark rules of this deployment, read once per process; the app reads
    them at start so a bad file stops it there. ``close.primary_reason`` must be an option of the
    lost questionnaire's primary_reason (the auto-close answers it)."""
    pipeline, rules = _rules_at(settings.pipeline_rules, settings.gone_dark_rules)
    reason = {q.id: q for q in closing.rules_for(settings).questions.of("lost")}.get(PRIMARY_REASON)
    if reason is not None and reason.options and rules.close.primary_reason not in reason.options:
        raise ValueError(f"close.primary_reason: {rules.close.primary_reason!r} is not an option of the lost "
                         f"question {PRIMARY_REASON!r} (one of {', '.join(reason.options)})")
    return pipeline, rules


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _utc(value).isoformat().replace("+00:00", "Z")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _time(value: str | None) -> datetime | None:
    return None if value is None else _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def steps_json(steps: tuple[core.Step, ...]) -> list[dict[str, Any]]:
    """The ``cadence`` column (the follow-up report reads ``done_at``)."""
    return [{"step": s.number, "channel": s.channel, "due_at": _iso(s.due_at), "until": _iso(s.until),
             "done_at": _iso(s.done_at), "activity_id": s.activity_id, "notified": s.notified} for s in steps]


def steps_of(cadence: list[dict[str, Any]]) -> tuple[core.Step, ...]:
    return tuple(core.Step(s["step"], s["channel"], _time(s["due_at"]), _time(s["until"]),  # type: ignore[arg-type]
                           _time(s.get("done_at")), s.get("activity_id"), bool(s.get("notified")))
                 for s in cadence)


# ---------------------------------------------------------------- the scheduler's pass


def flag_dark(session: Session, services: Services, now: datetime, *, after: str | None,
              batch: int) -> tuple[int, str | None]:
    """Flag the dark opportunities among the next ``batch`` candidates after ``after`` (by id):
    an episode in state dark (the stage it went dark in, the cadence planned from now) and an
    ``opportunity.gone_dark`` event asking the owner to run the cadence. Returns (flagged, the
    last id looked at: None when there are no more)."""
    pipeline, rules = rules_for(services.settings)
    shortest = timedelta(days=min([pipeline.dark_days.default, *pipeline.dark_days.stages.values()]))
    two_way = pipeline.touches.two_way_types
    found = store.claim_dark_candidates(session, now=now, opened_before=now - shortest, quiet_since=now - shortest,
                                        two_way_types=two_way, after=after, limit=batch)
    if not found:
        return 0, None
    ids = [c["id"] for c in found]
    so_far = store.episodes_so_far(session, ids)  # read after the locks: what another scheduler committed
    changes = store.stage_changes(session, ids)
    touches = store.touches(session, {c["account_id"] for c in found}, types=two_way, direction="inbound",
                            since=min(_utc(c["opened_at"]) for c in found), until=now)
    planned_steps = [core.CadenceStep(s.channel, s.days) for s in rules.cadence.steps]
    new = []
    for c in found:
        entries = changes.get(c["id"]) or ([(c["stage"], c["opened_at"])] if c["stage"] else [])
        watched = core.Watched(_utc(c["opened_at"]), tuple(core.StageEntry(s, _utc(at)) for s, at in entries))
        dark = core.dark_at(watched, [_utc(t) for t, _, _ in touches.get(c["account_id"], ())],
                            pipeline.dark_days_in, now)
        running, last = so_far.get(c["id"], (False, None))
        if dark is None or not core.should_flag(dark, open_episode=running, last_dark_since=last):
            continue
        steps = core.plan(planned_steps, now)
        new.append((c, dark, steps))
    ids_in = store.insert_episodes(session, [{
        "subject": "opportunity", "opportunity_id": c["id"], "account_id": c["account_id"], "owner": c["owner"],
        "stage": dark.stage, "dark_since": dark.since, "flagged_at": now, "state": core.DARK,
        "cadence": steps_json(steps), "next_step_at": steps[0].due_at, "ended_at": None, "updated_at": now}
        for c, dark, steps in new])
    for episode_id, (c, dark, steps) in zip(ids_in, new):
        limit = now + timedelta(days=rules.close.after_days)
        webhooks.emit(session, "opportunity.gone_dark", {
            "episode_id": episode_id, "opportunity_id": c["id"], "account_id": c["account_id"], "owner": c["owner"],
            "stage": dark.stage, "dark_since": _iso(dark.since), "flagged_at": _iso(now),
            "action": "run the re-qualification cadence",
            "cadence": [{"step": s.number, "channel": s.channel, "due_at": _iso(s.due_at)} for s in steps],
            "closes_lost_at": _iso(limit) if rules.close.enabled else None},
            f"opportunity.gone_dark:{c['id']}:{_iso(dark.since)}", now=now)
    return len(new), ids[-1]


def flag_dark_accounts(session: Session, services: Services, now: datetime, *, after: str | None,
                       batch: int) -> tuple[int, str | None]:
    """Flag the dark accounts among the next ``batch`` candidates after ``after`` (by account id):
    accounts in a status of ``[account_days]`` (config/gone_dark.toml) with no open opportunity,
    dark over their one stay in the status (from its ``since``). An episode with subject
    'account' (no opportunity, stage = the status, owner = the account's owner) and an
    ``account.gone_dark`` event. Returns (flagged, the last id looked at: None when no more)."""
    pipeline, rules = rules_for(services.settings)
    if not rules.account_days:
        return 0, None
    shortest = timedelta(days=min(rules.account_days.values()))
    two_way = pipeline.touches.two_way_types
    found = store.claim_dark_accounts(session, now=now, statuses=rules.account_days, since_before=now - shortest,
                                      quiet_since=now - shortest, two_way_types=two_way, after=after, limit=batch)
    if not found:
        return 0, None
    ids = [c["account_id"] for c in found]
    so_far = store.account_episodes_so_far(session, ids)  # read after the locks: what another scheduler committed
    touches = store.touches(session, ids, types=two_way, direction="inbound",
                            since=min(_utc(c["since"]) for c in found), until=now)
    planned_steps = [core.CadenceStep(s.channel, s.days) for s in rules.cadence.steps]
    new = []
    for c in found:
        since = _utc(c["since"])
        watched = core.Watched(since, (core.StageEntry(c["status"], since),))
        dark = core.dark_at(watched, [_utc(t) for t, _, _ in touches.get(c["account_id"], ())],
                            lambda status: rules.account_days[status], now)
        running, last = so_far.get(c["account_id"], (False, None))
        if dark is None or not core.should_flag(dark, open_episode=running, last_dark_since=last):
            continue
        new.append((c, dark, core.plan(planned_steps, now)))
    ids_in = store.insert_episodes(session, [{
        "subject": "account", "opportunity_id": None, "account_id": c["account_id"], "owner": c["owner"],
        "stage": dark.stage, "dark_since": dark.since, "flagged_at": now, "state": core.DARK,
        "cadence": steps_json(steps), "next_step_at": steps[0].due_at, "ended_at": None, "updated_at": now}
        for c, dark, steps in new])
    for episode_id, (c, dark, steps) in zip(ids_in, new):
        webhooks.emit(session, "account.gone_dark", {
            "episode_id": episode_id, "account_id": c["account_id"], "owner": c["owner"], "status": dark.stage,
            "dark_since": _iso(dark.since), "flagged_at": _iso(now), "action": "run the re-qualification cadence",
            "cadence": [{"step": s.number, "channel": s.channel, "due_at": _iso(s.due_at)} for s in steps],
            # an account has nothing to close: past the second limit its episode ends 'expired'
            "expires_at": _iso(now + timedelta(days=rules.close.after_days))},
            f"account.gone_dark:{c['account_id']}:{_iso(dark.since)}", now=now)
    return len(new), ids[-1]


def advance_episodes(session: Session, services: Services, now: datetime, *, batch: int,
                     after: int | None = None) -> tuple[dict[str, int], int | None]:
    """Move on at most ``batch`` running episodes with something to do (``store.claim_due_episodes``):
    adherence from the ledger, ``cadence.step_due`` for each step that came due, answered by a
    two-way touch, ended when the opportunity closed (an account episode: when the account left
    the status it went dark in), closed lost past the second limit through
    ``api/closing/service.py`` ``close_opportunity`` (source gone_dark; an account episode is
    never closed lost: it ends 'expired'). Only episodes with an id after ``after``: a pass walks
    forward, so an episode the core left with something still to do waits for the next pass
    instead of being claimed again and again. Returns (counts by what happened, ``claimed``: how
    many were taken; the last id taken, None when there were none)."""
    pipeline, rules = rules_for(services.settings)
    two_way = pipeline.touches.two_way_types
    channel_of = pipeline.touches.outbound_channels
    episodes = store.claim_due_episodes(session, now=now, two_way_types=two_way, limit=batch, after=after)
    counts = {"claimed": len(episodes)}
    if not episodes:
        return counts, None
    accounts = {e["account_id"] for e in episodes}
    states = store.opportunity_states(session, [e["opportunity_id"] for e in episodes if e["subject"] == "opportunity"])
    statuses = store.account_statuses(session, [e["account_id"] for e in episodes if e["subject"] == "account"])
    answers = store.touches(session, accounts, types=two_way, direction="inbound",
                            since=min(_utc(e["dark_since"]) for e in episodes), until=now)
    outbound = store.touches(session, accounts, types=list(channel_of), direction="outbound",
                             since=min(_utc(e["flagged_at"]) for e in episodes), until=now)
    close = core.Close(rules.close.after_days, rules.close.enabled)
    for e in episodes:
        episode = core.Episode(_utc(e["dark_since"]), _utc(e["flagged_at"]), steps_of(e["cadence"]))
        if e["subject"] == "opportunity":
            still_watched = states.get(e["opportunity_id"]) == "open"
        else:  # an account is watched while it stays in the status it went dark in
            still_watched = statuses.get(e["account_id"]) == e["stage"]
        moved = core.advance(
            episode, now=now, two_way=[_utc(t) for t, _, _ in answers.get(e["account_id"], ())],
            outbound=[core.Touch(_utc(t), channel_of[kind], activity_id)
                      for t, kind, activity_id in outbound.get(e["account_id"], ())],
            still_watched=still_watched, close=close,
            can_close=e["subject"] == "opportunity")
        for number in moved.newly_due:
            step = moved.steps[number - 1]
            webhooks.emit(session, "cadence.step_due", {
                "episode_id": e["id"], "subject": e["subject"], "opportunity_id": e["opportunity_id"], "account_id": e["account_id"],
                "owner": e["owner"], "step": number, "steps": len(moved.steps), "channel": step.channel,
                "due_at": _iso(step.due_at), "until": _iso(step.until),
                "done_so_far": sum(1 for s in moved.steps if s.done_at is not None)},
                f"cadence.step_due:{e['id']}:{number}", now=now)
        if moved.state == core.CLOSED_LOST:  # never for an account (can_close above)
            _close_lost(session, services, e, moved.close_at, now)  # type: ignore[arg-type]
        store.update_episode(session, e["id"], {
            "state": moved.state, "cadence": steps_json(moved.steps), "next_step_at": moved.next_step_at,
            "ended_at": moved.ended_at, "updated_at": now})
        counts[moved.state] = counts.get(moved.state, 0) + 1
        counts["steps_due"] = counts.get("steps_due", 0) + len(moved.newly_due)
    return counts, episodes[-1]["id"]


def _close_lost(session: Session, services: Services, episode: Mapping[str, Any], closed_at: datetime,
                now: datetime) -> None:
    _, rules = rules_for(services.settings)
    answers: dict[str, Any] = {PRIMARY_REASON: rules.close.primary_reason}
    lost = {q.id: q for q in closing.rules_for(services.settings).questions.of("lost")}
    stalled = lost.get(STALLED_STAGE)
    if stalled is not None and episode["stage"] in stalled.options:
        answers[STALLED_STAGE] = episode["stage"]  # the stage it went dark in
    closing.close_opportunity(session, services, episode["opportunity_id"], outcome="lost", closed_at=closed_at,
                              answers=answers, source="gone_dark", now=now)


# ---------------------------------------------------------------- reading


def episode_view(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("id", "subject", "opportunity_id", "account_id", "owner", "stage", "dark_since", "flagged_at", "state",
            "next_step_at", "ended_at", "updated_at")
    view = {k: row[k] for k in keys}
    steps = steps_of(row["cadence"] or [])
    view["cadence"] = [{"step": s.number, "channel": s.channel, "due_at": s.due_at, "until": s.until,
                        "done_at": s.done_at, "activity_id": s.activity_id} for s in steps]
    view["cadence_complete"] = core.complete(steps)
    return view


def list_episodes(session: Session, *, subject: str | None, state: str | None, owner: str | None,
                  opportunity_id: str | None, account_id: str | None, stage: str | None,
                  flagged_from: datetime | None, flagged_to: datetime | None, after: int | None,
                  limit: int) -> dict[str, Any]:
    rows = store.list_episodes(session, subject=subject, state=state, owner=owner,
                               opportunity_id=opportunity_id, account_id=account_id, stage=stage, flagged_from=flagged_from, flagged_to=flagged_to,
                               after=after, limit=limit + 1)
    page = rows[:limit]
    return {"items": [episode_view(r) for r in page], "next_after": page[-1]["id"] if len(rows) > limit else None}


def pipeline_review(session: Session, services: Services, *, owner: str | None, no_touch_days: float,
                    now: datetime, limit: int) -> dict[str, Any]:
    """Per owner, the open opportunities whose account had no touch (two-way, or an outbound touch
    of ours: config/pipeline.py) in the ``no_touch_days`` up to ``now``, or with no next step, or
    with an overdue one; each with why (``matcher/pipeline/review.py``), its latest touch, its
    next step and whether a gone-dark episode is running for it."""
    pipeline, _ = rules_for(services.settings)
    quiet_since = now - timedelta(days=no_touch_days)
    rows = store.review_opportunities(session, owner=owner, quiet_since=quiet_since, now=now,
                                      two_way_types=pipeline.touches.two_way_types,
                                      outbound_types=list(pipeline.touches.outbound_channels), limit=limit)
    running = store.episodes_so_far(session, [r["id"] for r in rows])
    owners: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        last_touch_at = None if r["last_touch_at"] is None else _utc(r["last_touch_at"])
        next_step_at = None if r["next_step_at"] is None else _utc(r["next_step_at"])
        owners.setdefault(r["owner"], []).append({
            "opportunity_id": r["id"], "account_id": r["account_id"], "stage": r["stage"], "opened_at": r["opened_at"],
            "reasons": review.review_reasons(last_touch_at=last_touch_at, quiet_since=quiet_since,
                                             next_step=r["next_step"], next_step_at=next_step_at, now=now),
            "last_touch_at": last_touch_at, "next_step": r["next_step"], "next_step_at": next_step_at,
            "gone_dark": running.get(r["id"], (False, None))[0]})
    return {"as_of": now, "no_touch_days": no_touch_days,
            "owners": [{"owner": o, "count": len(items), "items": items} for o, items in owners.items()]}
