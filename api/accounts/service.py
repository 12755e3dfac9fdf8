"""What other domains may ask of the accounts domain."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy.orm import Session

from api import db
from api.accounts import store
from api.errors import FieldError, NotFound
from matcher.routing.review import Lesson
from matcher.routing.types import AccountFacts

if TYPE_CHECKING:
    from api.deps import Services


def account_exists(session: Session, account_id: str) -> bool:
    return bool(store.existing_account_ids(session, [account_id]))


def _no_account(account_id: str) -> NotFound:
    return NotFound(f"account {account_id!r} not found", [FieldError("account_id", "no such account")])


def learn(session: Session, account_id: str, lessons: Iterable[Lesson], source: str, learned_by: str | None,
          *, services: Services) -> list[dict[str, Any]]:
    """Store what a review taught about an account: the lessons to learn
    (``api.matching.service.lessons``; refused ones are skipped), as learned names with their
    ``source`` ("review of lead L123") and who taught them. Returns the records stored now (a
    name the account had learned before is not stored twice). Once the caller's transaction
    commits, the index matches with them. Raises ``NotFound`` (``account_id``) for an unknown
    account; nothing is stored then."""
    if not account_exists(session, account_id):
        raise _no_account(account_id)
    stored = store.add_learned(session, account_id, [(lesson.kind, lesson.value) for lesson in lessons if lesson.learn],
                               source, learned_by)
    if stored:
        db.after_commit(session, lambda: services.accounts_changed([account_id]))
    return stored


def learned(session: Session, account_id: str) -> list[dict[str, Any]]:
    """The learned names of an account, oldest first; ``NotFound`` (``account_id``) for an unknown account."""
    if not account_exists(session, account_id):
        raise _no_account(account_id)
    return store.list_learned(session, account_id)


def forget(session: Session, account_id: str, learned_id: int, *, services: Services) -> dict[str, Any]:
    """Remove one learned name of an account (the index stops matching on it once the caller's
    transaction commits); returns what was removed. ``NotFound`` naming ``account_id`` or
    ``learned_id`` when either is unknown."""
    if not account_exists(session, account_id):
        raise _no_account(account_id)
    removed = store.remove_learned(session, account_id, learned_id)
    if removed is None:
        raise NotFound(f"account {account_id!r} has no learned name {learned_id}",
                       [FieldError("learned_id", "no such learned name of this account")])
    db.after_commit(session, lambda: services.accounts_changed([account_id]))
    return removed
def routing_facts(session: Session, account_id: str) -> tuple[AccountFacts | None, tuple[AccountFacts, ...],
                                                              tuple[AccountFacts, ...]]:
    """What routing needs of an account: the account, its ancestors (parent first, up to the
    ultimate parent) and its direct children. (None, (), ()) when it does not exist."""
    return store.routing_facts(session, account_id)


def convert_lead(session: Session, account_id: str, *, email: str | None, first_name: str | None,
                 last_name: str | None, title: str | None, new_contact_id: str) -> tuple[str, set[str]]:
    """The contact a matched lead becomes: the account's contact with the lead's email, updated with
    the names and title the lead gave (a second form fill updates, never duplicates), or a new contact
    ``new_contact_id``. Returns the contact id and the accounts whose evidence changed."""
    existing = store.contact_at_account(session, account_id, email) if email else None
    if existing is not None:
        data = store.ContactData(id=existing.id, account_id=account_id, email=existing.email,
                                 first_name=first_name or existing.first_name,
                                 last_name=last_name or existing.last_name, title=title or existing.title)
    else:
        data = store.ContactData(id=new_contact_id, account_id=account_id, email=email, first_name=first_name,
                                 last_name=last_name, title=title)
    _, touched = store.upsert_contacts(session, [data], validate=False)
    return data.id, touched


def create_account(session: Session, data: store.AccountData) -> None:
    """Store one new account (a review resolution that creates the lead's account). Raises
    ``InvalidItems`` naming the field, like ``PUT /v1/accounts``."""
    store.upsert_accounts(session, [data])
