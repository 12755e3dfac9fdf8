"""api.qualification.ledger_reader: the per-write path's reader (by ids) and the bulk path's (by id
range, and on PostgreSQL streamed through server-side cursors) give the same ledgers, on the varied
ledger of test_recompute, and every row of the ledger tables ends up in exactly one of them."""
from __future__ import annotations

from sqlalchemy import func, select

from api.db import make_engine
from api.db.rows import (AccountRow, ActivityRow, ContactRow, ContractRow, ManualContactMoveRow, OpportunityRow,
                         OpportunityStageChangeRow)
from api.qualification import ledger_reader
from tests.api.qualification.test_recompute import N_ACCOUNTS, build_ledger


def _streamed(engine, lo: str | None, hi: str | None) -> list:  # noqa: ANN001
    """stream_range in the transaction the bulk path opens for it (api.qualification.recompute)."""
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        dbapi.rollback()
        dbapi.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        dbapi.execute("SET LOCAL TIME ZONE 'UTC'")
        return list(ledger_reader.stream_range(dbapi, lo, hi))
    finally:
        raw.rollback()
        raw.close()


def test_every_access_pattern_reads_the_same_ledgers(database_url: str) -> None:
    build_ledger(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            ids = sorted(conn.scalars(select(AccountRow.id)))
            tables = {model: conn.scalar(select(func.count()).select_from(model))
                      for model in (ContactRow, ContractRow, OpportunityRow, OpportunityStageChangeRow,
                                    ManualContactMoveRow)}
            attached = conn.scalar(select(func.count()).select_from(ActivityRow).where(ActivityRow.account_id.isnot(None)))
            by_ids = ledger_reader.load_ledgers(conn, [*ids, "no-such-account"])
            one_by_one = {i: ledger_reader.load_ledger(conn, i) for i in ids}
            cuts = [None, ids[5], ids[20], None]
            ranged = [lg for lo, hi in zip(cuts, cuts[1:]) for lg in ledger_reader.read_range(conn, lo, hi)]
        streamed = _streamed(engine, None, ids[20]) + _streamed(engine, ids[20], None) \
            if database_url.startswith("postgresql") else None
    finally:
        engine.dispose()

    assert len(ids) == N_ACCOUNTS and list(by_ids) == ids
    ledgers = list(by_ids.values())
    assert [lg.account.id for lg in ranged] == ids
    assert one_by_one == by_ids and ranged == ledgers
    if streamed is not None:
        assert streamed == ledgers
    # every ledger row is read once, by its account: nothing lost, nothing doubled
    assert sum(len(lg.contacts) for lg in ledgers) == tables[ContactRow]
    assert sum(len(lg.contracts) for lg in ledgers) == tables[ContractRow]
    assert sum(len(lg.opportunities) for lg in ledgers) == tables[OpportunityRow]
    assert sum(len(o.stage_changes) for lg in ledgers for o in lg.opportunities) == tables[OpportunityStageChangeRow]
    assert sum(len(lg.manual_moves) for lg in ledgers) == tables[ManualContactMoveRow] == 3
    assert sum(len(lg.activities) for lg in ledgers) == attached > 0
    for lg in ledgers:
        assert all(c.account_id == lg.account.id for c in lg.contacts)
        assert [(a.occurred_at, a.id) for a in lg.activities] == sorted((a.occurred_at, a.id) for a in lg.activities)
        assert all(a.occurred_at.utcoffset().total_seconds() == 0 for a in lg.activities)
        assert all(c.created_at is not None and c.created_at.utcoffset().total_seconds() == 0 for c in lg.contacts)
    assert {lg.account.id for lg in ledgers if lg.account.disqualified} == {"A05"}
    assert {lg.account.id for lg in ledgers if lg.account.partner} == {"A07"}


def test_dispositions_are_read_alike_by_every_access_pattern(database_url: str) -> None:
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert

    from api.db.rows import AccountDispositionRow
    from matcher.qualification.ledger import Disposition

    build_ledger(database_url)
    t = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(AccountDispositionRow), [
                {"account_id": "A03", "kind": "recycle", "at": t, "until": t + timedelta(days=90),
                 "reasons": [{"rule": "lost_long_term", "text": "back in a quarter"}], "source": "rules",
                 "superseded_at": t + timedelta(days=1), "by": None, "created_at": t},
                {"account_id": "A03", "kind": "nurture_track", "at": t + timedelta(days=1), "until": None,
                 "superseded_at": None, "reasons": ["overridden"],
                 "source": "override", "by": "ana", "created_at": t},
            ])
        with engine.connect() as conn:
            by_ids = ledger_reader.load_ledgers(conn, ["A03"])["A03"]
            ranged = ledger_reader.read_range(conn, "A03", "A04")[0]
        streamed = _streamed(engine, "A03", "A04")[0] if database_url.startswith("postgresql") else ranged
    finally:
        engine.dispose()
    expected = (Disposition("recycle", t, t + timedelta(days=90), ("back in a quarter",), "rules", None,
                            t + timedelta(days=1), 1),
                Disposition("nurture_track", t + timedelta(days=1), None, ("overridden",), "override", "ana", None, 2))
    assert by_ids.dispositions == ranged.dispositions == streamed.dispositions == expected
