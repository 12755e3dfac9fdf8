"""Storage of gone dark: the episodes (``gone_dark_episodes``, api/db/rows/closing.py, migration
0011) and what the scheduler reads of the ledger (open opportunities, their stage changes, the
accounts in a watched status, the accounts' two-way and outbound touches). These functions run in
the caller's transaction and never commit.

Exactly once: an opportunity is flagged under its row lock (``claim_dark_candidates``), an account
under its ``account_statuses`` row's (``claim_dark_accounts``) and an episode is moved on under its
own (``claim_due_episodes``); on PostgreSQL ``SKIP LOCKED`` lets
several schedulers work side by side, each row taken by one of them, and what a scheduler reads
after taking the lock (in a new statement, READ COMMITTED) includes what the one before it
committed. SQLite admits one writer at a time: its write lock is taken before the first read.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Collection, Sequence

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from api.db.bulk import chunks, hold_write_lock
from api.db.rows.accounts import AccountRow, OwnerRow
from api.db.rows.closing import GoneDarkEpisodeRow
from api.db.rows.qualification import AccountStatusRow, ActivityRow, OpportunityRow, OpportunityStageChangeRow

EP = GoneDarkEpisodeRow.__table__
OPP = OpportunityRow.__table__
ACT = ActivityRow.__table__
SC = OpportunityStageChangeRow.__table__
AST = AccountStatusRow.__table__
ACC = AccountRow.__table__
OWN = OwnerRow.__table__


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _two_way(account_id: Any, types: Sequence[str], since: Any, until: datetime):  # noqa: ANN202 - SQL
    return and_(ACT.c.account_id == account_id, ACT.c.direction == "inbound", ACT.c.type.in_(types),
                ACT.c.occurred_at >= since, ACT.c.occurred_at <= until)


def claim_dark_candidates(session: Session, *, now: datetime, opened_before: datetime, quiet_since: datetime,
                          two_way_types: Sequence[str], after: str | None, limit: int) -> list[dict[str, Any]]:
    """Open opportunities (by id after ``after``) that may be dark at ``now``: opened at or before
    ``opened_before``, no running episode, no two-way touch on their account after
    ``quiet_since`` (both from the smallest dark days: a cheap first cut; the core decides),
    locked for this transaction, skipping those another scheduler holds."""
    hold_write_lock(session)
    running = exists().where(EP.c.opportunity_id == OPP.c.id, EP.c.state == "dark")
    touched = exists().where(and_(ACT.c.account_id == OPP.c.account_id, ACT.c.direction == "inbound",
                                  ACT.c.type.in_(two_way_types), ACT.c.occurred_at > quiet_since,
                                  ACT.c.occurred_at <= now))
    query = (select(OPP.c.id, OPP.c.account_id, OPP.c.owner, OPP.c.stage, OPP.c.opened_at)
             .where(OPP.c.state == "open", OPP.c.opened_at.is_not(None), OPP.c.opened_at <= opened_before,
                    ~running, ~touched, *([OPP.c.id > after] if after is not None else []))
             .order_by(OPP.c.id).limit(limit))
    if _postgres(session):
        query = query.with_for_update(of=OPP, skip_locked=True)
    return [dict(r._mapping) for r in session.execute(query)]


def claim_dark_accounts(session: Session, *, now: datetime, statuses: Collection[str], since_before: datetime,
                        quiet_since: datetime, two_way_types: Sequence[str], after: str | None,
                        limit: int) -> list[dict[str, Any]]:
    """Accounts (by id after ``after``) that may be dark at ``now``: their current status one of
    ``statuses`` since at or before ``since_before``, no open opportunity (an account with one is
    watched through it), no running account episode, no two-way touch after ``quiet_since``
    (a cheap first cut from the smallest account days; the core decides), with the owner's name;
    their ``account_statuses`` rows locked for this transaction, skipping those another
    scheduler holds (a re-evaluation of the account waits for it: it writes that row)."""
    hold_write_lock(session)
    running = exists().where(EP.c.account_id == AST.c.account_id, EP.c.subject == "account", EP.c.state == "dark")
    open_opportunity = exists().where(OPP.c.account_id == AST.c.account_id, OPP.c.state == "open")
    touched = exists().where(and_(ACT.c.account_id == AST.c.account_id, ACT.c.direction == "inbound",
                                  ACT.c.type.in_(two_way_types), ACT.c.occurred_at > quiet_since,
                                  ACT.c.occurred_at <= now))
    owner = (select(OWN.c.name).select_from(ACC.join(OWN, OWN.c.id == ACC.c.owner_id))
             .where(ACC.c.id == AST.c.account_id).scalar_subquery())
    query = (select(AST.c.account_id, AST.c.status, AST.c.since, owner.label("owner"))
             .where(AST.c.status.in_(sorted(statuses)), AST.c.since <= since_before, ~running, ~open_opportunity,
                    ~touched, *([AST.c.account_id > after] if after is not None else []))
             .order_by(AST.c.account_id).limit(limit))
    if _postgres(session):
        query = query.with_for_update(of=AST, skip_locked=True)
    return [dict(r._mapping) for r in session.execute(query)]


def stage_changes(session: Session, opportunity_ids: Collection[str]) -> dict[str, list[tuple[str, datetime]]]:
    out: dict[str, list[tuple[str, datetime]]] = {}
    for chunk in chunks(sorted(set(opportunity_ids))):
        for r in session.execute(select(SC.c.opportunity_id, SC.c.stage, SC.c.at).where(SC.c.opportunity_id.in_(chunk))
                                 .order_by(SC.c.opportunity_id, SC.c.at, SC.c.id)):
            out.setdefault(r.opportunity_id, []).append((r.stage, r.at))
    return out


def episodes_so_far(session: Session, opportunity_ids: Collection[str]) -> dict[str, tuple[bool, datetime | None]]:
    """Opportunity id -> (an episode is running, the latest dark_since of its episodes)."""
    return _so_far(session, EP.c.opportunity_id, opportunity_ids, "opportunity")


def account_episodes_so_far(session: Session, account_ids: Collection[str]) -> dict[str, tuple[bool, datetime | None]]:
    """Account id -> (an account episode is running, the latest dark_since of its account
    episodes); episodes of its opportunities are theirs, not the account's."""
    return _so_far(session, EP.c.account_id, account_ids, "account")


