"""``leadmatch demo`` on a fresh SQLite database: every account status appears, a second run
changes nothing, and the story of two accounts, worked out by hand from the generated data
(api/demo.py: generate() and STORIES), reads as expected through the API."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from api.cli import app
from api.db.rows import AccountStatusRow, Base
from config import get_settings
from config.vocabulary import ACCOUNT_STATUSES
from tests.conftest import app_client, settings_for

runner = CliRunner()
AS_OF = "2026-12-01T12:00:00Z"


@pytest.fixture
def demo_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LEADMATCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("LEADMATCH_QUALIFICATION_RULES", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["demo", "--as-of", AS_OF])
        assert result.exit_code == 0, result.output
        assert "accounts 2000 created" in " ".join(result.stderr.split())
        yield url
    finally:
        get_settings.cache_clear()


def every_row(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {t.name: sorted(map(tuple, conn.execute(select(t))), key=repr) for t in Base.metadata.sorted_tables}
    engine.dispose()
    return rows


def test_every_account_status_appears_and_a_second_run_changes_nothing(demo_db: str) -> None:
    before = every_row(demo_db)
    assert {r[1] for r in before[AccountStatusRow.__tablename__]} == set(ACCOUNT_STATUSES)

    again = runner.invoke(app, ["demo", "--as-of", AS_OF])
    assert again.exit_code == 0, again.output
    said = " ".join(again.stderr.split())  # the console wraps long lines
    assert "accounts 0 created, 0 updated, 2000 unchanged" in said
    assert "already loaded" in said and "0 transitions logged" in said
    for status in ACCOUNT_STATUSES:  # the table of statuses, each with a count and an example
        assert f"\n  {status} " in again.stdout
    assert "curl -s http://127.0.0.1:8000/v1/accounts/D00003/history" in again.stdout
    assert every_row(demo_db) == before


def test_a_vp_demo_request_at_a_tier_3_account_leaves_it_in_nurture_and_says_why(demo_db: str) -> None:
    # D00003 Acme Ltd is fit tier 3, not a customer, and its one contact is Ben Kowalski, VP
    # Engineering: the first account able to tell the gated_demo story (D00001 took "cold",
    # D00002 has no contact). His product page view 30 days before AS_OF makes him and the account
    # Nurture; his demo request 2 days before (a few hours earlier in the day) does not qualify.
    with app_client(settings_for(demo_db)) as c:
        doc = c.get("/v1/accounts/D00003/status").json()
        history = c.get("/v1/accounts/D00003/history", params={"kind": "account"}).json()["items"]
    assert (doc["status"], doc["since"][:10]) == ("nurture", "2026-11-01")
    assert [r["rule"] for r in doc["reasons"]] == ["engagement_points", "persona_coverage", "qualifying_action_blocked"]
    assert doc["reasons"][-1]["text"] == ("Ben Kowalski (VP Engineering) requested a demo on 2026-11-29, which would "
                                          "qualify, but fit tier 3 is not a qualifying tier (1, 2)")
    assert doc["reasons"][-1]["contact_id"] == "DC00001"
    # 40 x 1.4 (vp) x 0.5 (tier 3) = 28 at 2 days + 1 to 9 hours of a 30-day half-life: 26.51 to 26.71;
    # 2 (product page) x 1.4 x 0.5 = 1.4 at 30 days + 1 to 9 hours: 0.69 to 0.70
    assert 27.2 <= doc["engagement_points"] <= 27.41
    assert [(h["old_status"], h["new_status"]) for h in reversed(history)] == [
        (None, "pre_qualified"), ("pre_qualified", "nurture")]


def test_a_customer_whose_renewal_was_lost_churns_step_by_step(demo_db: str) -> None:
    # D00008 is the first non-customer left for the churned story: contract from 500 to 40 days
    # before AS_OF (2025-07-19 to 2026-10-22); a renewal opened 120 days before (2026-08-03), in
    # the 90-day window before the contract's end (from 2026-07-24), lost 50 days before (2026-10-12).
    with app_client(settings_for(demo_db)) as c:
        doc = c.get("/v1/accounts/D00008/status").json()
        history = c.get("/v1/accounts/D00008/history", params={"kind": "account"}).json()["items"]
    assert doc["summary"] == "Churned since 2026-10-23: contract DEMO-D00008-K1 ended on 2026-10-22"
    assert [(h["old_status"], h["new_status"], h["since"][:10]) for h in reversed(history)] == [
        (None, "customer", "2025-07-19"),
        ("customer", "customer_opportunity", "2026-08-03"),
        ("customer_opportunity", "customer", "2026-10-12"),
        ("customer", "churned", "2026-10-23"),
    ]
