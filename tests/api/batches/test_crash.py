"""The crash test of docs/batches.md: a real ``leadmatch worker`` process (real PostgreSQL, a
real Redis of the test's own, started with ``redis-server --port N``) is SIGKILLed in the middle
of a job, with chunks in its hands; another worker is started. The job ends done, every row is
in results.csv exactly once and in file order, chunks were taken over (attempts > 1), and the
file is byte-identical to an uninterrupted run of the same file."""
from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, select

from api.db.rows import BatchChunkRow
from tests.api.batches.test_batches import upload
from tests.conftest import account, app_client, settings_for, wait_for

ROWS = 60
CHUNK_ROWS = 5  # 12 chunks
DELAY = 0.4  # seconds each chunk waits before its checkpoint (test-only setting)
LEASE = 2.0


def _file() -> bytes:
    lines = ["email,company,country,n"]
    for i in range(ROWS):
        company = ("Acme Corporation", "Globex Inc", "Initech LLC", "Unknown Ventures")[i % 4]
        domain = ("acme.com", "globex.com", "initech.com", f"unknown{i}.io")[i % 4]
        lines.append(f"p{i}@{domain},{company},US,{i}")
    return ("\r\n".join(lines) + "\r\n").encode()


def _worker(database_url: str, redis_url: str, log) -> subprocess.Popen:  # noqa: ANN001 - a file
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "LEADMATCH_BATCH_CHUNK_ROWS": str(CHUNK_ROWS), "LEADMATCH_BATCH_LEASE_SECONDS": str(LEASE),
           "LEADMATCH_BATCH_TEST_CHUNK_DELAY_SECONDS": str(DELAY), "LEADMATCH_SCHEDULER_SECONDS": "0",
           "LEADMATCH_SLA_CHECK_SECONDS": "0"}
    return subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()", "worker", "--threads", "2"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_worker_killed_mid_job_leaves_nothing_missing_or_twice(database_url: str, own_redis, tmp_path) -> None:  # noqa: ANN001
    if database_url.startswith("sqlite"):
        pytest.skip("workers on several machines share PostgreSQL; the crash test runs there")
    settings = settings_for(database_url, own_redis.url, scheduler_seconds=0, sla_check_seconds=0,
                            batch_sweep_seconds=1, batch_lease_seconds=LEASE, batch_chunk_rows=CHUNK_ROWS)
    data = _file()
    log_path = tmp_path / "workers.log"
    with open(log_path, "ab") as log, app_client(settings) as client:
        assert client.put("/v1/accounts", json=[
            account("A1", "Acme Corporation", domains=["acme.com"], owner="Dana"),
            account("A2", "Globex Inc", domains=["globex.com"], owner="Lee"),
            account("A3", "Initech LLC", domains=["initech.com"], owner="Sam")]).status_code == 200
        first = _worker(database_url, own_redis.url, log)
        second = None
        try:
            job = upload(client, data)
            batch_id = job["id"]

            engine = create_engine(database_url)

            def progressed() -> bool:
                # two chunks done and one in the worker's hands (its two threads may finish theirs
                # together: a kill just then would leave nothing to take over)
                seen = client.get(f"/v1/batches/{batch_id}").json()
                if seen["rows_done"] < 2 * CHUNK_ROWS:
                    return False
                with engine.connect() as conn:
                    return conn.execute(select(BatchChunkRow.number).where(
                        BatchChunkRow.batch_id == batch_id, BatchChunkRow.state == "running")).first() is not None

            wait_for(progressed, timeout=60, what="the first worker to finish two chunks and hold a third")
            engine.dispose()
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
            killed_at = client.get(f"/v1/batches/{batch_id}").json()
            assert killed_at["state"] == "running" and killed_at["rows_done"] < ROWS, killed_at
            second = _worker(database_url, own_redis.url, log)
            wait_for(lambda: client.get(f"/v1/batches/{batch_id}").json()["state"] != "running", timeout=120,
                     what="the second worker to finish the job")
            done = client.get(f"/v1/batches/{batch_id}").json()
            assert done["state"] == "done", done
            interrupted = client.get(done["links"]["results"]).content

            # the same file again, uninterrupted (the second worker alone)
            again = upload(client, data, force=True)
            # one reading of the state: two (one for each condition) could see queued, then running
            wait_for(lambda: client.get(f"/v1/batches/{again['id']}").json()["state"] not in ("queued", "running"),
                     timeout=120, what="the uninterrupted run")
            clean = client.get(f"/v1/batches/{again['id']}/results.csv").content
        finally:
            _stop(first)
            if second is not None:
                _stop(second)
    assert done["counts"] == {"matched": 45, "review": 0, "no_match": 15, "error": 0}, log_path.read_text()[-3000:]
    got = list(csv.reader(io.StringIO(interrupted.decode())))
    assert [r[3] for r in got[1:]] == [str(i) for i in range(ROWS)]  # every row once, in file order
    assert [r[5] for r in got[1:]] == [("A1", "A2", "A3", "")[i % 4] for i in range(ROWS)]
    assert interrupted == clean
    engine = create_engine(database_url)
    with engine.connect() as conn:
        attempts = conn.execute(select(BatchChunkRow.attempts).where(BatchChunkRow.batch_id == batch_id)
                                .order_by(BatchChunkRow.number)).scalars().all()
    engine.dispose()
    assert len(attempts) == ROWS // CHUNK_ROWS
    assert max(attempts) >= 2, attempts  # the killed worker's chunks were taken over
