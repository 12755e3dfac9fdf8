"""``leadmatch upload``: to a running service (a real uvicorn on a free port) with --wait, and
in process on the configured database without --url; both write the same result files as the
API serves, and the job's id on stdout."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import uvicorn
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from tests.api.batches.test_batches import EXPECTED_ERRORS, LIST, batch_client
from tests.conftest import settings_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_upload_to_a_running_service_with_wait(database_url: str, tmp_path) -> None:  # noqa: ANN001
    with batch_client(database_url):  # the account A1 stored
        pass
    port = _free_port()
    settings = settings_for(database_url, scheduler_seconds=0, sla_check_seconds=0, batch_sweep_seconds=0,
                            batch_chunk_rows=2)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        (tmp_path / "list.csv").write_bytes(LIST)
        out = tmp_path / "out.results.csv"
        result = CliRunner().invoke(cli, ["upload", str(tmp_path / "list.csv"), "--url", f"http://127.0.0.1:{port}",
                                          "--wait", "--out", str(out)])
        assert result.exit_code == 0, result.output
        batch_id = result.stdout.strip().splitlines()[0]
        assert batch_id.startswith("b_")
        import httpx

        served = httpx.get(f"http://127.0.0.1:{port}/v1/batches/{batch_id}/results.csv").content
        assert out.read_bytes() == served
        assert (tmp_path / "out.errors.csv").read_bytes() == EXPECTED_ERRORS
        # the same file again: the existing job, followed and not uploaded again
        again = CliRunner().invoke(cli, ["upload", str(tmp_path / "list.csv"), "--url", f"http://127.0.0.1:{port}"])
        assert again.exit_code == 0 and again.stdout.strip().splitlines()[0] == batch_id
    finally:
        server.should_exit = True
        thread.join(10)


def test_upload_without_a_service_runs_the_job_in_process(database_url: str, tmp_path) -> None:  # noqa: ANN001
    with batch_client(database_url) as client:
        reference = client.get(
            f"/v1/batches/{_wait(client, client.post('/v1/batches', files={'file': ('l.csv', LIST)}).json()['id'])}"
            "/results.csv").content
        client.delete("/v1/batches/b_0000000000000000")
    (tmp_path / "list.csv").write_bytes(LIST)
    env = {**os.environ, "DATABASE_URL": database_url, "LEADMATCH_BATCH_CHUNK_ROWS": "2"}
    env.pop("LEADMATCH_URL", None)
    done = subprocess.run([sys.executable, "-c", "from api.cli import main; main()", "upload",
                           str(tmp_path / "list.csv"), "--force"], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip().startswith("b_")
    assert (tmp_path / "list.results.csv").read_bytes() == reference
    assert (tmp_path / "list.errors.csv").read_bytes() == EXPECTED_ERRORS


def _wait(client, batch_id: str) -> str:  # noqa: ANN001
    from tests.api.batches.test_batches import wait_done

    assert wait_done(client, batch_id)["state"] == "done"
    return batch_id
