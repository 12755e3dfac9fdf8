"""The ``leadmatch`` command line. Every command honours DATABASE_URL and REDIS_URL.

Heavy imports (FastAPI, uvicorn) happen inside the commands that need them, so that
``match-file`` and the importers start fast: they are run as whole processes in benchmarks.
"""
from __future__ import annotations

import contextlib
import csv
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Iterable, Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

app = typer.Typer(help="Lead-to-account matching: serve the API, import accounts, match files.",
                  no_args_is_help=True, add_completion=False)
err = Console(stderr=True)

IMPORT_BATCH = 5000
MATCH_CHUNK = 20000  # leads read per step; their distinct answers are matched together
OUT_COLUMNS = ("lead_id", "decision", "account_id", "confidence", "owner", "reasons")


def _settings():  # noqa: ANN202 - config.Settings
    from config import get_settings

    return get_settings()


def _progress(transient: bool = False) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, transient=transient)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _publisher():  # noqa: ANN202 - callable(ids) or None
    """With REDIS_URL, tell running servers which accounts changed (they reload those ids)."""
    settings = _settings()
    if not settings.redis_url:
        return None
    import redis

    from api.index_sync import publish_change

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2)

    def publish(ids: list[str]) -> None:
        try:
            publish_change(client, settings.index_channel, "cli", "upsert", ids)
        except redis.RedisError as exc:
            err.print(f"[yellow]warning:[/] could not notify running servers: {exc}")

    return publish


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic ``upgrade head``)."""
    from api.db import migrate as run

    url = _settings().database_url
    run(url)
    err.print(f"database schema is up to date ({_redact(url)})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request (costs ~10% of /v1/match throughput; "
                                                  "/metrics counts requests anyway)")] = False,
) -> None:
    """Migrate the database, then serve the HTTP API with uvicorn."""
    import uvicorn

    from api.db import migrate as run

    settings = _settings()
    run(settings.database_url)
    if workers > 1 and not settings.redis_url:
        err.print("[yellow]warning:[/] several workers without REDIS_URL: an account change made through "
                  "one worker does not reach the others' indexes until they restart")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level.lower(), access_log=access_log)


def _valid_account_rows(items: list, session) -> tuple[list, list[str]]:  # noqa: ANN001
    """(accounts that can be stored, messages for rows that cannot). Hierarchy checks see the
    whole file, so a child may come before its parent."""
    from api import store

    problems_out: list[str] = []
    accounts = list(items)  # list[(line, AccountData)]
    # Domains: not a domain -> the row is reported and skipped.
    keep = []
    for line, a in accounts:
        _good, bad = store.normalise_domains(a.domains)
        if bad:
            problems_out.append(f"line {line} (id {a.id}): domains: not a domain: {bad[0]!r}")
        else:
            keep.append((line, a))
    accounts = keep
    # Dropping a row may orphan its children: repeat until nothing more is dropped.
    while True:
        problems = store.validate_accounts(session, [a for _, a in accounts])
        if not problems:
            return accounts, problems_out
        bad_rows = {p.index for p in problems}
        for p in problems:
            line, a = accounts[p.index]
            problems_out.append(f"line {line} (id {a.id}): {p.field}: {p.message}")
        accounts = [x for i, x in enumerate(accounts) if i not in bad_rows]


@app.command("import-accounts")
def import_accounts(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CRM export: id,name,domains,...")],
    batch_size: Annotated[int, typer.Option(min=1, help="accounts per transaction")] = IMPORT_BATCH,
) -> None:
    """Upsert accounts from a CSV (id,name,domains,country,region,city,parent_id,owner).

    Bad rows are reported with their line numbers and skipped; the rest is stored in batched
    transactions. Re-importing the same file changes nothing.
    """
    from api import csvio, store
    from api.db import make_engine, make_sessionmaker, migrate as run, session_scope

    settings = _settings()
    run(settings.database_url)
    started = time.perf_counter()
    errors: list[str] = []
    rows: list = []
    try:
        for item in csvio.iter_accounts(file):
            if isinstance(item, csvio.RowError):
                errors.append(f"line {item.line}" + (f" (id {item.row_id})" if item.row_id else "")
                              + f": {item.field or 'row'}: {item.message}")
            else:
                rows.append((0, store.AccountData.from_account(item)))  # line filled in on demand
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        valid, problems = _valid_account_rows(rows, session)
        if problems:  # again with line numbers (csvio reports them only for unreadable rows)
            valid, problems = _valid_account_rows(_with_lines(file, rows), session)
    rows = valid
    errors.extend(problems)
    def upsert(session, batch):  # noqa: ANN001, ANN202
        report = store.upsert_accounts(session, batch, validate=False)
        return report, report.changed_ids

    _import_in_batches("accounts", rows, batch_size, sessions, upsert, errors, started)
    engine.dispose()


def _import_in_batches(kind: str, rows: list, batch_size: int, sessions, upsert, errors: list, started: float) -> None:  # noqa: ANN001
    """Upsert ``(line, item)`` rows one transaction per batch, telling other processes what
    changed after each commit; then print the skipped rows and a summary."""
    from api import store
    from api.db import session_scope

    total = store.UpsertReport()
    publish = _publisher()
    with _progress() as progress:
        task = progress.add_task(f"importing {kind}", total=len(rows))
        for i in range(0, len(rows), batch_size):
            batch = [item for _, item in rows[i:i + batch_size]]
            with session_scope(sessions) as session:
                report, changed = upsert(session, batch)
            total.merge(report)
            if publish and changed:
                publish(changed)
            progress.advance(task, len(batch))
    with session_scope(sessions) as session:
        store.refresh_planner_statistics(session)
    _print_errors(errors)
    err.print(f"{kind}: {total.created} created, {total.updated} updated, {total.unchanged} unchanged, "
              f"{len(errors)} rows skipped in {time.perf_counter() - started:.1f} s")


def _with_lines(file: Path, rows: list) -> list:
    """Attach each account's line number (csvio knows it only for errors)."""
    from api import csvio

    lines = {}
    for line, row, _e in csvio._rows(file):  # noqa: SLF001 - same package, same parser
        if row and row.get("id"):
            lines.setdefault(row["id"].strip(), line)
    return [(lines.get(a.id, 0), a) for _, a in rows]


