"""Storage of the qualification ledger and of the statuses derived from it.

The ledger is what an account's status follows from: activities, opportunities (with the time
each stage was entered), contracts, the manual account flags and sellers' contact moves. Like
``api.accounts.store`` these functions take a ``Session``, never commit, validate a whole batch before
writing anything (``InvalidItems`` with per-item ``Problem``s, from ``api.db.bulk``), and write
set-based; opportunities and contracts are stored by ``api.db.bulk.upsert``.

- Activities are immutable and idempotent by event id: the same id with the same content is a
  no-op, the same id with other content is a problem of that item. "Content" is the event as
  sent, fingerprinted in ``content_hash``, so a resend of an event that has since been attached
  to a contact is still recognised as the same event.
- An activity names its person by ``contact_id`` or by ``email``. An email that is no contact's
  yet is kept (``contact_id`` NULL) and attached by ``follow_contacts`` once a contact with that
  email is stored. ``activities.account_id`` is a copy of the contact's account, kept in step.
- Reading the ledger back as ``matcher.qualification.ledger.AccountLedger`` values is
  ``api.qualification.ledger_reader``'s. Writing the core's verdicts: ``save_evaluations`` upserts the
  current account and contact statuses and appends a ``status_transitions`` row for every
  status that changed; unchanged verdicts write nothing, so recomputing twice is a no-op.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Collection, Sequence

import orjson
from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from api.accounts.store import existing_account_ids
from api.db.bulk import (Problem, UpsertReport, chunks, hold_write_lock, insert_or_skip, inserted_here,
                         raise_if_any, update_rows, upsert, utc_now)
from api.db.rows import (AccountRow, AccountStatusRow, ActivityRow, ContactRow, ContactStatusRow, ContractRow,
                        ManualContactMoveRow, OpportunityRow, OpportunityStageChangeRow, StatusTransitionRow)
from matcher.qualification import ledger as L

DEFAULT_FUTURE_TOLERANCE = timedelta(minutes=5)

_ACTIVITIES = ActivityRow.__table__
_OPPORTUNITIES = OpportunityRow.__table__
_STAGE_CHANGES = OpportunityStageChangeRow.__table__
_CONTRACTS = ContractRow.__table__
_MOVES = ManualContactMoveRow.__table__
_ACCOUNT_STATUSES = AccountStatusRow.__table__
_CONTACT_STATUSES = ContactStatusRow.__table__
_TRANSITIONS = StatusTransitionRow.__table__


def _utc(value: datetime) -> datetime:
    """Aware UTC; a naive time is taken as UTC (the API documents this)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _email(value: str | None) -> str | None:
    return (value.strip().lower() or None) if value else None


def _duplicates(ids: Sequence[str]) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for i, item_id in enumerate(ids):
        if item_id in seen:
            problems.append(Problem(i, "id", f"duplicate of items[{seen[item_id]}] in the same request"))
        else:
            seen[item_id] = i
    return problems


def in_future(value: datetime, now: datetime, tolerance: timedelta) -> bool:
    """Later than the server clock allows (a little drift is tolerated)."""
    return _utc(value) > now + tolerance


def _not_in_future(index: int, name: str, value: datetime | None, now: datetime,
                   tolerance: timedelta) -> list[Problem]:
    if value is None or not in_future(value, now, tolerance):
        return []
    ahead = int(tolerance.total_seconds())
    return [Problem(index, name, f"{_utc(value).isoformat()} is in the future (more than {ahead} s "
                                 "ahead of the server clock; future_tolerance_seconds)")]


def existing_contacts(session: Session, ids: Collection[str]) -> dict[str, str]:
    """contact id -> account id, for those of ``ids`` that exist."""
    out: dict[str, str] = {}
    for chunk in chunks(sorted(set(ids))):
        out.update((r[0], r[1]) for r in session.execute(
            select(ContactRow.id, ContactRow.account_id).where(ContactRow.id.in_(chunk))))
    return out


