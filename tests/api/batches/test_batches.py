"""Batch jobs end to end on SQLite and PostgreSQL, with the in-process runner (no Redis): upload,
the job prepared and done in chunks, results.csv and errors.csv exactly as worked out by hand;
limits, refusals, the same file again, cancelling, route=true and the rows-add-up check."""
from __future__ import annotations

import csv
import io
import json
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, update

from api.batches import jobs
from api.db.rows import BatchChunkRow, BatchFileRow, BatchRow, LeadRoutingRow, LeadRow
from tests.conftest import account, app_client, settings_for

# line 1 header; line 4 has no email or company; line 5 is line 2's person again (email in
# another case, another company); line 7 has too many cells
LIST = (b"email,company,country,note\r\n"
        b"jane@acme.com,Acme Corporation,US,first\r\n"
        b"bob@acme.com,Acme,US,=1+2\r\n"
        b",,US,nobody\r\n"
        b"JANE@acme.com,Someone Else,US,dup\r\n"
        b"x@nowhere.example,Nowhere Ltd,US,\r\n"
        b"too,many,cells,here,extra\r\n")
EXPECTED_ERRORS = (b"line,error,raw\r\n"
                   b"4,neither email ('email') nor company ('company'): a lead needs one,\",,US,nobody\"\r\n"
                   b"7,\"row has 5 cells, the header has 4\",\"too,many,cells,here,extra\"\r\n")


@contextmanager
def batch_client(database_url: str, **overrides) -> Iterator[TestClient]:
    values = {"scheduler_seconds": 0, "sla_check_seconds": 0, "batch_sweep_seconds": 0, "batch_chunk_rows": 2,
              "bulk_max_items": 50, "max_body_bytes": 64 * 1024, **overrides}
    with app_client(settings_for(database_url, **values)) as client:
        assert client.put("/v1/accounts", json=[
            account("A1", "Acme Corporation", domains=["acme.com"], owner="Dana")]).status_code == 200
        yield client


def upload(client: TestClient, data: bytes, **fields) -> dict:
    r = client.post("/v1/batches", files={"file": ("list.csv", data, "text/csv")},
                    data={k: str(v).lower() if isinstance(v, bool) else v for k, v in fields.items()})
    assert r.status_code == 202, r.text
    return r.json()