def _print_errors(errors: list[str], limit: int = 50) -> None:
    for e in errors[:limit]:
        err.print(f"[yellow]skipped[/] {e}")
    if len(errors) > limit:
        err.print(f"[yellow]... and {len(errors) - limit} more skipped rows[/]")


@app.command("import-contacts")
def import_contacts(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="CSV: id,account_id,email,first_name,last_name,title")],
    batch_size: Annotated[int, typer.Option(min=1, help="contacts per transaction")] = IMPORT_BATCH,
) -> None:
    """Upsert contacts from a CSV. Rows with an unknown account or a malformed email are skipped."""
    from api import ledger_store, store
    from api.db import make_engine, make_sessionmaker, migrate as run, session_scope
    from matcher import normalize

    settings = _settings()
    run(settings.database_url)
    started = time.perf_counter()
    errors: list[str] = []
    rows: list[tuple[int, store.ContactData]] = []
    with open(file, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("id", "account_id") if c not in (reader.fieldnames or [])]
        if missing:
            err.print(f"[red]error:[/] {file.name}: missing column(s) {', '.join(missing)}")
            raise typer.Exit(2)
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            get = lambda k: (row.get(k) or "").strip() or None  # noqa: E731
            cid, aid, email = get("id"), get("account_id"), get("email")
            if not cid or not aid:
                errors.append(f"line {line}: {'id' if not cid else 'account_id'}: empty")
            elif email and not normalize.is_valid_email(email):
                errors.append(f"line {line} (id {cid}): email: not a valid email address")
            elif cid in seen:
                errors.append(f"line {line} (id {cid}): id: duplicate of an earlier row")
            else:
                seen.add(cid)
                rows.append((line, store.ContactData(cid, aid, email, get("first_name"), get("last_name"),
                                                     get("title"))))
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        known = store.existing_account_ids(session, {c.account_id for _, c in rows})
    errors.extend(f"line {line} (id {c.id}): account_id: account {c.account_id!r} does not exist"
                  for line, c in rows if c.account_id not in known)
    rows = [(line, c) for line, c in rows if c.account_id in known]
    def upsert(session, batch):  # noqa: ANN001, ANN202
        report, touched = store.upsert_contacts(session, batch, validate=False)
        # events recorded for these people's emails before they were contacts attach to them now;
        # their accounts' statuses follow at the next recompute
        ledger_store.follow_contacts(session, report.changed_ids)
        return report, sorted(touched)

    _import_in_batches("contacts", rows, batch_size, sessions, upsert, errors, started)
    engine.dispose()


