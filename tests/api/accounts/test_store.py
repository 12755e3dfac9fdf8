"""Storage against the real databases (SQLite file and PostgreSQL schema)."""
from __future__ import annotations

import dataclasses

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select

from api.db.rows import AccountRow, ContactRow, OwnerRow
from api.accounts import store
from api.matching import store as index_store
from api.db import alembic_config, make_engine, make_sessionmaker, migrate, session_scope
from api.accounts.store import AccountData, ContactData


@pytest.fixture
def sessions(database_url: str):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def acc(id: str = "A1", name: str = "Acme Corporation", **kw) -> AccountData:  # noqa: A002
    kw.setdefault("domains", ("acme.com",))
    kw.setdefault("owner", "Dana Whitfield")
    return AccountData(id=id, name=name, **kw)


def upsert(sessions, *accounts: AccountData) -> store.UpsertReport:  # noqa: ANN001
    with session_scope(sessions) as s:
        return store.upsert_accounts(s, list(accounts))


def _schema_and_data(database_url: str) -> tuple:
    """Every table with its columns and indexes, the Alembic revision, the stored accounts and
    the index generation (migration 0005): what migrating again must leave as it was."""
    from sqlalchemy import inspect, text

    from api.matching import index_snapshot

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = {t: (sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(t)),
                          sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(t)))
                      for t in inspector.get_table_names()}
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            accounts = conn.execute(select(AccountRow.id, AccountRow.name, AccountRow.updated_at)).all()
            generation = index_snapshot.read_generation(conn)
    finally:
        engine.dispose()
    return tables, revision, accounts, generation


def test_migrate_is_idempotent(database_url: str, sessions) -> None:  # noqa: ANN001
    upsert(sessions, acc(), acc("A2", "Acme GmbH", domains=("acme.de",), parent_id="A1"))
    before = _schema_and_data(database_url)
    tables, revision, accounts, _ = before
    heads = ScriptDirectory.from_config(alembic_config(database_url)).get_heads()
    assert revision == heads and len(heads) == 1  # at the newest migration
    assert {"accounts", "account_domains", "contacts", "status_transitions"} <= set(tables)
    assert [a[0] for a in sorted(accounts)] == ["A1", "A2"]
    migrate(database_url)
    migrate(database_url)
    assert _schema_and_data(database_url) == before


def test_round_trip_with_domains_owner_aliases_and_contacts(sessions) -> None:  # noqa: ANN001
    report = upsert(sessions,
                    acc(domains=("WWW.Acme.com", "acme.io"), aliases=("ACME Group",), country="US",
                        is_customer=True, fit_tier="A", employees=5000, attributes={"arr": 12.5}),
                    acc("A2", "Acme GmbH", domains=("acme.de",), country="DE", parent_id="A1", owner="Lena Vogel"))
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    with session_scope(sessions) as s:
        store.upsert_contacts(s, [ContactData("K1", "A2", "max@mail.acme-gruppe.de"),
                                  ContactData("K2", "A2", "eva@acme.de")])
    with sessions() as s:
        loaded = {a.id: a for a in index_store.load_accounts(s)}
        record = store.get_account(s, "A1")
        owners = set(s.scalars(select(OwnerRow.name)))
    assert loaded["A1"].domains == ("acme.com", "acme.io")  # normalised host, sorted
    assert loaded["A1"].aliases == ("ACME Group",) and loaded["A1"].is_customer
    assert loaded["A1"].owner == "Dana Whitfield"
    assert loaded["A2"].parent_id == "A1"
    assert sorted(loaded["A2"].contact_domains) == ["acme-gruppe.de", "acme.de"]  # registrable
    assert loaded["A2"].contact_count == 2
    assert record is not None and record["attributes"] == {"arr": 12.5} and record["employees"] == 5000
    assert owners == {"Dana Whitfield", "Lena Vogel"}


def test_same_payload_twice_changes_nothing(sessions) -> None:  # noqa: ANN001
    payload = [acc(), acc("A2", "Acme GmbH", domains=("acme.de",), parent_id="A1")]
    upsert(sessions, *payload)
    with sessions() as s:
        before = {r[0]: r[1] for r in s.execute(select(AccountRow.id, AccountRow.updated_at))}
    report = upsert(sessions, *payload)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert report.changed_ids == []
    with sessions() as s:
        after = {r[0]: r[1] for r in s.execute(select(AccountRow.id, AccountRow.updated_at))}
    assert after == before


CHANGES = [
    ("rename", {"name": "Acme Industries"}),
    ("new domain", {"domains": ("acme.com", "acme.io")}),
    ("domain case only is no change", None),
    ("owner change", {"owner": "Oliver Hughes"}),
    ("firmographics", {"attributes": {"segment": "enterprise"}}),
]