def contacts_by_email(session: Session, emails: Collection[str]) -> dict[str, tuple[str, str]]:
    """email -> (contact id, account id). Two contacts sharing an email: the smaller id wins,
    so the choice is the same on every run and every database."""
    out: dict[str, tuple[str, str]] = {}
    for chunk in chunks(sorted(set(emails))):
        rows = session.execute(select(ContactRow.email, ContactRow.id, ContactRow.account_id)
                               .where(ContactRow.email.in_(chunk)).order_by(ContactRow.id))
        for email, contact_id, account_id in rows:
            out.setdefault(email, (contact_id, account_id))
    return out


# ---------------------------------------------------------------- activities


@dataclass(slots=True)
class ActivityReport:
    created: int = 0
    unchanged: int = 0
    unmatched: int = 0  # stored without a contact (kept by email until the person is a contact)


def activity_hash(a: L.Activity) -> str:
    """Fingerprint of an event as sent (the same instant in another offset is the same event)."""
    content = (a.type, _utc(a.occurred_at).isoformat(), a.contact_id, _email(a.email), a.channel,
               a.campaign_id, a.asset_id, a.page_kind, a.direction)
    return hashlib.blake2b(orjson.dumps(content), digest_size=16).hexdigest()


def _stored_otherwise(index: int, event_id: str) -> Problem:
    return Problem(index, "id", f"event {event_id!r} is already stored with different content "
                                "(events are immutable; send a new id)")


def ingest_activities(session: Session, activities: Sequence[L.Activity], *, now: datetime | None = None,
                      future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE) -> tuple[ActivityReport, set[str]]:
    """Store new events; returns the report and the accounts whose ledger grew.

    Raises ``InvalidItems`` before writing if any item has an unknown type, names a contact that
    does not exist, has neither contact nor email, lies in the future beyond the tolerance, or
    reuses an id (in this batch or stored) with different content. A concurrent writer may store
    the same new event first: the INSERT skips it (then it is unchanged, or a problem if its
    content differs, raised after writing: the caller rolls back).
    """
    now = now or utc_now()
    problems: list[Problem] = []
    hashes = [activity_hash(a) for a in activities]
    first: dict[str, int] = {}  # id -> index of its first occurrence in the batch
    for i, a in enumerate(activities):
        if a.type not in L.ACTIVITY_TYPES:
            problems.append(Problem(i, "type", f"unknown activity type {a.type!r}"))
        if a.direction is not None and a.direction not in ("inbound", "outbound"):
            problems.append(Problem(i, "direction", f"unknown direction {a.direction!r} (inbound or outbound)"))
        if not a.contact_id and not _email(a.email):
            problems.append(Problem(i, "contact_id", "an activity needs a contact_id or an email"))
        problems.extend(_not_in_future(i, "occurred_at", a.occurred_at, now, future_tolerance))
        j = first.setdefault(a.id, i)
        if j != i and hashes[j] != hashes[i]:
            problems.append(Problem(i, "id", f"same id as items[{j}] in this request, with different content"))
    contacts = existing_contacts(session, {a.contact_id for a in activities if a.contact_id})
    problems.extend(Problem(i, "contact_id", f"contact {a.contact_id!r} does not exist")
                    for i, a in enumerate(activities) if a.contact_id and a.contact_id not in contacts)
    hold_write_lock(session)  # SQLite: what is stored cannot change until this commits
    stored: dict[str, str] = {}
    for chunk in chunks(list(first)):
        stored.update((r[0], r[1]) for r in session.execute(
            select(ActivityRow.id, ActivityRow.content_hash).where(ActivityRow.id.in_(chunk))))
    problems.extend(_stored_otherwise(i, a_id) for a_id, i in first.items()
                    if a_id in stored and stored[a_id] != hashes[i])
    raise_if_any(problems)

    report = ActivityReport(unchanged=len(activities) - len(first))
    fresh = [i for a_id, i in first.items() if a_id not in stored]
    report.unchanged += len(first) - len(fresh)
    by_email = contacts_by_email(session, {_email(activities[i].email) for i in fresh
                                           if not activities[i].contact_id and _email(activities[i].email)})
    rows: list[dict[str, Any]] = []
    for i in fresh:
        a = activities[i]
        email = _email(a.email)
        contact_id = a.contact_id
        account_id = contacts.get(contact_id) if contact_id else None
        if contact_id is None and email in by_email:
            contact_id, account_id = by_email[email]
        rows.append({"id": a.id, "type": a.type, "occurred_at": _utc(a.occurred_at), "contact_id": contact_id,
                     "email": email, "account_id": account_id, "channel": a.channel,
                     "campaign_id": a.campaign_id, "asset_id": a.asset_id, "page_kind": a.page_kind,
                     "direction": a.direction, "received_at": now, "content_hash": hashes[i]})
    insert_new = insert_or_skip(session, _ACTIVITIES, ["id"])
    inserted: set[str] = set()
    for chunk in chunks(rows):
        session.execute(insert_new, list(chunk))
        inserted |= inserted_here(session, _ACTIVITIES, "id", [r["id"] for r in chunk])
    late = {r["id"]: r["content_hash"] for r in rows if r["id"] not in inserted}  # a concurrent writer's
    for chunk in chunks(sorted(late)):
        raise_if_any([_stored_otherwise(first[a_id], a_id) for a_id, content_hash in session.execute(
                          select(ActivityRow.id, ActivityRow.content_hash).where(ActivityRow.id.in_(chunk)))
                      if content_hash != late[a_id]])
    report.created = len(inserted)
    report.unchanged += len(late)
    report.unmatched = sum(1 for r in rows if r["id"] in inserted and r["account_id"] is None)
    touched = {r["account_id"] for r in rows if r["id"] in inserted and r["account_id"] is not None}
    return report, touched