def build_index(long_lived: bool = True, snapshot: bool = False):  # noqa: ANN201 - matcher.AccountIndex
    """The account index of the database named by DATABASE_URL: built from it, or with
    ``snapshot``, read from a current snapshot when there is one (and saved after a build)."""
    return _index_or_snapshot(long_lived, snapshot, 0)


def _index_or_snapshot(long_lived: bool, snapshot: bool, hand_over_bytes: int):  # noqa: ANN202
    """``build_index``; or, when a current snapshot's body is at most ``hand_over_bytes``, that
    ``index_snapshot.Snapshot`` itself, for the matching processes to restore."""
    # what a run from a snapshot needs; SQLAlchemy, the ORM and the loaders only for a build
    from api import index_snapshot
    from config import load_matching_rules
    from matcher.index import bulk_building

    settings = _settings()
    rules = load_matching_rules(settings.matching_rules)
    started = time.perf_counter()
    generation = _index_generation(settings.database_url) if snapshot else None  # before the accounts are read
    path = index_snapshot.snapshot_path(index_snapshot.snapshot_dir(settings.cache_dir), settings.database_url)
    if generation is not None:
        found = index_snapshot.read(path, rules, generation)
        if found is not None and len(found.body) <= hand_over_bytes:
            err.print(f"index: {found.accounts} accounts in the snapshot {path}, restored by each matching process")
            return found
        if found is not None:
            with bulk_building():
                index = index_snapshot.restore(found, rules)
            if index is not None:
                index.settle(collect=long_lived)
                err.print(f"index: {len(index)} accounts from the snapshot {path} in "
                          f"{time.perf_counter() - started:.2f} s")
                return index
    from api import index_load, store
    from api.db import make_engine

    engine = make_engine(settings.database_url)

    with engine.connect() as conn:
        total = store.count_accounts(conn)
    with _progress(transient=True) as progress:
        task = progress.add_task("loading accounts", total=total)
        index = index_load.build_index(engine, rules, progress=lambda n: progress.advance(task, n),
                                       long_lived=long_lived)
    if generation is not None:
        try:
            index_snapshot.save(path, index, generation)
            err.print(f"index: {len(index)} accounts built in {time.perf_counter() - started:.2f} s, "
                      f"snapshot saved to {path}")
        except Exception as exc:  # noqa: BLE001 - a cache: the run goes on without it
            err.print(f"[yellow]warning:[/] index snapshot not saved ({exc})")
    engine.dispose()
    return index


def _index_generation(database_url: str) -> tuple[str, int] | None:
    from api import index_snapshot

    found = index_snapshot.read_sqlite_generation(database_url)
    if found is not None:
        return found
    from sqlalchemy.exc import DBAPIError

    from api.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return index_snapshot.read_generation(conn)
    except DBAPIError:
        err.print("[yellow]warning:[/] this database has no index generation yet (run `leadmatch migrate`); "
                  "building the index without a snapshot")
        return None
    finally:
        engine.dispose()


def _answer_columns(r) -> tuple[str, str, str, str, str]:  # noqa: ANN001 - a MatchResult
    """decision, account_id, confidence, owner, reasons of one answer, as the file shows them."""
    owner = r.route.owner if r.route is not None else None
    return (r.decision, r.account_id or "", f"{r.confidence:.4f}", owner or "", " | ".join(r.reasons))


def _result_rows(items: list, answers: list) -> Iterator[tuple]:
    """Output rows in input order: the answers of the readable leads, an error row for the rest."""
    from api import csvio

    answers_left = iter(answers)
    for it in items:
        if isinstance(it, csvio.RowError):
            where = f"line {it.line}" + (f": {it.field}" if it.field else "")
            yield (it.row_id or "", "error", "", "", "", f"{where}: {it.message}")
        else:
            yield (it.lead_id, *next(answers_left))


