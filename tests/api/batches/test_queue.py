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