def _so_far(session: Session, key: Any, ids: Collection[str], subject: str) -> dict[str, tuple[bool, datetime | None]]:
    out: dict[str, tuple[bool, datetime | None]] = {}
    for chunk in chunks(sorted(set(ids))):
        running = func.max(func.cast(EP.c.state == "dark", EP.c.id.type))
        for r in session.execute(select(key.label("key"), running.label("running"),
                                        func.max(EP.c.dark_since).label("last"))
                                 .where(key.in_(chunk), EP.c.subject == subject).group_by(key)):
            last = r.last
            if isinstance(last, str):  # MAX() over a UTCDateTime comes back as text on SQLite
                last = datetime.fromisoformat(last)
            out[r.key] = (bool(r.running), EP.c.dark_since.type.process_result_value(last, None))
    return out


def touches(session: Session, account_ids: Collection[str], *, types: Sequence[str], direction: str,
            since: datetime, until: datetime) -> dict[str, list[tuple[datetime, str, str]]]:
    """Account id -> (occurred_at, type, activity id) of its ``direction`` activities of ``types``
    in [since, until], in time order."""
    out: dict[str, list[tuple[datetime, str, str]]] = {}
    for chunk in chunks(sorted(set(account_ids))):
        stmt = (select(ACT.c.account_id, ACT.c.occurred_at, ACT.c.type, ACT.c.id)
                .where(ACT.c.account_id.in_(chunk), ACT.c.direction == direction, ACT.c.type.in_(types),
                       ACT.c.occurred_at >= since, ACT.c.occurred_at <= until)
                .order_by(ACT.c.account_id, ACT.c.occurred_at, ACT.c.id))
        for r in session.execute(stmt):
            out.setdefault(r.account_id, []).append((r.occurred_at, r.type, r.id))
    return out