@app.command("match-file")
def match_file(
    leads: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with email,company,... columns")],
    out: Annotated[Path, typer.Option("--out", "-o", help="results CSV to write")],
    workers: Annotated[int, typer.Option(min=0, help="matching processes; 0 = one per CPU core")] = 0,
    snapshot: Annotated[bool, typer.Option(
        help="reuse the index snapshot saved by an earlier run while the accounts are unchanged "
             "(kept in LEADMATCH_CACHE_DIR, default ~/.cache/leadmatch)")] = True,
) -> None:
    """Match every lead of a CSV; writes one row per input row, in input order:
    lead_id,decision,account_id,confidence,owner,reasons (an unreadable row: decision=error)."""
    from api import csvio, index_snapshot
    from matcher.index import match_distinct

    workers = workers or os.cpu_count() or 1
    started = time.perf_counter()
    # with several processes and a small snapshot, each process restores the index itself, in
    # parallel and while this one reads the file; a large index is loaded here once and shared
    source = _index_or_snapshot(False, snapshot, HAND_OVER_MAX_BYTES if _can_fork(workers) else 0)
    accounts = source.accounts if isinstance(source, index_snapshot.Snapshot) else len(source)
    loaded = time.perf_counter()
    try:
        total = max(0, _count_lines(leads) - 1)
        counts: dict[str, int] = {}
        memo: dict = {}  # answers so far, by answer key: the index does not change during a file
        with open(out, "w", newline="", encoding="utf-8") as fh, _progress() as progress, \
                _lead_answerer(source, workers) as answer_many:
            writer = csv.writer(fh)
            writer.writerow(OUT_COLUMNS)
            task = progress.add_task("matching leads", total=total)
            for items in _chunks(csvio.iter_leads(leads), MATCH_CHUNK):
                readable = [it.lead for it in items if not isinstance(it, csvio.RowError)]
                answers = match_distinct(readable, memo, answer_many)
                for row in _result_rows(items, answers):
                    writer.writerow(row)
                    counts[row[1]] = counts.get(row[1], 0) + 1
                progress.advance(task, len(items))
            progress.update(task, total=sum(counts.values()), completed=sum(counts.values()))
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    global _LEFT_FOR_EXIT
    # the results file is closed: nothing is left to flush but stdio. Holding the index here
    # keeps it from being freed when this function returns (see ``main``).
    _LEFT_FOR_EXIT = (source, memo)
    n = sum(counts.values())
    took = time.perf_counter() - loaded
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    err.print(f"{n} leads ({summary}) matched against {accounts} accounts in {took:.2f} s "
              f"({n / took if took else 0:.0f} leads/s on {workers} process{'es' if workers > 1 else ''}; "
              f"index load {loaded - started:.1f} s) -> {out}")


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# The index of a forked matching process: inherited (copy-on-write: built once, never
# pickled), or restored by the process itself from a snapshot it inherited.
_FORKED_INDEX = None
# fewer distinct leads than this are matched here when this process has the index
FORK_MIN_LEADS = 64
# a snapshot body up to this size (about 250,000 accounts) is restored by every matching
# process (in parallel, each its own copy); a larger index is loaded once and shared
HAND_OVER_MAX_BYTES = 48 * 2**20


def _can_fork(workers: int) -> bool:
    return workers > 1 and "fork" in multiprocessing.get_all_start_methods()


def _restore_in_fork(snapshot, rules) -> None:  # noqa: ANN001 - index_snapshot.Snapshot, MatchingRules
    global _FORKED_INDEX
    from api import index_snapshot
    from matcher.index import bulk_building

    with bulk_building():
        _FORKED_INDEX = index_snapshot.restore(snapshot, rules)
    if _FORKED_INDEX is not None:
        _FORKED_INDEX.settle(collect=False)


def _answer_in_fork(leads: list) -> list[tuple]:
    if _FORKED_INDEX is None:
        raise RuntimeError("the index snapshot could not be restored in a matching process")
    return [_answer_columns(_FORKED_INDEX.match(lead)) for lead in leads]