def wait_done(client: TestClient, batch_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/batches/{batch_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} not finished: {job}")


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_upload_to_done_exact_results_and_errors(database_url: str) -> None:
    with batch_client(database_url) as client:
        created = upload(client, LIST)
        assert created["state"] == "queued" and created["id"].startswith("b_") and len(created["id"]) == 18
        job = wait_done(client, created["id"])
        assert job["state"] == "done", job
        assert (job["rows_total"], job["rows_done"]) == (6, 6)
        assert job["counts"] == {"matched": 3, "review": 0, "no_match": 1, "error": 2}
        assert job["mapping"] == {"email": "email", "company": "company", "country": "country"}
        no_match = client.post("/v1/match", json={"email": "x@nowhere.example", "company": "Nowhere Ltd",
                                                  "country": "US"}).json()
        results = client.get(created["links"]["results"])
        errors = client.get(created["links"]["errors"])
    assert results.status_code == 200 and results.headers["content-type"].startswith("text/csv")
    got = rows(results.text)
    assert got[0] == ["email", "company", "country", "note", "decision", "account_id", "account_name",
                      "confidence", "owner", "queue", "reasons"]
    assert [r[:10] for r in got[1:]] == [
        ["jane@acme.com", "Acme Corporation", "US", "first", "matched", "A1", "Acme Corporation", "0.9900", "Dana", ""],
        ["bob@acme.com", "Acme", "US", "'=1+2", "matched", "A1", "Acme Corporation", "0.9900", "Dana", ""],
        # line 2's answer (its company, not "Someone Else"), not matched again
        ["JANE@acme.com", "Someone Else", "US", "dup", "matched", "A1", "Acme Corporation", "0.9900", "Dana", ""],
        ["x@nowhere.example", "Nowhere Ltd", "US", "", "no_match", "", "", "0.0000", "",
         no_match["route"]["queue"] or ""],
    ]
    assert got[1][10].startswith("email domain acme.com is a domain of account A1")
    assert got[3][10] == got[1][10] + " | duplicate of line 2"
    assert got[4][10] == " | ".join(no_match["reasons"])
    assert errors.content == EXPECTED_ERRORS


def test_an_xlsx_upload_to_done(database_url: str) -> None:
    from tests.batches.test_reading import _workbook

    data = _workbook([["Work Email", "Organisation", "Phone"],
                      ["jane@acme.com", "Acme Corporation", 4155550100],
                      [None, None, 5],  # row 3: neither email nor company
                      # a text cell a spreadsheet would run; a formula never computed (no value saved)
                      ["@SUM(1)", "Nowhere Ltd", "=1+2"]])
    with batch_client(database_url) as client:
        r = client.post("/v1/batches", files={"file": ("list.xlsx", data, "application/vnd.openxmlformats-"
                                                                          "officedocument.spreadsheetml.sheet")})
        assert r.status_code == 202, r.text
        job = wait_done(client, r.json()["id"])
        assert (job["state"], job["encoding"], job["delimiter"]) == ("done", "xlsx", None)
        assert job["mapping"] == {"email": "Work Email", "company": "Organisation", "phone": "Phone"}
        assert job["counts"] == {"matched": 1, "review": 0, "no_match": 1, "error": 1}
        got = rows(client.get(job["links"]["results"]).text)
        errors = client.get(job["links"]["errors"]).content
    assert [r[:9] for r in got] == [
        ["Work Email", "Organisation", "Phone", "decision", "account_id", "account_name", "confidence", "owner", "queue"],
        ["jane@acme.com", "Acme Corporation", "4155550100", "matched", "A1", "Acme Corporation", "0.9900", "Dana", ""],
        ["'@SUM(1)", "Nowhere Ltd", "", "no_match", "", "", "0.0000", "", got[2][8]],
    ]
    assert errors == (b"line,error,raw\r\n"
                      b"3,neither email ('Work Email') nor company ('Organisation'): a lead needs one,\",,5\"\r\n")


def test_a_damaged_xlsx_sheet_fails_the_job_saying_why(database_url: str) -> None:
    from tests.batches.test_reading import _workbook, sheet_rewritten

    data = _workbook([["email", "company"], ["jo@acme.com", "Acme"]])
    damaged = sheet_rewritten(data, lambda sheet: sheet[:sheet.index(b'<row r="2"')] + b'<row r="2"><c r="A2"')
    with batch_client(database_url) as client:
        job = wait_done(client, upload(client, damaged)["id"])
    assert job["state"] == "failed"
    assert job["error"].startswith("the file could not be read: the XLSX sheet cannot be read after row 1 (")


def test_the_upload_is_stored_in_pieces_and_cut_in_chunks(database_url: str) -> None:
    with batch_client(database_url) as client:
        job = wait_done(client, upload(client, LIST)["id"])
    engine = create_engine(database_url)
    with engine.connect() as conn:
        pieces = conn.execute(select(BatchFileRow.data).where(BatchFileRow.batch_id == job["id"])).scalars().all()
        chunks = conn.execute(select(BatchChunkRow.number, BatchChunkRow.first_line, BatchChunkRow.last_line,
                                     BatchChunkRow.rows, BatchChunkRow.state, BatchChunkRow.attempts)
                              .where(BatchChunkRow.batch_id == job["id"]).order_by(BatchChunkRow.number)).all()
    engine.dispose()
    assert b"".join(pieces) == LIST
    # 6 records, 2 per chunk (batch_chunk_rows=2): lines 2-3, 4-5, 6-7
    assert [tuple(c) for c in chunks] == [(0, 2, 3, 2, "done", 1), (1, 4, 5, 2, "done", 1), (2, 6, 7, 2, "done", 1)]


def test_over_the_batch_limit_is_413_and_its_own_limit(database_url: str) -> None:
    big = b"email,company\r\n" + b"someone@acme.com,Acme Corporation\r\n" * 3000  # 105,015 bytes
    with batch_client(database_url, batch_max_bytes=100_000, batch_chunk_rows=1000) as client:
        r = client.post("/v1/batches", files={"file": ("big.csv", big, "text/csv")})
        assert r.status_code == 413, r.text
        assert "100000 bytes (batch_max_bytes)" in r.json()["error"]
        assert client.get("/v1/batches").json() == {"items": [], "next": None}
    # the same file under a batch limit above it passes, though it is over max_body_bytes (64 KiB)
    with batch_client(database_url, batch_max_bytes=200_000, batch_chunk_rows=1000) as client:
        assert wait_done(client, upload(client, big)["id"])["counts"]["matched"] == 3000


def test_no_email_or_company_column_is_422_listing_the_columns(database_url: str) -> None:
    with batch_client(database_url) as client:
        r = client.post("/v1/batches", files={"file": ("x.csv", b"Name,Phone Number\r\nJane,123\r\n", "text/csv")})
        assert r.status_code == 422, r.text
        assert r.json()["fields"][0]["field"] == "file"
        assert "the columns are 'Name', 'Phone Number'" in r.json()["error"]
        r = client.post("/v1/batches", files={"file": ("x.csv", LIST, "text/csv")}, data={"mapping": "{not json"})
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == "mapping"
        r = client.post("/v1/batches", files={"file": ("x.csv", LIST, "text/csv")},
                        data={"mapping": json.dumps({"email": "Work Email"})})
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == "mapping.email", r.text
        assert client.get("/v1/batches").json() == {"items": [], "next": None}
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(BatchFileRow)) == 0
    engine.dispose()


