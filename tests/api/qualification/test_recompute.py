"""The bulk recompute (api.qualification.recompute), the `rules` commands and POST /v1/rules/preview, on SQLite
and PostgreSQL. No mocks: a varied ledger (contacts with titles, events by contact and by email,
unmatched events, opportunities with stage changes, contracts, flags, manual moves) is written with
the project's storage functions, then the bulk path is checked against the per-account path
(``ledger_reader.load_ledgers`` + ``matcher.qualification.evaluate.evaluate_account`` + ``save_evaluations``).
"""
from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.qualification import ledger_reader, store as ledger_store, recompute, rule_sets
from api.accounts import store
from api.db.rows import AccountRow, AccountStatusRow, ContactRow, ContactStatusRow, StatusTransitionRow
from api.db import make_engine, make_sessionmaker, session_scope
from api.qualification.store import OpportunityData
from api.qualification.service import Qualifier
from api.accounts.store import AccountData, ContactData
from config import load_qualification_rules
from matcher.qualification import ledger as L
from matcher.qualification.evaluate import evaluate_account
from matcher.qualification.rules import compile_rules
from tests.conftest import app_client, settings_for

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
TITLES = ("VP Engineering", "Software Engineer", "CFO", "Marketing Manager", "Director of IT", None,
          "Account Executive", "Chief Technology Officer", "Procurement Specialist")
TYPES = sorted(L.ACTIVITY_TYPES)
N_ACCOUNTS = 36

# A rule change that moves accounts: any tier qualifies on a demo request, and less engagement
# makes an MQA.
CHANGED_RULES = """
version = "test-changed-1"
[[qualifying_actions]]
name = "demo_request"
says = "requested a demo"
activity_types = ["demo_request", "contact_us", "webinar"]

[engagement]
mqa_points = 20
mqa_min_personas = 1
"""


def build_ledger(url: str, seed: int = 7) -> None:
    """A deterministic, varied ledger; no statuses stored."""
    rng = random.Random(seed)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    accounts = [AccountData(f"A{i:02d}", f"Company {i}", domains=(f"company{i}.com",),
                            fit_tier=rng.choice(("1", "2", "3", None))) for i in range(N_ACCOUNTS)]
    contacts = []
    for a in accounts:
        for k in range(rng.randrange(0, 5)):
            contacts.append(ContactData(f"{a.id}-K{k}", a.id, f"p{k}@{a.domains[0]}", f"First{k}", f"Last{k}",
                                        rng.choice(TITLES)))
    with session_scope(factory) as s:
        store.upsert_accounts(s, accounts)
        store.upsert_contacts(s, contacts)
    events = []
    for n in range(420):
        t = AS_OF - timedelta(days=rng.uniform(0, 240), seconds=rng.randrange(86400))
        kind = rng.choice(TYPES)
        extra = {"page_kind": rng.choice(("pricing", "blog", None))} if kind == "page_view" else {}
        r = rng.random()
        if r < 0.05 or not contacts:
            who = {"email": f"stranger{n}@company{rng.randrange(N_ACCOUNTS)}.com"}  # stays unmatched
        elif r < 0.3:
            who = {"email": rng.choice(contacts).email}
        else:
            who = {"contact_id": rng.choice(contacts).id}
        events.append(L.Activity(id=f"E{n:04d}", type=kind, occurred_at=t,
                                 direction=rng.choice(("inbound", "outbound", None)), **who, **extra))
    future_ok = {"now": AS_OF + timedelta(minutes=1)}
    with session_scope(factory) as s:
        ledger_store.ingest_activities(s, events, **future_ok)
    by_account: dict[str, list[ContactData]] = {}
    for c in contacts:
        by_account.setdefault(c.account_id, []).append(c)
    opportunities, contracts = [], []
    for a in accounts[::3]:
        people = by_account.get(a.id)
        opened = AS_OF - timedelta(days=rng.uniform(20, 200))
        state = rng.choice(("open", "won", "lost"))
        opportunities.append(OpportunityData(
            id=f"O-{a.id}", account_id=a.id, state=state, type=rng.choice(L.OPPORTUNITY_TYPES), stage="discovery",
            primary_contact_id=people[0].id if people else None, opened_at=opened,
            closed_at=opened + timedelta(days=10) if state != "open" else None, stage_changed_at=opened))
    for a in accounts[1::4]:
        starts = (AS_OF - timedelta(days=rng.uniform(30, 900))).date()
        contracts.append(L.Contract(id=f"T-{a.id}", account_id=a.id, starts_on=starts,
                                    ends_on=rng.choice((None, starts + timedelta(days=365), date(2027, 1, 31)))))
    with session_scope(factory) as s:
        ledger_store.upsert_opportunities(s, opportunities, **future_ok)
        ledger_store.upsert_contracts(s, contracts, now=AS_OF)
    with session_scope(factory) as s:  # a stage moves: a second stage change on the open ones
        ledger_store.upsert_opportunities(s, [replace(o, stage="proposal", stage_changed_at=AS_OF - timedelta(days=5))
                                              for o in opportunities if o.state == "open"], **future_ok)
        ledger_store.set_account_flags(s, accounts[5].id, disqualified=True, partner=False,
                                       now=AS_OF - timedelta(days=3))
        ledger_store.set_account_flags(s, accounts[7].id, disqualified=False, partner=True,
                                       now=AS_OF - timedelta(days=2))
        for c, status in zip(contacts[2:20:6], ("no_longer_with_company", "sales_working", "disqualified")):
            ledger_store.record_manual_move(s, L.ManualContactMove(c.id, status, AS_OF - timedelta(days=4), by="rep"),
                                            now=AS_OF)
    engine.dispose()