@contextlib.contextmanager
def _lead_answerer(source, workers: int) -> Iterator:  # noqa: ANN001 - AccountIndex | Snapshot
    """A function from distinct leads to their output columns, in order: in this process, or
    spread over ``workers`` forked processes that share the built index or restore it from
    the snapshot ``source``. Only distinct leads are sent (``match_distinct`` leaves out the
    ones answered before), so the processes carry the matching and this one the reading,
    deduplicating and writing."""
    global _FORKED_INDEX
    from api import index_snapshot

    index = None if isinstance(source, index_snapshot.Snapshot) else source

    def here(leads: list) -> list[tuple]:
        return [_answer_columns(index.match(lead)) for lead in leads]

    if not _can_fork(workers):
        if index is None:
            raise RuntimeError("a snapshot is handed to matching processes only when they can be forked")
        yield here
        return
    context = multiprocessing.get_context("fork")
    if index is not None:
        _FORKED_INDEX = index
        pool = context.Pool(workers)
    else:
        from config import load_matching_rules

        pool = context.Pool(workers, initializer=_restore_in_fork,
                            initargs=(source, load_matching_rules(_settings().matching_rules)))

    def spread(leads: list) -> list[tuple]:
        if index is not None and len(leads) < FORK_MIN_LEADS:
            return here(leads)
        size = -(-len(leads) // (workers * 4))  # a few parts each, so a slow part does not hold the rest
        parts = pool.map(_answer_in_fork, [leads[i:i + size] for i in range(0, len(leads), size)])
        return [columns for part in parts for columns in part]

    try:
        yield spread
    finally:
        pool.terminate()
        _FORKED_INDEX = None


def _count_lines(path: Path) -> int:
    """Physical lines: a cheap upper bound for the progress bar (quoted newlines may add a few)."""
    with open(path, "rb") as fh:
        return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 20), b""))


@app.command()
def demo() -> None:
    """Migrate and load ~2,000 synthetic demo accounts (idempotent), then print example requests."""
    from api import demo as demo_data
    from api import store
    from api.db import make_engine, make_sessionmaker, migrate as run, session_scope

    settings = _settings()
    run(settings.database_url)
    data = demo_data.generate()
    engine = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        accounts = store.upsert_accounts(session, data.accounts)
        contacts, _ = store.upsert_contacts(session, data.contacts)
    engine.dispose()
    publish = _publisher()
    if publish and (accounts.changed_ids or contacts.changed_ids):
        publish(sorted({c.account_id for c in data.contacts} | set(accounts.changed_ids)))
    err.print(f"demo data in {_redact(settings.database_url)}: accounts {accounts.created} created, "
              f"{accounts.updated} updated, {accounts.unchanged} unchanged; contacts {contacts.created} created, "
              f"{contacts.updated} updated, {contacts.unchanged} unchanged")
    base = "http://127.0.0.1:8000"
    sys.stdout.write(f"""
Start the API:   leadmatch serve
Then try:
  curl -s {base}/v1/match -H 'content-type: application/json' \\
       -d '{{"email": "jane.doe@acme.de", "company": "ACME GmbH", "country": "DE"}}'
  curl -s {base}/v1/match -H 'content-type: application/json' \\
       -d '{{"email": "jane1987@gmail.com", "company": "Acme Corp", "country": "GB"}}'
  curl -s {base}/v1/match -H 'content-type: application/json' -d '{{"company": "Acme Corporation"}}'
  curl -s {base}/v1/accounts/D00001
  curl -s {base}/readyz
  API docs: {base}/docs
""")


# the bulk path of qualification: `leadmatch rules preview|apply|show` and `leadmatch recompute`
from api.rules_cli import recompute as _recompute, rules_app  # noqa: E402 - needs `app` defined above

app.add_typer(rules_app, name="rules")
app.command("recompute")(_recompute)


# What a command that built a large index leaves behind (match-file): see ``main``.
_LEFT_FOR_EXIT: object = None


def main() -> None:
    """The ``leadmatch`` console script. After match-file, freeing the index object by object
    only to exit costs 0.6 s at a million accounts: its output is written and closed, so the
    process ends at once instead. Every other command exits the ordinary way."""
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if _LEFT_FOR_EXIT is not None:
        if code is not None and not isinstance(code, int):
            err.print(str(code))
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    sys.exit(code)


if __name__ == "__main__":
    main()
