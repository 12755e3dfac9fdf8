"""match-file's index snapshot: used only while it is what a fresh build would give."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from api.matching import index_snapshot
from api.cli import app
from config import load_matching_rules
from tests.api.test_cli import ACCOUNTS, LEADS, cli_env, runner, write  # noqa: F401 - cli_env is a fixture


def _match(tmp_path: Path, leads: Path, name: str, *extra: str) -> tuple[str, list[dict]]:
    out = tmp_path / name
    r = runner.invoke(app, ["match-file", str(leads), "--out", str(out), "--workers", "1", *extra])
    assert r.exit_code == 0, r.output
    with open(out, newline="", encoding="utf-8") as fh:
        return r.output, list(csv.DictReader(fh))


def _generation(url: str) -> tuple[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        g = index_snapshot.read_generation(conn)
    engine.dispose()
    assert g is not None
    return g


def test_snapshot_is_reused_until_the_accounts_change(cli_env: str, tmp_path: Path) -> None:
    assert runner.invoke(app, ["import-accounts", str(write(tmp_path, "a.csv", ACCOUNTS))]).exit_code == 0
    leads = write(tmp_path, "leads.csv", LEADS)
    first, rows1 = _match(tmp_path, leads, "1.csv")
    assert "snapshot saved" in first
    second, rows2 = _match(tmp_path, leads, "2.csv")
    assert "from the snapshot" in second and rows2 == rows1
    zorblax = next(r for r in rows1 if r["lead_id"] == "L3")
    assert zorblax["account_id"] == "Z1" and zorblax["owner"] == "Oliver Hughes"

    # a change made behind the service's back (plain SQL) still moves the generation
    before = _generation(cli_env)
    engine = create_engine(cli_env)
    with engine.begin() as conn:
        conn.execute(text("UPDATE owners SET name = 'Olivia Hughes' WHERE name = 'Oliver Hughes'"))
    engine.dispose()
    assert _generation(cli_env)[1] > before[1] and _generation(cli_env)[0] == before[0]
    third, rows3 = _match(tmp_path, leads, "3.csv")
    assert "snapshot saved" in third  # rebuilt, not read
    assert next(r for r in rows3 if r["lead_id"] == "L3")["owner"] == "Olivia Hughes"

    # a deleted domain, through the command line's own import: the answer follows it
    changed = ACCOUNTS.replace("Z1,Zorblax Industries,zorblax.com", "Z1,Zorblax Industries,zorblax.net")
    assert runner.invoke(app, ["import-accounts", str(write(tmp_path, "b.csv", changed))]).exit_code == 0
    fourth, rows4 = _match(tmp_path, leads, "4.csv")
    assert "snapshot saved" in fourth
    assert "email domain zorblax.com is a domain of" not in next(r for r in rows4 if r["lead_id"] == "L3")["reasons"]
    # --no-snapshot neither reads nor writes one
    fifth, rows5 = _match(tmp_path, leads, "5.csv", "--no-snapshot")
    assert "the snapshot" not in fifth and "snapshot saved" not in fifth and rows5 == rows4


def test_snapshot_of_other_rules_code_or_database_is_not_used(cli_env: str, tmp_path: Path) -> None:
    assert runner.invoke(app, ["import-accounts", str(write(tmp_path, "a.csv", ACCOUNTS))]).exit_code == 0
    leads = write(tmp_path, "leads.csv", LEADS)
    _match(tmp_path, leads, "1.csv")
    rules = load_matching_rules()
    gen = _generation(cli_env)
    path = next((tmp_path / "cache").glob("*.snapshot"))
    assert index_snapshot.load(path, rules, gen) is not None
    other_rules = rules.model_copy(update={"aliases": {**rules.aliases, "zorblax": ["zbx"]}})
    assert index_snapshot.load(path, other_rules, gen) is None
    assert index_snapshot.load(path, rules, ("another-database", gen[1])) is None
    assert index_snapshot.load(path, rules, (gen[0], gen[1] + 1)) is None
    # a damaged file is a rebuild, not an error: cut short, or a byte of the body changed
    # (also where matching processes would restore it themselves)
    data = path.read_bytes()
    path.write_bytes(data[:200])
    out, rows = _match(tmp_path, leads, "2.csv")
    assert "snapshot saved" in out and len(rows) == 5
    data = path.read_bytes()
    path.write_bytes(data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:])
    assert index_snapshot.read(path, rules, _generation(cli_env)) is None
    out, rows = _match(tmp_path, leads, "3.csv", "--workers", "2")
    assert "snapshot saved" in out and len(rows) == 5
    out, rows3 = _match(tmp_path, leads, "4.csv", "--workers", "2")
    assert "restored by each matching process" in out and rows3 == rows


def test_the_loaded_index_answers_as_the_built_one(cli_env: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from api.matching import commands as matching_commands
    from api.matching import index_load

    calls: list[str] = []  # which way each index came: read from the database or restored

    def spy(name: str, function):  # noqa: ANN001, ANN202
        def called(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls.append(name)
            return function(*args, **kwargs)
        return called

    monkeypatch.setattr(index_load, "build_index", spy("database", index_load.build_index))
    monkeypatch.setattr(index_snapshot, "restore", spy("snapshot", index_snapshot.restore))
    assert runner.invoke(app, ["import-accounts", str(write(tmp_path, "a.csv", ACCOUNTS))]).exit_code == 0
    built = matching_commands.build_index(snapshot=True)
    assert calls == ["database"]
    loaded = matching_commands.build_index(snapshot=True)
    assert calls == ["database", "snapshot"]  # the second one never read the accounts
    assert len(loaded) == len(built) == 3
    assert [*loaded.prepared_accounts()] == [*built.prepared_accounts()]
    assert loaded._postings == built._postings and loaded._children == built._children


def test_every_change_moves_the_generation_by_one_and_the_log_stays_short(database_url: str) -> None:
    """One step per statement that changes what the index reads, whoever runs it; on
    PostgreSQL the writers fold the change log as they go, keeping its sum."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO owners (name) VALUES ('Someone New')"))
        start = index_snapshot.read_generation(conn)
    for i in range(250):  # separate transactions, as separate writers would make them
        with engine.begin() as conn:
            conn.execute(text("UPDATE owners SET email = :e WHERE name = 'Someone New'"), {"e": f"n{i}@x.io"})
    with engine.begin() as conn:
        assert index_snapshot.read_generation(conn) == (start[0], start[1] + 250)
        if database_url.startswith("postgresql"):
            assert conn.execute(text("SELECT count(*) FROM index_changes")).scalar_one() <= 100
        conn.execute(text("SELECT 1 FROM owners"))  # reading moves nothing
        assert index_snapshot.read_generation(conn)[1] == start[1] + 250
    engine.dispose()


