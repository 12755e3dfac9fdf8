"""Lead intake and routing: one lead in, matched, converted, routed, recorded, announced.

``intake`` is the path of ``POST /v1/leads`` (and of each item of ``/v1/leads/bulk``), inside the
request's transaction:

1. the same id with the same content -> the stored outcome, nothing written;
2. match against the in-memory index (the ``/v1/match`` answer, kept with the lead);
3. a matched lead becomes (or updates) a contact on its account (``api/accounts/service.py``);
   the form fill, with its campaign, goes into the activity ledger (by email when there is no
   contact yet: it attaches when the person becomes one) and the account is re-qualified;
4. the routing ladder decides (``matcher/routing/decide.py``) with the stored round-robin turn
   (``api/routing/turns.py``); the decision, the rule that fired and everyone passed over are
   stored with the lead and in its history; the SLA deadline is counted in the owner's business
   hours (``matcher/routing/sla.py``);
5. a ``lead.routed`` event goes into the webhook outbox in the same transaction
   (``api/webhooks/service.py``): it is delivered iff the lead was stored.

The same id with other content updates the lead and routes it again only if its account (or
its match decision) changed. A lead a person resolved in review keeps that person's account.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

import orjson
from sqlalchemy.orm import Session

from api import db
from api.accounts import service as account_service
from api.db.bulk import hold_write_lock, utc_now
from api.db.rows import LeadRow
from api.qualification import service as qualification_service
from api.routing import config_store, store, turns
from api.routing.schemas import LeadIntakeIn
from api.webhooks import service as webhooks
from config.routing import RoutingRules, Sla
from matcher import normalize
from matcher.matching.types import Lead
from matcher.qualification.ledger import Activity
from matcher.routing import sla as sla_clock
from matcher.routing.decide import decide
from matcher.routing.types import AccountFacts, RoutingDecision, RoutingInput, Skip, Turn

if TYPE_CHECKING:
    from api.deps import Services

CONTACT_ID_PREFIX = "lead-"
ROUTED_EVENT = "lead.routed"


def content_hash(body: Mapping[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def new_contact_id(lead_id: str) -> str:
    """The id of the contact a lead becomes: readable where it fits the 64-character id column."""
    plain = CONTACT_ID_PREFIX + lead_id
    if len(plain) <= 64:
        return plain
    return CONTACT_ID_PREFIX + hashlib.blake2b(lead_id.encode(), digest_size=16).hexdigest()


def activity_id(lead_id: str) -> str:
    plain = "lead:" + lead_id
    return plain if len(plain) <= 64 else "lead:" + hashlib.blake2b(lead_id.encode(), digest_size=16).hexdigest()


def lead_of(body: Mapping[str, Any]) -> Lead:
    return Lead(*(body.get(f) for f in ("email", "company", "country", "region", "city", "phone", "website",
                                        "first_name", "last_name", "title")))


# ------------------------------------------------------------------------------------------ routing


def needs_stored_facts(rules: RoutingRules) -> bool:
    """Whether routing a matched lead needs what only the database knows of its account: its
    children (``owner_policy = "regional"``) or its firmographics (territory rules)."""
    return rules.owner_policy == "regional" or ("territories" in rules.ladder and bool(rules.territories))


def _index_facts(services: Services, account_id: str) -> tuple[AccountFacts | None, tuple[AccountFacts, ...]]:
    """The account and its ancestors as the in-memory index has them (names, owners, places): the
    index that matched the lead, so no round trip to the database."""
    def facts(a) -> AccountFacts:  # noqa: ANN001 - matcher.matching.types.Account
        return AccountFacts(id=a.id, name=a.name, owner=a.owner, parent_id=a.parent_id, country=a.country,
                            region=a.region, city=a.city)
    account = services.index.get(account_id)
    if account is None:
        return None, ()
    chain: list[AccountFacts] = []
    seen = {account.id}
    parent = services.index.get(account.parent_id) if account.parent_id else None
    while parent is not None and parent.id not in seen:
        chain.append(facts(parent))
        seen.add(parent.id)
        parent = services.index.get(parent.parent_id) if parent.parent_id else None
    return facts(account), tuple(chain)


def routing_input(session: Session, services: Services, rules: RoutingRules, lead: Lead, decision: str,
                  account_id: str | None, source: str | None, campaign_id: str | None, *,
                  from_database: bool = False) -> RoutingInput:
    """What the ladder decides on. The account's facts come from the index unless the rules need
    more, or ``from_database`` (an account this transaction created is not in the index yet)."""
    account, ancestors, children = (None, (), ())
    opportunity_owner = None
    if account_id is not None and decision == "matched":
        if from_database or needs_stored_facts(rules):
            account, ancestors, children = account_service.routing_facts(session, account_id)
        else:
            account, ancestors = _index_facts(services, account_id)
        if "opportunity_owner" in rules.ladder:
            opportunity_owner = qualification_service.open_opportunity_owner(session, account_id)
    return RoutingInput(decision=decision if account is not None or decision != "matched" else "no_match",
                        lead=lead, account=account, ancestors=ancestors, children=children,
                        open_opportunity_owner=opportunity_owner, source=source, campaign_id=campaign_id,
                        country_aliases=services.index.rules.country_aliases)


def owner_due_at(rules: RoutingRules, owner: str, sla: Sla, start: datetime) -> datetime:
    """The SLA deadline counted in the owner's business hours: their schedule and time zone when
    they are a configured member, else the default schedule in UTC."""
    member = rules.member(owner)
    if member is None:
        return sla_clock.due_at(start, sla.minutes, rules.schedules["default"], "UTC")
    return sla_clock.due_at(start, sla.minutes, rules.schedules[member.schedule], member.timezone,
                            member.out_of_office)


def owner_business_minutes(rules: RoutingRules, owner: str | None, start: datetime, end: datetime) -> float:
    member = rules.member(owner) if owner else None
    if member is None:
        return sla_clock.business_minutes(start, end, rules.schedules["default"], "UTC")
    return sla_clock.business_minutes(start, end, rules.schedules[member.schedule], member.timezone,
                                      member.out_of_office)


@dataclass(frozen=True)
class Routed:
    decision: RoutingDecision
    sla_due_at: datetime | None
    turn_backend: str | None = None  # where the turn was taken: turn numbers are unique per pool and backend


# how stale another replica's routing configuration may be for this one's lead intake (a change
# made through this process is seen at once): one query less per lead
RULES_MAX_AGE_SECONDS = 1.0


def active_rules(session: Session, services: Services) -> RoutingRules:
    return config_store.active_rules(session, services.settings.routing_rules, max_age=RULES_MAX_AGE_SECONDS)


def turn_backend(session: Session, services: Services) -> turns.TurnBackend:
    """Where round-robin turns are taken: in the request's own transaction (the default), or on
    Redis (``routing_turns = "redis"``), which falls back to the transaction when Redis is away."""
    local = turns.SessionTurns(session)
    settings = services.settings
    if settings.routing_turns == "redis" and services.redis is not None:
        return turns.RedisTurns(services.redis, settings.routing_redis_prefix, local,
                                services.metrics.routing_turn_fallbacks.inc, services.redis_guard)
    return local


def route(session: Session, services: Services, rules: RoutingRules, inp: RoutingInput, now: datetime,
          *, unavailable_too: Mapping[str, str] | None = None) -> Routed:
    """The ladder's decision with the stored turn; ``unavailable_too`` marks more members as away
    (a reassignment passes over the member who missed the SLA)."""
    taken: list[turns.TakenTurn] = []
    take_turn = turns.bind(turn_backend(session, services), rules, now, taken)
    if unavailable_too:
        inner = take_turn

        def take_turn(pool, unavailable: Mapping[str, str]) -> Turn:  # noqa: ANN001 - config.routing.Pool
            return inner(pool, {**unavailable, **unavailable_too})
    decision = decide(inp, rules, now, take_turn)
    due = None
    if decision.owner is not None:
        due = owner_due_at(rules, decision.owner, decision.sla or rules.sla, now)
    backend = next((t.backend for t in reversed(taken) if t.turn.member == decision.owner and decision.turn
                    and t.turn.turn == decision.turn), None)
    return Routed(decision, due, backend)


def _considered(decision: RoutingDecision) -> list[dict[str, str]]:
    return [{"member": s.member, "reason": s.reason} for s in decision.considered]


def route_values(routed: Routed, now: datetime) -> dict[str, Any]:
    d = routed.decision
    return {"owner": d.owner, "queue": d.queue, "rule": d.rule, "reason": d.reason, "routed_at": now,
            "sla_state": "pending" if routed.sla_due_at is not None else "none", "sla_due_at": routed.sla_due_at,
            "acted_at": None, "first_action_minutes": None}


def routing_record(routed: Routed, now: datetime, kind: str, by: str | None = None) -> dict[str, Any]:
    """The stored routing decision (a row of the lead's history)."""
    d = routed.decision
    return {"at": now, "kind": kind, "owner": d.owner, "queue": d.queue, "rule": d.rule, "reason": d.reason,
            "pool": d.pool, "turn": d.turn, "turn_backend": routed.turn_backend, "considered": _considered(d),
            "sla_due_at": routed.sla_due_at, "by": by}


def announce(session: Session, lead_id: str, routing_id: int, routed: Routed, now: datetime, kind: str,
             by: str | None = None, extra: Mapping[str, Any] | None = None) -> None:
    """The stored routing decision ``routing_id`` goes into the webhook outbox (its idempotency key)."""
    d = routed.decision
    event = ROUTED_EVENT if kind != "resolved" else "lead.resolved"
    payload = {"event": event, "kind": kind, "lead_id": lead_id, "at": now.isoformat(), "owner": d.owner,
               "queue": d.queue, "rule": d.rule, "reason": d.reason, "pool": d.pool,
               "sla_due_at": routed.sla_due_at.isoformat() if routed.sla_due_at else None, "by": by, **(extra or {})}
    webhooks.emit(session, event, payload, key=f"{event}:{lead_id}:{routing_id}")


def record(session: Session, lead_id: str, routed: Routed, now: datetime, kind: str, by: str | None = None,
           extra: Mapping[str, Any] | None = None) -> None:
    """Store a routing decision of a stored lead in its history and announce it."""
    routing_id = store.add_routing(session, lead_id, routing_record(routed, now, kind, by))
    announce(session, lead_id, routing_id, routed, now, kind, by, extra)


# ------------------------------------------------------------------------------------------ views


def route_view(row: LeadRow, last: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"owner": row.owner, "queue": row.queue, "rule": row.rule, "reason": row.reason,
            "pool": last.get("pool") if last else None, "turn": last.get("turn") if last else None,
            "considered": list(last.get("considered", [])) if last else [], "sla_due_at": row.sla_due_at}


def _last_routing(session: Session, lead_id: str) -> dict[str, Any] | None:
    e = store.last_routing(session, lead_id)
    return None if e is None else {"pool": e.pool, "turn": e.turn, "considered": e.considered}


def routed_answer(lead_id: str, match: dict[str, Any], contact_id: str | None, routed: Routed,
                  outcome: str) -> dict[str, Any]:
    """``lead_answer`` for a decision just made (nothing read back)."""
    d = routed.decision
    return {"lead_id": lead_id, "match": match, "contact_id": contact_id,
            "route": {"owner": d.owner, "queue": d.queue, "rule": d.rule, "reason": d.reason, "pool": d.pool,
                      "turn": d.turn, "considered": _considered(d), "sla_due_at": routed.sla_due_at},
            "sla_due_at": routed.sla_due_at, "outcome": outcome}


def lead_answer(session: Session, row: LeadRow, outcome: str) -> dict[str, Any]:
    return {"lead_id": row.id, "match": row.match, "contact_id": row.contact_id,
            "route": route_view(row, _last_routing(session, row.id)), "sla_due_at": row.sla_due_at,
            "outcome": outcome}


def lead_detail(session: Session, row: LeadRow) -> dict[str, Any]:
    events = store.history(session, row.id)
    last = {"pool": events[-1].pool, "turn": events[-1].turn, "considered": events[-1].considered} if events else None
    return {
        "lead_id": row.id, "lead": row.body, "source": row.source, "campaign_id": row.campaign_id,
        "occurred_at": row.occurred_at, "received_at": row.received_at, "updated_at": row.updated_at,
        "decision": row.decision, "account_id": row.account_id, "match": row.match, "contact_id": row.contact_id,
        "route": route_view(row, last),
        "sla": {"state": row.sla_state, "due_at": row.sla_due_at, "acted_at": row.acted_at,
                "first_action_minutes": row.first_action_minutes, "reassignments": row.reassignments,
                "escalated_at": row.escalated_at},
        "review_state": row.review_state, "resolution": row.resolution,
        "history": [{"at": e.at, "kind": e.kind, "owner": e.owner, "queue": e.queue, "rule": e.rule,
                     "reason": e.reason, "pool": e.pool, "turn": e.turn, "considered": e.considered,
                     "sla_due_at": e.sla_due_at, "by": e.by} for e in events],
    }


def summary(row: LeadRow) -> dict[str, Any]:
    return {"lead_id": row.id, "received_at": row.received_at, "decision": row.decision,
            "account_id": row.account_id, "owner": row.owner, "queue": row.queue, "rule": row.rule,
            "sla_state": row.sla_state, "sla_due_at": row.sla_due_at, "review_state": row.review_state}


# ------------------------------------------------------------------------------------------ intake


def convert_and_record(session: Session, services: Services, lead_id: str, body: Mapping[str, Any],
                       account_id: str | None, occurred_at: datetime, activity_type: str, *,
                       record_event: bool = True) -> str | None:
    """Step 3 of the module docstring (``convert`` then ``record_form_fill``). Returns the contact
    id (None: not converted)."""
    contact_id, touched = convert(session, services, lead_id, body, account_id)
    record_form_fill(session, services, lead_id, body, contact_id, occurred_at, activity_type, touched,
                     record_event=record_event)
    return contact_id


def convert(session: Session, services: Services, lead_id: str, body: Mapping[str, Any],
            account_id: str | None) -> tuple[str | None, set[str]]:
    """A lead matched to ``account_id`` becomes (or updates) a contact on it. Returns the contact
    id (None: not converted) and the accounts whose qualification it touched."""
    if account_id is None:
        return None, set()
    contact_id, touched = account_service.convert_lead(
        session, account_id, email=body.get("email"), first_name=body.get("first_name"),
        last_name=body.get("last_name"), title=body.get("title"), new_contact_id=new_contact_id(lead_id))
    if _new_evidence(services, account_id, body.get("email")):
        # the contact's email domain is new evidence for its account: the index learns it
        db.after_commit(session, lambda: services.accounts_changed([account_id]))
    return contact_id, touched | qualification_service.contacts_stored(session, [contact_id]) | {account_id}


def record_form_fill(session: Session, services: Services, lead_id: str, body: Mapping[str, Any],
                     contact_id: str | None, occurred_at: datetime, activity_type: str, touched: set[str], *,
                     record_event: bool = True) -> None:
    """The lead's form fill goes into the ledger (by email when there is no contact yet: it
    attaches when the person becomes one) and the touched accounts are re-qualified.

    The event is recorded once per lead id (``record_event``): ledger events are immutable, and a
    corrected delivery of the same lead is not a second form fill. An event recorded by email
    before the lead became a contact attaches to the contact (``contacts_stored`` in ``convert``)."""
    email = body.get("email")
    if record_event and (contact_id is not None or email):
        event = Activity(id=activity_id(lead_id), type=activity_type, occurred_at=occurred_at,
                         contact_id=contact_id, email=None if contact_id else email, channel=body.get("source"),
                         campaign_id=body.get("campaign_id"), direction="inbound")
        touched = touched | qualification_service.record_activities(
            session, [event], future_tolerance=services.settings.future_tolerance)
    if touched:
        services.requalify_soon(session, touched)


def _new_evidence(services: Services, account_id: str, email: str | None) -> bool:
    domain = normalize.email_domain(email) if email else None
    if domain is None or normalize.is_free_mail(domain) or normalize.is_disposable(domain):
        return False
    account = services.index.get(account_id)
    if account is None:
        return True
    return domain not in account.contact_domains and domain not in {normalize.registrable_domain(d)
                                                                     for d in account.domains}


class LeadTaken(Exception):
    """A concurrent delivery of the same new lead stored it first: the caller rolls back what
    ``intake`` wrote (its contact, ledger event and round-robin turn with it) and calls it again,
    which then finds that lead stored (``api/routing/routes.py``)."""


def intake(session: Session, services: Services, lead: LeadIntakeIn, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or utc_now()
    body = lead.model_dump(mode="json", exclude_none=True, exclude={"id"})
    digest = content_hash(body)
    hold_write_lock(session)  # SQLite: nobody else writes leads until we commit
    # a known lead is locked for its update; a new one is written once, at the end, with its first
    # routing record (one statement on PostgreSQL): a second delivery of it racing this one finds
    # the id taken there and starts over. Its round-robin turn was then taken in vain only on Redis
    # (the database's turns roll back with it), and only in that race
    stored = store.get_lead(session, lead.id, for_update=True)
    if stored is not None and stored.content_hash == digest:
        return lead_answer(session, stored, "unchanged")
    rules = active_rules(session, services)
    as_lead = lead.to_lead()
    occurred_at = lead.occurred_at or now
    if stored is not None and stored.review_state == "resolved":
        # a person decided this lead's account: new content does not undo their decision
        decision, account_id, match = stored.decision, stored.account_id, stored.match
    else:
        result = services.index.match(as_lead)
        decision, account_id, match = result.decision, result.account_id, result.to_dict()
    # the form fill was recorded when the lead first came, unless it then named nobody (no email, no contact)
    first_event = stored is None or (stored.contact_id is None and not stored.body.get("email"))
    contact_id, touched = convert(session, services, lead.id, body, account_id if decision == "matched" else None)
    lead_values = {"content_hash": digest, "body": body, "source": lead.source, "campaign_id": lead.campaign_id,
                   "occurred_at": occurred_at, "updated_at": now, "decision": decision, "account_id": account_id,
                   "match": match, "contact_id": contact_id}

    def form_fill() -> None:
        # after the lead's own row is written: a concurrent delivery of the same new lead then
        # stops at that row (and starts over) before reaching the ledger's immutable event
        record_form_fill(session, services, lead.id, body, contact_id, occurred_at, lead.activity_type, touched,
                         record_event=first_event)

    if stored is not None and stored.account_id == account_id and stored.decision == decision:
        store.update_lead(session, lead.id, lead_values)
        form_fill()
        return lead_answer(session, store.get_lead(session, lead.id), "updated")
    routed = route(session, services, rules,
                   routing_input(session, services, rules, as_lead, decision, account_id, lead.source,
                                 lead.campaign_id), now)
    review_state = "open" if decision == "review" else (None if stored is None else stored.review_state)
    routed_values = {**lead_values, **route_values(routed, now), "review_state": review_state}
    if stored is None:
        kind, outcome = "routed", "created"
        routing_id = store.insert_routed_lead(
            session, {"id": lead.id, "received_at": now, "reassignments": 0, **routed_values},
            routing_record(routed, now, kind))
        if routing_id is None:
            raise LeadTaken(lead.id)
    else:
        kind, outcome = "rerouted", "rerouted"
        store.update_lead(session, lead.id, routed_values)
        routing_id = store.add_routing(session, lead.id, routing_record(routed, now, kind))
    form_fill()
    announce(session, lead.id, routing_id, routed, now, kind)
    return routed_answer(lead.id, match, contact_id, routed, outcome)


# ------------------------------------------------------------------------------------------ SLA


def _first_action(rules: RoutingRules, row: LeadRow, at: datetime) -> dict[str, Any]:
    """What stopping the SLA clock at ``at`` stores: met or missed, and the business minutes taken."""
    return {"acted_at": at, "sla_state": "met" if row.sla_due_at is None or at <= row.sla_due_at else "missed",
            "first_action_minutes": round(owner_business_minutes(rules, row.owner, row.routed_at, at), 2)}


def acted(session: Session, services: Services, row: LeadRow, at: datetime, by: str | None) -> LeadRow:
    """The owner acted on the lead: the SLA clock stops (met if before the deadline)."""
    if row.sla_state != "pending":
        return row
    store.update_lead(session, row.id, _first_action(active_rules(session, services), row, max(at, row.routed_at)))
    return store.get_lead(session, row.id)


def handle_overdue(session: Session, services: Services, row: LeadRow, now: datetime) -> str:
    """A lead whose SLA deadline passed: met after all (the owner reached the person in time, as
    the ledger shows), or missed -> reassigned to the next member of its pool, or escalated to the
    owner's manager, as configured. Returns what happened."""
    rules = active_rules(session, services)
    touch = qualification_service.first_outbound_touch(session, contact_id=row.contact_id,
                                                       email=row.body.get("email"), since=row.routed_at)
    if touch is not None:
        first = _first_action(rules, row, touch)
        store.update_lead(session, row.id, first)
        return first["sla_state"]
    last = store.last_routing(session, row.id)
    pool = rules.pool(last.pool) if last.pool else None
    sla = (pool.sla if pool is not None and pool.sla is not None else rules.sla)
    if sla.action == "none":
        store.update_lead(session, row.id, {"sla_state": "missed"})
        return "missed"
    if sla.action == "reassign" and pool is not None and row.reassignments < sla.max_reassignments:
        inp = routing_input(session, services, rules, lead_of(row.body), row.decision, row.account_id,
                            row.source, row.campaign_id)
        routed = route(session, services, pool_only(rules, pool.id), inp, now,
                       unavailable_too={row.owner: "missed the SLA on this lead"} if row.owner else None)
        store.update_lead(session, row.id, {**route_values(routed, now), "reassignments": row.reassignments + 1})
        record(session, row.id, routed, now, "reassigned", extra={"previous_owner": row.owner})
        return "reassigned"
    member = rules.member(row.owner) if row.owner else None
    manager = member.manager if member is not None else None
    reason = (f"{row.owner or 'nobody'} did not act within {sla.minutes} business minutes: "
              f"escalated to {manager or 'the catch-all queue ' + rules.catch_all_queue}")
    store.update_lead(session, row.id, {"sla_state": "missed", "escalated_at": now})
    escalation = RoutingDecision(owner=row.owner, queue=row.queue, rule="sla_escalation", reason=reason,
                                 considered=(Skip(row.owner, "missed the SLA"),) if row.owner else ())
    record(session, row.id, Routed(escalation, None), now, "escalated", extra={"manager": manager})
    return "escalated"


def pool_only(rules: RoutingRules, pool_id: str) -> RoutingRules:
    """The ladder cut down to one pool's round robin (and its overflow): how a missed SLA picks the
    next member."""
    return rules.model_copy(update={"ladder": ["round_robin", "catch_all"], "default_pool": pool_id,
                                    "territories": []})
