"""The bulk upsert under concurrent writers, against the real databases (SQLite file, PostgreSQL).

A CRM sync with parallel workers sends the same new ids at the same moment. Every request must
succeed, every row must be created exactly once (the ``created`` counts of all answers add up
to the number of distinct ids) and end up as sent.
"""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from api.accounts import store
from api.db import make_engine, make_sessionmaker, session_scope
from api.db.rows import (AccountDomainRow, AccountRow, ActivityRow, ContactRow, ContractRow, OpportunityRow,
                         OpportunityStageChangeRow, OwnerRow)
from api.qualification import store as ledger_store
from matcher.qualification.ledger import Contract
from tests.conftest import app_client, settings_for

WRITERS = 8
N = 200
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def collide(client, path: str, bodies: list[list[dict]], method: str = "PUT") -> list[dict[str, int]]:  # noqa: ANN001
    """Send each body from its own thread, all released at once; the answers, in body order.
    Fails if any request raised or answered anything but 200."""
    start = threading.Barrier(len(bodies))
    answers: list[Any] = [None] * len(bodies)

    def put(i: int) -> None:
        start.wait()
        try:
            response = client.request(method, path, json=bodies[i])
            answers[i] = (response.status_code, response.text) if response.status_code != 200 else response.json()
        except Exception as exc:  # noqa: BLE001 - reported below with the other answers
            answers[i] = repr(exc)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(isinstance(a, dict) for a in answers), answers
    return answers


def totals(answers: list[dict[str, int]]) -> tuple[int, int, int]:
    return tuple(sum(a[k] for a in answers) for k in ("created", "updated", "unchanged"))


