"""Account storage: bulk idempotent upserts of accounts and contacts, deletes, one account's record.
The index reads accounts through ``api/matching/store.py``.

Functions take a ``Session`` (or a ``Connection`` where noted) and never commit: the caller owns
the transaction (``api.deps.get_session`` in a request, ``api.db.session_scope`` in the CLI), so
a bulk write either lands whole or not at all.

Writes go through ``api.db.bulk.upsert``: set-based (a handful of round trips per chunk of rows,
not one per row) and safe when two writers send the same new id at once. An upsert compares the
incoming record with the stored one and touches only what differs, so sending the same payload
twice changes nothing (not even ``updated_at``).

PUT semantics: an account or contact in a batch replaces the stored record; optional fields
left out are cleared. Deleting an account deletes its domains and contacts and detaches its
children (their ``parent_id`` becomes NULL: they become top-level accounts).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Sequence

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

# InvalidItems, UpsertReport: also what the routes and the CLI name as store.InvalidItems, store.UpsertReport
from api.db.bulk import (InvalidItems, Problem, UpsertReport, chunks, hold_write_lock, insert_or_skip, raise_if_any,
                         update_rows, upsert, utc_now)
from api.db.rows import AccountDomainRow, AccountRow, ContactRow, LearnedNameRow, OwnerRow
from matcher import normalize
from matcher.matching.types import Account as MatchAccount
from matcher.routing.types import AccountFacts

MAX_PARENT_DEPTH = 50


@dataclass(frozen=True, slots=True)
class AccountData:
    """An account as stored: the matcher's fields plus firmographics the matcher ignores."""

    id: str
    name: str
    domains: tuple[str, ...] = ()
    country: str | None = None
    region: str | None = None
    city: str | None = None
    parent_id: str | None = None
    owner: str | None = None
    phone: str | None = None
    aliases: tuple[str, ...] = ()
    is_customer: bool = False
    fit_tier: str | None = None
    industry: str | None = None
    employees: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_account(cls, a: MatchAccount) -> "AccountData":
        return cls(id=a.id, name=a.name, domains=a.domains, country=a.country, region=a.region,
                   city=a.city, parent_id=a.parent_id, owner=a.owner, phone=a.phone,
                   aliases=a.aliases, is_customer=a.is_customer)


@dataclass(frozen=True, slots=True)
class ContactData:
    id: str
    account_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None


# Imports normalise the same domains twice (check, then store); the cache makes the second free.
_host = functools.lru_cache(maxsize=200_000)(normalize.host)


def normalise_domains(domains: Iterable[str]) -> tuple[tuple[str, ...], list[str]]:
    """(sorted distinct hosts, the inputs that are not domains)."""
    good: set[str] = set()
    bad: list[str] = []
    for d in domains:
        h = _host(d)
        if h is None:
            bad.append(d)
        else:
            good.add(h)
    return tuple(sorted(good)), bad


# ---------------------------------------------------------------- validation


def _existing_parents(session: Session, ids: Collection[str]) -> dict[str, str | None]:
    """id -> parent_id for those of ``ids`` that exist in the database."""
    out: dict[str, str | None] = {}
    for chunk in chunks(list(ids)):
        rows = session.execute(select(AccountRow.id, AccountRow.parent_id).where(AccountRow.id.in_(chunk)))
        out.update((r[0], r[1]) for r in rows)
    return out


def validate_accounts(session: Session, accounts: Sequence[AccountData],
                      also_known: Collection[str] = ()) -> list[Problem]:
    """Duplicates, unknown parents and hierarchy cycles, against the batch and the database.

    ``also_known`` are ids that will exist by the end of the sync (the rest of a CSV file being
    imported in several transactions).
    """
    problems: list[Problem] = []
    batch_parent: dict[str, str | None] = {}
    seen: dict[str, int] = {}
    for i, a in enumerate(accounts):
        if a.id in seen:
            problems.append(Problem(i, "id", f"duplicate of items[{seen[a.id]}] in the same request"))
            continue
        seen[a.id] = i
        batch_parent[a.id] = a.parent_id
        if a.parent_id == a.id:
            problems.append(Problem(i, "parent_id", "an account cannot be its own parent"))
    # Resolve the ancestry outside the batch from the database, level by level.
    known: dict[str, str | None] = dict(batch_parent)
    frontier = {p for p in batch_parent.values() if p and p not in known}
    depth = 0
    while frontier and depth < MAX_PARENT_DEPTH:
        found = _existing_parents(session, frontier)
        known.update(found)
        frontier = {p for p in found.values() if p and p not in known}
        depth += 1
    extra = set(also_known)
    for i, a in enumerate(accounts):
        if not a.parent_id or a.parent_id == a.id or seen.get(a.id) != i:
            continue
        if a.parent_id not in known and a.parent_id not in extra:
            problems.append(Problem(i, "parent_id",
                                    f"parent account {a.parent_id!r} does not exist and is not in this request"))
            continue
        # walk up; coming back to ourselves is a cycle
        node, steps = a.parent_id, 0
        while node is not None and steps <= MAX_PARENT_DEPTH:
            if node == a.id:
                problems.append(Problem(i, "parent_id", f"parent {a.parent_id!r} would create a cycle"))
                break
            node = known.get(node)
            steps += 1
        else:
            if node is not None:
                problems.append(Problem(i, "parent_id", f"hierarchy deeper than {MAX_PARENT_DEPTH} levels"))
    problems.sort(key=lambda p: p.index)
    return problems


# ---------------------------------------------------------------- owners


def ensure_owners(session: Session, names: Iterable[str]) -> dict[str, int]:
    """name -> owner id, creating owners that do not exist yet."""
    wanted = sorted({n for n in names if n})
    out: dict[str, int] = {}
    for chunk in chunks(wanted):
        out.update((r[0], r[1]) for r in session.execute(select(OwnerRow.name, OwnerRow.id).where(OwnerRow.name.in_(chunk))))
    missing = [n for n in wanted if n not in out]
    if missing:
        # ON CONFLICT DO NOTHING: a concurrent sync may create the same owner first
        stmt = insert_or_skip(session, OwnerRow.__table__, ["name"])
        for chunk in chunks(missing):
            session.execute(stmt, [{"name": n, "active": True} for n in chunk])
            out.update((r[0], r[1]) for r in session.execute(select(OwnerRow.name, OwnerRow.id).where(OwnerRow.name.in_(chunk))))
    return out


# ---------------------------------------------------------------- accounts

_ACCOUNT_FIELDS = ("name", "country", "region", "city", "parent_id", "owner_id", "phone", "aliases",
                   "is_customer", "fit_tier", "industry", "employees", "attributes")


_ACCOUNTS = AccountRow.__table__
_CONTACTS = ContactRow.__table__


def _account_row(a: AccountData, owner_id: int | None) -> dict[str, Any]:
    return {
        "id": a.id, "name": a.name, "country": a.country, "region": a.region, "city": a.city,
        "parent_id": a.parent_id, "owner_id": owner_id, "phone": a.phone, "aliases": list(a.aliases),
        "is_customer": bool(a.is_customer), "fit_tier": a.fit_tier, "industry": a.industry,
        "employees": a.employees, "attributes": dict(a.attributes),
    }


