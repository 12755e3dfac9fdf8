"""The qualification ledger and the stored statuses, against the real databases (SQLite, PostgreSQL)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from api.qualification import ledger_reader, store as ledger_store
from api.accounts import store
from api.db.rows import (AccountRow, AccountStatusRow, ActivityRow, ContactStatusRow, OpportunityRow,
                        OpportunityStageChangeRow)
from api.db import make_engine, make_sessionmaker, session_scope
from api.qualification.store import OpportunityData
from api.accounts.store import AccountData, ContactData
from matcher.qualification import ledger as L

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
NOW = T0 + timedelta(days=1)


@pytest.fixture
def sessions(database_url: str):
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        store.upsert_accounts(s, [AccountData("A1", "Acme Corporation", domains=("acme.com",)),
                                  AccountData("A2", "Zorblax Industries", domains=("zorblax.com",))])
        store.upsert_contacts(s, [ContactData("K1", "A1", "jane@acme.com", "Jane", "Doe", "VP Engineering"),
                                  ContactData("K2", "A1", "max@acme.com", "Max", "Muster", "CFO")])
    yield factory
    engine.dispose()


def event(id: str = "E1", type: str = "demo_request", at: datetime = T0, **kw) -> L.Activity:  # noqa: A002
    kw.setdefault("contact_id", None if "email" in kw else "K1")
    return L.Activity(id=id, type=type, occurred_at=at, **kw)


def ingest(sessions, *events: L.Activity, now: datetime = NOW):  # noqa: ANN001, ANN201
    with session_scope(sessions) as s:
        return ledger_store.ingest_activities(s, list(events), now=now)


def count(sessions, model) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def problems(exc: pytest.ExceptionInfo) -> list[tuple[int, str]]:
    return [(p.index, p.field) for p in exc.value.problems]


def test_activities_are_idempotent_by_event_id(sessions) -> None:  # noqa: ANN001
    report, touched = ingest(sessions, event("E1"), event("E2", "page_view", page_kind="pricing"))
    assert (report.created, report.unchanged, report.unmatched) == (2, 0, 0) and touched == {"A1"}
    # the same instant written in another offset is the same event
    report, touched = ingest(sessions, event("E1", at=T0.astimezone(timezone(timedelta(hours=2)))))
    assert (report.created, report.unchanged) == (0, 1) and touched == set()
    assert count(sessions, ActivityRow) == 2


BAD_BATCHES = [
    # (case, second item, field of the problem)
    ("unknown type", event("N2", "telepathy"), "type"),
    ("unknown contact", event("N2", contact_id="ghost"), "contact_id"),
    ("no person", event("N2", contact_id=None), "contact_id"),
    ("bad direction", event("N2", direction="sideways"), "direction"),
    ("future beyond tolerance", event("N2", at=NOW + timedelta(minutes=6)), "occurred_at"),
    ("stored id, other content", event("E1", "webinar"), "id"),
    ("same id twice in the batch, other content", event("N1", "webinar"), "id"),
]


@pytest.mark.parametrize(("case", "bad", "field"), BAD_BATCHES, ids=[c[0] for c in BAD_BATCHES])
def test_a_bad_activity_fails_the_batch_and_stores_nothing(sessions, case: str, bad: L.Activity,  # noqa: ANN001
                                                           field: str) -> None:
    ingest(sessions, event("E1"))
    with pytest.raises(store.InvalidItems) as exc:
        ingest(sessions, event("N1"), bad)
    assert problems(exc) == [(1, field)]
    assert count(sessions, ActivityRow) == 1


def test_future_tolerance_admits_a_little_clock_drift(sessions) -> None:  # noqa: ANN001
    report, _ = ingest(sessions, event("E1", at=NOW + timedelta(minutes=4)))
    assert report.created == 1


def test_unmatched_events_are_kept_and_attach_when_the_contact_appears(sessions) -> None:  # noqa: ANN001
    report, touched = ingest(sessions, event("E1", email="New.Person@Acme.com"), event("E2", email="jane@acme.com"))
    assert (report.created, report.unmatched) == (2, 1)
    assert touched == {"A1"}  # jane is a contact: her event is attached at once
    with session_scope(sessions) as s:
        report, _ = store.upsert_contacts(s, [ContactData("K3", "A2", "new.person@acme.com")])
        assert ledger_store.follow_contacts(s, report.changed_ids) == {"A2"}
    with sessions() as s:
        rows = dict(s.execute(select(ActivityRow.id, ActivityRow.contact_id)).all())
        ledgers = ledger_reader.load_ledgers(s, ["A1", "A2"])
    assert rows == {"E1": "K3", "E2": "K1"}
    assert [a.id for a in ledgers["A2"].activities] == ["E1"]
    # resending the event as first sent (by email) is still the same event
    report, touched = ingest(sessions, event("E1", email="new.person@acme.com"))
    assert report.unchanged == 1 and touched == set()


def test_events_follow_a_contact_that_moves_to_another_account(sessions) -> None:  # noqa: ANN001
    ingest(sessions, event("E1"), event("E2", contact_id="K2"))
    with session_scope(sessions) as s:
        report, touched = store.upsert_contacts(s, [ContactData("K1", "A2", "jane@acme.com", "Jane", "Doe")])
        ledger_store.follow_contacts(s, report.changed_ids)
    assert touched == {"A1", "A2"}
    with sessions() as s:
        ledgers = ledger_reader.load_ledgers(s, ["A1", "A2"])
    assert [a.id for a in ledgers["A1"].activities] == ["E2"]
    assert [a.id for a in ledgers["A2"].activities] == ["E1"]


def opp(id: str = "O1", **kw) -> OpportunityData:  # noqa: A002
    kw.setdefault("account_id", "A1")
    return OpportunityData(id=id, **kw)


def upsert_opps(sessions, *items: OpportunityData, now: datetime = NOW):  # noqa: ANN001, ANN201
    with session_scope(sessions) as s:
        return ledger_store.upsert_opportunities(s, list(items), now=now)


def test_opportunity_stage_changes_keep_their_times(sessions) -> None:  # noqa: ANN001
    opened = T0 + timedelta(hours=1)
    report, touched = upsert_opps(sessions, opp(stage="discovery", primary_contact_id="K1", opened_at=opened))
    assert report.created == 1 and touched == {"A1"}
    assert upsert_opps(sessions, opp(stage="discovery", primary_contact_id="K1"))[0].unchanged == 1
    later = NOW + timedelta(days=2)
    upsert_opps(sessions, opp(stage="proposal", primary_contact_id="K1"), now=later)
    upsert_opps(sessions, opp(stage="negotiation", primary_contact_id="K1",
                              stage_changed_at=later + timedelta(hours=3)), now=later + timedelta(days=1))
    report, _ = upsert_opps(sessions, opp(stage="negotiation", primary_contact_id="K1", state="won",
                                          closed_at=later + timedelta(days=1)), now=later + timedelta(days=1))
    assert report.updated == 1
    with sessions() as s:
        (o,) = ledger_reader.load_ledger(s, "A1").opportunities
    assert o.opened_at == opened  # kept though later syncs left it out
    assert [(c.stage, c.at) for c in o.stage_changes] == [
        ("discovery", opened), ("proposal", later), ("negotiation", later + timedelta(hours=3))]
    assert (o.state, o.closed_at, o.primary_contact_id) == ("won", later + timedelta(days=1), "K1")


BAD_OPPORTUNITIES = [
    ("unknown account", opp("O2", account_id="ghost"), "account_id"),
    ("unknown primary contact", opp("O2", primary_contact_id="ghost"), "primary_contact_id"),
    ("won without closed_at", opp("O2", state="won"), "closed_at"),
    ("open with closed_at", opp("O2", closed_at=T0), "closed_at"),
    ("closed before opened", opp("O2", state="lost", opened_at=T0, closed_at=T0 - timedelta(days=1)), "closed_at"),
    ("bad state", opp("O2", state="pending"), "state"),
    ("bad type", opp("O2", type="upsell"), "type"),
    ("future opened_at", opp("O2", opened_at=NOW + timedelta(days=1)), "opened_at"),
    ("duplicate id", opp("O1"), "id"),
]


@pytest.mark.parametrize(("case", "bad", "field"), BAD_OPPORTUNITIES, ids=[c[0] for c in BAD_OPPORTUNITIES])
def test_a_bad_opportunity_fails_the_batch(sessions, case: str, bad: OpportunityData, field: str) -> None:  # noqa: ANN001
    with pytest.raises(store.InvalidItems) as exc:
        upsert_opps(sessions, opp("O1"), bad)
    assert problems(exc) == [(1, field)]
    assert count(sessions, OpportunityRow) == 0 and count(sessions, OpportunityStageChangeRow) == 0


def test_contracts_upsert_validate_and_move_between_accounts(sessions) -> None:  # noqa: ANN001
    with session_scope(sessions) as s:
        report, touched = ledger_store.upsert_contracts(s, [L.Contract("C1", "A1", date(2026, 1, 1), date(2026, 12, 31))])
    assert report.created == 1 and touched == {"A1"}
    with session_scope(sessions) as s:
        report, touched = ledger_store.upsert_contracts(s, [L.Contract("C1", "A2", date(2026, 1, 1), None)])
    assert report.updated == 1 and touched == {"A1", "A2"}
    with pytest.raises(store.InvalidItems) as exc, session_scope(sessions) as s:
        ledger_store.upsert_contracts(s, [L.Contract("C2", "A1", date(2026, 1, 1), date(2025, 1, 1)),
                                          L.Contract("C3", "ghost", date(2026, 1, 1))])
    assert problems(exc) == [(0, "ends_on"), (1, "account_id")]
    with sessions() as s:
        ledgers = ledger_reader.load_ledgers(s, ["A1", "A2"])
    assert ledgers["A1"].contracts == () and ledgers["A2"].contracts == (L.Contract("C1", "A2", date(2026, 1, 1)),)


def test_a_ledger_has_everything_with_utc_times(sessions) -> None:  # noqa: ANN001
    ingest(sessions, event("E2", at=T0 + timedelta(hours=1)), event("E1", at=T0.astimezone(timezone(timedelta(hours=-5)))))
    upsert_opps(sessions, opp(stage="discovery", opened_at=T0))
    with session_scope(sessions) as s:
        assert ledger_store.set_account_flags(s, "A1", disqualified=True, partner=True, now=T0) is True
        assert ledger_store.set_account_flags(s, "A1", disqualified=True, partner=False, now=NOW) is True
        assert ledger_store.set_account_flags(s, "A1", disqualified=True, partner=False, now=NOW) is False
        assert ledger_store.set_account_flags(s, "ghost", disqualified=True, partner=False) is None
        ledger_store.record_manual_move(s, L.ManualContactMove("K2", "disqualified", T0, by="Lena"), now=NOW)
        s.execute(AccountRow.__table__.update().where(AccountRow.id == "A1").values(fit_tier="1", employees=900))
    with sessions() as s:
        ledger = ledger_reader.load_ledger(s, "A1")
        assert ledger_reader.load_ledger(s, "ghost") is None
    assert ledger.account == L.AccountProfile("A1", "Acme Corporation", fit_tier="1", employees=900,
                                              disqualified=True, disqualified_at=T0)  # set first at T0
    assert [c.id for c in ledger.contacts] == ["K1", "K2"] and ledger.contacts[0].title == "VP Engineering"
    assert [a.id for a in ledger.activities] == ["E1", "E2"]  # in time order
    assert ledger.activities[0].occurred_at == T0 and ledger.activities[0].occurred_at.tzinfo is not None
    assert ledger.manual_moves == (L.ManualContactMove("K2", "disqualified", T0, by="Lena"),)
    assert ledger.opportunities[0].stage_changes == (L.StageChange("discovery", T0),)


def verdict(status: str = "nurture", since: datetime | None = T0, contacts: tuple = (), **kw) -> L.AccountEvaluation:
    reasons = (L.Reason("engagement", "Jane Doe downloaded a whitepaper", ("E1",), 10.0, "K1"),)
    return L.AccountEvaluation("A1", status, since, reasons, contacts, kw.pop("points", 10.0), ("engineering",))


def contact_state(id: str = "K1", status: str = "nurture", since: datetime | None = T0) -> L.ContactState:  # noqa: A002
    return L.ContactState(id, status, since, (), "engineering", "vp")


def save(sessions, *evaluations: L.AccountEvaluation, version: str = "v1", now: datetime = NOW):  # noqa: ANN001, ANN201
    with session_scope(sessions) as s:
        return ledger_store.save_evaluations(s, list(evaluations), rule_version=version, now=now)


def history(sessions) -> list[tuple]:  # noqa: ANN001
    with sessions() as s:
        return [(h["entity_kind"], h["entity_id"], h["old_status"], h["new_status"], h["rule_version"])
                for h in ledger_store.read_history(s, "A1")]


def test_saving_verdicts_logs_changes_only(sessions) -> None:  # noqa: ANN001
    first = verdict(contacts=(contact_state("K1"), contact_state("K2", "pre_qualified", None)))
    report = save(sessions, first)
    assert report.transitions == 3 and report.accounts_changed == ["A1"]
    assert save(sessions, first).transitions == 0  # the same verdict again writes nothing
    assert save(sessions, first, version="v2").transitions == 0  # a new rule set alone is no transition
    with sessions() as s:
        stored = ledger_store.read_account_status(s, "A1")
        contacts = {c["id"]: c for c in ledger_store.read_contact_states(s, "A1")}
    assert stored["rule_version"] == "v2" and stored["since"] == T0
    assert stored["reasons"][0] == {"rule": "engagement", "text": "Jane Doe downloaded a whitepaper",
                                    "event_ids": ["E1"], "points": 10.0, "contact_id": "K1"}
    assert contacts["K2"]["since"] == NOW  # no time from the core: when it was first stored
    assert contacts["K1"]["persona"] == "engineering" and contacts["K1"]["seniority"] == "vp"

    later = NOW + timedelta(hours=1)
    save(sessions, verdict("qualified", since=None, contacts=(contact_state("K1", "qualified", T0 + timedelta(hours=5)),
                                                              contact_state("K2", "pre_qualified", None))), now=later)
    with sessions() as s:
        stored = ledger_store.read_account_status(s, "A1")
    assert stored["status"] == "qualified" and stored["since"] == later
    assert history(sessions) == [  # newest first; an account's move above the contact moves that caused it
        ("account", "A1", "nurture", "qualified", "v1"), ("contact", "K1", "nurture", "qualified", "v1"),
        ("account", "A1", None, "nurture", "v1"), ("contact", "K2", None, "pre_qualified", "v1"),
        ("contact", "K1", None, "nurture", "v1")]


def test_a_contact_that_left_loses_its_status_row_here(sessions) -> None:  # noqa: ANN001
    save(sessions, verdict(contacts=(contact_state("K1"), contact_state("K2"))))
    save(sessions, verdict(contacts=(contact_state("K1"),)))
    with sessions() as s:
        assert [c["status"] for c in ledger_store.read_contact_states(s, "A1")] == ["nurture", None]


def test_forgetting_an_account_keeps_its_events_as_unmatched(sessions) -> None:  # noqa: ANN001
    ingest(sessions, event("E1"))
    upsert_opps(sessions, opp(stage="discovery"))
    save(sessions, verdict(contacts=(contact_state("K1"),)))
    with session_scope(sessions) as s:
        ledger_store.forget_account(s, "A1")
        store.delete_account(s, "A1")
    with sessions() as s:
        assert s.execute(select(ActivityRow.contact_id, ActivityRow.account_id, ActivityRow.email)).all() == [(None, None, "jane@acme.com")]
    assert count(sessions, OpportunityRow) == count(sessions, OpportunityStageChangeRow) == 0
    assert count(sessions, AccountStatusRow) == count(sessions, ContactStatusRow) == 0
    assert len(history(sessions)) == 2  # the record of what was decided stays