def test_a_mapping_wins_over_the_header(database_url: str) -> None:
    data = b"mail,org\r\njane@acme.com,Acme Corporation\r\n"
    with batch_client(database_url) as client:
        job = wait_done(client, upload(client, data, mapping=json.dumps({"email": "mail", "company": "org"}))["id"])
        assert job["mapping"] == {"email": "mail", "company": "org"}
        assert rows(client.get(job["links"]["results"]).text)[1][:5] == [
            "jane@acme.com", "Acme Corporation", "matched", "A1", "Acme Corporation"]


def test_the_same_file_again_is_offered_the_existing_job(database_url: str) -> None:
    with batch_client(database_url) as client:
        first = wait_done(client, upload(client, LIST)["id"])
        r = client.post("/v1/batches", files={"file": ("renamed.csv", LIST, "text/csv")})
        assert r.status_code == 409, r.text
        assert (r.json()["id"], r.json()["url"], r.json()["state"]) == (first["id"], f"/v1/batches/{first['id']}",
                                                                        "done")
        again = upload(client, LIST, force=True)
        assert again["id"] != first["id"]
        second = wait_done(client, again["id"])
        assert client.get(second["links"]["results"]).content == client.get(first["links"]["results"]).content
        listed = client.get("/v1/batches", params={"limit": 1}).json()
        assert [j["id"] for j in listed["items"]] == [second["id"]] and listed["next"] == second["id"]
        older = client.get("/v1/batches", params={"limit": 1, "before": listed["next"]}).json()
        assert [j["id"] for j in older["items"]] == [first["id"]] and older["next"] is None


def _services(client: TestClient):  # noqa: ANN202 - Services
    return client.app.state.services


@contextmanager
def held_job(client: TestClient, data: bytes, *, prepare: bool = True, **fields) -> Iterator[tuple]:
    """(services, batch_id) of an uploaded job that nothing runs but the test (prepared, unless
    ``prepare=False``)."""
    services = _services(client)
    runner, services.batches = services.batches, None
    try:
        batch_id = upload(client, data, **fields)["id"]
        if prepare:
            assert jobs.prepare(services, batch_id)
        yield services, batch_id
    finally:
        services.batches = runner


def test_cancel_stops_at_the_next_chunk(database_url: str) -> None:
    with batch_client(database_url) as client:
        with held_job(client, LIST) as (services, batch_id):
            assert jobs.work_chunk(services, batch_id)  # lines 2-3
            r = client.delete(f"/v1/batches/{batch_id}")
            assert r.status_code == 200 and r.json()["state"] == "cancelled"
            assert r.json()["rows_done"] == 2
            assert jobs.run_batch(services, batch_id) == "cancelled"
            job = client.get(f"/v1/batches/{batch_id}").json()
            assert (job["state"], job["rows_done"]) == ("cancelled", 2)
            assert client.get(f"/v1/batches/{batch_id}/results.csv").status_code == 409
            assert client.delete(f"/v1/batches/{batch_id}").status_code == 200  # again: nothing changes
        done = wait_done(client, upload(client, LIST, force=True)["id"])
        r = client.delete(f"/v1/batches/{done['id']}")
        assert r.status_code == 409 and r.json()["state"] == "done"
        assert client.delete("/v1/batches/b_0000000000000000").status_code == 404
        assert client.get("/v1/batches/not-an-id").status_code == 422