def upsert_accounts(session: Session, accounts: Sequence[AccountData], *,
                    also_known: Collection[str] = (), validate: bool = True) -> UpsertReport:
    """Create or replace accounts; raises ``InvalidItems`` (before writing) if any is invalid.

    Domains are stored normalised (lower-case host without ``www.``); an entry that is not a
    domain is a problem of that item. A changed set of domains is a change of the account
    (``updated`` and a new ``updated_at``) even when its fields are the same.
    """
    problems: list[Problem] = []
    domains: dict[str, tuple[str, ...]] = {}
    for i, a in enumerate(accounts):
        good, bad = normalise_domains(a.domains)
        if bad:
            problems.append(Problem(i, "domains", f"not a domain: {bad[0]!r}"))
        domains[a.id] = good
    if validate:
        problems.extend(validate_accounts(session, accounts, also_known))
    raise_if_any(problems)

    owners = ensure_owners(session, (a.owner for a in accounts if a.owner))
    now = utc_now()
    written = upsert(session, _ACCOUNTS, [_account_row(a, owners.get(a.owner) if a.owner else None)
                                          for a in accounts], compare=_ACCOUNT_FIELDS, now=now)
    report = written.report()
    # The upsert locked the stored rows, so their domains cannot change before this commits.
    kept = [row["id"] for row, _old in written.updated] + [row["id"] for row in written.unchanged]
    stored_domains: dict[str, set[str]] = {}
    for chunk in chunks(kept):
        for acc_id, dom in session.execute(select(AccountDomainRow.account_id, AccountDomainRow.domain)
                                           .where(AccountDomainRow.account_id.in_(chunk))):
            stored_domains.setdefault(acc_id, set()).add(dom)
    replaced = [i for i in kept if stored_domains.get(i, set()) != set(domains[i])]
    # a new domain is a change of the account too
    new_domains = set(replaced)
    touched = [{"id": row["id"], "updated_at": now} for row in written.unchanged if row["id"] in new_domains]
    if touched:
        update_rows(session, _ACCOUNTS, touched)
        report.updated += len(touched)
        report.unchanged -= len(touched)
        report.changed_ids = sorted([*report.changed_ids, *(t["id"] for t in touched)])
    for chunk in chunks(replaced):
        session.execute(delete(AccountDomainRow).where(AccountDomainRow.account_id.in_(chunk)))
    # Core statements on the tables: a plain DB-API executemany, without the ORM's per-row
    # bookkeeping (3-4x faster for bulk imports).
    rows = [{"account_id": i, "domain": d} for i in [*(row["id"] for row in written.created), *replaced]
            for d in domains[i]]
    if rows:
        session.execute(insert(AccountDomainRow.__table__), rows)
    return report


def delete_account(session: Session, account_id: str) -> list[str] | None:
    """Delete an account, its domains, learned names and contacts; detach its children.

    Returns the ids of the detached children (their ``parent_id`` is now NULL, so the index must
    reload them), or None if the account does not exist.
    """
    if session.get(AccountRow, account_id) is None:
        return None
    children = list(session.scalars(select(AccountRow.id).where(AccountRow.parent_id == account_id)))
    if children:
        session.execute(update(AccountRow).where(AccountRow.parent_id == account_id)
                        .values(parent_id=None, updated_at=utc_now()).execution_options(synchronize_session=False))
    session.execute(delete(AccountDomainRow).where(AccountDomainRow.account_id == account_id))
    session.execute(delete(LearnedNameRow).where(LearnedNameRow.account_id == account_id))
    session.execute(delete(ContactRow).where(ContactRow.account_id == account_id))
    session.execute(delete(AccountRow).where(AccountRow.id == account_id).execution_options(synchronize_session=False))
    session.expunge_all()
    return children


def existing_account_ids(session: Session, ids: Collection[str]) -> set[str]:
    out: set[str] = set()
    for chunk in chunks(sorted(set(ids))):
        out.update(session.scalars(select(AccountRow.id).where(AccountRow.id.in_(chunk))))
    return out


# ---------------------------------------------------------------- contacts

_CONTACT_FIELDS = ("account_id", "email", "email_domain", "first_name", "last_name", "title")