def follow_contacts(session: Session, contact_ids: Collection[str]) -> set[str]:
    """After contacts were created or changed: their events follow them to their (new) account,
    and unmatched events with their email attach to them. Returns the accounts that gained events
    (each must be re-evaluated; so must the accounts the contacts left).

    Reads first and updates only what is off, so a bulk import of contacts without events
    costs a few SELECTs per chunk, not an UPDATE per contact.
    """
    a, c = _ACTIVITIES, ContactRow.__table__
    moved: list[tuple[str, str]] = []
    owner_of: dict[str, tuple[str, str]] = {}  # email -> (contact id, account id)
    for chunk in chunks(sorted(set(contact_ids))):
        moved.extend(session.execute(
            select(c.c.id, c.c.account_id).join(a, a.c.contact_id == c.c.id).where(c.c.id.in_(chunk))
            .where(or_(a.c.account_id.is_(None), a.c.account_id != c.c.account_id)).distinct()).all())
        # one contact per email (the smallest id, as at ingestion): an event attaches deterministically
        for cid, acc, email in session.execute(select(c.c.id, c.c.account_id, c.c.email)
                                               .where(c.c.id.in_(chunk)).where(c.c.email.is_not(None))
                                               .order_by(c.c.id)):
            if email not in owner_of or cid < owner_of[email][0]:
                owner_of[email] = (cid, acc)
    if moved:
        session.execute(update(a).where(a.c.contact_id == bindparam("cid")).values(account_id=bindparam("acc")),
                        [{"cid": cid, "acc": acc} for cid, acc in sorted(moved)])
    waiting: set[str] = set()
    for chunk in chunks(sorted(owner_of)):
        waiting.update(session.scalars(select(a.c.email).where(a.c.contact_id.is_(None))
                                       .where(a.c.email.in_(chunk)).distinct()))
    if waiting:
        session.execute(update(a).where(a.c.contact_id.is_(None)).where(a.c.email == bindparam("mail"))
                        .values(contact_id=bindparam("cid"), account_id=bindparam("acc")),
                        [{"mail": e, "cid": owner_of[e][0], "acc": owner_of[e][1]} for e in sorted(waiting)])
    return {acc for _, acc in moved} | {owner_of[e][1] for e in waiting}


# ---------------------------------------------------------------- opportunities and contracts


