"""Batch jobs with Redis configured: Redis down when a job is sent -> the job runs in the API
process (no 5xx); the sweep re-sends the work of a job whose messages were lost."""
from __future__ import annotations

from api.batches import jobs
from tests.api.batches.test_batches import LIST, upload, wait_done
from tests.conftest import account, app_client, settings_for


def test_redis_down_the_job_runs_in_process(database_url: str, own_redis) -> None:  # noqa: ANN001
    settings = settings_for(database_url, own_redis.url, scheduler_seconds=0, sla_check_seconds=0,
                            batch_sweep_seconds=0, batch_chunk_rows=2)
    with app_client(settings) as client:
        assert client.put("/v1/accounts", json=[account("A1", "Acme Corporation", domains=["acme.com"],
                                                        owner="Dana")]).status_code == 200
        own_redis.stop()
        job = wait_done(client, upload(client, LIST)["id"])
        assert job["state"] == "done" and job["counts"] == {"matched": 3, "review": 0, "no_match": 1, "error": 2}
        assert client.app.state.services.metrics.redis_up._value.get() == 0


def test_the_sweep_resends_lost_work(database_url: str) -> None:
    settings = settings_for(database_url, scheduler_seconds=0, sla_check_seconds=0, batch_sweep_seconds=0,
                            batch_chunk_rows=2, batch_lease_seconds=1)
    with app_client(settings) as client:
        assert client.put("/v1/accounts", json=[account("A1", "Acme Corporation", domains=["acme.com"],
                                                        owner="Dana")]).status_code == 200
        services = client.app.state.services
        runner, services.batches = services.batches, None  # the job's message is "lost"
        try:
            batch_id = upload(client, LIST)["id"]
            assert jobs.prepare(services, batch_id)
            sent: list[tuple[str, str, int]] = []
            # 3 pending chunks, nobody holding a lease on the job: all three sent again
            assert jobs.sweep(services, send=lambda *a: sent.append(a)) == {"chunks": 3}
            assert sent == [("chunk", batch_id, 3)]
            # a worker holds chunk 0 (live lease): the pending ones are left to the messages in flight
            claim_worker = "w-test"
            from api.batches import store
            from api.db import session_scope
            from api.db.bulk import utc_now
            with session_scope(services.sessions) as session:
                assert store.claim_chunk(session, batch_id, claim_worker, 60, utc_now()) is not None
            sent.clear()
            assert jobs.sweep(services, send=lambda *a: sent.append(a)) == {}
            # without a sender the sweep does the work itself
            with session_scope(services.sessions) as session:
                from sqlalchemy import update

                from api.db.rows import BatchChunkRow
                session.execute(update(BatchChunkRow).where(BatchChunkRow.batch_id == batch_id,
                                                            BatchChunkRow.number == 0)
                                .values(lease_until=utc_now().replace(year=2000)))
            assert jobs.sweep(services) == {"chunks": 3}
            assert client.get(f"/v1/batches/{batch_id}").json()["state"] == "done"
        finally:
            services.batches = runner


def test_a_worker_told_to_load_the_index_has_it_before_any_chunk(database_url: str, own_redis, tmp_path) -> None:  # noqa: ANN001
    """``leadmatch worker --load-index`` loads the accounts at start and says so; without the flag
    the index waits for the first chunk (nothing is said)."""
    import os
    import subprocess
    import sys

    from tests.conftest import account, app_client, settings_for, wait_for

    with app_client(settings_for(database_url, scheduler_seconds=0, sla_check_seconds=0)) as client:
        assert client.put("/v1/accounts", json=[account("A1", "Acme Corporation", domains=["acme.com"]),
                                                account("A2", "Globex Inc", domains=["globex.com"])]).status_code == 200
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": own_redis.url, "LEADMATCH_SCHEDULER_SECONDS": "0",
           "LEADMATCH_SLA_CHECK_SECONDS": "0"}
    logs = {}
    procs = []
    try:
        for name, flags in (("eager", ["--load-index"]), ("lazy", [])):
            logs[name] = tmp_path / f"{name}.log"
            procs.append(subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()", "worker", *flags],
                                          env=env, stdout=open(logs[name], "wb"), stderr=subprocess.STDOUT))
        wait_for(lambda: "account index loaded (2 accounts)" in logs["eager"].read_text(), 60,
                 "the eager worker to say its index is loaded")
        wait_for(lambda: "consuming" in logs["lazy"].read_text(), 60, "the lazy worker to start")
        assert "index loaded" not in logs["lazy"].read_text()
    finally:
        for p in procs:
            p.terminate()
            p.wait(20)
