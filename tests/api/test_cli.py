"""The command line on tiny CSV files the tests write themselves."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.matching import commands as matching_commands
from api.cli import app
from config import get_settings

runner = CliRunner()

ACCOUNTS = """\
id,name,domains,country,region,city,parent_id,owner
C1,Acme GmbH,acme.de,DE,BY,Munich,P1,Lena Vogel
P1,Acme Corporation,acme.com;acme.io,US,CA,San Francisco,,Dana Whitfield
B1,,nameless.com,US,,,,Dana Whitfield
O1,Orphan Ltd,orphan.co.uk,GB,,,GHOST,Oliver Hughes
Z1,Zorblax Industries,zorblax.com,GB,,London,,Oliver Hughes
"""

LEADS = """\
lead_id,email,company,country
L1,jane@acme.de,Acme GmbH,DE
L2,,,US
L3,bob@zorblax.com,Zorblax,GB
L4,someone@nowhere-at-all.org,Nowhere,US
L5,max@acme-gruppe.de,,DE
"""


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LEADMATCH_CACHE_DIR", str(tmp_path / "cache"))  # index snapshots stay in the test
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_match_and_contacts(cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = write(tmp_path, "accounts.csv", ACCOUNTS)
    r = runner.invoke(app, ["import-accounts", str(accounts)])
    assert r.exit_code == 0, r.output
    assert "3 created" in r.output and "2 rows skipped" in r.output
    assert "line 4 (id B1): name" in r.output  # the header is line 1
    assert "line 5 (id O1): parent_id" in r.output

    again = runner.invoke(app, ["import-accounts", str(accounts)])
    assert "0 created, 0 updated, 3 unchanged" in again.output

    contacts = write(tmp_path, "contacts.csv", "id,account_id,email\nK1,C1,max@acme-gruppe.de\nK2,GHOST,a@b.com\n"
                                               "K3,C1,broken@\n")
    r = runner.invoke(app, ["import-contacts", str(contacts)])
    assert r.exit_code == 0, r.output
    assert "1 created" in r.output and "2 rows skipped" in r.output

    out = tmp_path / "results.csv"
    r = runner.invoke(app, ["match-file", str(write(tmp_path, "leads.csv", LEADS)), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["lead_id", "decision", "account_id", "confidence", "owner", "reasons"]
    assert [row["lead_id"] for row in rows] == ["L1", "L2", "L3", "L4", "L5"]  # input order, one per row
    by_id = {row["lead_id"]: row for row in rows}
    assert (by_id["L1"]["decision"], by_id["L1"]["account_id"], by_id["L1"]["owner"]) == ("matched", "C1", "Lena Vogel")
    assert by_id["L2"]["decision"] == "error" and "email or a company" in by_id["L2"]["reasons"]
    assert by_id["L3"]["account_id"] == "Z1"
    assert by_id["L4"]["decision"] == "no_match"
    assert by_id["L5"]["account_id"] == "C1"  # learned from the imported contact
    assert " | " in by_id["L1"]["reasons"] or by_id["L1"]["reasons"]

    # matching in forked processes changes nothing: same rows, same order, chunk borders included
    monkeypatch.setattr(matching_commands, "MATCH_CHUNK", 2)
    for workers in ("1", "3"):
        again = tmp_path / f"results-{workers}.csv"
        r = runner.invoke(app, ["match-file", str(tmp_path / "leads.csv"), "--out", str(again), "--workers", workers])
        assert r.exit_code == 0, r.output
        assert again.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_match_file_refuses_a_file_without_lead_columns(cli_env: str, tmp_path: Path) -> None:
    r = runner.invoke(app, ["match-file", str(write(tmp_path, "x.csv", "a,b\n1,2\n")), "--out", str(tmp_path / "o.csv")])
    assert r.exit_code == 2 and "email" in r.output


def test_console_script_exits_with_the_commands_status(cli_env: str, tmp_path: Path) -> None:
    """``main`` (the installed ``leadmatch``) ends match-file without freeing the index: the
    results must still be complete and the exit status the command's."""
    import os
    import subprocess
    import sys

    def leadmatch(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from api.cli import main; main()", *args],
                              capture_output=True, text=True, env=dict(os.environ), timeout=120)

    assert leadmatch("import-accounts", str(write(tmp_path, "accounts.csv", ACCOUNTS))).returncode == 0
    out = tmp_path / "out.csv"
    done = leadmatch("match-file", str(write(tmp_path, "leads.csv", LEADS)), "--out", str(out), "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "5 leads" in done.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        assert [r["lead_id"] for r in csv.DictReader(fh)] == ["L1", "L2", "L3", "L4", "L5"]
    bad = leadmatch("match-file", str(write(tmp_path, "bad.csv", "x,y\n1,2\n")), "--out", str(tmp_path / "b.csv"))
    assert bad.returncode == 2 and "needs an 'email' or a 'company' column" in bad.stderr


def test_the_command_line_starts_without_the_orm() -> None:
    """`match-file` from a snapshot and the importers are run as whole processes, many times a day:
    starting `leadmatch` must not pay for SQLAlchemy, the ORM rows or FastAPI (each command imports
    what it needs when it runs)."""
    probe = ("import sys, api.cli; heavy = sorted(m for m in ('sqlalchemy', 'fastapi', 'api.db.rows', "
             "'api.accounts.store', 'api.qualification.store') if m in sys.modules); print(heavy)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_run_imports_only_the_command_it_runs() -> None:
    """``main`` builds the command line with the command it was asked for alone: the other
    domains' command modules cost match-file and the importers a tenth of a second a run."""
    probe = ("import atexit, sys; atexit.register(lambda: print(sorted(m for m in sys.modules "
             "if m.startswith('api.') and (m.endswith('.commands') or m == 'api.demo')), file=sys.stderr)); "
             "sys.argv = ['leadmatch', 'match-file', '--help']; from api.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "match-file" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "['api.matching.commands']"
