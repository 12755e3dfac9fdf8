"""leadmatch routing load / show: TOML and CSV files, and each configuration error refused whole."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from config import get_settings

runner = CliRunner()

TOML = """\
default_pool = "sdr"
[[members]]
id = "ann"
timezone = "Europe/Berlin"
[[members]]
id = "bob"
[[pools]]
id = "sdr"
members = [{ member = "ann", weight = 2 }, { member = "bob" }]
[[territories]]
id = "dach"
when = { country = ["DE", "AT"] }
member = "ann"
"""

CSV = """\
id,email,timezone,schedule,manager,cap_per_day,cap_per_week,paused,pool,weight
cy,cy@example.com,Asia/Tokyo,default,ann,30,120,false,sdr,0.5
dee,,UTC,default,,,,yes,emea,1
"""


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def show() -> dict:
    r = runner.invoke(app, ["routing", "show"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_load_toml_then_csv_then_show(cli_env: str, tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(TOML, encoding="utf-8")
    r = runner.invoke(app, ["routing", "load", str(tmp_path / "r.toml")])
    assert r.exit_code == 0, r.output
    got = show()
    assert got["version"] == 1 and got["document"]["catch_all_queue"] == "sdr-queue"  # merged over the defaults
    assert [m["id"] for m in got["document"]["members"]] == ["ann", "bob"]
    (tmp_path / "m.csv").write_text(CSV, encoding="utf-8")
    r = runner.invoke(app, ["routing", "load", str(tmp_path / "m.csv")])
    assert r.exit_code == 0, r.output
    doc = show()["document"]
    assert [m["id"] for m in doc["members"]] == ["ann", "bob", "cy", "dee"]
    cy = doc["members"][2]
    assert (cy["timezone"], cy["cap_per_day"], cy["cap_per_week"], cy["manager"], cy["paused"]) == (
        "Asia/Tokyo", 30, 120, "ann", False)
    assert doc["members"][3]["paused"] is True
    pools = {p["id"]: p["members"] for p in doc["pools"]}
    assert pools["sdr"][-1] == {"member": "cy", "weight": 0.5, "cap_per_day": None, "cap_per_week": None}
    assert [pm["member"] for pm in pools["emea"]] == ["dee"]


@pytest.mark.parametrize(("text", "message"), [
    ('[[territories]]\nid = "x"\nwhen = { colour = ["red"] }\npool = "sdr"\n',
     "territories[0].when: territories[0] 'x': unknown field 'colour'"),
    ('[[pools]]\nid = "sdr"\nmembers = []\n', "pools[0].members: pools[0] 'sdr': a pool has at least one member"),
    ('[[members]]\nid = "ann"\ntimezone = "Mars/Olympus"\n[[members]]\nid = "bob"\n',
     "members[0].timezone: members[0] 'ann': unknown time zone 'Mars/Olympus'"),
    ('[[pools]]\nid = "sdr"\nmembers = [{ member = "ann", weight = -1 }]\n',
     "pools[0].members[0].weight: pools[0] 'sdr': Input should be greater than or equal to 0"),
    ('[[territories]]\nid = "all"\npool = "sdr"\n[[territories]]\nid = "de"\nwhen = { country = ["DE"] }\npool = "sdr"\n',
     "territories[1]: territories[1] 'de' can never fire: territories[0] 'all' comes first"),
])
def test_bad_configuration_is_refused_naming_the_entry(cli_env: str, tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "r.toml").write_text(TOML, encoding="utf-8")
    assert runner.invoke(app, ["routing", "load", str(tmp_path / "r.toml")]).exit_code == 0
    # arrays replace: each change is laid over the whole document above
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["routing", "load", str(tmp_path / "bad.toml")])
    assert r.exit_code == 2
    assert message in " ".join(r.stderr.split()), r.stderr
    assert "nothing was stored" in r.stderr
    assert show()["version"] == 1


def test_bad_csv_cells_name_the_line(cli_env: str, tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("id,cap_per_day,paused\nzed,lots,maybe\n", encoding="utf-8")
    r = runner.invoke(app, ["routing", "load", str(tmp_path / "m.csv")])
    assert r.exit_code == 2
    err = " ".join(r.stderr.split())
    assert "m.csv line 2 (id zed): cap_per_day: 'lots' is not a whole number" in err
    assert "m.csv line 2 (id zed): paused: 'maybe' is not true or false" in err
    assert show()["version"] == 0