def test_cancel_stops_routing_within_a_chunk(database_url: str, monkeypatch) -> None:  # noqa: ANN001
    # one chunk of six people at Acme, route=true; the user cancels while the second is being
    # taken in: the rest of the chunk is not routed, and nothing of it is checkpointed
    monkeypatch.setattr(jobs, "CANCEL_CHECK_SECONDS", 0.0)
    people = b"email,company\r\n" + b"".join(f"p{i}@acme.com,Acme\r\n".encode() for i in range(6))
    with batch_client(database_url, batch_chunk_rows=100) as client:
        with held_job(client, people, route=True) as (services, batch_id):
            real_take_in, taken = jobs._take_in, []

            def take_in_while_cancelled(services_, intake_id: str, lead: list) -> dict:  # noqa: ANN001
                taken.append(intake_id)
                answer = real_take_in(services_, intake_id, lead)
                if len(taken) == 2:
                    assert client.delete(f"/v1/batches/{batch_id}").status_code == 200
                return answer

            monkeypatch.setattr(jobs, "_take_in", take_in_while_cancelled)
            assert jobs.run_batch(services, batch_id) == "cancelled"
            assert taken == [f"{batch_id}-2", f"{batch_id}-3"]
            assert _count(database_url, LeadRow) == 2
            job = client.get(f"/v1/batches/{batch_id}").json()
            assert (job["state"], job["rows_done"]) == ("cancelled", 0)