@pytest.mark.parametrize(("case", "change"), CHANGES, ids=[c[0] for c in CHANGES])
def test_changes_are_updates(sessions, case: str, change: dict | None) -> None:  # noqa: ANN001
    upsert(sessions, acc())
    new = dataclasses.replace(acc(), **(change or {"domains": ("ACME.com",)}))
    report = upsert(sessions, new)
    if change is None:
        assert report.unchanged == 1
    else:
        assert (report.updated, report.changed_ids) == (1, ["A1"])


HIERARCHY_PROBLEMS = [
    ("unknown parent", [acc("C", parent_id="nowhere")], (0, "parent_id", "does not exist")),
    ("own parent", [acc("C", parent_id="C")], (0, "parent_id", "own parent")),
    ("cycle in batch", [acc("X", parent_id="Y"), acc("Y", domains=(), parent_id="X")], (0, "parent_id", "cycle")),
    ("duplicate id", [acc("X"), acc("X")], (1, "id", "duplicate")),
    ("not a domain", [acc("X", domains=("not a domain",))], (0, "domains", "not a domain")),
]


@pytest.mark.parametrize(("case", "batch", "expected"), HIERARCHY_PROBLEMS, ids=[c[0] for c in HIERARCHY_PROBLEMS])
def test_invalid_batches_store_nothing(sessions, case: str, batch: list, expected: tuple) -> None:  # noqa: ANN001
    upsert(sessions, acc("P", "Parent Co", domains=("parent.com",)))
    with pytest.raises(store.InvalidItems) as info:
        upsert(sessions, acc("NEW", "New Co", domains=("new.com",)), *batch)
    index, field, words = expected
    problem = info.value.problems[0]
    assert (problem.index - 1, problem.field) == (index, field) and words in problem.message
    with sessions() as s:
        assert [a.id for a in index_store.load_accounts(s)] == ["P"]


def test_parent_may_come_after_child_in_one_batch_and_cycles_through_db_are_refused(sessions) -> None:  # noqa: ANN001
    upsert(sessions, acc("CHILD", "Acme GmbH", domains=("acme.de",), parent_id="PARENT"),
           acc("PARENT", "Acme Corporation"))
    with pytest.raises(store.InvalidItems, match="cycle"):
        upsert(sessions, acc("PARENT", "Acme Corporation", parent_id="CHILD"))


def test_delete_detaches_children_and_removes_contacts(sessions) -> None:  # noqa: ANN001
    upsert(sessions, acc("P"), acc("C", "Acme GmbH", domains=("acme.de",), parent_id="P"))
    with session_scope(sessions) as s:
        store.upsert_contacts(s, [ContactData("K1", "P", "a@acme.com")])
    with session_scope(sessions) as s:
        assert store.delete_account(s, "P") == ["C"]
        assert store.delete_account(s, "nope") is None
    with sessions() as s:
        remaining = list(index_store.load_accounts(s))
        assert s.scalar(select(ContactRow.id)) is None
    assert [(a.id, a.parent_id) for a in remaining] == [("C", None)]


def test_contacts_are_idempotent_and_moving_one_touches_both_accounts(sessions) -> None:  # noqa: ANN001
    upsert(sessions, acc("A"), acc("B", "Bolt Ltd", domains=("bolt.co.uk",)))
    with session_scope(sessions) as s:
        report, touched = store.upsert_contacts(s, [ContactData("K", "A", "x@acme.com")])
    assert report.created == 1 and touched == {"A"}
    with session_scope(sessions) as s:
        report, touched = store.upsert_contacts(s, [ContactData("K", "A", "X@ACME.com")])
    assert report.unchanged == 1 and touched == set()
    with session_scope(sessions) as s:
        report, touched = store.upsert_contacts(s, [ContactData("K", "B", "x@acme.com")])
    assert report.updated == 1 and touched == {"A", "B"}
    with pytest.raises(store.InvalidItems) as info, session_scope(sessions) as s:
        store.upsert_contacts(s, [ContactData("K2", "A", "ok@acme.com"), ContactData("K3", "ghost", None)])
    assert [(p.index, p.field) for p in info.value.problems] == [(1, "account_id")]


def test_load_accounts_by_id_skips_missing(sessions) -> None:  # noqa: ANN001
    upsert(sessions, acc("A"), acc("B", "Bolt Ltd", domains=("bolt.co.uk",)))
    with sessions() as s:
        found = index_store.load_accounts_by_id(s, ["B", "missing"])
    assert list(found) == ["B"] and found["B"].domains == ("bolt.co.uk",)


def test_bulk_upsert_of_thousands_is_set_based(sessions) -> None:  # noqa: ANN001
    many = [acc(f"A{i:05d}", f"Company {i}", domains=(f"company{i}.com",)) for i in range(3000)]
    assert upsert(sessions, *many).created == 3000
    assert upsert(sessions, *many).unchanged == 3000
    with sessions() as s:
        assert index_store.count_accounts(s) == 3000