def insert_episodes(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    return [session.execute(insert(EP).values(**row).returning(EP.c.id)).scalar_one() for row in rows]


def claim_due_episodes(session: Session, *, now: datetime, two_way_types: Sequence[str],
                       limit: int, after: int | None = None) -> list[dict[str, Any]]:
    """Running episodes (by id after ``after``) with something to do at ``now``, locked for this
    transaction (skipping those another scheduler holds): a step or the limit has come
    (``next_step_at``), a two-way touch answered it, its opportunity is no longer open, or its
    account (an account episode) is no longer in the status it went dark in."""
    hold_write_lock(session)
    answered = exists().where(_two_way(EP.c.account_id, two_way_types, EP.c.dark_since, now))
    gone = exists().where(OPP.c.id == EP.c.opportunity_id, OPP.c.state != "open")
    left = and_(EP.c.subject == "account",
                ~exists().where(AST.c.account_id == EP.c.account_id, AST.c.status == EP.c.stage))
    query = (select(EP).where(EP.c.state == "dark", or_(EP.c.next_step_at <= now, answered, gone, left),
                              *([EP.c.id > after] if after is not None else []))
             .order_by(EP.c.id).limit(limit))
    if _postgres(session):
        query = query.with_for_update(of=EP, skip_locked=True)
    return [dict(r._mapping) for r in session.execute(query)]


def opportunity_states(session: Session, opportunity_ids: Collection[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in chunks(sorted(set(opportunity_ids))):
        out.update({r.id: r.state for r in session.execute(select(OPP.c.id, OPP.c.state).where(OPP.c.id.in_(chunk)))})
    return out


def account_statuses(session: Session, account_ids: Collection[str]) -> dict[str, str]:
    """Account id -> its current status (none: no row, a deleted account)."""
    out: dict[str, str] = {}
    for chunk in chunks(sorted(set(account_ids))):
        out.update({r.account_id: r.status for r in session.execute(
            select(AST.c.account_id, AST.c.status).where(AST.c.account_id.in_(chunk)))})
    return out


def update_episode(session: Session, episode_id: int, values: dict[str, Any]) -> None:
    session.execute(update(EP).where(EP.c.id == episode_id).values(**values))


def list_episodes(session: Session, *, subject: str | None, state: str | None, owner: str | None,
                  opportunity_id: str | None, account_id: str | None, stage: str | None,
                  flagged_from: datetime | None, flagged_to: datetime | None, after: int | None,
                  limit: int) -> list[dict[str, Any]]:
    where = []
    for column, value in ((EP.c.subject, subject), (EP.c.state, state), (EP.c.owner, owner),
                          (EP.c.opportunity_id, opportunity_id),
                          (EP.c.account_id, account_id), (EP.c.stage, stage)):
        if value is not None:
            where.append(column == value)
    if flagged_from is not None:
        where.append(EP.c.flagged_at >= flagged_from)
    if flagged_to is not None:
        where.append(EP.c.flagged_at < flagged_to)
    if after is not None:
        where.append(EP.c.id > after)
    return [dict(r._mapping) for r in session.execute(select(EP).where(*where).order_by(EP.c.id).limit(limit))]


def review_opportunities(session: Session, *, owner: str | None, quiet_since: datetime, now: datetime,
                         two_way_types: Sequence[str], outbound_types: Sequence[str],
                         limit: int) -> list[dict[str, Any]]:
    """Open opportunities (of ``owner``) for the pipeline review, by owner and id: those whose
    account's latest touch up to ``now`` (a two-way touch, or an outbound touch of ours) is at or
    before ``quiet_since`` or never, those with no next step (neither ``next_step`` nor
    ``next_step_at``) and those whose ``next_step_at`` is before ``now``; the same rule as
    ``matcher/pipeline/review.py`` ``review_reasons``, which says which applies."""
    touch = or_(and_(ACT.c.direction == "inbound", ACT.c.type.in_(two_way_types)),
                and_(ACT.c.direction == "outbound", ACT.c.type.in_(outbound_types)))
    last = (select(func.max(ACT.c.occurred_at)).where(ACT.c.account_id == OPP.c.account_id, touch,
                                                       ACT.c.occurred_at <= now).scalar_subquery())
    no_next_step = and_(OPP.c.next_step.is_(None), OPP.c.next_step_at.is_(None))
    stmt = (select(OPP.c.id, OPP.c.account_id, OPP.c.owner, OPP.c.stage, OPP.c.opened_at, OPP.c.next_step,
                   OPP.c.next_step_at, last.label("last_touch_at"))
            .where(OPP.c.state == "open", *([OPP.c.owner == owner] if owner is not None else []),
                   or_(last.is_(None), last <= quiet_since, no_next_step, OPP.c.next_step_at < now))
            .order_by(OPP.c.owner, OPP.c.id).limit(limit))
    out = []
    for r in session.execute(stmt):
        row = dict(r._mapping)
        at = row["last_touch_at"]
        if isinstance(at, str):  # MAX() over a UTCDateTime comes back as text on SQLite
            at = datetime.fromisoformat(at)
        row["last_touch_at"] = ACT.c.occurred_at.type.process_result_value(at, None)
        out.append(row)
    return out
