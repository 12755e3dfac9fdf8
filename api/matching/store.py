"""What the account index reads from the database: every account with its domains, owner,
contact evidence and learned names, streamed in id order (all, a slice of the id order, or given ids), and the
counts and cut points that split the id order for loading on several cores. Read only."""
from __future__ import annotations

import json
import sys
from typing import Iterable, Iterator, Sequence

from sqlalchemy import Connection, Text, cast, func, select
from sqlalchemy.orm import Session

from api.db.rows import AccountDomainRow, AccountRow, ContactRow, LearnedNameRow, OwnerRow
from matcher.matching.types import ALIAS, DOMAIN, Account, Learned

IDS_PER_QUERY = 1000  # ids per IN (...) list when reloading given accounts


def _account_stream_query(ids: Sequence[str] | None = None, id_range: tuple[str | None, str | None] = (None, None)):
    """One SELECT that yields every account with its domains, owner and contact evidence.

    Domains and contact domains are aggregated into comma-separated strings by the database
    (string_agg / group_concat), so building the index is one streamed result instead of an ORM
    load with relationship queries.
    """
    doms = select(AccountDomainRow.account_id.label("aid"),
                  func.aggregate_strings(AccountDomainRow.domain, ",").label("domains"))
    cdist = select(ContactRow.account_id.label("aid"), ContactRow.email_domain.label("d")) \
        .where(ContactRow.email_domain.is_not(None)).distinct()
    ccount = select(ContactRow.account_id.label("aid"), func.count().label("n"))
    if ids is not None:
        doms = doms.where(AccountDomainRow.account_id.in_(ids))
        cdist = cdist.where(ContactRow.account_id.in_(ids))
        ccount = ccount.where(ContactRow.account_id.in_(ids))
    low, high = id_range  # a slice [low, high) of the id order, for loading on several cores
    if low is not None:
        doms = doms.where(AccountDomainRow.account_id >= low)
        cdist = cdist.where(ContactRow.account_id >= low)
        ccount = ccount.where(ContactRow.account_id >= low)
    if high is not None:
        doms = doms.where(AccountDomainRow.account_id < high)
        cdist = cdist.where(ContactRow.account_id < high)
        ccount = ccount.where(ContactRow.account_id < high)
    doms = doms.group_by(AccountDomainRow.account_id).subquery("doms")
    cdist = cdist.subquery("cdist")
    cdoms = select(cdist.c.aid, func.aggregate_strings(cdist.c.d, ",").label("domains")) \
        .group_by(cdist.c.aid).subquery("cdoms")
    ccount = ccount.group_by(ContactRow.account_id).subquery("ccount")
    a = AccountRow.__table__
    stmt = (
        select(a.c.id, a.c.name, doms.c.domains, a.c.country, a.c.region, a.c.city, a.c.parent_id,
               OwnerRow.__table__.c.name, a.c.phone,
               # as text: nearly every account has none, and decoding '[]' a million times
               # costs seconds
               func.nullif(cast(a.c.aliases, Text), "[]"), cdoms.c.domains, a.c.is_customer,
               ccount.c.n)
        .select_from(a)
        .outerjoin(OwnerRow.__table__, OwnerRow.__table__.c.id == a.c.owner_id)
        .outerjoin(doms, doms.c.aid == a.c.id)
        .outerjoin(cdoms, cdoms.c.aid == a.c.id)
        .outerjoin(ccount, ccount.c.aid == a.c.id)
    )
    if ids is not None:
        stmt = stmt.where(a.c.id.in_(ids))
    if low is not None:
        stmt = stmt.where(a.c.id >= low)
    if high is not None:
        stmt = stmt.where(a.c.id < high)
    # a stable order (the primary key) makes the index, and so every tie, the same on every
    # database and every start
    return stmt.order_by(a.c.id)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(value.split(",")) if value else ()


def _shared(value: str | None) -> str | None:
    """One string object for values a million accounts repeat (countries, cities, owners)."""
    return sys.intern(value) if value else value


