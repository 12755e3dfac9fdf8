"""What other domains (and this domain's routes) may ask of the webhooks domain.

``emit`` is the one way to send an event: it writes the outbox rows in the caller's transaction,
so the event exists if and only if what caused it committed, and a deliverer
(api/webhooks/delivery.py) sends it after. The URLs are the deployment's ``webhook_urls``: the
app puts them on its sessions (``use_urls``); a session without them (a command's) reads the
settings.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Sequence

import orjson
from sqlalchemy.orm import Session, sessionmaker

from api.db.bulk import utc_now
from api.errors import Conflict, FieldError, NotFound
from api.webhooks import store
from api.webhooks.store import STATES
from api.db.rows.webhooks import EVENT_TYPE_LEN, KEY_LEN

__all__ = ["STATES", "emit", "list_outbox", "retry", "use_urls"]

# the key under which a session carries the URLs events go to (see use_urls)
WEBHOOK_URLS = "leadmatch.webhook_urls"


def use_urls(sessions: sessionmaker[Session], urls: Sequence[str]) -> None:
    """Every session ``sessions`` makes from now on sends events to ``urls``."""
    info = dict(sessions.kw.get("info") or {})
    info[WEBHOOK_URLS] = tuple(urls)
    sessions.configure(info=info)


def _urls(session: Session) -> Sequence[str]:
    urls = session.info.get(WEBHOOK_URLS)
    if urls is None:
        from config import get_settings

        urls = get_settings().webhook_urls
    return urls


def event_body(event_id: uuid.UUID, event_type: str, key: str, created_at: datetime, payload: dict[str, Any]) -> bytes:
    """The bytes POSTed (and signed): the event's identity and time around the caller's payload."""
    return orjson.dumps({"event_id": str(event_id), "event_type": event_type, "idempotency_key": key,
                         "created_at": created_at.isoformat().replace("+00:00", "Z"), "data": payload})


def emit(session: Session, event_type: str, payload: dict[str, Any], key: str, *,
         now: datetime | None = None) -> None:
    """Queue an event for every configured URL, in the session's transaction. ``key`` is the
    event's idempotency key (the receiver sees it as ``Idempotency-Key``): emitting the same key
    again stores nothing, whatever the payload. No URLs configured: nothing is stored."""
    if not key or len(key) > KEY_LEN:
        raise ValueError(f"an idempotency key has 1 to {KEY_LEN} characters; got {len(key)}")
    if not event_type or len(event_type) > EVENT_TYPE_LEN:
        raise ValueError(f"an event type has 1 to {EVENT_TYPE_LEN} characters; got {event_type!r}")
    urls = _urls(session)
    if not urls:
        return
    created_at = now or utc_now()
    event_id = uuid.uuid4()
    body = event_body(event_id, event_type, key, created_at, payload).decode()
    store.insert_events(session, [store.NewEvent(event_id=event_id, event_type=event_type, url=url,
                                                 idempotency_key=key, body=body, created_at=created_at)
                                  for url in dict.fromkeys(urls)])


def list_outbox(session: Session, *, state: str | None, after: int | None, limit: int) -> dict[str, Any]:
    """One page of the outbox by id; ``next_after`` continues it (None on the last page)."""
    rows = store.list_rows(session, state=state, after=after, limit=limit + 1)
    page = rows[:limit]
    return {"items": page, "next_after": page[-1]["id"] if len(rows) > limit else None}


def retry(session: Session, row_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Send a dead event again: pending, due now, attempts from zero."""
    if not store.requeue_dead(session, row_id, now or utc_now()):
        row = store.get_row(session, row_id)
        if row is None:
            raise NotFound(f"outbox row {row_id} not found", [FieldError("id", "no such outbox row")])
        raise Conflict(f"outbox row {row_id} is {row['state']}: only a dead one is retried",
                       [FieldError("id", f"the row is {row['state']}, not dead")], state=row["state"])
    row = store.get_row(session, row_id)
    assert row is not None  # just updated in this transaction
    return row