def test_concurrent_writers_of_the_same_new_ids_create_each_row_once(database_url: str) -> None:
    engine = make_engine(database_url)
    with app_client(settings_for(database_url, bulk_max_items=N)) as client, engine.connect() as db:
        ids = [f"{i:03d}" for i in range(N)]
        # the owners exist already: nothing but the accounts themselves makes the writers meet
        assert client.put("/v1/accounts", json=[{"id": f"Z{k}", "name": "Seed", "owner": f"Owner {k}"}
                                               for k in range(7)]).status_code == 200

        accounts = [{"id": f"A{i}", "name": f"Company {i}", "domains": [f"WWW.Company{i}.com"], "country": "DE",
                     "owner": f"Owner {int(i) % 7}"} for i in ids]
        assert totals(collide(client, "/v1/accounts", [accounts] * WRITERS)) == (N, 0, N * (WRITERS - 1))
        owner_name = dict(db.execute(select(OwnerRow.id, OwnerRow.name)).all())
        stored = {r[0]: (r[1], r[2], owner_name[r[3]]) for r in db.execute(
            select(AccountRow.id, AccountRow.name, AccountRow.country, AccountRow.owner_id)
            .where(AccountRow.id.like("A%")))}
        assert stored == {f"A{i}": (f"Company {i}", "DE", f"Owner {int(i) % 7}") for i in ids}
        assert sorted(db.execute(select(AccountDomainRow.account_id, AccountDomainRow.domain)).all()) == \
            [(f"A{i}", f"company{i}.com") for i in ids]

        # each writer its own version of every account, with a new owner: every request replaces
        # every row, each new owner is created once, and an account's domains and owner are
        # those of the writer whose name it has
        versions = [[{**a, "name": f"{a['name']} v{w}", "domains": [f"company{a['id'][1:]}.com", f"v{w}.example"],
                      "owner": f"Seller {w}"} for a in accounts] for w in range(WRITERS)]
        assert totals(collide(client, "/v1/accounts", versions)) == (0, N * WRITERS, 0)
        owner_name = dict(db.execute(select(OwnerRow.id, OwnerRow.name)).all())
        assert sorted(owner_name.values()) == sorted([f"Owner {k}" for k in range(7)] +
                                                     [f"Seller {w}" for w in range(WRITERS)])
        domains: dict[str, set[str]] = {}
        for account_id, domain in db.execute(select(AccountDomainRow.account_id, AccountDomainRow.domain)):
            domains.setdefault(account_id, set()).add(domain)
        for account_id, name, owner_id in db.execute(select(AccountRow.id, AccountRow.name, AccountRow.owner_id)
                                                     .where(AccountRow.id.like("A%"))):
            writer = name.rsplit(" v", 1)[1]
            assert domains[account_id] == {f"company{account_id[1:]}.com", f"v{writer}.example"}, account_id
            assert owner_name[owner_id] == f"Seller {writer}", account_id

        contacts = [{"id": f"K{i}", "account_id": f"A{i}", "email": f"Person{i}@Company{i}.com", "title": "CFO"}
                    for i in ids]
        assert totals(collide(client, "/v1/contacts", [contacts] * WRITERS)) == (N, 0, N * (WRITERS - 1))
        assert sorted(db.execute(select(ContactRow.id, ContactRow.account_id, ContactRow.email,
                                        ContactRow.email_domain, ContactRow.title)).all()) == \
            [(f"K{i}", f"A{i}", f"person{i}@company{i}.com", f"company{i}.com", "CFO") for i in ids]

        opportunities = [{"id": f"O{i}", "account_id": f"A{i}", "stage": "discovery", "amount": 1000 + int(i),
                          "opened_at": iso(T0), "stage_changed_at": iso(T0 + timedelta(days=1))} for i in ids]
        assert totals(collide(client, "/v1/opportunities", [opportunities] * WRITERS)) == (N, 0, N * (WRITERS - 1))
        assert sorted(db.execute(select(OpportunityRow.id, OpportunityRow.account_id, OpportunityRow.stage,
                                        OpportunityRow.amount, OpportunityRow.state)).all()) == \
            [(f"O{i}", f"A{i}", "discovery", 1000.0 + int(i), "open") for i in ids]
        # the first stage is recorded once per opportunity, by the writer that created it
        assert sorted(db.execute(select(OpportunityStageChangeRow.opportunity_id, OpportunityStageChangeRow.stage,
                                        OpportunityStageChangeRow.at)).all()) == \
            [(f"O{i}", "discovery", T0 + timedelta(days=1)) for i in ids]

        contracts = [{"id": f"C{i}", "account_id": f"A{i}", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}
                     for i in ids]
        assert totals(collide(client, "/v1/contracts", [contracts] * WRITERS)) == (N, 0, N * (WRITERS - 1))
        assert sorted(db.execute(select(ContractRow.id, ContractRow.account_id, ContractRow.starts_on,
                                        ContractRow.ends_on)).all()) == \
            [(f"C{i}", f"A{i}", date(2026, 1, 1), date(2026, 12, 31)) for i in ids]
    engine.dispose()


