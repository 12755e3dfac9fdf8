"""What a request handler can ask for, as typed ``Annotated`` aliases.

``Services`` is built once per process in the app's lifespan (``api.app``) and handed out from
``app.state``; the getters are ``async def`` on purpose: a plain ``def`` dependency would hop to
the thread pool on every request, which the hot path (``/v1/match``) cannot afford.

``SessionDep`` owns the transaction (through ``api.db.session_scope``, the owner outside requests
too): it commits when the handler returned, rolls back when it raised, and only after a
successful commit runs the callbacks registered with ``api.db.after_commit`` (index refresh,
Redis notification, cache invalidation). Its scope is
"function", so the commit happens before the response is sent and a failed commit is an error
response, never a 200 for data that was not stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Collection, Iterable, Iterator

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api import db
from api.cache import Cache
from api.matching.index_sync import IndexSync
from api.metrics import Metrics
from api.redis_guard import RedisGuard
from config.settings import Settings

if TYPE_CHECKING:
    from api.qualification.deferred import Requalifier
    from api.qualification.service import Qualifier
    from api.webhooks.delivery import Deliverer

ACCOUNT_TTL_SECONDS = 60.0
# Writers drop a status the moment they commit a change; the TTL only bounds how long a reader
# that raced a writer (read the old row just before the commit) can keep the old answer cached.
STATUS_TTL_SECONDS = 60.0


def account_cache_key(account_id: str) -> str:
    return f"account:{account_id}"


def status_cache_key(account_id: str) -> str:
    return f"status:{account_id}"


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    index: IndexSync
    cache: Cache
    metrics: Metrics
    qualifier: Qualifier
    redis: object | None = None  # redis.Redis when REDIS_URL is set
    webhooks: Deliverer | None = None  # sends the webhook outbox when a webhook secret is set
    redis_guard: RedisGuard | None = None  # its circuit breaker (api/redis_guard.py)
    requalifier: Requalifier | None = None  # re-qualifies after commit (lead intake)
    # api.batches.queue.BatchRunner: runs or sends batch jobs (not imported here: it imports this module)
    batches: object | None = None

    def accounts_changed(self, ids: Iterable[str], removed: Iterable[str] = ()) -> None:
        """After a commit: bring the index up to date (here and, via Redis, everywhere) and drop
        cached views of the accounts."""
        ids, removed = list(ids), list(removed)
        self.index.refresh(ids, removed=removed)
        self.invalidate(ids + removed)

    def invalidate(self, ids: Iterable[str]) -> None:
        """Drop every cached view of these accounts (the record and the status)."""
        keys = [k for i in ids for k in (account_cache_key(i), status_cache_key(i))]
        if keys:
            self.cache.delete(*keys)

    def requalify_soon(self, session: Session, account_ids: Collection[str]) -> None:
        """Re-qualify these accounts once the session has committed, off the request's path
        (``api/qualification/deferred.py``); without a worker (a command), as ``requalify`` does."""
        if self.requalifier is None:
            self.requalify(session, account_ids)
            return
        ids = list(account_ids)
        db.after_commit(session, lambda: self.requalifier.submit(ids))

    def requalify(self, session: Session, account_ids: Collection[str], *, now: datetime | None = None) -> None:
        """Re-evaluate these accounts (at ``now``, default the clock) in the session's transaction;
        drop their cached statuses once it has committed."""
        stale = self.qualifier.refresh(session, account_ids, now=now)
        if stale:
            db.after_commit(session, lambda: self.cache.delete(*(status_cache_key(i) for i in stale)))

    def close(self) -> None:
        if self.batches is not None:
            self.batches.close()
        if self.requalifier is not None:
            self.requalifier.close()
        if self.webhooks is not None:
            self.webhooks.close()
        self.index.stop()
        self.cache.close()
        if self.redis is not None:
            self.redis.close()
        self.engine.dispose()


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    with db.session_scope(services.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
