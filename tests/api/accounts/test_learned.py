"""Learned names (issue 10): stored on SQLite and PostgreSQL, read by the index, kept through a
CRM sync, counted by the index generation, gone with their account; and end to end: a lead goes
to review, a person resolves it, its twin matches on the learned alias, forgetting it sends the
twin back to review."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from api import db
from api.accounts import service as accounts_service
from api.accounts import store
from api.accounts.store import AccountData
from api.db import make_engine, make_sessionmaker, session_scope
from api.db.rows import LearnedNameRow
from api.errors import NotFound
from api.matching import index_snapshot
from api.matching import service as matching_service
from api.matching import store as index_store
from matcher.matching.types import Lead
from tests.conftest import account, app_client, settings_for


@pytest.fixture
def sessions(database_url: str):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _generation(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        return index_snapshot.read_generation(s.connection())[1]


def _seed(sessions) -> None:  # noqa: ANN001
    with session_scope(sessions) as s:
        store.upsert_accounts(s, [AccountData("A1", "Acme Corporation", ("acme.com",), country="US", aliases=("Acme Co",)),
                                  AccountData("B1", "Globex", ("globex.com",))])


def test_learned_names_are_stored_listed_and_removed(sessions) -> None:  # noqa: ANN001
    _seed(sessions)
    with session_scope(sessions) as s:
        stored = store.add_learned(s, "A1", [("alias", "Acme Intl"), ("domain", "acme-intl.com"), ("alias", "Acme Intl")],
                                   "review of lead L1", "jane@ours.com")
    assert [(r["kind"], r["value"], r["source"], r["learned_by"]) for r in stored] == [
        ("alias", "Acme Intl", "review of lead L1", "jane@ours.com"),
        ("domain", "acme-intl.com", "review of lead L1", "jane@ours.com")]
    with session_scope(sessions) as s:
        # already learned: not stored again, the first source stays
        assert store.add_learned(s, "A1", [("alias", "Acme Intl")], "review of lead L2", "max@ours.com") == []
        listed = store.list_learned(s, "A1")
    assert [(r["kind"], r["value"], r["source"]) for r in listed] == [
        ("alias", "Acme Intl", "review of lead L1"), ("domain", "acme-intl.com", "review of lead L1")]
    with session_scope(sessions) as s:
        assert store.remove_learned(s, "B1", listed[0]["id"]) is None  # another account's id
        assert store.remove_learned(s, "A1", listed[0]["id"])["value"] == "Acme Intl"
        assert [r["value"] for r in store.list_learned(s, "A1")] == ["acme-intl.com"]


def test_the_index_reads_learned_names_with_the_account_and_a_crm_sync_keeps_them(sessions) -> None:  # noqa: ANN001
    _seed(sessions)
    with session_scope(sessions) as s:
        store.add_learned(s, "A1", [("alias", "Acme Intl"), ("domain", "acme-intl.com")], "review of lead L1", None)
    with sessions() as s:
        a1 = index_store.load_accounts_by_id(s, ["A1"])["A1"]
    assert a1.aliases == ("Acme Co", "Acme Intl")
    assert a1.domains == ("acme.com", "acme-intl.com")
    assert a1.learned == (("alias", "Acme Intl", "review of lead L1", None),
                          ("domain", "acme-intl.com", "review of lead L1", None))
    # the CRM rewrites the account's aliases and domains: the learned ones stay
    with session_scope(sessions) as s:
        store.upsert_accounts(s, [AccountData("A1", "Acme Corporation", ("acme.net",), country="US", aliases=())])
    with sessions() as s:
        streamed = {a.id: a for a in index_store.load_accounts(s)}
    assert streamed["A1"].aliases == ("Acme Intl",)
    assert streamed["A1"].domains == ("acme.net", "acme-intl.com")
    assert streamed["B1"].learned == ()


def test_learned_names_count_towards_the_index_generation(sessions) -> None:  # noqa: ANN001
    _seed(sessions)
    before = _generation(sessions)
    with session_scope(sessions) as s:
        learned_id = store.add_learned(s, "A1", [("alias", "Acme Intl")], "review of lead L1", None)[0]["id"]
    after_learning = _generation(sessions)
    assert after_learning > before
    with session_scope(sessions) as s:
        store.remove_learned(s, "A1", learned_id)
    assert _generation(sessions) > after_learning


def test_deleting_an_account_deletes_its_learned_names(sessions) -> None:  # noqa: ANN001
    _seed(sessions)
    with session_scope(sessions) as s:
        store.add_learned(s, "A1", [("alias", "Acme Intl")], "review of lead L1", None)
        store.add_learned(s, "B1", [("alias", "Globex Intl")], "review of lead L2", None)
    with session_scope(sessions) as s:
        store.delete_account(s, "A1")
    with sessions() as s:
        assert s.execute(select(LearnedNameRow.account_id, LearnedNameRow.value)).all() == [("B1", "Globex Intl")]


# ---------------------------------------------------------------- end to end, through the app

TWIN_FIRST = {"email": "max.muster@gmail.com", "company": "Acme International", "country": "US"}
TWIN_SECOND = {"email": "erika.mustermann@yahoo.com", "company": "Acme International", "country": "US"}


def test_a_resolved_review_teaches_its_twin_to_match_and_forgetting_undoes_it(database_url: str) -> None:
    with app_client(settings_for(database_url)) as client:
        services = client.app.state.services
        assert client.put("/v1/accounts", json=[
            account("A1", "Acme Corporation", domains=["acme.com"]),
            account("A2", "Globex Industries", domains=["globex.com"]),
            account("A3", "Initech Software", domains=["initech.com"]),
        ]).status_code == 200
        first = client.post("/v1/match", json=TWIN_FIRST).json()
        assert first["decision"] == "review"
        assert first["candidates"][0]["account_id"] == "A1"

        # a person resolves the first lead to A1 (the review routes call these two)
        lead = Lead(**TWIN_FIRST)
        taught = matching_service.lessons(services, lead, "A1")
        assert [(t.kind, t.value, t.learn) for t in taught] == [
            ("alias", "Acme International", True), ("domain", "gmail.com", False)]
        with db.session_scope(services.sessions) as s:
            stored = accounts_service.learn(s, "A1", taught, "review of lead L1", "jane@ours.com", services=services)
        assert [(r["kind"], r["value"]) for r in stored] == [("alias", "Acme International")]

        twin = client.post("/v1/match", json=TWIN_SECOND).json()
        assert twin["decision"] == "matched"
        assert twin["account_id"] == "A1"
        assert twin["reasons"][0] == ("'Acme International' is a name of 'Acme Corporation' learned from "
                                      "review of lead L1 (by jane@ours.com)")

        listed = client.get("/v1/accounts/A1/learned")
        assert listed.status_code == 200
        [item] = listed.json()["items"]
        assert (item["kind"], item["value"], item["source"], item["learned_by"]) == (
            "alias", "Acme International", "review of lead L1", "jane@ours.com")

        # a CRM sync of the account does not drop it
        assert client.put("/v1/accounts", json=[account("A1", "Acme Corporation", domains=["acme.com"],
                                                        aliases=["ACME"])]).status_code == 200
        assert client.post("/v1/match", json=TWIN_SECOND).json()["decision"] == "matched"

        gone = client.delete(f"/v1/accounts/A1/learned/{item['id']}")
        assert gone.status_code == 200
        assert gone.json()["value"] == "Acme International"
        assert client.post("/v1/match", json=TWIN_SECOND).json()["decision"] == "review"
        assert client.get("/v1/accounts/A1/learned").json() == {"items": []}


def test_unknown_accounts_and_learned_names_are_404_naming_the_field(database_url: str) -> None:
    with app_client(settings_for(database_url)) as client:
        services = client.app.state.services
        assert client.put("/v1/accounts", json=[account("A1", "Acme Corporation")]).status_code == 200
        r = client.get("/v1/accounts/NOPE/learned")
        assert r.status_code == 404 and r.json()["fields"] == [{"field": "account_id", "message": "no such account"}]
        r = client.delete("/v1/accounts/NOPE/learned/1")
        assert r.status_code == 404 and r.json()["fields"] == [{"field": "account_id", "message": "no such account"}]
        r = client.delete("/v1/accounts/A1/learned/1")
        assert r.status_code == 404
        assert r.json()["fields"] == [{"field": "learned_id", "message": "no such learned name of this account"}]
        r = client.delete("/v1/accounts/A1/learned/zero")
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == "path.learned_id"
        # learning for an unknown account stores nothing
        taught = matching_service.lessons(services, Lead(company="Acme International"), "A1")
        with pytest.raises(NotFound) as raised:
            with db.session_scope(services.sessions) as s:
                accounts_service.learn(s, "NOPE", taught, "review of lead L1", None, services=services)
        assert raised.value.fields[0].field == "account_id"
        with services.sessions() as s:
            assert s.execute(select(LearnedNameRow)).all() == []
