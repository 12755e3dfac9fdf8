"""Reading the qualification ledger: database rows -> ``matcher.qualification.ledger.AccountLedger``.

The one place that knows which columns a ledger is read from and how an account's rows become
its ledger; the per-write path and the bulk recompute both read through it, so they give the core
the same ledger for the same rows.

- The columns are the ledger types' own fields, by name, in their order (``_columns``): a row
  builds its value positionally, with no Python code per field. A field added to a ledger type
  is read once its table has a column of that name.
- Per table: a SELECT whose first column is the account the row belongs to (``_TABLES``), and
  the order of an account's rows (time, then id), so the core sees the same input on every
  database and through every access pattern.
- ``_assemble`` makes one account's ledger from its account row and its rows of each table.

Three access patterns, built on those pieces:

- ``load_ledgers(conn, ids)``: the per-write path (a few accounts): one query per table per chunk
  of ids, through SQLAlchemy (its column types give aware UTC times on both databases).
- ``read_range(conn, lo, hi)``: the accounts with ``lo <= id < hi``, one query per table (the
  SQLite bulk path, one slice at a time).
- ``stream_range(dbapi_conn, lo, hi)``: the PostgreSQL bulk path: one server-side cursor per table
  over the whole range, ordered by account id in code-point order, merge-joined account by account
  (grouped in C by ``itertools.groupby``: no Python code per row). The driver's values are taken
  as they come: the caller's transaction sets the time zone to UTC, so times arrive as the aware
  UTC values the column types give the other two.
"""
from __future__ import annotations

import dataclasses
from itertools import chain, groupby, starmap
from operator import itemgetter
from typing import Callable, Iterable, Iterator, Sequence

import orjson
from sqlalchemy import Connection, and_, collate, select, true, type_coerce
from sqlalchemy.orm import Session

from api.db.bulk import chunks
from api.db.rows import (AccountDispositionRow, AccountRow, ActivityRow, ContactRow, ContractRow, ManualContactMoveRow,
                         OpportunityRow, OpportunityStageChangeRow)
from api.db.rows.base import UTCDateTime
from matcher.qualification import ledger as L

STREAM_BATCH = 20_000  # rows per FETCH from a server-side cursor
CODE_POINT_ORDER = "C"  # the collation whose order is Python's str order

_A, _C, _ACT = AccountRow.__table__, ContactRow.__table__, ActivityRow.__table__
_O, _S, _K, _MV = (OpportunityRow.__table__, OpportunityStageChangeRow.__table__, ContractRow.__table__,
                   ManualContactMoveRow.__table__)
_D = AccountDispositionRow.__table__


def _columns(table, value_type: type, *, leave_out: Sequence[str] = (), **instead) -> list:  # noqa: ANN001
    """The columns of ``table`` named as ``value_type``'s fields, in the fields' order (``instead``:
    another expression for a field)."""
    return [instead.get(f.name, table.c[f.name]) for f in dataclasses.fields(value_type) if f.name not in leave_out]


# contacts.created_at is a plain timestamp column: read as UTCDateTime, it comes back aware UTC on
# SQLite too (no SQL changes: type_coerce only tells SQLAlchemy how to convert the value)
_ACCOUNTS = select(*_columns(_A, L.AccountProfile))
_TABLES: dict[str, tuple] = {
    # name: (SELECT with the account id first, the account id column, the order of an account's rows)
    "contacts": (select(_C.c.account_id, *_columns(_C, L.Contact, created_at=type_coerce(_C.c.created_at,
                                                                                           UTCDateTime))),
                 _C.c.account_id, (_C.c.id,)),
    "activities": (select(_ACT.c.account_id, *_columns(_ACT, L.Activity)), _ACT.c.account_id,
                   (_ACT.c.occurred_at, _ACT.c.id)),
    "stage_changes": (select(_O.c.account_id, _S.c.opportunity_id, *_columns(_S, L.StageChange))
                      .join(_O, _O.c.id == _S.c.opportunity_id), _O.c.account_id,
                      (_S.c.opportunity_id, _S.c.at, _S.c.id)),
    "opportunities": (select(_O.c.account_id, *_columns(_O, L.Opportunity, leave_out=("stage_changes",))),
                      _O.c.account_id, (_O.c.id,)),
    "contracts": (select(_K.c.account_id, *_columns(_K, L.Contract)), _K.c.account_id, (_K.c.id,)),
    # a move belongs to the account its contact is at now
    "manual_moves": (select(_C.c.account_id, *_columns(_MV, L.ManualContactMove))
                     .join(_C, _C.c.id == _MV.c.contact_id), _C.c.account_id, (_MV.c.at, _MV.c.id)),
    # every disposition, superseded ones too: the core picks the one in force at its as_of
    "dispositions": (select(_D.c.account_id, *_columns(_D, L.Disposition)), _D.c.account_id, (_D.c.at, _D.c.id)),
}
_values = itemgetter(slice(1, None))  # a table row without its leading account id


