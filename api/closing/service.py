"""After the close at the edge: closing an opportunity with its questionnaire, the closes a CRM sync
brings (unanswered until a seller answers them), their reminders, win/loss interviews and the
account dispositions. What other domains may call: ``close_opportunity`` (the route and the
gone-dark scheduler), ``record_synced_closes`` (``PUT /v1/opportunities``), ``remind_unanswered``
(the scheduler and ``leadmatch closing remind``).

The rules are ``config/closing.py``'s; the decisions are the core's
(``matcher/closing/questionnaire.py``, ``matcher/closing/disposition.py``). Everything runs in the
caller's transaction: a refusal (``NotFound``, ``Conflict``, ``ValidationFailed``) is raised before
anything is written, or (a concurrent close of the same opportunity) makes the caller roll back.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy.orm import Session

from api.accounts import service as account_service
from api.closing import store
from api.errors import Conflict, FieldError, NotFound, ValidationFailed
from api.qualification import service as qualification
from api.webhooks import service as webhooks
from config.closing import TIMED_KINDS, ClosingRules, load_closing_rules
from config.settings import Settings
from matcher.closing import disposition as disposition_rules
from matcher.closing.questionnaire import check_answers, check_interview, missing_answers

if TYPE_CHECKING:
    from api.deps import Services

CLOSED_STATES = ("won", "lost")
SOURCES = ("api", "sync", "gone_dark")


@lru_cache(maxsize=8)
def _rules_at(path: Path | None) -> ClosingRules:
    return load_closing_rules(path)


def rules_for(settings: Settings) -> ClosingRules:
    """The closing rules of this deployment (``LEADMATCH_CLOSING_RULES`` over the defaults), read
    once per process; the app reads them at start so a bad file stops it there."""
    return _rules_at(settings.closing_rules)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def close_key(event_type: str, opportunity_id: str, closed_at: datetime, what: object) -> str:
    """The idempotency key of a close's event: the close is the opportunity's at ``closed_at``
    (a re-opened opportunity closes again at another time, and its events are new ones)."""
    return f"{event_type}:{opportunity_id}:{_iso(_utc(closed_at))}:{what}"


def _no_opportunity(opportunity_id: str) -> NotFound:
    return NotFound(f"opportunity {opportunity_id!r} not found",
                    [FieldError("opportunity_id", "no such opportunity")])


# ---------------------------------------------------------------- views


def disposition_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "account_id": row["account_id"], "opportunity_id": row["opportunity_id"],
            "kind": row["kind"], "at": row["at"], "until": row["until"], "reasons": row["reasons"],
            "source": row["source"], "by": row["by"], "in_force": row["superseded_at"] is None,
            "superseded_at": row["superseded_at"], "created_at": row["created_at"]}


def close_view(record: Mapping[str, Any], rules: ClosingRules) -> dict[str, Any]:
    keys = ("opportunity_id", "account_id", "owner", "outcome", "closed_at", "source", "state", "answers",
            "answered_at", "answered_by", "reminders_sent", "last_reminded_at", "next_reminder_at", "created_at",
            "updated_at")
    view = {k: record[k] for k in keys}
    view["missing"] = list(missing_answers(rules.questions.of(record["outcome"]), record["answers"]))
    return view


def interview_view(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("id", "opportunity_id", "account_id", "reason", "competitor", "heard_from", "notes", "interviewed_at",
            "interviewer", "recorded_at")
    return {k: row[k] for k in keys}


def close_document(session: Session, services: Services, opportunity_id: str, *,
                   with_interviews: bool = True) -> dict[str, Any]:
    """The body of ``GET /v1/opportunities/{id}/close``: the close record with the missing
    questions, the interviews beside it and the disposition its answers gave (if any)."""
    rules = rules_for(services.settings)
    record = store.get_close(session, opportunity_id)
    if record is None:
        if not qualification.opportunities(session, [opportunity_id]):
            raise _no_opportunity(opportunity_id)
        raise NotFound(f"opportunity {opportunity_id!r} has no close record",
                       [FieldError("opportunity_id", "not closed through the API or a sync yet")])
    # the disposition this close gave: one of an earlier close of a re-opened opportunity came before
    # this record was (re)written
    given = [d for d in store.dispositions(session, record["account_id"], opportunity_id=opportunity_id)
             if d["created_at"] >= record["created_at"]]
    out = {"close": close_view(record, rules),
           "disposition": disposition_view(given[0]) if given else None}
    if with_interviews:
        out["interviews"] = [interview_view(r) for r in store.interviews(session, opportunity_id)]
    return out


# ---------------------------------------------------------------- closing


def _agree(opportunity: Mapping[str, Any], outcome: str, closed_at: datetime) -> list[FieldError]:
    """Where a close disagrees with an opportunity the CRM already closed."""
    out = []
    if outcome != opportunity["state"]:
        out.append(FieldError("outcome", f"the opportunity closed {opportunity['state']}, not {outcome}"))
    if opportunity["closed_at"] is not None and _utc(closed_at) != _utc(opportunity["closed_at"]):
        out.append(FieldError("closed_at", f"the opportunity closed at {_iso(_utc(opportunity['closed_at']))}"))
    return out


def close_opportunity(session: Session, services: Services, opportunity_id: str, *, outcome: str,
                      closed_at: datetime, answers: Mapping[str, Any], source: str = "api", by: str | None = None,
                      now: datetime) -> dict[str, Any]:
    """Close an opportunity ``outcome`` at ``closed_at`` with the seller's ``answers``.

    ``source`` 'api' (a seller) must answer every mandatory question; 'gone_dark' (and 'sync')
    may leave some open, and the close is then recorded ``unanswered`` and reminded like a synced
    one. An opportunity a sync already closed is completed: its outcome and closed_at must be the
    stored ones. Answers stored before (a gone-dark close's ``primary_reason``) stand unless
    answered again. Once the answers are complete the disposition is decided and stored (superseding
    the account's one in force), the account is re-qualified and ``opportunity.closed`` is emitted.
    Returns ``close_document`` without the interviews."""
    if source not in SOURCES:
        raise ValueError(f"unknown close source {source!r}")
    rules = rules_for(services.settings)
    closed_at = _utc(closed_at)
    found = qualification.opportunities(session, [opportunity_id]).get(opportunity_id)
    if found is None:
        raise _no_opportunity(opportunity_id)
    account_id = found["account_id"]
    qualification.lock_accounts(session, [account_id])
    # read again under the lock: a concurrent close of the same account may have committed meanwhile
    opportunity = qualification.opportunities(session, [opportunity_id])[opportunity_id]
    record = store.get_close(session, opportunity_id)
    superseded = None
    if record is not None and opportunity["state"] not in CLOSED_STATES:
        # a sync re-opened the opportunity since that close: this is a new close, which replaces
        # the record (the latest close counts; the earlier one's disposition stays in the history)
        superseded, record = record, None
    if record is not None and record["state"] == "answered":
        raise Conflict(f"opportunity {opportunity_id!r} is closed and answered already",
                       [FieldError("opportunity_id", f"closed {record['outcome']} at {_iso(record['closed_at'])}"
                                                     " and answered")],
                       outcome=record["outcome"], closed_at=_iso(record["closed_at"]))
    if opportunity["state"] in CLOSED_STATES:
        disagree = _agree(opportunity, outcome, closed_at)
        if disagree:
            raise Conflict(f"opportunity {opportunity_id!r} was closed otherwise: "
                           + "; ".join(f"{f.field}: {f.message}" for f in disagree), disagree,
                           outcome=opportunity["state"], closed_at=_iso(_utc(opportunity["closed_at"])))

    questions = rules.questions.of(outcome)
    earlier = dict(record["answers"]) if record is not None and record["outcome"] == outcome else {}
    checked = check_answers(questions, {**earlier, **answers})
    fields = [FieldError(f"answers.{p.question_id}", p.message) for p in checked.problems
              if source == "api" or p.question_id not in checked.missing]
    if opportunity["opened_at"] is not None and closed_at < _utc(opportunity["opened_at"]):
        fields.append(FieldError("closed_at", f"before the opportunity opened ({_iso(_utc(opportunity['opened_at']))})"))
    if closed_at > now + services.settings.future_tolerance:
        fields.append(FieldError("closed_at", f"{_iso(closed_at)} is in the future (future_tolerance_seconds)"))
    recycle_problem = disposition_rules.recycle_on_problem(checked.answers, closed_at)
    if recycle_problem is not None:
        fields.append(FieldError("answers.recycle_on", recycle_problem))
    if fields:
        raise ValidationFailed("the close was refused, nothing was stored: "
                               + "; ".join(f"{f.field}: {f.message}" for f in fields[:3])
                               + (f" (and {len(fields) - 3} more)" if len(fields) > 3 else ""), fields)

    touched = {account_id}
    if opportunity["state"] not in CLOSED_STATES:
        touched |= qualification.close_opportunity(session, opportunity_id, outcome=outcome, closed_at=closed_at,
                                                   now=now, future_tolerance=services.settings.future_tolerance)
    state = "answered" if checked.complete else "unanswered"
    values = {"outcome": outcome, "closed_at": closed_at, "answers": dict(checked.answers), "state": state,
              "answered_at": now if state == "answered" else None, "answered_by": by if state == "answered" else None,
              "updated_at": now}
    if record is None:
        first = now + timedelta(days=rules.reminders.first_after_days)
        new = {**values, "opportunity_id": opportunity_id, "account_id": account_id, "owner": opportunity["owner"],
               "source": source, "reminders_sent": 0, "last_reminded_at": None,
               "next_reminder_at": None if state == "answered" else first, "created_at": now}
        stored = (store.insert_close(session, new) if superseded is None
                  else store.replace_close(session, superseded, new))
    else:
        stored = store.answer_close(session, opportunity_id, {
            **values, **({"next_reminder_at": None} if state == "answered" else {})})
    if not stored:  # a concurrent close of this opportunity won; the caller rolls this one back
        raise Conflict(f"opportunity {opportunity_id!r} was closed by another request just now",
                       [FieldError("opportunity_id", "closed concurrently")])

    given = None
    if state == "answered":
        decided = disposition_rules.decide(outcome, checked.answers, rules.disposition, closed_at)
        given = store.add_disposition(session, {
            "account_id": account_id, "opportunity_id": opportunity_id, "kind": decided.kind, "at": decided.at,
            "until": decided.until, "reasons": [{"rule": decided.rule, "text": decided.reason}],
            "source": "rules", "by": by}, now)
    services.requalify(session, touched)
    document = close_document(session, services, opportunity_id, with_interviews=False)
    webhooks.emit(session, "opportunity.closed", {
        "opportunity_id": opportunity_id, "account_id": account_id, "owner": opportunity["owner"],
        "outcome": outcome, "closed_at": _iso(closed_at), "state": state, "source": source,
        "answers": dict(checked.answers), "missing": document["close"]["missing"],
        "disposition": None if given is None else {"kind": given["kind"], "until": _iso(given["until"]),
                                                   "reasons": given["reasons"]}},
        close_key("opportunity.closed", opportunity_id, closed_at, state), now=now)
    return document


# ---------------------------------------------------------------- closes a CRM sync brings


def record_synced_closes(session: Session, services: Services, opportunities: Sequence[Any], *,
                         closed_before: set[str], now: datetime) -> None:
    """After ``PUT /v1/opportunities``: every opportunity the sync moved to won or lost (it was
    open or new; ``closed_before`` are the ids that were stored closed already) and that has no
    close record gets one, ``unanswered`` (source 'sync'), reminded from ``first_after_days``
    on. ``opportunities`` are what the sync sent (``id``, ``account_id``, ``owner``, ``state``,
    ``closed_at``). No disposition until a seller answers. An opportunity with a close record
    already was closed, re-opened by the CRM and is closed again: the new close replaces its record
    (the latest close counts, as through ``close_opportunity``)."""
    moved = {o.id: o for o in opportunities if o.state in CLOSED_STATES and o.id not in closed_before}
    if not moved:
        return
    first = now + timedelta(days=rules_for(services.settings).reminders.first_after_days)
    records = {i: {
        "opportunity_id": i, "account_id": moved[i].account_id, "owner": moved[i].owner, "outcome": moved[i].state,
        "closed_at": _utc(moved[i].closed_at), "source": "sync", "answers": {}, "state": "unanswered",
        "answered_at": None, "answered_by": None, "reminders_sent": 0, "last_reminded_at": None,
        "next_reminder_at": first, "created_at": now, "updated_at": now} for i in sorted(moved)}
    for earlier in store.get_closes(session, list(records)):
        store.replace_close(session, earlier, records.pop(earlier["opportunity_id"]))
    store.insert_closes(session, list(records.values()))


def list_closes(session: Session, services: Services, *, state: str | None, owner: str | None,
                outcome: str | None, closed_from: datetime | None, closed_to: datetime | None,
                after: str | None, limit: int) -> dict[str, Any]:
    rules = rules_for(services.settings)
    rows = store.list_closes(session, state=state, owner=owner, outcome=outcome, closed_from=closed_from,
                             closed_to=closed_to, after=after, limit=limit + 1)
    page = rows[:limit]
    return {"items": [close_view(r, rules) for r in page],
            "next_after": page[-1]["opportunity_id"] if len(rows) > limit else None}


def unanswered_by_owner(session: Session, services: Services, *, owner: str | None,
                        per_owner: int) -> dict[str, Any]:
    """Per owner (no owner last): how many closes wait for answers and the oldest ``per_owner`` of
    them with the questions still open."""
    rules = rules_for(services.settings)
    owners = []
    for who, count in store.unanswered_counts(session, owner):
        items = [close_view(r, rules) for r in store.unanswered_of(session, who, per_owner)]
        owners.append({"owner": who, "count": count, "items": items})
    return {"owners": owners, "total": sum(o["count"] for o in owners)}


def remind_unanswered(session: Session, services: Services, now: datetime, batch: int = 100) -> int:
    """One pass over at most ``batch`` unanswered closes whose reminder is due: each gets one
    ``close.unanswered`` event (opportunity, owner, missing question ids, reminder number) and its
    next reminder ``every_days`` from now, or none after ``at_most``. Claimed with ``SKIP LOCKED``
    (``store.claim_due_reminders``), so replicas running it at once remind each close once.
    Returns how many were reminded (the caller repeats while it equals ``batch``)."""
    rules = rules_for(services.settings)
    cadence = rules.reminders
    if not cadence.enabled:
        return 0
    due = store.claim_due_reminders(session, now, batch)
    for record in due:
        number = record["reminders_sent"] + 1
        missing = list(missing_answers(rules.questions.of(record["outcome"]), record["answers"]))
        webhooks.emit(session, "close.unanswered", {
            "opportunity_id": record["opportunity_id"], "account_id": record["account_id"], "owner": record["owner"],
            "outcome": record["outcome"], "closed_at": _iso(_utc(record["closed_at"])), "missing": missing,
            "reminder": number, "reminders_at_most": cadence.at_most},
            close_key("close.unanswered", record["opportunity_id"], record["closed_at"], number), now=now)
        following = now + timedelta(days=cadence.every_days) if number < cadence.at_most else None
        store.set_reminded(session, record["opportunity_id"], sent=number, at=now, next_at=following)
    return len(due)


# ---------------------------------------------------------------- interviews


def record_interview(session: Session, services: Services, opportunity_id: str, *, reason: str | None,
                     competitor: str | None, heard_from: str | None, notes: str | None,
                     interviewed_at: datetime | None, interviewer: str | None, now: datetime) -> dict[str, Any]:
    """Keep what the buyer said beside the seller's answers (which it never changes). ``reason``,
    ``competitor`` and ``heard_from`` take the options of the seller's question of the
    opportunity's outcome where it has options (``check_interview``), so the loss-reasons report
    can set them side by side; ``notes`` keeps the buyer's own words."""
    opportunity = qualification.opportunities(session, [opportunity_id]).get(opportunity_id)
    if opportunity is None:
        raise _no_opportunity(opportunity_id)
    if opportunity["state"] not in CLOSED_STATES:
        raise Conflict(f"opportunity {opportunity_id!r} is still open: interview the buyer after the close",
                       [FieldError("opportunity_id", "still open")], state=opportunity["state"])
    questions = rules_for(services.settings).questions.of(opportunity["state"])
    fields = [FieldError(p.question_id, p.message) for p in check_interview(
        questions, {"reason": reason, "competitor": competitor, "heard_from": heard_from})]
    at = _utc(interviewed_at) if interviewed_at is not None else now
    if at > now + services.settings.future_tolerance:
        fields.append(FieldError("interviewed_at", f"{_iso(at)} is in the future (future_tolerance_seconds)"))
    if fields:
        raise ValidationFailed("invalid request: " + "; ".join(f"{f.field}: {f.message}" for f in fields), fields)
    row = store.add_interview(session, {
        "opportunity_id": opportunity_id, "account_id": opportunity["account_id"], "reason": reason,
        "competitor": competitor, "heard_from": heard_from, "notes": notes, "interviewed_at": at,
        "interviewer": interviewer, "recorded_at": now})
    return interview_view(row)


# ---------------------------------------------------------------- dispositions by hand


def _no_account(account_id: str) -> NotFound:
    return NotFound(f"account {account_id!r} not found", [FieldError("account_id", "no such account")])


def override_disposition(session: Session, services: Services, account_id: str, *, kind: str,
                         until: datetime | None, reason: str, by: str | None, now: datetime) -> dict[str, Any]:
    """A person sets where the account goes: it supersedes the disposition in force (source
    'override') and the account is re-qualified. ``recycle`` needs ``until``; only ``recycle``
    and ``disqualified`` take one, and it lies in the future."""
    if not account_service.account_exists(session, account_id):
        raise _no_account(account_id)
    fields = []
    if until is not None:
        until = _utc(until)
        if kind not in TIMED_KINDS:
            fields.append(FieldError("until", f"a {kind} disposition does not end on a date (only "
                                              f"{' and '.join(TIMED_KINDS)} do)"))
        elif until <= now:
            fields.append(FieldError("until", f"{_iso(until)} is not in the future"))
    elif kind == "recycle":
        fields.append(FieldError("until", "recycle needs the date the account comes back"))
    if fields:
        raise ValidationFailed("invalid request: " + "; ".join(f"{f.field}: {f.message}" for f in fields), fields)
    qualification.lock_accounts(session, [account_id])
    row = store.add_disposition(session, {
        "account_id": account_id, "opportunity_id": None, "kind": kind, "at": now, "until": until,
        "reasons": [{"rule": "override", "text": reason}], "source": "override", "by": by}, now)
    services.requalify(session, [account_id])
    return disposition_view(row)


def disposition_history(session: Session, account_id: str) -> list[dict[str, Any]]:
    rows = store.dispositions(session, account_id)
    if not rows and not account_service.account_exists(session, account_id):
        raise _no_account(account_id)
    return [disposition_view(r) for r in rows]
