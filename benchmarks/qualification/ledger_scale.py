"""Deterministic scale ledger for the qualification benchmarks, written into PostgreSQL with COPY.

Shape, grown from the development data (``../shared/data/dev``):

- accounts: the dev accounts, then variants of them (``_common.scale_accounts``) up to N, with an
  owner, an ICP tier (1: 10 %, 2: 20 %, 3: 40 %, none: 30 %), an industry and a head count;
  0.5 % carry the manual Disqualified flag, 0.3 % Partner.
- contacts: 1 to 12 per account (mean ~3), names and titles drawn from the dev leads, emails at
  the account's domain.
- activities: exactly ``events`` in total. Accounts are cold (35 %: no activity at all), light,
  warm or hot (weights 1 : 4 : 12); each account's share of the total follows its weight. Types
  follow a marketing mix (page views and email opens dominate; demo requests and contact-us forms
  are rare), times spread over two years with more recent activity, 30 % of events name their
  person by email rather than contact id, 1 % come from people who are no contact yet (kept
  unmatched). The table is written in arrival order (``received_at``), as a live ledger grows,
  not clustered by account: reading one account's events touches pages all over the table.
- opportunities on ~7 % of accounts (hot accounts more often) with 1 to 4 stage changes;
  contracts on ~9 % (open-ended, running or ended); a few manual contact moves.

Same N, events and seed -> same data (times are relative to ``reference``, stored with the data).
A database built once is reused: ``bench_meta`` records what it holds and is written last, so a
build that was interrupted is detected and redone.
"""
from __future__ import annotations

import csv
from hashlib import blake2b
import io
import random
import time
from bisect import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path
from typing import Callable

import orjson

from _common import read_real_accounts, scale_accounts

DEFAULT_SEED = 20261125
CHUNK_ACCOUNTS = 20_000

ACTIVITY_MIX = (  # (type, share of events)
    ("page_view", 0.38), ("email_open", 0.24), ("email_click", 0.09), ("content_download", 0.06),
    ("webinar", 0.03), ("form_fill", 0.035), ("event_attended", 0.015), ("demo_request", 0.004),
    ("contact_us", 0.003), ("email_reply", 0.02), ("meeting", 0.02), ("call", 0.03), ("social_touch", 0.028),
)
PAGE_KINDS = (("blog", 0.45), ("product", 0.3), ("pricing", 0.08), ("docs", 0.12), ("careers", 0.05))
CHANNELS = {"page_view": "web", "email_open": "email", "email_click": "email", "email_reply": "email",
            "content_download": "web", "webinar": "event", "form_fill": "web", "event_attended": "event",
            "demo_request": "web", "contact_us": "web", "meeting": "sales", "call": "sales",
            "social_touch": "social"}
CAMPAIGN_TYPES = frozenset({"webinar", "event_attended", "email_open", "email_click", "content_download"})
NULL = r"\N"
OUTBOUND = {"call", "meeting", "email_open", "email_click"}  # sent by us (the rest: the buyer's move)
INDUSTRIES = ("Software", "Financial Services", "Manufacturing", "Healthcare", "Retail", "Education",
              "Telecommunications", "Energy", "Logistics", "Media", "Government", "Consulting")
TIERS = (("1", 0.1), ("2", 0.2), ("3", 0.4), (None, 0.3))
ENGAGEMENT = ((0.0, 0.35), (1.0, 0.40), (4.0, 0.20), (12.0, 0.05))  # (weight, share of accounts)
STAGES = ("qualification", "discovery", "solution", "proposal", "negotiation")
HORIZON_DAYS = 730

ACTIVITY_COLUMNS = ("id", "type", "occurred_at", "contact_id", "email", "account_id", "channel", "campaign_id",
                    "asset_id", "page_kind", "direction", "received_at", "content_hash")


@dataclass(frozen=True)
class Shape:
    accounts: int
    events: int
    seed: int = DEFAULT_SEED

    def as_meta(self) -> dict[str, str]:
        return {"accounts": str(self.accounts), "events": str(self.events), "seed": str(self.seed)}


