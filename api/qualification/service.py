"""Qualification at the edge: keep stored statuses equal to what the core derives from the ledger.

After any write that changes an account's ledger (an activity, a contact, an opportunity, a
contract, a flag, a manual move, the account's own fit data) the writer calls
``Services.requalify(session, account_ids)``: those accounts, and only those, are re-evaluated
in full from their ledgers by ``matcher.qualification.evaluate`` (so an incremental update is a full recompute
of one account, by construction), the verdicts are stored with the transition log inside the
writer's transaction, and the cached status views are dropped after the commit.

This module decides nothing about statuses: it loads, calls the core, stores, and shapes the
answers of ``GET /v1/accounts/{id}/status`` and ``/contacts``.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Collection

import orjson
from sqlalchemy.orm import Session

from api.qualification import ledger_reader, store as ledger_store
from config.qualification import QualificationRules
from matcher.qualification import ledger as L
from matcher.qualification.contacts import IllegalContactMove, validate_manual_move
from matcher.qualification.evaluate import evaluate_account
from matcher.qualification.rules import compile_rules

# Statuses a seller should look at: a person qualified and not yet back in nurture.
ENGAGED_CONTACT_STATUSES = ("qualified", "sales_working", "opportunity_open")
MAX_ENGAGED_LISTED = 20
STATUS_LABELS = {
    "pre_qualified": "Pre-Qualified", "nurture": "Nurture", "qualified": "Qualified",
    "sales_working": "Sales Working", "opportunity_open": "Opportunity Open", "customer": "Customer",
    "customer_engaged": "Customer Engaged", "customer_opportunity": "Customer Opportunity",
    "churned": "Churned", "disqualified": "Disqualified", "partner": "Partner",
    "no_longer_with_company": "No longer with company",
}


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Qualifier:
    """One rule set, compiled once per process, and what the edges do with it."""

    def __init__(self, rules: QualificationRules) -> None:
        self.rules = rules
        self.version = rules.version
        self._compiled = compile_rules(rules)

    def evaluate(self, ledger: L.AccountLedger, as_of: datetime | None = None) -> L.AccountEvaluation:
        return evaluate_account(ledger, self._compiled, as_of or _now())

    def refresh(self, session: Session, account_ids: Collection[str], *, now: datetime | None = None) -> list[str]:
        """Re-evaluate these accounts from their ledgers and store the verdicts in the caller's
        transaction. Returns the ids whose cached views are stale (all of them: an account that
        no longer exists must not be answered from cache either)."""
        ids = sorted(set(account_ids))
        if not ids:
            return []
        now = now or _now()
        ledger_store.lock_accounts(session, ids)
        ledgers = ledger_reader.load_ledgers(session, ids)
        evaluations = [self.evaluate(ledgers[i], now) for i in ids if i in ledgers]
        ledger_store.save_evaluations(session, evaluations, rule_version=self.version, now=now)
        return ids

    def check_move(self, current: str, target: str) -> list[str] | None:
        """None if a seller may move a contact from ``current`` to ``target``, else the statuses
        they may move it to."""
        try:
            validate_manual_move(current, target, self._compiled)
        except IllegalContactMove as exc:
            return sorted(exc.allowed)
        return None


# ---------------------------------------------------------------- views


def _contact_view(contact: L.Contact, state: dict[str, Any] | None) -> dict[str, Any]:
    state = state or {}
    return {"id": contact.id, "email": contact.email, "first_name": contact.first_name,
            "last_name": contact.last_name, "title": contact.title, "status": state.get("status"),
            "since": state.get("since"), "persona": state.get("persona"), "seniority": state.get("seniority"),
            "reasons": state.get("reasons", [])}


def _evaluated_view(qualifier: Qualifier, ledger: L.AccountLedger) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The view of an account whose statuses were never stored (e.g. imported by the CLI and
    not recomputed yet): evaluated now, not stored (a read does not write)."""
    ev = qualifier.evaluate(ledger)
    account = {"status": ev.status, "since": ev.since, "reasons": [ledger_store.reason_json(r) for r in ev.reasons],
               "engagement_points": float(ev.engagement_points), "personas_engaged": list(ev.personas_engaged),
               "rule_version": qualifier.version, "review_at": ev.review_at}
    states = {c.contact_id: {"status": c.status, "since": c.since, "persona": c.persona, "seniority": c.seniority,
                             "reasons": [ledger_store.reason_json(r) for r in c.reasons]} for c in ev.contacts}
    return account, [_contact_view(c, states.get(c.id)) for c in ledger.contacts]