@pytest.fixture
def ledger_url(database_url: str) -> str:
    build_ledger(database_url)
    return database_url


def per_account(url: str, rules=None) -> dict[str, L.AccountEvaluation]:  # noqa: ANN001
    """The per-write path's verdicts: each account's ledger loaded on its own and evaluated."""
    compiled = compile_rules(rules or load_qualification_rules())
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        ids = list(s.scalars(select(AccountRow.id)))
        ledgers = ledger_reader.load_ledgers(s, ids)
    engine.dispose()
    return {i: evaluate_account(ledgers[i], compiled, AS_OF) for i in ids}


def stored(url: str) -> tuple[dict, dict, int]:
    """(account rows, contact rows, transition count) as stored, updated_at left out."""
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        accounts = {r[0]: tuple(r[1:]) for r in s.execute(select(
            AccountStatusRow.account_id, AccountStatusRow.status, AccountStatusRow.since, AccountStatusRow.reasons,
            AccountStatusRow.engagement_points, AccountStatusRow.personas_engaged, AccountStatusRow.rule_version))}
        contacts = {r[0]: tuple(r[1:]) for r in s.execute(select(
            ContactStatusRow.contact_id, ContactStatusRow.account_id, ContactStatusRow.status, ContactStatusRow.since,
            ContactStatusRow.reasons, ContactStatusRow.persona, ContactStatusRow.seniority,
            ContactStatusRow.rule_version))}
        transitions = s.scalar(select(func.count()).select_from(StatusTransitionRow))
    engine.dispose()
    return accounts, contacts, transitions


def run(url: str, rules=None, *, apply: bool, workers: int = 1, slice_size: int = 7) -> recompute.RecomputeReport:  # noqa: ANN001
    engine = make_engine(url)
    try:
        return recompute.recompute_all(engine, compile_rules(rules or load_qualification_rules()), AS_OF,
                                       apply=apply, workers=workers, slice_size=slice_size)
    finally:
        engine.dispose()


def reasons(rs) -> list[dict]:  # noqa: ANN001
    return [ledger_store.reason_json(r) for r in rs]


