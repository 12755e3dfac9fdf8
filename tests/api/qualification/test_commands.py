"""`leadmatch rules apply` and `leadmatch recompute` next to a running server that caches statuses
in Redis: the commands drop the cached status of every account whose stored status they change,
so the server answers the new status at once, not after STATUS_TTL_SECONDS (README, "Rule
changes: preview, apply, recompute")."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from config import get_settings
from tests.api.qualification.test_recompute import CHANGED_RULES
from tests.conftest import account, app_client, contact, settings_for

runner = CliRunner()


@pytest.mark.redis
def test_rules_apply_and_recompute_drop_the_cached_statuses_they_change(
        database_url: str, redis_url: str, redis_namespace: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    prefix = redis_namespace + "cache:"
    for name, value in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url),
                        ("LEADMATCH_INDEX_CHANNEL", redis_namespace + "index"), ("LEADMATCH_CACHE_PREFIX", prefix)):
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    today = datetime.now(timezone.utc).date()

    def leadmatch(*args: str) -> None:
        r = runner.invoke(app, list(args))
        assert r.exit_code == 0, r.output

    try:
        with app_client(settings_for(database_url, redis_url, channel=redis_namespace + "index"),
                        cache_prefix=prefix) as c:
            def status(account_id: str) -> str:
                r = c.get(f"/v1/accounts/{account_id}/status")
                assert r.status_code == 200, r.text
                return r.json()["status"]

            cache = c.app.state.services.cache
            assert c.put("/v1/accounts", json=[account("A1", "Acme Corporation", fit_tier="3"),
                                               account("A2", "Zorblax Industries")]).status_code == 200
            assert c.put("/v1/contacts", json=[contact("K1", "A1", "jane@acme.com", title="VP Engineering")]
                         ).status_code == 200
            demo = {"id": "E1", "type": "demo_request", "contact_id": "K1",
                    "occurred_at": (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()}
            assert c.post("/v1/activities", json=[demo]).status_code == 200
            # a contract whose last day is today: a customer until a recompute after today
            assert c.put("/v1/contracts", json=[{"id": "T1", "account_id": "A2", "starts_on": "2024-01-01",
                                                 "ends_on": today.isoformat()}]).status_code == 200

            # shipped rules: a demo request qualifies only tiers 1 and 2, so tier 3 engaged is nurture
            assert status("A1") == "nurture" and cache.get("status:A1") is not None  # cached, in Redis
            rules = tmp_path / "changed.toml"
            rules.write_text(CHANGED_RULES)  # a demo request qualifies any tier
            leadmatch("rules", "apply", str(rules), "--workers", "1")
            assert status("A1") == "qualified"

            assert status("A2") == "customer" and cache.get("status:A2") is not None
            after_the_contract = datetime.combine(today + timedelta(days=2), time(12), timezone.utc)
            leadmatch("recompute", "--workers", "1", "--as-of", after_the_contract.isoformat())
            assert status("A2") == "churned"
    finally:
        get_settings.cache_clear()
