"""The review queue: a person picks a lead's account (or creates it, or calls it junk), the lead is
converted and routed like a matched lead, and what the decision confirms is learned.

Errors name their field: an unknown lead (``lead_id``, 404), a lead not in review (``lead_id``,
409), an unknown account (``account_id``, 422), a new account whose id exists (``account_id``,
409). Nothing is written before every check has passed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from api import db
from api.accounts import service as account_service
from api.accounts.store import AccountData
from api.matching import service as matching_service
from api.db.bulk import hold_write_lock, utc_now
from api.db.rows import LeadRow
from api.errors import Conflict, FieldError, ValidationFailed
from api.routing import service, store
from api.routing.schemas import ResolveIn
from matcher import normalize
from matcher.routing.types import RoutingDecision

if TYPE_CHECKING:
    from api.deps import Services


def item(row: LeadRow) -> dict[str, Any]:
    match = row.match or {}
    return {"lead_id": row.id, "received_at": row.received_at, "lead": row.body,
            "confidence": match.get("confidence", 0.0), "candidates": match.get("candidates", []),
            "reasons": match.get("reasons", [])}


def _new_account(session: Session, row: LeadRow, decision: ResolveIn) -> AccountData:
    name = decision.account_name or row.body.get("company")
    if not name:
        raise ValidationFailed("the lead has no company: give `account_name` for the new account",
                               [FieldError("account_name", "required: the lead names no company")])
    if account_service.account_exists(session, decision.account_id):
        raise Conflict(f"account {decision.account_id!r} exists already: resolve with action 'account' to use it",
                       [FieldError("account_id", "exists already")])
    domain = normalize.email_domain(row.body.get("email"))
    corporate = domain is not None and not normalize.is_free_mail(domain) and not normalize.is_disposable(domain)
    country = normalize.country(row.body.get("country"))
    return AccountData(id=decision.account_id, name=name, domains=(domain,) if corporate else (),
                       country=country, region=row.body.get("region"), city=row.body.get("city"),
                       owner=decision.owner, phone=row.body.get("phone"))


def resolve(session: Session, services: Services, row: LeadRow, decision: ResolveIn) -> dict[str, Any]:
    if row.review_state != "open":
        state = "was resolved already" if row.review_state == "resolved" else f"was {row.decision}, never in review"
        raise Conflict(f"lead {row.id!r} is not in the review queue: it {state}",
                       [FieldError("lead_id", "not in review")])
    now = utc_now()
    hold_write_lock(session)
    rules = service.active_rules(session, services)
    resolution: dict[str, Any] = {"action": decision.action, "by": decision.by, "at": now.isoformat()}
    learned: list[dict[str, Any]] = []
    not_learned: list[str] = []
    if decision.action == "junk":
        routed = service.Routed(RoutingDecision(owner=None, queue=None, rule="review:junk",
                                                reason=f"marked junk in review by {decision.by}"), None)
        store.update_lead(session, row.id, {**service.route_values(routed, now), "review_state": "resolved",
                                            "resolution": resolution, "updated_at": now})
        service.record(session, row.id, routed, now, "resolved", by=decision.by, extra={"resolution": resolution})
        return {"lead": service.lead_answer(session, store.get_lead(session, row.id), "rerouted"),
                "learned": learned, "not_learned": not_learned}
    account_id = decision.account_id
    assert account_id is not None  # ResolveIn insists
    if decision.action == "new_account":
        account_service.create_account(session, _new_account(session, row, decision))
    elif not account_service.account_exists(session, account_id):
        raise ValidationFailed(f"account {account_id!r} does not exist", [FieldError("account_id", "no such account")])
    db.after_commit(session, lambda: services.accounts_changed([account_id]))
    resolution["account_id"] = account_id
    if decision.learn and decision.action == "account":
        learned, not_learned = learn(session, services, row, account_id, decision.by)
    contact_id = service.convert_and_record(session, services, row.id, row.body, account_id, row.occurred_at,
                                            row.body.get("activity_type", "form_fill"),
                                            record_event=not row.body.get("email"))
    lead = service.lead_of(row.body)
    routed = service.route(session, services, rules,
                           service.routing_input(session, services, rules, lead, "matched", account_id,
                                                 row.source, row.campaign_id, from_database=True), now)
    match = {**row.match, "decision": "matched", "account_id": account_id,
             "reasons": [*row.match.get("reasons", []), f"account {account_id} picked in review by {decision.by}"]}
    store.update_lead(session, row.id, {**service.route_values(routed, now), "decision": "matched",
                                        "account_id": account_id, "match": match, "contact_id": contact_id,
                                        "review_state": "resolved", "resolution": resolution, "updated_at": now})
    service.record(session, row.id, routed, now, "resolved", by=decision.by, extra={"resolution": resolution})
    return {"lead": service.lead_answer(session, store.get_lead(session, row.id), "rerouted"),
            "learned": learned, "not_learned": not_learned}


def learn(session: Session, services: Services, row: LeadRow, account_id: str,
          by: str) -> tuple[list[dict[str, Any]], list[str]]:
    """What the person confirmed becomes the account's learned alias or domain (see
    ``matcher/routing/review.py`` for what is learned and what is refused, and why)."""
    lessons = matching_service.lessons(services, service.lead_of(row.body), account_id)
    stored = account_service.learn(session, account_id, lessons, f"review of lead {row.id}", by, services=services)
    return stored, [lesson.reason for lesson in lessons if not lesson.learn]