def _expire_leases(database_url: str, batch_id: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(update(BatchChunkRow).where(BatchChunkRow.batch_id == batch_id)
                     .values(lease_until=datetime(2000, 1, 1, tzinfo=timezone.utc)))
    engine.dispose()


def test_a_chunk_that_fails_every_time_fails_its_job(database_url: str, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(jobs, "MAX_CHUNK_ATTEMPTS", 3)

    def crash(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("a row the matcher cannot take")

    with batch_client(database_url) as client:
        with held_job(client, LIST) as (services, batch_id):
            monkeypatch.setattr(jobs, "answer_chunk", crash)
            for _ in range(2):  # attempts 1 and 2 raise: the sweep will send the chunk again
                with pytest.raises(RuntimeError, match="cannot take"):
                    jobs.work_chunk(services, batch_id)
                assert client.get(f"/v1/batches/{batch_id}").json()["state"] == "running"
                _expire_leases(database_url, batch_id)
            assert jobs.work_chunk(services, batch_id)  # attempt 3: the job fails, saying why
            job = client.get(f"/v1/batches/{batch_id}").json()
            assert job["state"] == "failed"
            assert job["error"] == ("chunk 0 (lines 2-3) failed 3 times; the last time: "
                                    "RuntimeError: a row the matcher cannot take")
            assert not jobs.work_chunk(services, batch_id)  # a failed job gives nothing more to claim


def test_a_chunk_whose_worker_dies_every_time_fails_its_job(database_url: str, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(jobs, "MAX_CHUNK_ATTEMPTS", 2)
    with batch_client(database_url) as client:
        with held_job(client, LIST) as (services, batch_id):
            engine = create_engine(database_url)
            with engine.begin() as conn:  # the first chunk was taken twice by workers that died
                conn.execute(update(BatchChunkRow).where(BatchChunkRow.batch_id == batch_id,
                                                         BatchChunkRow.number == 0)
                             .values(state="running", attempts=2, worker="dead",
                                     lease_until=datetime(2000, 1, 1, tzinfo=timezone.utc)))
            engine.dispose()
            assert jobs.work_chunk(services, batch_id)
            job = client.get(f"/v1/batches/{batch_id}").json()
            assert (job["state"], job["error"]) == (
                "failed", "chunk 0 (lines 2-3) was taken 2 times and never finished: its worker died each time")


def test_results_are_409_until_done(database_url: str) -> None:
    with batch_client(database_url) as client:
        with held_job(client, LIST, prepare=False) as (_, batch_id):
            r = client.get(f"/v1/batches/{batch_id}/errors.csv")
            assert r.status_code == 409 and r.json()["state"] == "queued"


def _count(database_url: str, row) -> int:  # noqa: ANN001
    engine = create_engine(database_url)
    with engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(row))
    engine.dispose()
    return n


def test_route_true_routes_each_matched_person_once(database_url: str) -> None:
    with batch_client(database_url) as client:
        services = _services(client)
        job = wait_done(client, upload(client, LIST, route=True)["id"])
        assert job["state"] == "done" and job["route"] is True
        first_run = client.get(job["links"]["results"]).content
        got = rows(first_run.decode())
        # jane (line 2) and bob (line 3) taken in and routed; line 5 is jane again: her answer, not
        # taken in again; line 6 is not matched: not taken in
        assert _count(database_url, LeadRow) == 2
        assert _count(database_url, LeadRoutingRow) == 2
        lead = client.get(f"/v1/leads/{job['id']}-2").json()
        assert (lead["route"]["owner"], lead["match"]["account_id"]) == ("Dana", "A1")
        assert client.get(f"/v1/leads/{job['id']}-5").status_code == 404
        assert [r[4:9] for r in got[1:4]] == [["matched", "A1", "Acme Corporation", "0.9900", "Dana"]] * 3
        # a chunk done again (its worker died after routing, before its checkpoint) routes nobody again
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(update(BatchChunkRow).where(BatchChunkRow.batch_id == job["id"])
                         .values(state="pending", results=None))
            conn.execute(update(BatchRow).where(BatchRow.id == job["id"]).values(state="running"))
        engine.dispose()
        assert jobs.run_batch(services, job["id"]) == "done"
        assert _count(database_url, LeadRoutingRow) == 2
        assert client.get(job["links"]["results"]).content == first_run


def test_rows_that_do_not_add_up_fail_the_job(database_url: str) -> None:
    with batch_client(database_url) as client:
        with held_job(client, LIST) as (services, batch_id):
            engine = create_engine(database_url)
            with engine.begin() as conn:  # a record lost between the file and the chunks
                conn.execute(update(BatchRow).where(BatchRow.id == batch_id).values(rows_total=7))
            engine.dispose()
            assert jobs.run_batch(services, batch_id) == "failed"
            job = client.get(f"/v1/batches/{batch_id}").json()
            assert job["error"] == "results rows + error rows = 6, chunks' records = 6, but the file has 7 data rows"


def test_colleagues_in_different_chunks_are_matched_once_per_process(database_url: str) -> None:
    """Six people at one company, two per chunk (three chunks): the process that answers the chunks
    matches the company once and reuses the answer for the other chunks."""
    people = b"email,company,country\r\n" + b"".join(
        f"p{i}@acme.com,Acme Corporation,US\r\n".encode() for i in range(6))
    with batch_client(database_url) as client:
        index = client.app.state.services.index
        calls: list[str] = []
        real = index.match

        def counted(lead):  # noqa: ANN001, ANN202
            calls.append(lead.email)
            return real(lead)

        index.match = counted
        job = wait_done(client, upload(client, people)["id"])
        got = rows(client.get(job["links"]["results"]).text)
    assert job["state"] == "done" and job["counts"]["matched"] == 6
    assert calls == ["p0@acme.com"]  # one answer key, three chunks
    assert [r[3:6] + [r[7]] for r in got[1:]] == [["matched", "A1", "Acme Corporation", "Dana"]] * 6


def test_kept_answers_end_when_the_index_moves_on() -> None:
    from api.batches import jobs

    kept = jobs._answers_of("b_test1", 7)
    kept["key"] = {"decision": "matched"}
    assert jobs._answers_of("b_test1", 7) is kept  # the same job, the same index: reused
    assert jobs._answers_of("b_test1", 8) == {}  # the index moved on: answered anew
    assert ("b_test1", 7) not in jobs._answers
    assert jobs._answers_of(None, 8) is None  # no job: nothing kept
