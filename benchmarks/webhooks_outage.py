"""The webhook receiver down for a while, then back: is every event delivered exactly once?

Starts a real local HTTP receiver (tests/api/webhooks/receiver.py) but keeps its port closed,
emits N events into the outbox (one transaction each, as routing decisions would), runs a
Deliverer in the background (as the app does) while the receiver is down for ``--down`` seconds,
brings the receiver up and waits until the outbox has nothing pending. Prints the events, the
requests received, the distinct idempotency keys, the duplicates and the time to drain.

    .venv/bin/python benchmarks/webhooks_outage.py [--events 2000] [--down 60] [--database-url URL]

By default on a fresh SQLite file; ``--database-url postgresql+psycopg://...`` for PostgreSQL
(the schema is migrated; the outbox table is emptied first).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as ``python benchmarks/webhooks_outage.py`` from anywhere
    sys.path.insert(0, str(REPO))

from sqlalchemy import delete, func, select  # noqa: E402

from api.db import make_engine, make_sessionmaker, migrate, session_scope  # noqa: E402
from api.db.rows import WebhookOutboxRow  # noqa: E402
from api.webhooks import service  # noqa: E402
from api.webhooks.delivery import Deliverer  # noqa: E402
from config.settings import Settings  # noqa: E402
from tests.api.webhooks.receiver import Receiver  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--down", type=float, default=60.0, help="seconds the receiver stays down")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--backoff-base", type=float, default=1.0)
    parser.add_argument("--backoff-max", type=float, default=10.0)
    args = parser.parse_args()

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='webhooks-outage-')}/leadmatch.db"
    migrate(url)
    receiver = Receiver()
    settings = Settings(database_url=url, webhook_urls=[receiver.url], webhook_secret="bench-secret",
                        webhook_backoff_base_seconds=args.backoff_base, webhook_backoff_max_seconds=args.backoff_max,
                        webhook_max_attempts=1000, webhook_timeout_seconds=5, webhook_poll_seconds=0.2,
                        webhook_batch_size=50)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    service.use_urls(sessions, settings.webhook_urls)
    with session_scope(sessions) as session:
        session.execute(delete(WebhookOutboxRow))

    deliverer = Deliverer(sessions, settings)
    deliverer.start()
    went_down = time.monotonic()
    for i in range(args.events):
        with session_scope(sessions) as session:
            service.emit(session, "lead.routed", {"lead_id": f"L{i}", "owner": "Dana Whitfield"}, f"L{i}:routed")
    emitted = time.monotonic() - went_down
    print(f"emitted {args.events} events in {emitted:.1f} s, receiver down", flush=True)
    time.sleep(max(0.0, args.down - (time.monotonic() - went_down)))

    def pending() -> int:
        with session_scope(sessions) as session:
            return session.scalar(select(func.count()).select_from(WebhookOutboxRow)
                                  .where(WebhookOutboxRow.state != "delivered")) or 0

    print(f"receiver up after {time.monotonic() - went_down:.1f} s; received while down: {len(receiver.receipts)}; "
          f"undelivered: {pending()}", flush=True)
    receiver.up()
    came_up = time.monotonic()
    while pending():
        time.sleep(0.05)
    drained = time.monotonic() - came_up
    deliverer.close()
    receiver.down()
    with session_scope(sessions) as session:
        attempts = session.scalar(select(func.sum(WebhookOutboxRow.attempts))) or 0
    engine.dispose()

    counts = receiver.counts()
    print(f"database:       {settings.database_url.split('://')[0]}")
    print(f"events:         {args.events}")
    print(f"received:       {len(receiver.receipts)}")
    print(f"distinct keys:  {len(counts)}")
    print(f"duplicates:     {sum(n - 1 for n in counts.values())}")
    print(f"attempts:       {attempts} (failed while down: {attempts - len(receiver.receipts)})")
    print(f"time to drain:  {drained:.1f} s after the receiver came back")


if __name__ == "__main__":
    main()
