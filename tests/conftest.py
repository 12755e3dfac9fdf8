"""Shared fixtures: real SQLite and PostgreSQL databases, a real Redis, and app clients.

- ``database_url`` runs a test twice: on a fresh SQLite file, and on PostgreSQL
  (``TEST_DATABASE_URL``) in a schema unique to this test session (created and migrated once,
  emptied before each test, dropped at the end), so parallel runs on one database do not meet.
- ``redis_url`` is ``TEST_REDIS_URL``; ``redis_namespace`` gives each test its own key prefix
  and index channel (and deletes its keys afterwards). ``own_redis`` is a ``redis-server`` of the
  test's own, which it may stop and start again.
- A server that cannot be reached skips its tests, unless ``LEADMATCH_REQUIRE_SERVICES=1``:
  then the test fails with a message saying which server and why.
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.db import migrate
from api.db.rows import Base
from config.settings import Settings

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE = os.environ.get("LEADMATCH_REQUIRE_SERVICES") == "1"
RUN_ID = uuid.uuid4().hex[:10]


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {exc}".splitlines()[0]
    if REQUIRE:
        pytest.fail(f"{message} (LEADMATCH_REQUIRE_SERVICES=1, so this is an error, not a skip)",
                    pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def _pg_session_url() -> Iterator[str]:
    schema = f"lm_test_{RUN_ID}"
    admin = create_engine(Settings(database_url=PG_URL).database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure
        admin.dispose()
        unavailable(f"PostgreSQL at {make_url(PG_URL).render_as_string(hide_password=True)}", exc)
    url = make_url(Settings(database_url=PG_URL).database_url).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'leadmatch.db'}"
        migrate(url)
        return url
    url = request.getfixturevalue("_pg_session_url")
    engine = create_engine(url)
    with engine.begin() as conn:
        # every table the models know (alembic_version is not one of them)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL}", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A key prefix (and channel name) no other test or run uses; its keys are removed after."""
    import redis

    ns = f"lmtest:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    yield ns
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=ns + "*"))
    if keys:
        client.delete(*keys)
    client.close()


class OwnRedis:
    """A ``redis-server`` of the test's own, on a free port, that the test may stop and start
    again (on the same port): the machine's shared Redis is never stopped."""

    def __init__(self, directory) -> None:  # noqa: ANN001 - a pathlib.Path
        import shutil
        import socket

        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server (the binary)", FileNotFoundError("not on PATH"))
        self.binary = binary
        self.directory = directory
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self) -> None:
        import subprocess
        import time

        import redis

        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:  # noqa: ANN001
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def settings_for(database_url: str, redis_url: str | None = None, channel: str | None = None,
                 **overrides) -> Settings:
    values = {"database_url": database_url, "redis_url": redis_url, **overrides}
    if channel:
        values["index_channel"] = channel
    return Settings(**values)


@contextmanager
def app_client(settings: Settings, cache_prefix: str | None = None) -> Iterator[TestClient]:
    """A TestClient with the lifespan running and the index loaded."""
    app = create_app(settings, cache_prefix=cache_prefix)
    with TestClient(app) as client:
        assert app.state.services.index.wait_ready(30), "index did not load"
        yield client


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with app_client(settings_for(database_url, bulk_max_items=50, max_body_bytes=64 * 1024)) as c:
        yield c


# ---------------------------------------------------------------- factories


def account(id: str = "A1", name: str = "Acme Corporation", **kw) -> dict:  # noqa: A002
    body = {"id": id, "name": name, "domains": kw.pop("domains", [f"{name.split()[0].lower()}.com"]),
            "country": "US", "owner": "Dana Whitfield"}
    body.update(kw)
    return body


def contact(id: str = "K1", account_id: str = "A1", email: str = "jane@acme.com", **kw) -> dict:  # noqa: A002
    return {"id": id, "account_id": account_id, "email": email, **kw}


def wait_for(check: Callable[[], bool], timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll ``check`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def at_once(items: list, work: Callable[[Any], Any], timeout: float = 60.0) -> list:
    """``work(item)`` for every item, each in a thread of its own, all started at the same instant
    (two schedulers side by side, say); the results in the order they came back. An exception
    in any of them fails the test."""
    go = threading.Barrier(len(items))
    errors: list[BaseException] = []
    done: list = []

    def run(item: Any) -> None:
        go.wait()
        try:
            done.append(work(item))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert errors == []
    return done


def post_at_once(clients, path: str, bodies: list[dict]) -> list:  # noqa: ANN001 - TestClients; their responses
    """POST ``bodies[i]`` to ``path`` from ``clients[i]`` (each a replica: an app of its own on the
    same database) at the same instant; the responses in the order they came back."""
    answers = []
    barrier = threading.Barrier(len(clients))

    def send(client, body: dict) -> None:  # noqa: ANN001
        barrier.wait()
        answers.append(client.post(path, json=body))

    threads = [threading.Thread(target=send, args=(c, b)) for c, b in zip(clients, bodies, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers
