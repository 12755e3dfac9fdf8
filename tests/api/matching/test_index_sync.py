"""Index changes reach a second, real server process through Redis."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.conftest import account, app_client, contact, settings_for, wait_for

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server_b(database_url: str, redis_url: str, redis_namespace: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "LEADMATCH_INDEX_CHANNEL": redis_namespace + "index", "LEADMATCH_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"server B exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, 30, "server B to become ready")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def b_match(base: str, **lead) -> dict:
    r = httpx.post(f"{base}/v1/match", json=lead, timeout=5)
    r.raise_for_status()
    return r.json()


@pytest.mark.redis
def test_changes_through_a_reach_b(database_url: str, redis_url: str, redis_namespace: str, server_b: str) -> None:
    settings = settings_for(database_url, redis_url, channel=redis_namespace + "index")
    with app_client(settings, cache_prefix=redis_namespace + "cache:") as a:
        assert b_match(server_b, email="x@zorblax.com")["account_id"] is None
        assert a.put("/v1/accounts", json=[account("Z1", "Zorblax Industries", domains=["zorblax.com"])]).status_code == 200
        wait_for(lambda: b_match(server_b, email="x@zorblax.com")["account_id"] == "Z1", 10, "B to see the new account")
        a.put("/v1/accounts", json=[account("Z1", "Zorblax Industries", domains=["zorblax.com", "zorb.io"])])
        wait_for(lambda: b_match(server_b, email="x@zorb.io")["account_id"] == "Z1", 10, "B to see the new domain")
        # a contact's email domain is evidence for its account, on B too
        assert b_match(server_b, email="ann@zorb-mail.io")["account_id"] is None
        assert a.put("/v1/contacts", json=[contact("K1", "Z1", "max@zorb-mail.io")]).status_code == 200
        wait_for(lambda: b_match(server_b, email="ann@zorb-mail.io")["account_id"] == "Z1", 10,
                 "B to see the contact's domain")
        assert a.delete("/v1/accounts/Z1").status_code == 200
        wait_for(lambda: b_match(server_b, email="x@zorblax.com")["account_id"] is None, 10, "B to drop the account")


@pytest.mark.redis
def test_listener_ignores_its_own_messages_and_bad_ones(database_url: str, redis_url: str, redis_namespace: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import orjson
    import redis

    from api.matching.index_sync import publish_change

    channel = redis_namespace + "index"
    settings = settings_for(database_url, redis_url, channel=channel)
    client = redis.Redis.from_url(redis_url)
    watcher = client.pubsub(ignore_subscribe_messages=True)
    watcher.subscribe(channel)  # what goes over the channel, as every other server hears it
    try:
        with app_client(settings, cache_prefix=redis_namespace + "cache:") as a:
            sync = a.app.state.services.index
            reread: list[list[str]] = []  # ids the listener thread re-read from the database
            apply = sync._apply

            def listening_apply(ids) -> None:  # noqa: ANN001
                if threading.current_thread().name == "leadmatch-index-listener":
                    reread.append(sorted(ids))
                apply(ids)

            monkeypatch.setattr(sync, "_apply", listening_apply)
            assert a.put("/v1/accounts", json=[account("Z1", "Zorblax Industries", domains=["zorblax.com"])]).status_code == 200
            # a bad message and another process's change after this server's own: once the listener
            # has re-read Z2, it has been through the other two
            client.publish(channel, b"not json")
            publish_change(client, channel, "another-process", "upsert", ["Z2"])
            wait_for(lambda: ["Z2"] in reread, 10, "the listener to handle the other process's change")
            assert reread == [["Z2"]]  # its own change and the bad message were not re-read
            assert a.get("/readyz").json()["checks"]["redis"]["ok"]
        heard = []
        deadline = time.monotonic() + 5
        while len(heard) < 3 and time.monotonic() < deadline:
            if (msg := watcher.get_message(timeout=0.5)) is not None:
                heard.append(msg["data"])
        # the server's own change did go out on the channel, first
        assert heard[0] == orjson.dumps({"origin": sync.origin, "op": "upsert", "ids": ["Z1"]}), heard
        assert len(heard) == 3
    finally:
        watcher.close()
        client.close()


@pytest.mark.redis
def test_command_line_imports_reach_a_running_server(database_url: str, redis_url: str, redis_namespace: str,
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`leadmatch import-accounts` / `import-contacts` with REDIS_URL: a server that is already
    running matches against what they stored, without a restart (README, "Several replicas")."""
    from api.cli import app
    from config import get_settings
    from tests.api.test_cli import runner, write

    channel = redis_namespace + "index"
    for name, value in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url), ("LEADMATCH_INDEX_CHANNEL", channel),
                        ("LEADMATCH_CACHE_PREFIX", redis_namespace + "cache:")):
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    header = "id,name,domains,country,region,city,parent_id,owner\n"

    def leadmatch(*args: str) -> None:
        r = runner.invoke(app, [*args])
        assert r.exit_code == 0, r.output

    try:
        with app_client(settings_for(database_url, redis_url, channel=channel),
                        cache_prefix=redis_namespace + "cache:") as server:
            def match(**lead: str) -> dict:
                r = server.post("/v1/match", json=lead)
                assert r.status_code == 200, r.text
                return r.json()

            assert match(email="x@zorblax.com")["decision"] == "no_match"
            leadmatch("import-accounts", str(write(tmp_path, "a.csv",
                                                   header + "Z1,Zorblax Industries,zorblax.com,GB,,London,,Oliver Hughes\n")))
            wait_for(lambda: match(email="x@zorblax.com")["account_id"] == "Z1", 10, "the server to see the import")
            assert match(email="x@zorblax.com")["route"]["owner"] == "Oliver Hughes"

            # a contact's email domain becomes evidence for the contact's account
            assert match(email="ann@zorb-mail.io")["decision"] == "no_match"
            leadmatch("import-contacts", str(write(tmp_path, "k.csv", "id,account_id,email\nK1,Z1,max@zorb-mail.io\n")))
            wait_for(lambda: match(email="ann@zorb-mail.io")["account_id"] == "Z1", 10,
                     "the server to see the contact's domain")
            assert match(email="ann@zorb-mail.io")["evidence"] == "contact_domain"

            # a changed domain and owner: the old domain stops matching, the new one routes to the new owner
            leadmatch("import-accounts", str(write(tmp_path, "b.csv",
                                                   header + "Z1,Zorblax Industries,zorblax.net,GB,,London,,Olivia Hughes\n")))
            wait_for(lambda: match(email="x@zorblax.net")["account_id"] == "Z1", 10, "the server to see the new domain")
            assert match(email="x@zorblax.net")["route"]["owner"] == "Olivia Hughes"
            old_domain = match(email="x@zorblax.com")  # at most a look-alike of the name now, never matched
            assert old_domain["account_id"] is None and old_domain["evidence"] != "email_domain", old_domain
    finally:
        get_settings.cache_clear()