def _to_account(r, learned: dict[str, tuple[Learned, ...]]) -> Account:  # noqa: ANN001 - a result row
    aliases = tuple(json.loads(r[9])) if r[9] else ()
    domains = _split(r[2])
    taught = learned.get(r[0], ())
    if taught:
        # learned names are the account's names and domains like the CRM's; ``learned`` says which
        aliases = tuple(dict.fromkeys((*aliases, *(v for k, v, _, _ in taught if k == ALIAS))))
        domains = tuple(dict.fromkeys((*domains, *(v for k, v, _, _ in taught if k == DOMAIN))))
    return Account(
        id=r[0], name=r[1], domains=domains, country=_shared(r[3]), region=_shared(r[4]),
        city=_shared(r[5]), parent_id=r[6], owner=_shared(r[7]), phone=r[8], aliases=aliases,
        contact_domains=_split(r[10]), is_customer=bool(r[11]), contact_count=r[12] or 0, learned=taught,
    )


def _learned_names(session_or_conn: Session | Connection, ids: Sequence[str] | None = None,
                   id_range: tuple[str | None, str | None] = (None, None)) -> dict[str, tuple[Learned, ...]]:
    """The learned names of the accounts read, by account id, oldest first. Read apart from the
    accounts: few accounts have any (they come from people's reviews), so one small query beats
    widening the stream of every account."""
    t = LearnedNameRow.__table__
    stmt = select(t.c.account_id, t.c.kind, t.c.value, t.c.source, t.c.learned_by)
    if ids is not None:
        stmt = stmt.where(t.c.account_id.in_(ids))
    low, high = id_range
    if low is not None:
        stmt = stmt.where(t.c.account_id >= low)
    if high is not None:
        stmt = stmt.where(t.c.account_id < high)
    out: dict[str, list[Learned]] = {}
    for account_id, kind, value, source, by in session_or_conn.execute(stmt.order_by(t.c.account_id, t.c.id)):
        out.setdefault(account_id, []).append((kind, value, source, by))
    return {k: tuple(v) for k, v in out.items()}


def load_accounts(session_or_conn: Session | Connection, *, batch: int = 10_000,
                  id_range: tuple[str | None, str | None] = (None, None)) -> Iterator[Account]:
    """Stream all accounts for the index (server-side cursor on PostgreSQL; constant memory),
    or those with ``low <= id < high`` for ``id_range=(low, high)`` (None: unbounded)."""
    learned = _learned_names(session_or_conn, id_range=id_range)
    result = session_or_conn.execute(_account_stream_query(id_range=id_range), execution_options={"yield_per": batch})
    for r in result:
        yield _to_account(r, learned)


def load_accounts_by_id(session_or_conn: Session | Connection, ids: Iterable[str]) -> dict[str, Account]:
    """The accounts among ``ids`` that exist (missing ids are simply absent)."""
    out: dict[str, Account] = {}
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), IDS_PER_QUERY):
        chunk = wanted[i:i + IDS_PER_QUERY]
        learned = _learned_names(session_or_conn, chunk)
        for r in session_or_conn.execute(_account_stream_query(chunk)):
            out[r[0]] = _to_account(r, learned)
    return out


def count_accounts(session_or_conn: Session | Connection) -> int:
    return session_or_conn.execute(select(func.count()).select_from(AccountRow)).scalar_one()


def account_id_quantiles(session_or_conn: Session | Connection, parts: int, total: int | None = None) -> list[str]:
    """``parts - 1`` account ids splitting the id order into ``parts`` slices of equal size."""
    total = count_accounts(session_or_conn) if total is None else total
    a = AccountRow.__table__
    cuts = []
    for i in range(1, parts):
        cut = session_or_conn.execute(select(a.c.id).order_by(a.c.id).offset(total * i // parts).limit(1)).scalar()
        if cut is not None and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    return cuts
