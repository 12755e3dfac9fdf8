"""The index built on several processes is the index built in one."""
from __future__ import annotations

import pytest

from api import db
from api.matching import index_load
from api.accounts import store
from config import load_matching_rules
from matcher.matching.types import Account, Lead

RULES = load_matching_rules()


def _accounts(n: int) -> list[store.AccountData]:
    cities = [("DE", "Bayern", "Munich"), ("US", "CA", "San Francisco"), ("FR", None, "Paris")]
    out = []
    for i in range(n):
        country, region, city = cities[i % 3]
        out.append(store.AccountData(
            id=f"A{i:04d}", name=f"{['Acme', 'Globex', 'Initech', 'Umbrella'][i % 4]} {['Labs', 'GmbH', 'Group'][i % 3]} {i}",
            domains=(f"co{i}.example.com", f"www.brand{i}.co.uk"), country=country, region=region, city=city,
            owner=f"Owner {i % 5}", parent_id=f"A{i - 1:04d}" if i % 10 == 1 else None,
            aliases=(f"Alias {i}",) if i % 7 == 0 else ()))
    return out


def _snapshot(index) -> tuple:  # noqa: ANN001
    return (dict(index._features), {k: {v: (p if isinstance(p, str) else frozenset(p)) for v, p in t.items()}
                                    for k, t in index._postings.items()},
            {k: (v if isinstance(v, str) else frozenset(v)) for k, v in index._children.items()})


def test_parallel_build_equals_one_process_build(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = database_url
    db.migrate(url)
    engine = db.make_engine(url)
    with db.session_scope(db.make_sessionmaker(engine)) as s:
        store.upsert_accounts(s, _accounts(300), validate=False)
    monkeypatch.setattr(index_load, "PARALLEL_MIN_ACCOUNTS", 10)
    monkeypatch.setattr(index_load, "CHUNK", 7)  # several chunks per slice
    seen: list[int] = []
    one = index_load.build_index(engine, RULES, workers=1)
    three = index_load.build_index(engine, RULES, workers=3, progress=seen.append)
    engine.dispose()
    assert len(one) == len(three) == 300 and sum(seen) == 300
    assert _snapshot(one) == _snapshot(three)
    lead = Lead(email="jo@co17.example.com", company="Globex Group 17")
    assert one.match(lead).to_dict() == three.match(lead).to_dict()
    assert three.match(lead).account_id == "A0017"


def test_a_failing_loader_process_is_reported(tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    db.migrate(url)
    engine = db.make_engine(url)
    with db.session_scope(db.make_sessionmaker(engine)) as s:
        store.upsert_accounts(s, _accounts(30), validate=False)
    monkeypatch.setattr(index_load, "PARALLEL_MIN_ACCOUNTS", 10)
    # the children read a database that is not there: the parent must raise, not hang
    monkeypatch.setattr(engine, "url", engine.url.set(database=str(tmp_path / "nope" / "x.db")))
    with pytest.raises(RuntimeError, match="loading process failed"):
        index_load.build_index(engine, RULES, workers=2)
    engine.dispose()