def _picker(pairs) -> Callable[[random.Random], object]:  # noqa: ANN001
    values = [v for v, _ in pairs]
    cum = list(accumulate(w for _, w in pairs))
    total = cum[-1]
    return lambda rng: values[min(bisect(cum, rng.random() * total), len(values) - 1)]


def _text(value) -> str:  # noqa: ANN001 - one COPY text field
    if value is None:
        return r"\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def copy_line(*values) -> str:  # noqa: ANN002 - one row of COPY text (also benchmarks/reports/)
    return "\t".join(_text(v) for v in values) + "\n"


def _people(data: Path) -> tuple[list[str], list[str], list[str]]:
    firsts, lasts, titles = set(), set(), []
    with open(data / "leads.csv", newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            if row.get("first_name"):
                firsts.add(row["first_name"].strip())
            if row.get("last_name"):
                lasts.add(row["last_name"].strip())
            if row.get("title"):
                titles.append(row["title"].strip())  # duplicates kept: the mix of titles is the shape
    return sorted(firsts), sorted(lasts), titles


def _event_hash(type_: str, occurred_iso: str, contact_id: str | None, email: str | None, channel: str | None,
                campaign_id: str | None, asset_id: str | None, page_kind: str | None, direction: str | None) -> str:
    """``api.qualification.store.activity_hash`` of the event as sent (checked by ``_check_hash_matches_api``),
    so resending a benchmark event through the API is recognised as the same event."""
    content = (type_, occurred_iso, contact_id, email, channel, campaign_id, asset_id, page_kind, direction)
    return blake2b(orjson.dumps(content), digest_size=16).hexdigest()


def _check_hash_matches_api() -> None:
    from api.qualification.store import activity_hash
    from matcher.qualification.ledger import Activity

    t = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    a = Activity(id="x", type="webinar", occurred_at=t, contact_id="C1", email="a@b.com", channel="event",
                 campaign_id="CMP-1", asset_id=None, page_kind=None, direction="inbound")
    mine = _event_hash("webinar", t.isoformat(), "C1", "a@b.com", "event", "CMP-1", None, None, "inbound")
    if activity_hash(a) != mine:
        raise SystemExit("benchmarks/qualification/ledger_scale.py: _event_hash no longer equals api.qualification.store.activity_hash")


def read_meta(conn) -> dict[str, str] | None:  # noqa: ANN001 - psycopg connection
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('bench_meta')")
        if cur.fetchone()[0] is None:
            return None
        cur.execute("SELECT key, value FROM bench_meta")
        return dict(cur.fetchall())


def build(url: str, shape: Shape, data: Path, say: Callable[[str], None] = print) -> dict[str, str]:
    """Write the ledger into the (migrated, empty) database at ``url``; returns the meta it records."""
    import psycopg

    from api.db import migrate

    _check_hash_matches_api()
    migrate(url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    rng = random.Random(shape.seed)
    reference = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    firsts, lasts, titles = _people(data)
    real = read_real_accounts(data / "accounts.csv")
    owners = sorted({a.owner for a in real if a.owner})
    owner_id = {name: i + 1 for i, name in enumerate(owners)}
    tier_of, engagement_of = _picker(TIERS), _picker(ENGAGEMENT)
    type_of, page_kind_of = _picker(ACTIVITY_MIX), _picker(PAGE_KINDS)

    # Each account's share of the events: its engagement weight, drawn up front so the total is exact.
    weights = [engagement_of(rng) for _ in range(shape.accounts)]
    total_w = sum(weights) or 1.0
    per_weight = shape.events / total_w
    quotas = [int(w * per_weight) for w in weights]
    short = shape.events - sum(quotas)
    for i in sorted(range(shape.accounts), key=lambda i: (-weights[i], i))[:short]:
        quotas[i] += 1

    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        if read_meta(conn) is not None:
            raise SystemExit(f"{url} already holds a scale ledger; drop the database to rebuild it")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET synchronous_commit = off")
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM accounts")
            if cur.fetchone()[0]:
                raise SystemExit(f"{url}: accounts table not empty; use a fresh database")
        # Arrival order: events land in a staging table by account, then move into activities
        # sorted by received_at (indexes built afterwards, in one pass each).
        conn.execute("DROP TABLE IF EXISTS activities_staging")
        conn.execute("CREATE UNLOGGED TABLE activities_staging (LIKE activities)")
        with conn.cursor().copy("COPY owners (id, name, email) FROM STDIN") as cp:
            for name, i in owner_id.items():
                cp.write(copy_line(i, name, None))
        conn.execute("SELECT setval(pg_get_serial_sequence('owners', 'id'), %s)", (max(owner_id.values(), default=1),))

        counts = {"accounts": 0, "contacts": 0, "activities": 0, "opportunities": 0, "stage_changes": 0,
                  "contracts": 0, "manual_moves": 0}
        event_no = 0
        person_no = 0
        buf: dict[str, io.StringIO] = {}

        def flush() -> None:
            targets = {
                "accounts": "accounts (id, name, country, region, city, parent_id, owner_id, phone, aliases, "
                            "is_customer, fit_tier, industry, employees, disqualified, partner, disqualified_at, "
                            "partner_at, attributes, created_at, updated_at)",
                "account_domains": "account_domains (account_id, domain)",
                "contacts": "contacts (id, account_id, email, email_domain, first_name, last_name, title, "
                            "created_at, updated_at)",
                "activities_staging": f"activities_staging ({', '.join(ACTIVITY_COLUMNS)})",
                "opportunities": "opportunities (id, account_id, primary_contact_id, owner, type, stage, amount, "
                                 "state, opened_at, closed_at, created_at, updated_at)",
                "opportunity_stage_changes": "opportunity_stage_changes (opportunity_id, stage, at)",
                "contracts": "contracts (id, account_id, starts_on, ends_on, created_at, updated_at)",
                "manual_contact_moves": "manual_contact_moves (contact_id, status, at, by, note, recorded_at)",
            }
            with conn.transaction():
                for table, columns in targets.items():
                    text = buf.get(table)
                    if text is not None and text.tell():
                        with conn.cursor().copy(f"COPY {columns} FROM STDIN") as cp:
                            cp.write(text.getvalue())
            buf.clear()

        def out(table: str) -> io.StringIO:
            b = buf.get(table)
            if b is None:
                b = buf[table] = io.StringIO()
            return b

        created = reference - timedelta(days=HORIZON_DAYS + 30)
        for n, acc in enumerate(scale_accounts(real, shape.accounts)):
            tier = tier_of(rng)
            employees = int(10 ** rng.uniform(0.7, 4.7))
            disq = rng.random() < 0.005
            partner = not disq and rng.random() < 0.003
            flag_at = reference - timedelta(days=rng.uniform(1, 300))
            out("accounts").write(copy_line(
                acc.id, acc.name, acc.country, acc.region, acc.city, acc.parent_id, owner_id.get(acc.owner),
                None, "[]", False, tier, INDUSTRIES[rng.randrange(len(INDUSTRIES))], employees, disq, partner,
                flag_at if disq else None, flag_at if partner else None, "{}", created, created))
            domain = acc.domains[0] if acc.domains else f"{acc.id.lower()}.example"
            for d in acc.domains:
                out("account_domains").write(copy_line(acc.id, d))
            counts["accounts"] += 1

            quota = quotas[n]
            n_contacts = min(12, 1 + int(rng.expovariate(0.6)) + (1 if quota > 40 else 0))
            contacts = []
            for _ in range(n_contacts):
                person_no += 1
                first, last = firsts[rng.randrange(len(firsts))], lasts[rng.randrange(len(lasts))]
                cid = f"K{person_no:08d}"
                email = f"{first.lower()}.{last.lower()}{person_no % 97}@{domain}".replace(" ", "")
                contacts.append((cid, email))
                out("contacts").write(copy_line(cid, acc.id, email, domain, first, last,
                                            titles[rng.randrange(len(titles))], created, created))
            counts["contacts"] += n_contacts

            act = out("activities_staging")
            write = act.write
            for _ in range(quota):  # the hot loop of the build: one f-string per event, no helpers
                event_no += 1
                t = type_of(rng)
                age_days = HORIZON_DAYS * rng.random() ** 2.2  # recent activity is more frequent
                occurred = reference - timedelta(days=age_days, seconds=60 + 3540 * rng.random())
                occurred_iso = occurred.isoformat()
                page_kind = page_kind_of(rng) if t == "page_view" else None
                channel = CHANNELS[t]
                campaign = f"CMP-{int(400 * rng.random())}" if t in CAMPAIGN_TYPES else None
                asset = f"asset-{int(150 * rng.random())}" if t == "content_download" else None
                direction = "outbound" if t in OUTBOUND else "inbound"
                r = rng.random()
                if r < 0.01:  # a person who is no contact yet: kept by email, unmatched
                    person_no += 1
                    sent_contact, email, contact_id, account_id = None, f"visitor{person_no}@{domain}", None, None
                elif r < 0.31:  # named by email, attached to the contact at ingestion
                    contact_id, email = contacts[int(len(contacts) * rng.random())]
                    sent_contact, account_id = None, acc.id
                else:
                    contact_id = contacts[int(len(contacts) * rng.random())][0]
                    sent_contact, email, account_id = contact_id, None, acc.id
                received = occurred + timedelta(seconds=1 + 899 * rng.random())
                digest = _event_hash(t, occurred_iso, sent_contact, email, channel, campaign, asset, page_kind,
                                     direction)
                write(f"ev{event_no:010d}\t{t}\t{occurred_iso}\t{contact_id or NULL}\t{email or NULL}\t"
                      f"{account_id or NULL}\t{channel}\t{campaign or NULL}\t{asset or NULL}\t{page_kind or NULL}\t"
                      f"{direction}\t{received.isoformat()}\t{digest}\n")
            counts["activities"] += quota

            # Deals: hot accounts are likelier to have one.
            if rng.random() < (0.04 + 0.02 * weights[n]):
                for k in range(1 + (rng.random() < 0.25)):
                    counts["opportunities"] += 1
                    oid = f"O{acc.id}-{k}"
                    opened = reference - timedelta(days=rng.uniform(5, 600))
                    state = ("open", "won", "lost")[_three(rng, 0.45, 0.3)]
                    closed = min(reference, opened + timedelta(days=rng.uniform(20, 200))) if state != "open" else None
                    kind = ("new_business", "expansion", "renewal")[_three(rng, 0.6, 0.25)]
                    moves = 1 + rng.randrange(4)
                    stage = STAGES[moves - 1]
                    out("opportunities").write(copy_line(
                        oid, acc.id, contacts[rng.randrange(len(contacts))][0], acc.owner, kind, stage,
                        round(rng.uniform(5_000, 400_000), 2), state, opened, closed, opened, closed or opened))
                    span = ((closed or reference) - opened) / (moves + 1)
                    for s in range(moves):
                        out("opportunity_stage_changes").write(copy_line(oid, STAGES[s], opened + span * s))
                    counts["stage_changes"] += moves
            if rng.random() < 0.09:
                starts = (reference - timedelta(days=rng.uniform(30, 1400))).date()
                r = rng.random()
                ends = None if r < 0.2 else starts + timedelta(days=365 * (1 + rng.randrange(3)))
                out("contracts").write(copy_line(f"T{acc.id}", acc.id, starts, ends, created, created))
                counts["contracts"] += 1
            if rng.random() < 0.02:
                cid, _ = contacts[rng.randrange(len(contacts))]
                status = ("no_longer_with_company", "disqualified", "sales_working")[_three(rng, 0.5, 0.2)]
                at = reference - timedelta(days=rng.uniform(1, 200))
                out("manual_contact_moves").write(copy_line(cid, status, at, "bench", None, at))
                counts["manual_moves"] += 1

            if (n + 1) % CHUNK_ACCOUNTS == 0:
                flush()
                if (n + 1) % (CHUNK_ACCOUNTS * 10) == 0:
                    say(f"    {n + 1:,} accounts, {counts['activities']:,} events generated "
                        f"({time.perf_counter() - started:.0f} s)")
        flush()
        say(f"    generated in {time.perf_counter() - started:.0f} s; moving events into activities in arrival order")

        t0 = time.perf_counter()
        indexes = _drop_indexes(conn, "activities")  # primary key included: rebuilt in one pass
        conn.execute(f"INSERT INTO activities ({', '.join(ACTIVITY_COLUMNS)}) "
                     f"SELECT {', '.join(ACTIVITY_COLUMNS)} FROM activities_staging ORDER BY received_at, id")
        conn.execute("DROP TABLE activities_staging")
        for ddl in indexes:
            conn.execute(ddl)
        say(f"    activities sorted and indexed in {time.perf_counter() - t0:.0f} s; VACUUM ANALYZE")
        conn.execute("VACUUM ANALYZE")
        meta = {**shape.as_meta(), "reference": reference.isoformat(), "build_seconds":
                f"{time.perf_counter() - started:.0f}", **{f"rows_{k}": str(v) for k, v in counts.items()}}
        conn.execute("CREATE TABLE bench_meta (key text PRIMARY KEY, value text NOT NULL)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_meta VALUES (%s, %s)", list(meta.items()))
    return meta


def _three(rng: random.Random, p0: float, p1: float) -> int:
    r = rng.random()
    return 0 if r < p0 else 1 if r < p0 + p1 else 2


def _drop_indexes(conn, table: str) -> list[str]:  # noqa: ANN001
    """Drop the table's indexes and primary key, returning the statements that recreate them
    exactly as the migration made them."""
    with conn.cursor() as cur:
        cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'p'", (table,))
        keys = cur.fetchall()
        cur.execute("SELECT i.indexname, i.indexdef FROM pg_indexes i "
                    "WHERE i.tablename = %s AND i.schemaname = current_schema() AND i.indexname NOT IN "
                    "(SELECT conname FROM pg_constraint WHERE contype = 'p')", (table,))
        rows = cur.fetchall()
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    for name, _ in keys:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return ([f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in keys]
            + [ddl for _, ddl in rows])


def database_name(shape: Shape, base: str = "leadmatch_qual_bench") -> str:
    """The default 1M/20M ledger lives in ``base``; other shapes get their own database."""
    if (shape.accounts, shape.events, shape.seed) == (1_000_000, 20_000_000, DEFAULT_SEED):
        return base
    return f"{base}_{shape.accounts}_{shape.events}" + ("" if shape.seed == DEFAULT_SEED else f"_{shape.seed}")


def ensure(admin_url: str, shape: Shape, data: Path, *, fresh: bool = False,
           say: Callable[[str], None] = print, base: str = "leadmatch_qual_bench") -> tuple[str, dict[str, str]]:
    """(url, meta) of a database holding ``shape``, built on first use and reused after; ``base``
    names the database (another benchmark that adds tables of its own keeps its own copy)."""
    import psycopg

    name = database_name(shape, base)
    admin_dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not fresh:
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
                meta = read_meta(conn)
            if meta is not None and all(meta.get(k) == v for k, v in shape.as_meta().items()):
                say(f"  reusing database {name} (built {meta.get('reference', '?')}, "
                    f"{int(meta['rows_activities']):,} activities)")
                from api.db import migrate

                migrate(url)  # a newer schema revision applies to a reused database too
                return url, meta
            say(f"  database {name} is incomplete or holds another shape: rebuilding it")
        if exists:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    say(f"  building {name}: {shape.accounts:,} accounts, {shape.events:,} events (seed {shape.seed})")
    meta = build(url, shape, data, say)
    return url, meta