def _assemble(account: Sequence, contacts: Sequence[Sequence], activities: Sequence[Sequence],
              stage_changes: Sequence[Sequence], opportunities: Sequence[Sequence], contracts: Sequence[Sequence],
              manual_moves: Sequence[Sequence], dispositions: Sequence[Sequence] = ()) -> L.AccountLedger:
    """One account's ledger from its account row and its rows of each table (in ``_TABLES``'
    order, each starting with the account id)."""
    changes: dict[str, list[L.StageChange]] = {}
    for r in stage_changes:
        changes.setdefault(r[1], []).append(L.StageChange(*r[2:]))
    return L.AccountLedger(
        account=L.AccountProfile(*account),
        contacts=tuple(starmap(L.Contact, map(_values, contacts))),
        activities=tuple(starmap(L.Activity, map(_values, activities))),
        opportunities=tuple(L.Opportunity(*r[1:], tuple(changes.get(r[1], ()))) for r in opportunities),
        contracts=tuple(starmap(L.Contract, map(_values, contracts))),
        manual_moves=tuple(starmap(L.ManualContactMove, map(_values, manual_moves))),
        dispositions=tuple(_disposition(*r[1:]) for r in dispositions),
    )


def _disposition(kind, at, until, reasons, source, by, superseded_at, id) -> L.Disposition:  # noqa: A002, ANN001
    """A disposition row; its reasons are stored as the close's rules or a person wrote them
    (a list of reason objects with a ``text``, or of plain sentences) and reach the core as
    sentences."""
    if isinstance(reasons, str):  # PostgreSQL's server-side cursors hand json over as text
        reasons = orjson.loads(reasons)
    texts = tuple(r.get("text") or str(r) if isinstance(r, dict) else str(r) for r in reasons or ())
    return L.Disposition(kind, at, until, texts, source, by, superseded_at, id)


def in_range(column, lo: str | None, hi: str | None):  # noqa: ANN001, ANN201 - Column -> clause
    """``lo <= column < hi``; None leaves that side open."""
    conds = []
    if lo is not None:
        conds.append(column >= lo)
    if hi is not None:
        conds.append(column < hi)
    return and_(*conds) if conds else true()


def _read(conn: Connection | Session, accounts: Callable) -> list[L.AccountLedger]:  # noqa: ANN001
    """The ledgers of the accounts whose id column ``accounts(column)`` selects, in id order:
    one query per table."""
    profiles = conn.execute(_ACCOUNTS.where(accounts(_A.c.id)).order_by(_A.c.id)).all()
    if not profiles:
        return []
    grouped = []
    for stmt, key, order in _TABLES.values():
        by_account: dict[str, list] = {}
        for r in conn.execute(stmt.where(accounts(key)).order_by(*order)):
            rows = by_account.get(r[0])
            if rows is None:
                by_account[r[0]] = rows = []
            rows.append(r)
        grouped.append(by_account)
    return [_assemble(p, *(g.get(p[0], ()) for g in grouped)) for p in profiles]


def load_ledgers(conn: Connection | Session, account_ids: Iterable[str]) -> dict[str, L.AccountLedger]:
    """The ledgers of those of ``account_ids`` that exist, by id (in id order)."""
    out: dict[str, L.AccountLedger] = {}
    for chunk in chunks(sorted(set(account_ids))):
        out.update((lg.account.id, lg) for lg in _read(conn, lambda column, ids=chunk: column.in_(ids)))
    return out


def load_ledger(conn: Connection | Session, account_id: str) -> L.AccountLedger | None:
    return load_ledgers(conn, [account_id]).get(account_id)


def read_range(conn: Connection | Session, lo: str | None, hi: str | None) -> list[L.AccountLedger]:
    """The ledgers of the accounts with ``lo <= id < hi`` (the database's order), in id order."""
    return _read(conn, lambda column: in_range(column, lo, hi))


class _Groups:
    """One server-side cursor's rows, ordered by account id, handed out account by account."""

    def __init__(self, cursor) -> None:  # noqa: ANN001 - psycopg.ServerCursor
        batches = iter(lambda: cursor.fetchmany(STREAM_BATCH), [])
        self._groups = groupby(chain.from_iterable(batches), itemgetter(0))
        self._key, self._group = next(self._groups, (None, None))

    def take(self, account_id: str) -> list[tuple] | tuple:
        """The rows of ``account_id``; rows of smaller ids (no such account) are skipped."""
        key = self._key
        while key is not None and key < account_id:
            key, self._group = next(self._groups, (None, None))
        if key != account_id:
            self._key = key
            return ()
        rows = list(self._group)
        self._key, self._group = next(self._groups, (None, None))
        return rows


def stream_range(dbapi_conn, lo: str | None, hi: str | None) -> Iterator[L.AccountLedger]:  # noqa: ANN001
    """The ledgers of the accounts with ``lo <= id < hi`` in code-point order, one sequential read
    per table through server-side cursors, in the psycopg connection's current transaction (one
    snapshot for all tables: REPEATABLE READ; times as UTC: ``SET LOCAL TIME ZONE 'UTC'``)."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.psycopg.dialect()

    def declare(name: str, stmt) -> object:  # noqa: ANN001
        compiled = stmt.compile(dialect=dialect)
        cur = dbapi_conn.cursor(name=f"ledger_{name}")
        cur.execute(str(compiled), compiled.params)
        return cur

    def ordered(key) -> object:  # noqa: ANN001
        return collate(key, CODE_POINT_ORDER)

    accounts = declare("accounts", _ACCOUNTS.where(in_range(ordered(_A.c.id), lo, hi)).order_by(ordered(_A.c.id)))
    tables = [_Groups(declare(name, stmt.where(in_range(ordered(key), lo, hi)).order_by(ordered(key), *order)))
              for name, (stmt, key, order) in _TABLES.items()]
    for p in chain.from_iterable(iter(lambda: accounts.fetchmany(STREAM_BATCH), [])):
        yield _assemble(p, *(g.take(p[0]) for g in tables))