@dataclass(frozen=True, slots=True)
class OpportunityData:
    """An opportunity as a CRM sends it. ``stage_changed_at`` is when the current stage was
    entered, if the CRM knows; otherwise the time the new stage is first seen is recorded."""

    id: str
    account_id: str
    state: str = "open"
    type: str = "new_business"
    stage: str | None = None
    primary_contact_id: str | None = None
    owner: str | None = None
    amount: float | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    stage_changed_at: datetime | None = None
    next_step: str | None = None  # what the seller does next, and when (may be in the future)
    next_step_at: datetime | None = None


_OPPORTUNITY_FIELDS = ("account_id", "primary_contact_id", "owner", "type", "stage", "amount", "state",
                       "opened_at", "closed_at", "next_step", "next_step_at")


def _validate_opportunities(session: Session, items: Sequence[OpportunityData], now: datetime,
                            tolerance: timedelta) -> list[Problem]:
    problems = _duplicates([o.id for o in items])
    for i, o in enumerate(items):
        if o.state not in L.OPPORTUNITY_STATES:
            problems.append(Problem(i, "state", f"unknown state {o.state!r} (one of {', '.join(L.OPPORTUNITY_STATES)})"))
        if o.type not in L.OPPORTUNITY_TYPES:
            problems.append(Problem(i, "type", f"unknown type {o.type!r} (one of {', '.join(L.OPPORTUNITY_TYPES)})"))
        if o.state in ("won", "lost") and o.closed_at is None:
            problems.append(Problem(i, "closed_at", f"required when state is {o.state!r}"))
        if o.state == "open" and o.closed_at is not None:
            problems.append(Problem(i, "closed_at", "an open opportunity has no closed_at"))
        if o.opened_at and o.closed_at and _utc(o.closed_at) < _utc(o.opened_at):
            problems.append(Problem(i, "closed_at", "before opened_at"))
        if o.amount is not None and o.amount < 0:
            problems.append(Problem(i, "amount", "must not be negative"))
        for name in ("opened_at", "closed_at", "stage_changed_at"):
            problems.extend(_not_in_future(i, name, getattr(o, name), now, tolerance))
    known = existing_account_ids(session, {o.account_id for o in items})
    problems.extend(Problem(i, "account_id", f"account {o.account_id!r} does not exist")
                    for i, o in enumerate(items) if o.account_id not in known)
    contacts = existing_contacts(session, {o.primary_contact_id for o in items if o.primary_contact_id})
    problems.extend(Problem(i, "primary_contact_id", f"contact {o.primary_contact_id!r} does not exist")
                    for i, o in enumerate(items) if o.primary_contact_id and o.primary_contact_id not in contacts)
    return problems