def upsert_contacts(session: Session, contacts: Sequence[ContactData], *,
                    validate: bool = True) -> tuple[UpsertReport, set[str]]:
    """Create or replace contacts. Returns the report and the account ids whose evidence changed
    (a contact moving between accounts changes both)."""
    if validate:
        problems: list[Problem] = []
        seen: dict[str, int] = {}
        for i, c in enumerate(contacts):
            if c.id in seen:
                problems.append(Problem(i, "id", f"duplicate of items[{seen[c.id]}] in the same request"))
            seen[c.id] = i
            if c.email and not normalize.is_valid_email(c.email):
                problems.append(Problem(i, "email", "not a valid email address"))
        known = existing_account_ids(session, {c.account_id for c in contacts})
        problems.extend(Problem(i, "account_id", f"account {c.account_id!r} does not exist")
                        for i, c in enumerate(contacts) if c.account_id not in known)
        raise_if_any(problems)
    rows = []
    for c in contacts:
        email = c.email.strip().lower() if c.email else None
        rows.append({"id": c.id, "account_id": c.account_id, "email": email,
                     "email_domain": normalize.email_domain(email), "first_name": c.first_name,
                     "last_name": c.last_name, "title": c.title})
    written = upsert(session, _CONTACTS, rows, compare=_CONTACT_FIELDS, now=utc_now())
    touched = {row["account_id"] for row in written.created}
    for row, old in written.updated:
        touched.update((row["account_id"], old["account_id"]))
    return written.report(), touched


def get_account(session: Session, account_id: str) -> dict[str, Any] | None:
    """The stored record of one account, as the API shows it."""
    acc = session.get(AccountRow, account_id)
    if acc is None:
        return None
    owner = session.get(OwnerRow, acc.owner_id) if acc.owner_id is not None else None
    domains = sorted(session.scalars(select(AccountDomainRow.domain).where(AccountDomainRow.account_id == account_id)))
    contacts = session.scalar(select(func.count()).select_from(ContactRow).where(ContactRow.account_id == account_id))
    return {
        "id": acc.id, "name": acc.name, "domains": domains, "country": acc.country, "region": acc.region,
        "city": acc.city, "parent_id": acc.parent_id,
        "owner": owner.name if owner else None, "phone": acc.phone, "aliases": list(acc.aliases or []),
        "is_customer": acc.is_customer, "fit_tier": acc.fit_tier, "industry": acc.industry,
        "employees": acc.employees, "attributes": dict(acc.attributes or {}), "contact_count": contacts or 0,
        "created_at": acc.created_at.isoformat(), "updated_at": acc.updated_at.isoformat(),
    }


# ---------------------------------------------------------------- learned names

_LEARNED = LearnedNameRow.__table__


def _learned_record(row) -> dict[str, Any]:  # noqa: ANN001 - a result row of learned_names
    return {"id": row.id, "account_id": row.account_id, "kind": row.kind, "value": row.value,
            "source": row.source, "learned_by": row.learned_by, "created_at": row.created_at.isoformat()}


def add_learned(session: Session, account_id: str, items: Sequence[tuple[str, str]], source: str,
                learned_by: str | None) -> list[dict[str, Any]]:
    """Store ``(kind, value)`` pairs as learned names of a stored account; a pair it already has
    is left as it was (its first source stays). Returns the records stored now, in ``items``'
    order. The caller checks that the account exists."""
    wanted = list(dict.fromkeys(items))
    if not wanted:
        return []
    now = utc_now()
    hold_write_lock(session)
    before = {(r.kind, r.value) for r in session.execute(
        select(_LEARNED.c.kind, _LEARNED.c.value).where(_LEARNED.c.account_id == account_id))}
    new = [(k, v) for k, v in wanted if (k, v) not in before]
    if new:
        # ON CONFLICT DO NOTHING: a concurrent review may teach the same name first
        session.execute(insert_or_skip(session, _LEARNED, ["account_id", "kind", "value"]),
                        [{"account_id": account_id, "kind": k, "value": v, "source": source,
                          "learned_by": learned_by, "created_at": now} for k, v in new])
    rows = {(r.kind, r.value): r for r in session.execute(
        select(_LEARNED).where(_LEARNED.c.account_id == account_id, _LEARNED.c.created_at == now))}
    return [_learned_record(rows[k]) for k in new if k in rows]


