"""api/batches/spill.py DiskMap: the same answers as a dict for the same operations (the dict is
the oracle), values coming back equal, setdefault's first-wins contract, and the file gone after
close."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from api.batches.spill import DiskMap
from matcher.batches.output import FirstSeen


def test_the_same_answers_as_a_dict() -> None:
    rng = random.Random(5)
    oracle: dict = {}
    with DiskMap() as disk:
        for _ in range(3000):
            key = f"k{rng.randrange(400)}"
            op = rng.randrange(5)
            value = (rng.randrange(10**6), [f"w{rng.randrange(9)}", None], None if rng.random() < 0.5 else "id")
            if op == 0:
                disk[key] = value
                oracle[key] = value
            elif op == 1:
                assert disk.setdefault(key, value) == oracle.setdefault(key, value)
            elif op == 2:
                assert disk.get(key, "none") == oracle.get(key, "none")
            elif op == 3:
                if key in oracle:
                    del disk[key]
                    del oracle[key]
                else:
                    with pytest.raises(KeyError):
                        del disk[key]
            else:
                assert (key in disk) == (key in oracle)
        assert len(disk) == len(oracle) and sorted(disk) == sorted(oracle)
        assert {k: disk[k] for k in disk} == oracle
        with pytest.raises(KeyError):
            disk["never"]


def test_setdefault_gives_back_the_very_object_it_stored_and_the_first_value_after() -> None:
    with DiskMap() as disk:
        first = (2, ["jane@acme.com", "Acme"], "b-2")
        assert disk.setdefault("jane@acme.com", first) is first
        assert disk.setdefault("jane@acme.com", (5, ["x"], "b-5")) == first


def test_first_seen_on_disk_flags_the_same_rows_as_in_memory() -> None:
    emails = ["a@x.com", "B@x.com", " a@X.com ", "", None, "b@x.com", "c@y.com", "A@x.COM"]
    with DiskMap() as disk:
        on_disk, in_memory = FirstSeen(disk), FirstSeen()
        got = [on_disk.see(e, (line, e)) for line, e in enumerate(emails, start=2)]
        assert got == [in_memory.see(e, (line, e)) for line, e in enumerate(emails, start=2)]
    # worked out by hand: line 4 and 9 are line 2's person, line 7 is line 3's
    assert got == [None, None, (2, "a@x.com"), None, None, (3, "B@x.com"), None, (2, "a@x.com")]


def test_close_deletes_the_file() -> None:
    disk = DiskMap()
    where = Path(disk._dir.name)
    disk["k"] = 1
    assert any(where.iterdir())
    disk.close()
    assert not where.exists()