def upsert_opportunities(session: Session, items: Sequence[OpportunityData], *, now: datetime | None = None,
                         future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE) -> tuple[UpsertReport, set[str]]:
    """Create or replace opportunities; returns the report and the accounts to re-evaluate (an
    opportunity moving between accounts affects both).

    A stage different from the stored one appends a stage change (at ``stage_changed_at``, else
    now; a new opportunity's first stage at ``stage_changed_at``, else ``opened_at``). A left-out
    ``opened_at`` keeps the stored one (a new opportunity without it opened now): the time an
    opportunity opened is a fact the service saw, not a field a later sync should clear.
    """
    now = now or utc_now()
    raise_if_any(_validate_opportunities(session, items, now, future_tolerance))
    sent = {o.id: o for o in items}
    rows = [{"id": o.id, "account_id": o.account_id, "primary_contact_id": o.primary_contact_id,
             "owner": o.owner, "type": o.type, "stage": o.stage,
             "amount": None if o.amount is None else float(o.amount), "state": o.state,
             "opened_at": _opt_utc(o.opened_at) or now, "closed_at": _opt_utc(o.closed_at),
             "next_step": o.next_step, "next_step_at": _opt_utc(o.next_step_at)} for o in items]

    def keep_opened_at(row: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
        return row if sent[row["id"]].opened_at else {**row, "opened_at": stored["opened_at"]}

    written = upsert(session, _OPPORTUNITIES, rows, compare=_OPPORTUNITY_FIELDS, now=now, replacing=keep_opened_at)
    touched = {row["account_id"] for row in written.created}
    stages = [{"opportunity_id": row["id"], "stage": row["stage"],
               "at": _opt_utc(sent[row["id"]].stage_changed_at) or row["opened_at"]}
              for row in written.created if row["stage"]]
    for row, old in written.updated:
        touched.update((row["account_id"], old["account_id"]))
        if row["stage"] and row["stage"] != old["stage"]:
            stages.append({"opportunity_id": row["id"], "stage": row["stage"],
                           "at": _opt_utc(sent[row["id"]].stage_changed_at) or now})
    for chunk in chunks(stages):
        session.execute(insert(_STAGE_CHANGES), list(chunk))
    return written.report(), touched


_CONTRACT_FIELDS = ("account_id", "starts_on", "ends_on")


def upsert_contracts(session: Session, items: Sequence[L.Contract], *,
                     now: datetime | None = None) -> tuple[UpsertReport, set[str]]:
    """Create or replace contracts; returns the report and the accounts to re-evaluate."""
    now = now or utc_now()
    problems = _duplicates([c.id for c in items])
    problems.extend(Problem(i, "ends_on", "before starts_on")
                    for i, c in enumerate(items) if c.ends_on is not None and c.ends_on < c.starts_on)
    known = existing_account_ids(session, {c.account_id for c in items})
    problems.extend(Problem(i, "account_id", f"account {c.account_id!r} does not exist")
                    for i, c in enumerate(items) if c.account_id not in known)
    raise_if_any(problems)
    rows = [{"id": c.id, "account_id": c.account_id, "starts_on": c.starts_on, "ends_on": c.ends_on} for c in items]
    written = upsert(session, _CONTRACTS, rows, compare=_CONTRACT_FIELDS, now=now)
    touched = {row["account_id"] for row in written.created}
    for row, old in written.updated:
        touched.update((row["account_id"], old["account_id"]))
    return written.report(), touched


# ---------------------------------------------------------------- manual states


def set_account_flags(session: Session, account_id: str, *, disqualified: bool, partner: bool,
                      now: datetime | None = None) -> bool | None:
    """Replace the manual flags. True if they changed, False if not, None if no such account.
    A flag being set records the time (the manual status's "since"); clearing it forgets it."""
    stored = session.execute(select(AccountRow.disqualified, AccountRow.partner, AccountRow.disqualified_at,
                                    AccountRow.partner_at).where(AccountRow.id == account_id)).first()
    if stored is None:
        return None
    if (bool(stored[0]), bool(stored[1])) == (disqualified, partner):
        return False
    now = now or utc_now()

    def since(flag: bool, was: bool, at: datetime | None) -> datetime | None:
        return (at if was else now) if flag else None

    session.execute(update(AccountRow).where(AccountRow.id == account_id)
                    .values(disqualified=disqualified, partner=partner,
                            disqualified_at=since(disqualified, bool(stored[0]), stored[2]),
                            partner_at=since(partner, bool(stored[1]), stored[3]), updated_at=now)
                    .execution_options(synchronize_session=False))
    return True


def record_manual_move(session: Session, move: L.ManualContactMove, *, now: datetime | None = None) -> None:
    """Append a seller's move to the ledger (the caller has checked it is allowed)."""
    session.execute(insert(_MOVES), [{"contact_id": move.contact_id, "status": move.status, "at": _utc(move.at),
                                      "by": move.by, "note": move.note, "recorded_at": now or utc_now()}])


def forget_account(session: Session, account_id: str) -> None:
    """Before an account is deleted: drop its ledger and current statuses; its events become
    unmatched again (kept by email, so they attach if the person shows up as a contact elsewhere).
    The transition log stays: it is the record of what was decided."""
    contact_ids = select(ContactRow.id).where(ContactRow.account_id == account_id).scalar_subquery()
    opportunity_ids = select(OpportunityRow.id).where(OpportunityRow.account_id == account_id).scalar_subquery()
    session.execute(delete(_MOVES).where(_MOVES.c.contact_id.in_(contact_ids)))
    session.execute(delete(_STAGE_CHANGES).where(_STAGE_CHANGES.c.opportunity_id.in_(opportunity_ids)))
    session.execute(delete(_OPPORTUNITIES).where(_OPPORTUNITIES.c.account_id == account_id))
    session.execute(delete(_CONTRACTS).where(_CONTRACTS.c.account_id == account_id))
    session.execute(delete(_CONTACT_STATUSES).where(_CONTACT_STATUSES.c.account_id == account_id))
    session.execute(delete(_ACCOUNT_STATUSES).where(_ACCOUNT_STATUSES.c.account_id == account_id))
    # an event sent by contact_id learns the contact's email first, or it could never attach again
    contact = ContactRow.__table__
    contact_email = select(contact.c.email).where(contact.c.id == _ACTIVITIES.c.contact_id).scalar_subquery()
    session.execute(update(_ACTIVITIES).where(_ACTIVITIES.c.account_id == account_id)
                    .values(email=func.coalesce(_ACTIVITIES.c.email, contact_email), account_id=None,
                            contact_id=None))


def contact_account(session: Session, contact_id: str) -> str | None:
    return session.scalar(select(ContactRow.account_id).where(ContactRow.id == contact_id))


# ---------------------------------------------------------------- derived statuses


def reason_json(r: L.Reason) -> dict[str, Any]:
    return {"rule": r.rule, "text": r.text, "event_ids": list(r.event_ids), "points": r.points,
            "contact_id": r.contact_id}


@dataclass(slots=True)
class SaveReport:
    # accounts whose stored account or contact statuses changed (their cached views are stale)
    accounts_changed: list[str] = field(default_factory=list)
    transitions: int = 0


def status_since(new_since: datetime | None, old, status: str, now: datetime) -> datetime:  # noqa: ANN001 - row
    """When the status began: the core's answer; without one, the stored start of the same
    status, else now (the core had no time for it, e.g. a manual flag it only knows as set)."""
    if new_since is not None:
        return _utc(new_since)
    if old is not None and old[0] == status:
        return old[1]
    return now


_ACCOUNT_STATUS_FIELDS = ("status", "since", "reasons", "engagement_points", "personas_engaged", "rule_version",
                          "review_at")
_CONTACT_STATUS_FIELDS = ("account_id", "status", "since", "reasons", "persona", "seniority", "rule_version")


def _transition(kind: str, entity_id: str, account_id: str, old_status: str | None, row: dict[str, Any],
                rule_version: str, now: datetime) -> dict[str, Any]:
    return {"entity_kind": kind, "entity_id": entity_id, "account_id": account_id, "at": now,
            "since": row["since"], "old_status": old_status, "new_status": row["status"],
            "reasons": row["reasons"], "rule_version": rule_version}


def claim_due(session: Session, now: datetime, limit: int) -> list[str]:
    """Accounts whose ``review_at`` has come, locked for this transaction with the per-write path's
    lock (their ``accounts`` rows, ``lock_accounts``), oldest due first. PostgreSQL: ``SKIP
    LOCKED`` lets several schedulers work side by side, each taking accounts the others do not
    hold; SQLite admits one writer at a time (the caller holds the write lock). Whoever
    re-evaluates an account under this lock reads what the one before it committed, so a status
    moves once per due time however many schedulers ran."""
    query = (select(AccountRow.id).join(AccountStatusRow, AccountStatusRow.account_id == AccountRow.id)
             .where(AccountStatusRow.review_at <= now).order_by(AccountStatusRow.review_at, AccountRow.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=AccountRow, skip_locked=True)
    return list(session.scalars(query))


def lock_accounts(session: Session, account_ids: Collection[str]) -> None:
    """Serialise re-evaluations of the same account (PostgreSQL row locks, in id order so two
    writers cannot deadlock on them). A writer that waited here reads, at READ COMMITTED, the
    ledger the other one committed, so the last verdict stored has seen every event. SQLite
    needs nothing: it admits one writing transaction at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for chunk in chunks(sorted(set(account_ids))):
        session.execute(select(AccountRow.id).where(AccountRow.id.in_(chunk)).order_by(AccountRow.id).with_for_update())


def save_evaluations(session: Session, evaluations: Sequence[L.AccountEvaluation], *, rule_version: str,
                     now: datetime | None = None) -> SaveReport:
    """Store the core's verdicts as the current statuses; log every status that changed.

    Writes only what differs from the stored rows, so saving the same verdicts twice writes
    nothing. A contact stored under an evaluated account but absent from its evaluation (moved
    away or deleted) loses its current-status row here; the account it moved to writes the new one.
    """
    now = now or utc_now()
    report = SaveReport()
    acc_cols = [getattr(AccountStatusRow, f) for f in _ACCOUNT_STATUS_FIELDS]
    con_cols = [getattr(ContactStatusRow, f) for f in _CONTACT_STATUS_FIELDS]
    for chunk in chunks(evaluations):
        ids = [e.account_id for e in chunk]
        stored_acc = {r[0]: r[1:] for r in session.execute(
            select(AccountStatusRow.account_id, *acc_cols).where(AccountStatusRow.account_id.in_(ids)))}
        evaluated_contacts = [c.contact_id for e in chunk for c in e.contacts]
        stored_con: dict[str, tuple] = {}
        for cchunk in chunks(evaluated_contacts):
            stored_con.update((r[0], r[1:]) for r in session.execute(
                select(ContactStatusRow.contact_id, *con_cols).where(ContactStatusRow.contact_id.in_(cchunk))))
        evaluated = set(evaluated_contacts)
        gone = session.execute(select(ContactStatusRow.contact_id, ContactStatusRow.account_id)
                               .where(ContactStatusRow.account_id.in_(ids))).all()
        gone = [(cid, aid) for cid, aid in gone if cid not in evaluated]
        changed = {aid for _, aid in gone}
        acc_new, acc_upd, con_new, con_upd = [], [], [], []
        # contacts' moves are logged before the account move they cause: newest first, a
        # history reads "account -> qualified" above "Jane Doe -> qualified"
        acc_log, con_log = [], []
        for e in chunk:
            old = stored_acc.get(e.account_id)
            row = {"account_id": e.account_id, "status": e.status, "since": status_since(e.since, old, e.status, now),
                   "reasons": [reason_json(r) for r in e.reasons],
                   "engagement_points": float(e.engagement_points),
                   "personas_engaged": list(e.personas_engaged), "rule_version": rule_version,
                   "review_at": _opt_utc(e.review_at)}
            if old is None or old[0] != e.status:
                acc_log.append(_transition("account", e.account_id, e.account_id, old[0] if old else None, row,
                                       rule_version, now))
            if old is None:
                acc_new.append({**row, "updated_at": now})
                changed.add(e.account_id)
            elif tuple(row[f] for f in _ACCOUNT_STATUS_FIELDS) != tuple(old):
                acc_upd.append({**row, "updated_at": now})
                changed.add(e.account_id)
            for c in e.contacts:
                old_c = stored_con.get(c.contact_id)  # (account_id, status, since, ...)
                row_c = {"contact_id": c.contact_id, "account_id": e.account_id, "status": c.status,
                         "since": status_since(c.since, old_c[1:3] if old_c else None, c.status, now),
                         "reasons": [reason_json(r) for r in c.reasons], "persona": c.persona,
                         "seniority": c.seniority, "rule_version": rule_version}
                if old_c is None or old_c[1] != c.status:
                    con_log.append(_transition("contact", c.contact_id, e.account_id, old_c[1] if old_c else None,
                                           row_c, rule_version, now))
                if old_c is None:
                    con_new.append({**row_c, "updated_at": now})
                elif tuple(row_c[f] for f in _CONTACT_STATUS_FIELDS) != tuple(old_c):
                    con_upd.append({**row_c, "updated_at": now})
                else:
                    continue
                changed.add(e.account_id)
        for doomed in chunks([cid for cid, _ in gone]):
            session.execute(delete(_CONTACT_STATUSES).where(_CONTACT_STATUSES.c.contact_id.in_(doomed)))
        if acc_new:
            session.execute(insert(_ACCOUNT_STATUSES), acc_new)
        update_rows(session, _ACCOUNT_STATUSES, acc_upd, key="account_id")
        if con_new:
            session.execute(insert(_CONTACT_STATUSES), con_new)
        update_rows(session, _CONTACT_STATUSES, con_upd, key="contact_id")
        log = con_log + acc_log
        if log:
            session.execute(insert(_TRANSITIONS), log)
            report.transitions += len(log)
        report.accounts_changed.extend(sorted(changed))
    return report


# ---------------------------------------------------------------- reading statuses


def read_account_status(session: Session, account_id: str) -> dict[str, Any] | None:
    cols = [getattr(AccountStatusRow, f) for f in _ACCOUNT_STATUS_FIELDS]
    row = session.execute(select(*cols).where(AccountStatusRow.account_id == account_id)).first()
    return None if row is None else dict(zip(_ACCOUNT_STATUS_FIELDS, row))


def read_contact_states(session: Session, account_id: str) -> list[dict[str, Any]]:
    """The account's contacts with their stored statuses (None where none is stored), by id."""
    c, s = ContactRow.__table__, _CONTACT_STATUSES
    rows = session.execute(
        select(c.c.id, c.c.email, c.c.first_name, c.c.last_name, c.c.title, s.c.status, s.c.since, s.c.persona,
               s.c.seniority, s.c.reasons)
        .select_from(c).outerjoin(s, s.c.contact_id == c.c.id)
        .where(c.c.account_id == account_id).order_by(c.c.id))
    keys = ("id", "email", "first_name", "last_name", "title", "status", "since", "persona", "seniority", "reasons")
    return [{**dict(zip(keys, r)), "reasons": r[-1] or []} for r in rows]


def read_history(session: Session, account_id: str, *, kinds: Collection[str] = ("account", "contact"),
                 before: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The account's transitions (and its contacts'), newest first; ``before`` is the id of the
    last row of the previous page (ids grow in the order the log was written)."""
    t = _TRANSITIONS
    stmt = (select(t.c.id, t.c.entity_kind, t.c.entity_id, t.c.at, t.c.since, t.c.old_status, t.c.new_status,
                   t.c.reasons, t.c.rule_version)
            .where(t.c.account_id == account_id).order_by(t.c.id.desc()).limit(limit))
    if set(kinds) != {"account", "contact"}:
        stmt = stmt.where(t.c.entity_kind.in_(sorted(kinds)))
    if before is not None:
        stmt = stmt.where(t.c.id < before)
    keys = ("id", "entity_kind", "entity_id", "at", "since", "old_status", "new_status", "reasons", "rule_version")
    return [dict(zip(keys, r)) for r in session.execute(stmt)]



# ---------------------------------------------------------------- what routing reads


def open_opportunity_owner(session: Session, account_id: str) -> str | None:
    return session.scalars(select(OpportunityRow.owner).where(
        OpportunityRow.account_id == account_id, OpportunityRow.state == "open", OpportunityRow.owner.is_not(None))
        .order_by(OpportunityRow.opened_at.desc(), OpportunityRow.id).limit(1)).first()


def first_outbound_touch(session: Session, *, contact_id: str | None, email: str | None,
                         since: datetime) -> datetime | None:
    who = []
    if contact_id:
        who.append(ActivityRow.contact_id == contact_id)
    if email and _email(email):
        who.append(ActivityRow.email == _email(email))
    if not who:
        return None
    return session.scalar(select(func.min(ActivityRow.occurred_at)).where(
        or_(*who), ActivityRow.direction == "outbound", ActivityRow.occurred_at >= _utc(since)))


# ---------------------------------------------------------------- what closing reads


_OPPORTUNITY_VIEW = ("id", "account_id", "primary_contact_id", "owner", "type", "stage", "amount", "state",
                     "opened_at", "closed_at", "next_step", "next_step_at")


def read_opportunities(session: Session, ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """The stored opportunities among ``ids``, by id, as plain dicts of their columns."""
    out: dict[str, dict[str, Any]] = {}
    columns = [_OPPORTUNITIES.c[name] for name in _OPPORTUNITY_VIEW]
    for chunk in chunks(sorted(set(ids))):
        for row in session.execute(select(*columns).where(_OPPORTUNITIES.c.id.in_(chunk))):
            out[row.id] = dict(row._mapping)
    return out