def list_learned(session: Session, account_id: str) -> list[dict[str, Any]]:
    """The learned names of an account, oldest first."""
    return [_learned_record(r) for r in session.execute(
        select(_LEARNED).where(_LEARNED.c.account_id == account_id).order_by(_LEARNED.c.id))]


def remove_learned(session: Session, account_id: str, learned_id: int) -> dict[str, Any] | None:
    """Delete one learned name of an account; returns its record, or None if the account has no
    learned name with that id."""
    row = session.execute(select(_LEARNED).where(_LEARNED.c.id == learned_id,
                                                 _LEARNED.c.account_id == account_id)).first()
    if row is None:
        return None
    session.execute(delete(_LEARNED).where(_LEARNED.c.id == learned_id))
    return _learned_record(row)


def refresh_planner_statistics(session_or_conn: Session | Connection, tables: Sequence[str] = ("accounts", "account_domains", "contacts")) -> None:
    """ANALYZE after a bulk import on PostgreSQL. Until autovacuum gets to it, the planner
    believes a freshly filled table is small and streams the index load through hash
    aggregates spilling to disk: 18 s instead of 5 s for a million accounts."""
    bind = session_or_conn.get_bind() if isinstance(session_or_conn, Session) else session_or_conn
    if bind.dialect.name == "postgresql":
        session_or_conn.execute(text("ANALYZE " + ", ".join(tables)))


# ---------------------------------------------------------------- what routing reads


def _facts(row: AccountRow, owners: dict[int, str]) -> AccountFacts:
    return AccountFacts(id=row.id, name=row.name, owner=owners.get(row.owner_id) if row.owner_id else None,
                        parent_id=row.parent_id, country=row.country, region=row.region, city=row.city,
                        industry=row.industry, employees=row.employees, fit_tier=row.fit_tier,
                        attributes=dict(row.attributes or {}))


def routing_facts(session: Session, account_id: str) -> tuple[AccountFacts | None, tuple[AccountFacts, ...],
                                                              tuple[AccountFacts, ...]]:
    """The account, its ancestors (parent first; stops at a cycle or MAX_PARENT_DEPTH) and children."""
    account = session.get(AccountRow, account_id)
    if account is None:
        return None, (), ()
    chain: list[AccountRow] = []
    seen = {account.id}
    parent_id = account.parent_id
    while parent_id and parent_id not in seen and len(chain) < MAX_PARENT_DEPTH:
        parent = session.get(AccountRow, parent_id)
        if parent is None:
            break
        chain.append(parent)
        seen.add(parent.id)
        parent_id = parent.parent_id
    children = list(session.scalars(select(AccountRow).where(AccountRow.parent_id == account_id)
                                    .order_by(AccountRow.id)))
    owner_ids = {r.owner_id for r in (account, *chain, *children) if r.owner_id is not None}
    owners: dict[int, str] = {}
    if owner_ids:
        owners = {r.id: r.name for r in session.execute(select(OwnerRow.id, OwnerRow.name)
                                                        .where(OwnerRow.id.in_(owner_ids)))}
    return (_facts(account, owners), tuple(_facts(r, owners) for r in chain),
            tuple(_facts(r, owners) for r in children))


def contact_at_account(session: Session, account_id: str, email: str) -> ContactRow | None:
    """The account's contact with this email (smallest id when several), or None."""
    return session.scalars(select(ContactRow).where(ContactRow.account_id == account_id,
                                                    ContactRow.email == email.strip().lower())
                           .order_by(ContactRow.id).limit(1)).first()
