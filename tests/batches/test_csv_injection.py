"""Spreadsheet-safe CSV (docs/batches.md, "CSV injection"): what match-file and the reports write
gives a text cell starting with = + - @ tab or CR a leading ', and leaves the rest alone."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api import csvio
from api.cli import app
from api.reports import render
from config import get_settings
from matcher.reports.types import Report, Table

runner = CliRunner()


def test_safe_row() -> None:
    assert csvio.safe_row(["=1+1", "ok", "-x", 3, -5, -0.5, None, "@a"]) == ["'=1+1", "ok", "'-x", 3, -5, -0.5, None, "'@a"]
    row = ("a", "b")
    assert csvio.safe_row(row) is row  # nothing to change: the row itself
    assert csvio.safe_row(iter(["+1", "2"])) == ["'+1", "2"]  # any iterable, read once


def test_report_csv_neutralises_text_not_numbers() -> None:
    report = Report("r", (Table("t", ("owner", "delta", "note"), (("=HYPERLINK(\"http://evil\")", -5, "-3 days"),
                                                                  ("@jane", 2.5, "fine"))),))
    rows = list(csv.reader(io.StringIO(render.as_csv(report))))
    assert rows == [["table", "owner", "delta", "note"],
                    ["t", "'=HYPERLINK(\"http://evil\")", "-5", "'-3 days"],
                    ["t", "'@jane", "2.5", "fine"]]


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LEADMATCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_match_file_results_are_spreadsheet_safe(cli_env: str, tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("id,name,domains,country,region,city,parent_id,owner\n"
                        "A1,Acme Corporation,acme.com,US,,,,@dana\n", encoding="utf-8")
    assert runner.invoke(app, ["import-accounts", str(accounts)]).exit_code == 0
    leads = tmp_path / "leads.csv"
    leads.write_text('lead_id,email,company\n"=HYPERLINK(""http://evil"")",jo@acme.com,Acme\n'
                     "+49 89,x@nowhere-at-all.org,Nowhere\n-1,,\n", encoding="utf-8")
    out = tmp_path / "results.csv"
    r = runner.invoke(app, ["match-file", str(leads), "--out", str(out), "--workers", "1"])
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert [row[0] for row in rows] == ["lead_id", "'=HYPERLINK(\"http://evil\")", "'+49 89", "'-1"]
    assert (rows[1][1], rows[1][2], rows[1][4]) == ("matched", "A1", "'@dana")  # the owner, from the CRM
    assert rows[2][1] == "no_match" and rows[3][1] == "error"