def test_sqlite_generation_is_read_without_sqlalchemy_as_with_it(database_url: str, tmp_path) -> None:  # noqa: ANN001
    engine = create_engine(database_url)
    with engine.connect() as conn:
        through_sqlalchemy = index_snapshot.read_generation(conn)
    engine.dispose()
    direct = index_snapshot.read_sqlite_generation(database_url)
    if database_url.startswith("sqlite"):
        assert direct == through_sqlalchemy is not None
    else:
        assert direct is None  # only plain SQLite file URLs are read directly
    for other in ("sqlite://", "sqlite:///:memory:", f"sqlite:///{tmp_path / 'missing.db'}",
                  f"sqlite:///{tmp_path / 'x.db'}?mode=ro"):
        assert index_snapshot.read_sqlite_generation(other) is None
    assert not (tmp_path / "missing.db").exists()  # read-only: nothing created


@pytest.mark.postgres
def test_concurrent_writers_neither_wait_nor_lose_a_change(_pg_session_url: str) -> None:
    """Writers in parallel transactions (PostgreSQL; SQLite has one writer at a time): each
    statement counts once, and folding the log under them neither blocks them nor loses a step."""
    import threading

    engine = create_engine(_pg_session_url, pool_size=6)
    with engine.begin() as conn:
        for t in range(4):
            conn.execute(text("INSERT INTO owners (name) VALUES (:n)"), {"n": f"Writer {t}"})
        start = index_snapshot.read_generation(conn)
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(40):
                with engine.begin() as conn:  # three statements in one transaction
                    for k in range(3):
                        conn.execute(text("UPDATE owners SET email = :e WHERE name = :n"),
                                     {"e": f"{t}-{i}-{k}@x.io", "n": f"Writer {t}"})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    with engine.connect() as conn:
        assert index_snapshot.read_generation(conn) == (start[0], start[1] + 4 * 40 * 3)
        # the log stays short: after the last fold (every 100th change), at most 99 more rows,
        # the rows the other writers' open transactions held then (invisible to the fold: 3
        # writers x 3 statements) and the fold's own row; 102 was seen once
        assert conn.execute(text("SELECT count(*) FROM index_changes")).scalar_one() <= 99 + 3 * 3 + 1
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM owners WHERE name LIKE 'Writer %'"))
    engine.dispose()


def test_the_digest_covers_every_source_file_of_the_core(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A snapshot is a cache of what the core computes: a change to any file of the core, in any
    of its domain packages, must make it stale."""
    import shutil

    assert (index_snapshot.MATCHER_DIR / "matching" / "index.py").is_file()
    copy = tmp_path / "matcher"
    shutil.copytree(index_snapshot.MATCHER_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(index_snapshot, "MATCHER_DIR", copy)
    rules = load_matching_rules()
    before = index_snapshot.build_digest(rules)
    for changed in ("normalize.py", "matching/keys.py", "qualification/ledger.py"):
        source = copy / changed
        original = source.read_bytes()
        source.write_bytes(original + b"\n# changed\n")
        assert index_snapshot.build_digest(rules) != before, changed
        source.write_bytes(original)
        assert index_snapshot.build_digest(rules) == before


def test_a_snapshot_keeps_what_accounts_learned(tmp_path: Path) -> None:
    """Learned names travel in the snapshot with their account, so a restored index still says
    where a name was learned."""
    from matcher.matching.index import AccountIndex
    from matcher.matching.types import Account, Lead

    rules = load_matching_rules()
    built = AccountIndex(rules)
    built.upsert(Account("A1", "Acme Corporation", ("acme.com",), country="US", aliases=("Acme International",),
                         learned=(("alias", "Acme International", "review of lead L1", "jane@ours.com"),)))
    built.upsert(Account("A2", "Globex Industries", ("globex.com",), country="US"))
    path = tmp_path / "index.snapshot"
    index_snapshot.save(path, built, ("instance", 7))
    loaded = index_snapshot.load(path, rules, ("instance", 7))
    assert loaded is not None
    assert loaded.get("A1").learned == (("alias", "Acme International", "review of lead L1", "jane@ours.com"),)
    lead = Lead(email="max@gmail.com", company="Acme International", country="US")
    assert loaded.match(lead).reasons[0] == ("'Acme International' is a name of 'Acme Corporation' learned from "
                                             "review of lead L1 (by jane@ours.com)")