def test_bulk_apply_stores_what_the_per_account_path_derives(ledger_url: str) -> None:
    expected = per_account(ledger_url)
    workers = 2 if ledger_url.startswith("postgresql") else 1
    report = run(ledger_url, apply=True, workers=workers)
    assert report.accounts == N_ACCOUNTS and report.slices >= -(-N_ACCOUNTS // 7)  # slices of at most 7
    assert report.activities > 0 and report.opportunities > 0 and report.contracts > 0 and report.manual_moves == 3
    accounts, contacts, transitions = stored(ledger_url)
    version = load_qualification_rules().version
    assert set(accounts) == set(expected)
    for account_id, e in expected.items():
        status, since, why, points, personas, rule_version = accounts[account_id]
        assert (status, why, points, personas, rule_version) == (
            e.status, reasons(e.reasons), e.engagement_points, list(e.personas_engaged), version), account_id
        assert since == (e.since or since)  # no `since` from the core: the store says when it saw it
        for c in e.contacts:
            row = contacts[c.contact_id]
            assert row[:3] == (account_id, c.status, c.since or row[2]) and row[3:6] == (
                reasons(c.reasons), c.persona, c.seniority), c.contact_id
    assert len(contacts) == sum(len(e.contacts) for e in expected.values())
    # nothing was stored before: every account and contact got its first status, logged once
    assert report.accounts_moved == N_ACCOUNTS and transitions == report.transitions == N_ACCOUNTS + len(contacts)
    assert {s for s in (e.status for e in expected.values())} >= {"disqualified", "partner"}
    # the matrix counts exactly the per-account verdicts
    for status in {e.status for e in expected.values()}:
        assert report.preview.count(None, status) == sum(e.status == status for e in expected.values())


def test_the_per_write_path_agrees_with_a_bulk_apply(ledger_url: str) -> None:
    run(ledger_url, apply=True)
    before = stored(ledger_url)
    engine = make_engine(ledger_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        ids = list(s.scalars(select(AccountRow.id)))
        Qualifier(load_qualification_rules()).refresh(s, ids, now=AS_OF)
    engine.dispose()
    assert stored(ledger_url) == before  # not one row or transition differs


def test_preview_changes_nothing(ledger_url: str) -> None:
    run(ledger_url, apply=True)
    before = stored(ledger_url)
    new_rules = rules_from_text(CHANGED_RULES)
    report = run(ledger_url, new_rules, apply=False)
    assert stored(ledger_url) == before
    assert report.transitions == 0 and report.rows_written == 0 and not report.applied
    expected = per_account(ledger_url, new_rules)
    old = {k: v[0] for k, v in before[0].items()}
    assert report.accounts_moved == sum(old[i] != e.status for i, e in expected.items()) > 0
    changed = [c for c in report.preview.cells if c.before != c.after]
    for cell in changed:
        assert cell.count == sum(old[i] == cell.before and e.status == cell.after for i, e in expected.items())
        ids = [a for a, _ in cell.samples]
        assert ids == sorted(ids) and len(ids) == min(3, cell.count) and all(r for _, r in cell.samples)


def test_apply_logs_the_moves_under_the_new_version_and_twice_logs_nothing(ledger_url: str) -> None:
    run(ledger_url, apply=True)
    _, _, logged = stored(ledger_url)
    new_rules = rules_from_text(CHANGED_RULES)
    preview = run(ledger_url, new_rules, apply=False)
    first = run(ledger_url, new_rules, apply=True)
    assert first.accounts_moved == preview.accounts_moved and first.contacts_moved == preview.contacts_moved
    assert first.transitions == preview.accounts_moved + preview.contacts_moved
    accounts, contacts, total = stored(ledger_url)
    assert total == logged + first.transitions
    assert {v[-1] for v in accounts.values()} == {v[-1] for v in contacts.values()} == {"test-changed-1"}
    engine = make_engine(ledger_url)
    with make_sessionmaker(engine)() as s:
        versions = set(s.scalars(select(StatusTransitionRow.rule_version).where(StatusTransitionRow.id > logged)))
    engine.dispose()
    assert versions == {"test-changed-1"}
    second = run(ledger_url, new_rules, apply=True, workers=2)
    assert (second.transitions, second.rows_written, second.accounts_moved) == (0, 0, 0)
    assert stored(ledger_url) == (accounts, contacts, total)


def test_a_contact_that_moved_without_a_recompute_is_stored_under_its_new_account(ledger_url: str) -> None:
    run(ledger_url, apply=True)
    engine = make_engine(ledger_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:  # a sync that moved a person and skipped re-evaluation
        k = s.execute(select(ContactRow).where(ContactRow.account_id == "A03").order_by(ContactRow.id)).scalars().first()
        assert k is not None
        store.upsert_contacts(s, [ContactData(k.id, "A30", k.email, k.first_name, k.last_name, k.title)])
        ledger_store.follow_contacts(s, [k.id])
    engine.dispose()
    report = run(ledger_url, apply=True, workers=2)
    assert report.rows_written > 0
    accounts, contacts, _ = stored(ledger_url)
    assert contacts[k.id][0] == "A30"
    expected = per_account(ledger_url)
    assert {c.contact_id for e in expected.values() for c in e.contacts} == set(contacts)
    assert run(ledger_url, apply=True).rows_written == 0


# ---------------------------------------------------------------- rule sets, CLI and API


def rules_from_text(text: str):  # noqa: ANN201
    return rule_sets.rules_from_toml(text)


def test_cli_preview_changes_nothing_and_apply_records_the_active_rule_set(ledger_url: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli import app
    from config import get_settings

    monkeypatch.setenv("DATABASE_URL", ledger_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        rules_file = tmp_path / "new.toml"
        rules_file.write_text(CHANGED_RULES)
        first = runner.invoke(app, ["recompute", "--as-of", AS_OF.isoformat()])
        assert first.exit_code == 0, first.output
        before = stored(ledger_url)
        out = runner.invoke(app, ["rules", "preview", str(rules_file), "--as-of", AS_OF.isoformat()])
        assert out.exit_code == 0, out.output
        assert "test-changed-1" in out.output and "would move" in out.output
        assert stored(ledger_url) == before
        out = runner.invoke(app, ["rules", "apply", str(rules_file), "--as-of", AS_OF.isoformat()])
        assert out.exit_code == 0, out.output
        engine = make_engine(ledger_url)
        with engine.connect() as conn:
            active = rule_sets.active_rule_set(conn)
        engine.dispose()
        assert active is not None and active.version == "test-changed-1"
        assert {v[-1] for v in stored(ledger_url)[0].values()} == {"test-changed-1"}
        # `recompute` uses the active rule set: nothing moves, nothing is logged
        again = runner.invoke(app, ["recompute", "--as-of", AS_OF.isoformat()])
        assert again.exit_code == 0, again.output
        assert "0 transitions" in again.output
    finally:
        get_settings.cache_clear()


def test_preview_route_takes_toml_or_json_and_changes_nothing(ledger_url: str) -> None:
    run(ledger_url, apply=True)
    before = stored(ledger_url)
    with app_client(settings_for(ledger_url)) as c:
        r = c.post("/v1/rules/preview", content=CHANGED_RULES, headers={"content-type": "application/toml"},
                   params={"as_of": AS_OF.isoformat()})
        assert r.status_code == 200, r.text
        body = r.json()
        as_json = c.post("/v1/rules/preview", json={"version": "test-changed-1",
                                                    "engagement": {"mqa_points": 20, "mqa_min_personas": 1},
                                                    "qualifying_actions": [{"name": "demo_request",
                                                                            "says": "requested a demo",
                                                                            "activity_types": ["demo_request",
                                                                                               "contact_us",
                                                                                               "webinar"]}]},
                         params={"as_of": AS_OF.isoformat()})
        assert as_json.status_code == 200, as_json.text
        bad = c.post("/v1/rules/preview", json={"engagement": {"mqa_points": -1}})
        assert bad.status_code == 422 and bad.json()["fields"], bad.text
    assert stored(ledger_url) == before
    assert body["rule_version"] == "test-changed-1" and body["accounts"] == N_ACCOUNTS
    assert body == {**as_json.json(), "seconds": body["seconds"]}
    expected = per_account(ledger_url, rules_from_text(CHANGED_RULES))
    old = {k: v[0] for k, v in before[0].items()}
    assert body["accounts_moved"] == sum(old[i] != e.status for i, e in expected.items()) > 0
    for cell in body["cells"]:
        assert cell["count"] == sum(old[i] == cell["before"] and e.status == cell["after"] for i, e in expected.items())


def test_a_running_app_follows_a_rule_set_applied_elsewhere(ledger_url: str) -> None:
    with app_client(settings_for(ledger_url)) as c:
        services = c.app.state.services
        default_version = services.qualifier.version
        new_rules = rules_from_text(CHANGED_RULES)
        engine = make_engine(ledger_url)
        with engine.begin() as conn:  # what `leadmatch rules apply` does in another process
            rule_sets.record_applied(conn, new_rules, "new.toml")
        recompute.recompute_all(engine, compile_rules(new_rules), apply=True, workers=1)
        engine.dispose()
        assert services.qualifier.version == default_version  # nothing told this process yet
        at = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
        r = c.post("/v1/activities", json=[{"id": "E-after-apply", "type": "webinar", "occurred_at": at,
                                             "contact_id": "A00-K0"}])
        assert r.status_code == 200, r.text
        assert services.qualifier.version == "test-changed-1"
        body = c.get("/v1/accounts/A00/status").json()
        assert body["rule_version"] == "test-changed-1"
    accounts, contacts, _ = stored(ledger_url)
    assert {v[-1] for v in accounts.values()} == {v[-1] for v in contacts.values()} == {"test-changed-1"}


def test_an_account_written_by_the_api_during_a_run_is_re_read_not_overwritten(ledger_url: str) -> None:
    if not ledger_url.startswith("postgresql"):
        pytest.skip("SQLite runs take the write lock before reading: nothing can come between")
    from api.qualification.rule_sets import FollowingQualifier

    run(ledger_url, apply=True)
    rules = load_qualification_rules()
    engine = make_engine(ledger_url)
    factory = make_sessionmaker(engine)
    with factory() as s:  # an account of the run's second slice (A07-A13), with a contact
        account_id, contact_id = s.execute(
            select(ContactRow.account_id, ContactRow.id).where(ContactRow.account_id.between("A07", "A13"))
            .order_by(ContactRow.account_id, ContactRow.id)).first()
    compiled = compile_rules(rules)
    warnings: list[str] = []
    job = recompute._Job(url=ledger_url, rules=rules.model_dump(mode="json"), as_of=AS_OF, as_of_given=True,  # noqa: SLF001
                         now=AS_OF, apply=True, samples_per_cell=3, slice_size=7,
                         run_id=recompute._announce_run(engine, rules.version, warnings))  # noqa: SLF001
    slices = recompute._stream_range(recompute._Worker(job, engine, compiled), None, None)  # noqa: SLF001
    try:
        first = next(slices)  # the snapshot is taken; the first 7 accounts are written
        assert first.accounts == 7 and not warnings
        snapshot_verdict = per_account(ledger_url)[account_id]
        with session_scope(factory) as s:  # the API ingests a demo request and re-evaluates the account
            ledger_store.ingest_activities(s, [L.Activity("E-during-run", "demo_request", AS_OF - timedelta(hours=1),
                                                          contact_id=contact_id)], now=AS_OF)
            FollowingQualifier(rules).refresh(s, [account_id], now=AS_OF)
        second = next(slices)  # evaluated from the snapshot, without the demo request: re-read under the lock
        rest = list(slices)
    finally:
        slices.close()
        recompute._finish_run(engine, job.run_id)  # noqa: SLF001
        engine.dispose()
    assert second.reread == 1 and sum(r.reread for r in rest) == 0
    expected = per_account(ledger_url)[account_id]
    assert expected.engagement_points != snapshot_verdict.engagement_points  # the event matters
    stored_row = stored(ledger_url)[0][account_id]
    assert stored_row[0] == expected.status and stored_row[2:4] == (reasons(expected.reasons),
                                                                    expected.engagement_points)
