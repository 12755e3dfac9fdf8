"""Lead storage: the lead with its match, conversion, route and SLA, and its routing history.

Never commits: the request (``api.deps.get_session``) or the scheduler's ``session_scope`` owns
the transaction, so a lead, its contact, its ledger event, its routing record and its webhook
event land together or not at all.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Sequence

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from api.db.rows import LeadRoutingRow, LeadRow

_LEADS = LeadRow.__table__
_ROUTINGS = LeadRoutingRow.__table__


def get_lead(session: Session, lead_id: str, *, for_update: bool = False) -> LeadRow | None:
    """The stored lead; ``for_update`` locks its row on PostgreSQL until the transaction ends (two
    deliveries of the same lead at once are then taken one after the other)."""
    # populate_existing: the updates are Core statements (update_lead), so a lead read earlier in
    # this session must be read again, not served from the session's identity map
    query = select(LeadRow).where(LeadRow.id == lead_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()


@lru_cache(maxsize=64)
def _new_routed_lead(dialect: str, lead_columns: tuple[str, ...], routing_columns: tuple[str, ...]) -> Insert:
    """The statement that stores a new lead with its first routing record (built once per set of
    columns: building it anew for every lead cost as much as sending it). PostgreSQL: one
    statement, the lead's ``INSERT ... ON CONFLICT DO NOTHING`` in a CTE feeding the routing
    record's insert, so nothing is written when the id was taken; parameters ``l_<column>`` and
    ``r_<column>``. SQLite (in process, no round trip to save): the lead's insert alone, with
    ``l_<column>`` parameters, returning its id."""
    values = {c: bindparam(f"l_{c}", type_=_LEADS.c[c].type) for c in lead_columns}
    if dialect != "postgresql":
        return (sqlite.insert(_LEADS).values(values).on_conflict_do_nothing(index_elements=["id"])
                .returning(_LEADS.c.id))
    new_lead = (postgresql.insert(_LEADS).values(values).on_conflict_do_nothing(index_elements=["id"])
                .returning(_LEADS.c.id).cte("new_lead"))
    recorded = select(new_lead.c.id, *(bindparam(f"r_{c}", type_=_ROUTINGS.c[c].type) for c in routing_columns))
    return (insert(_ROUTINGS).from_select(["lead_id", *routing_columns], recorded)
            .returning(_ROUTINGS.c.id).add_cte(new_lead))


def insert_routed_lead(session: Session, lead: dict[str, Any], routing: dict[str, Any]) -> int | None:
    """Store a new lead (``lead`` holds its id) with its first routing record; returns the record's
    id, or None when the lead's id was stored meanwhile by a concurrent delivery of it (then
    nothing was written here: the caller starts over and finds that lead)."""
    dialect = session.get_bind().dialect.name
    stmt = _new_routed_lead(dialect, tuple(lead), tuple(routing))
    params = {f"l_{c}": v for c, v in lead.items()}
    if dialect != "postgresql":
        if session.execute(stmt, params).first() is None:
            return None
        return add_routing(session, lead["id"], routing)
    return session.execute(stmt, {**params, **{f"r_{c}": v for c, v in routing.items()}}).scalar_one_or_none()


_UPDATE_LEAD = _LEADS.update().where(_LEADS.c.id == bindparam("lead_key"))
_ADD_ROUTING = insert(_ROUTINGS).returning(_ROUTINGS.c.id)


def update_lead(session: Session, lead_id: str, values: dict[str, Any]) -> None:
    # a Core UPDATE: the ORM's would also look for the row among the session's objects to
    # synchronise them (a lead is read again after its writes, never kept across them)
    session.execute(_UPDATE_LEAD, {**values, "lead_key": lead_id})


def add_routing(session: Session, lead_id: str, values: dict[str, Any]) -> int:
    """Store one routing decision; returns its id."""
    return session.execute(_ADD_ROUTING, {**values, "lead_id": lead_id}).scalar_one()


def last_routing(session: Session, lead_id: str) -> LeadRoutingRow | None:
    return session.scalars(select(LeadRoutingRow).where(LeadRoutingRow.lead_id == lead_id)
                           .order_by(LeadRoutingRow.id.desc()).limit(1)).first()


def history(session: Session, lead_id: str) -> list[LeadRoutingRow]:
    return list(session.scalars(select(LeadRoutingRow).where(LeadRoutingRow.lead_id == lead_id)
                                .order_by(LeadRoutingRow.id)))


def list_leads(session: Session, *, decision: str | None = None, owner: str | None = None,
               queue: str | None = None, sla_state: str | None = None, review_state: str | None = None,
               received_from: datetime | None = None, received_to: datetime | None = None,
               after: str | None = None, limit: int = 100) -> list[LeadRow]:
    """Leads by id (stable paging with ``after``), filtered."""
    query = select(LeadRow)
    for column, value in ((LeadRow.decision, decision), (LeadRow.owner, owner), (LeadRow.queue, queue),
                          (LeadRow.sla_state, sla_state), (LeadRow.review_state, review_state)):
        if value is not None:
            query = query.where(column == value)
    if received_from is not None:
        query = query.where(LeadRow.received_at >= received_from)
    if received_to is not None:
        query = query.where(LeadRow.received_at < received_to)
    if after is not None:
        query = query.where(LeadRow.id > after)
    return list(session.scalars(query.order_by(LeadRow.id).limit(limit)))


def claim_overdue(session: Session, now: datetime, limit: int) -> Sequence[LeadRow]:
    """Leads whose SLA clock ran out, locked for this transaction. On PostgreSQL ``SKIP LOCKED``
    lets several schedulers work side by side, each lead handled by exactly one of them; the
    handler moves the lead out of 'pending' in the same transaction, so a lead is never handled
    twice. SQLite has one writer at a time, which gives the same guarantee."""
    query = (select(LeadRow).where(LeadRow.sla_state == "pending", LeadRow.sla_due_at <= now)
             .order_by(LeadRow.sla_due_at, LeadRow.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))
