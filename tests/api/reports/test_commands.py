"""``leadmatch report NAME`` and ``leadmatch report monthly`` over the hand-made ledger of
tests/api/reports/dataset.py (March 2026)."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from config import get_settings
from matcher.reports import NAMES
from tests.api.reports.dataset import load

runner = CliRunner()


@pytest.fixture
def ledger(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    load(database_url)
    yield database_url
    get_settings.cache_clear()


def test_one_report_as_csv(ledger: str) -> None:
    result = runner.invoke(app, ["report", "close-rate", "--from", "2026-03-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z",
                                 "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    # won O1; lost O2, O3 (dataset.py) -> 1 / 3
    assert rows[1] == ["overall", "all", "1", "2", str(1 / 3)]


def test_from_after_to_is_refused_naming_from(ledger: str) -> None:
    result = runner.invoke(app, ["report", "velocity", "--from", "2026-04-01T00:00:00Z", "--to", "2026-03-01T00:00:00Z"])
    assert result.exit_code == 2 and "'from'" in result.output


def test_monthly_pack_is_one_self_contained_html_and_a_csv_per_report(ledger: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "monthly", "--month", "2026-03", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "velocity · velocity" in result.stdout and "funnel · moves" in result.stdout  # the Rich tables
    page = (tmp_path / "review-2026-03.html").read_text(encoding="utf-8")
    # nothing to fetch: no script, no stylesheet link, no URL at all (the SVG is inline)
    assert not re.search(r"https?:", page) and "<script" not in page and "<link" not in page
    assert page.count("<svg") == len(NAMES)
    for name in NAMES:
        assert f'<section id="{name}">' in page
        assert (tmp_path / f"review-2026-03-{name}.csv").exists()
    # the headline figures: median days to close won 10, lost 26.5; close rate ann 50 %
    assert "<td>won</td><td>1</td><td>10.00</td>" in page and "<td>lost</td><td>2</td><td>26.50</td>" in page
    assert "<td>ann</td><td>1</td><td>1</td><td>50.0 %</td>" in page
    velocity = (tmp_path / "review-2026-03-velocity.csv").read_text().splitlines()
    assert velocity == ["table,outcome,count,median_days,mean_days", "velocity,won,1,10.0,10.0",
                        "velocity,lost,2,26.5,26.5"]


def test_a_bad_month_is_refused(ledger: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "monthly", "--month", "2026-13", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--month" in result.output