def test_concurrent_writers_of_the_same_new_events_store_each_once(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    ids = [f"{i:03d}" for i in range(N)]
    with session_scope(sessions) as s:
        store.upsert_accounts(s, [store.AccountData(f"A{i}", f"Company {i}") for i in ids])
        store.upsert_contacts(s, [store.ContactData(f"K{i}", f"A{i}", f"person{i}@company{i}.com") for i in ids])
    # even events name a contact, odd ones an email nobody has yet (kept unmatched)
    events = [{"id": f"E{i}", "type": "webinar", "occurred_at": iso(T0),
               **({"contact_id": f"K{i}"} if int(i) % 2 == 0 else {"email": f"Stranger{i}@Elsewhere.org"})}
              for i in ids]
    with app_client(settings_for(database_url, bulk_max_items=N)) as client:
        answers = collide(client, "/v1/activities", [events] * WRITERS, method="POST")
    assert [sum(a[k] for a in answers) for k in ("created", "unchanged")] == [N, N * (WRITERS - 1)]
    # a writer's unmatched count covers the events it created
    assert sum(a["unmatched"] for a in answers) == N // 2
    with sessions() as s:
        stored = sorted(s.execute(select(ActivityRow.id, ActivityRow.contact_id, ActivityRow.account_id,
                                         ActivityRow.email, ActivityRow.occurred_at)).all())
    engine.dispose()
    assert stored == [(f"E{i}", f"K{i}", f"A{i}", None, T0) if int(i) % 2 == 0 else
                      (f"E{i}", None, None, f"stranger{i}@elsewhere.org", T0) for i in ids]


def test_concurrent_replacements_of_stored_rows_take_turns(database_url: str) -> None:
    """Half the writers send a new version of stored rows, half the stored version itself. Each
    writer must compare with what the one before it left: its rows are all updated or all
    unchanged, and the rows flip at every update, so they end changed exactly when the number of
    updating writers is odd."""
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    ids = [f"{i:03d}" for i in range(N)]
    with session_scope(sessions) as s:
        store.upsert_accounts(s, [store.AccountData(f"A{i}", f"Company {i}") for i in ids])
        ledger_store.upsert_contracts(s, [Contract(f"C{i}", f"A{i}", date(2026, 1, 1)) for i in ids])
    stored = [{"id": f"C{i}", "account_id": f"A{i}", "starts_on": "2026-01-01"} for i in ids]
    renewed = [{**c, "ends_on": "2027-12-31"} for c in stored]
    with app_client(settings_for(database_url, bulk_max_items=N)) as client:
        answers = collide(client, "/v1/contracts", [renewed, stored] * (WRITERS // 2))
    assert all((a["created"], a["updated"] + a["unchanged"]) == (0, N) and a["updated"] in (0, N)
               for a in answers), answers
    updating = sum(1 for a in answers if a["updated"])
    with sessions() as s:
        ends = set(s.scalars(select(ContractRow.ends_on)))
    engine.dispose()
    assert ends == ({date(2027, 12, 31)} if updating % 2 else {None}), (updating, ends)


def test_a_writer_that_waited_for_another_ones_insert_of_the_same_id_updates_it(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        store.upsert_accounts(s, [store.AccountData("A1", "Acme Corporation", domains=("acme.com",)),
                                  store.AccountData("A2", "Bolt Ltd", domains=("bolt.co.uk",))])
    first = sessions()
    assert ledger_store.upsert_contracts(first, [Contract("C1", "A1", date(2026, 1, 1))])[0].created == 1
    answer: list = []

    def second() -> None:
        with session_scope(sessions) as s:
            answer.append(ledger_store.upsert_contracts(s, [Contract("C1", "A2", date(2026, 2, 1))]))

    thread = threading.Thread(target=second)
    thread.start()
    try:
        thread.join(0.5)
        assert thread.is_alive(), "the second writer did not wait for the first"
        first.commit()
    finally:
        first.close()
        thread.join(30)
    (report, touched), = answer
    # the contract left A1 for A2: both accounts are re-evaluated
    assert (report.created, report.updated, report.unchanged, touched) == (0, 1, 0, {"A1", "A2"})
    with sessions() as s:
        assert s.execute(select(ContractRow.account_id, ContractRow.starts_on)).all() == [("A2", date(2026, 2, 1))]
    engine.dispose()


def test_created_at_is_kept_and_updated_at_moves_only_when_something_changed(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        store.upsert_accounts(s, [store.AccountData("A1", "Acme Corporation", domains=("acme.com",))])
    t1, t2, t3 = (T0 + timedelta(hours=h) for h in (1, 2, 3))
    sent = [Contract("C1", "A1", date(2026, 1, 1))]
    answers = []
    for now, contracts in ((t1, sent), (t2, sent), (t3, [Contract("C1", "A1", date(2026, 1, 1), date(2026, 6, 30))])):
        with session_scope(sessions) as s:
            report, _touched = ledger_store.upsert_contracts(s, contracts, now=now)
        with sessions() as s:
            answers.append(((report.created, report.updated, report.unchanged),
                            *s.execute(select(ContractRow.created_at, ContractRow.updated_at)).one()))
    engine.dispose()
    assert answers == [((1, 0, 0), t1, t1), ((0, 0, 1), t1, t1), ((0, 1, 0), t1, t3)]