def account_view(session: Session, qualifier: Qualifier,
                 account_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """(account status, contacts with their statuses) as stored; evaluated on the fly when the
    account or one of its contacts has no stored status yet. None if no such account."""
    stored = ledger_store.read_account_status(session, account_id)
    if stored is not None:
        contacts = ledger_store.read_contact_states(session, account_id)
        if all(c["status"] is not None for c in contacts):
            return stored, contacts
    ledger = ledger_reader.load_ledger(session, account_id)
    if ledger is None:
        return None
    return _evaluated_view(qualifier, ledger)


def _name(c: dict[str, Any]) -> str:
    return " ".join(p for p in (c["first_name"], c["last_name"]) if p) or c["email"] or c["id"]


def _summary(status: str, since: datetime | None, reasons: list[dict[str, Any]]) -> str:
    text = STATUS_LABELS.get(status, status)
    if since is not None:
        text += f" since {since.date().isoformat()}"
    if reasons:
        text += ": " + "; ".join(r["text"] for r in reasons)
    return text


def status_document(account_id: str, account: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of ``GET /v1/accounts/{id}/status``."""
    by_status: dict[str, int] = {}
    for c in contacts:
        by_status[c["status"]] = by_status.get(c["status"], 0) + 1
    engaged = [c for c in contacts if c["status"] in ENGAGED_CONTACT_STATUSES]
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    engaged.sort(key=lambda c: (c["since"] or epoch, c["id"]), reverse=True)
    return {
        "account_id": account_id, "status": account["status"], "since": account["since"],
        "summary": _summary(account["status"], account["since"], account["reasons"]),
        "reasons": account["reasons"], "engagement_points": account["engagement_points"],
        "personas_engaged": account["personas_engaged"], "rule_version": account["rule_version"],
        "review_at": account["review_at"],
        "contacts": {
            "total": len(contacts), "by_status": dict(sorted(by_status.items())),
            "engaged": [{"id": c["id"], "name": _name(c), "title": c["title"], "status": c["status"],
                         "since": c["since"], "persona": c["persona"], "seniority": c["seniority"]}
                        for c in engaged[:MAX_ENGAGED_LISTED]],
        },
    }


def encode(document: Any) -> bytes:
    return orjson.dumps(document)


# ---------------------------------------------------------------- what other domains tell qualification


def contacts_stored(session: Session, contact_ids: Collection[str]) -> set[str]:
    """Contacts were created or changed: events waiting for their emails attach to them. Returns
    the accounts whose ledgers changed (the caller re-qualifies them)."""
    return ledger_store.follow_contacts(session, contact_ids)


def account_deleted(session: Session, account_id: str) -> None:
    """An account is being deleted: drop its ledger and statuses, keep its history, keep its
    contacts' events as unmatched (by email)."""
    ledger_store.forget_account(session, account_id)


def record_activities(session: Session, activities: Collection[L.Activity], *, future_tolerance) -> set[str]:  # noqa: ANN001
    """Store events in the ledger (idempotent by event id; ``InvalidItems`` names the field).
    Returns the accounts whose ledgers grew (the caller re-qualifies them)."""
    _, touched = ledger_store.ingest_activities(session, list(activities), future_tolerance=future_tolerance)
    return touched


def claim_due(session: Session, now: datetime, limit: int) -> list[str]:
    """Up to ``limit`` accounts whose status can change by time alone (``review_at`` has come),
    locked for the caller's transaction, which re-qualifies them (``Services.requalify``)."""
    return ledger_store.claim_due(session, now, limit)


def open_opportunity_owner(session: Session, account_id: str) -> str | None:
    """The owner of the account's open opportunity (the most recently opened one), or None."""
    return ledger_store.open_opportunity_owner(session, account_id)


def first_outbound_touch(session: Session, *, contact_id: str | None, email: str | None,
                         since: datetime) -> datetime | None:
    """When we first reached this person (an outbound event in the ledger) at or after ``since``."""
    return ledger_store.first_outbound_touch(session, contact_id=contact_id, email=email, since=since)


# ---------------------------------------------------------------- what closing asks of qualification


def opportunities(session: Session, ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """The stored opportunities among ``ids`` (id, account_id, primary_contact_id, owner, type,
    stage, amount, state, opened_at, closed_at), by id."""
    return ledger_store.read_opportunities(session, ids)


def lock_accounts(session: Session, account_ids: Collection[str]) -> None:
    """Hold these accounts' row locks until the transaction ends (what ``refresh`` takes too), so
    that writers of the same account's after-the-close state take turns."""
    ledger_store.lock_accounts(session, account_ids)


def close_opportunity(session: Session, opportunity_id: str, *, outcome: str, closed_at: datetime,
                      now: datetime, future_tolerance: timedelta) -> set[str]:
    """Close a stored opportunity ``outcome`` ('won' or 'lost') at ``closed_at``, as a CRM sync
    of it would (``upsert_opportunities``: the stored row with its state and closed_at replaced).
    Returns the accounts to re-qualify. Raises ``InvalidItems`` (item 0) for a bad ``closed_at``."""
    stored = ledger_store.read_opportunities(session, [opportunity_id])[opportunity_id]
    data = ledger_store.OpportunityData(
        id=opportunity_id, account_id=stored["account_id"], state=outcome, type=stored["type"],
        stage=stored["stage"], primary_contact_id=stored["primary_contact_id"], owner=stored["owner"],
        amount=stored["amount"], opened_at=stored["opened_at"], closed_at=closed_at)
    _, touched = ledger_store.upsert_opportunities(session, [data], now=now, future_tolerance=future_tolerance)
    return touched
