"""``leadmatch import-accounts`` and ``leadmatch import-contacts``: CRM exports into the database,
one transaction per batch, telling running servers what changed."""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Annotated

import typer

from api import console

IMPORT_BATCH = 5000


def change_publisher():  # noqa: ANN202 - callable(ids) or None
    """With REDIS_URL, tell running servers which accounts changed (they reload those ids)."""
    settings = console.settings()
    if not settings.redis_url:
        return None
    import redis

    from api.matching.index_sync import publish_change
    from api.redis_guard import connect

    client = connect(settings.redis_url)

    def publish(ids: list[str]) -> None:
        try:
            publish_change(client, settings.index_channel, "cli", "upsert", ids)
        except redis.RedisError as exc:
            console.err.print(f"[yellow]warning:[/] could not notify running servers: {exc}")

    return publish


def _valid_account_rows(items: list, session) -> tuple[list, list[str]]:  # noqa: ANN001
    """(accounts that can be stored, messages for rows that cannot). Hierarchy checks see the
    whole file, so a child may come before its parent."""
    from api.accounts import store

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


def import_accounts(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CRM export: id,name,domains,...")],
    batch_size: Annotated[int, typer.Option(min=1, help="accounts per transaction")] = IMPORT_BATCH,
) -> None:
    """Upsert accounts from a CSV (id,name,domains,country,region,city,parent_id,owner).

    Bad rows are reported with their line numbers and skipped; the rest is stored in batched
    transactions. Re-importing the same file changes nothing.
    """
    from api import csvio
    from api.accounts import store
    from api.db import make_engine, make_sessionmaker, migrate as run, session_scope

    settings = console.settings()
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
        console.err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as session:
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
    from api.accounts import store
    from api.db import session_scope

    total = store.UpsertReport()
    publish = change_publisher()
    with console.progress() as progress:
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
    console.err.print(f"{kind}: {total.created} created, {total.updated} updated, {total.unchanged} unchanged, "
              f"{len(errors)} rows skipped in {time.perf_counter() - started:.1f} s")


def _with_lines(file: Path, rows: list) -> list:
    """Attach each account's line number (csvio knows it only for errors)."""
    from api import csvio

    lines = {}
    for line, row, _e in csvio.read_rows(file):
        if row and row.get("id"):
            lines.setdefault(row["id"].strip(), line)
    return [(lines.get(a.id, 0), a) for _, a in rows]


def _print_errors(errors: list[str], limit: int = 50) -> None:
    for e in errors[:limit]:
        console.err.print(f"[yellow]skipped[/] {e}")
    if len(errors) > limit:
        console.err.print(f"[yellow]... and {len(errors) - limit} more skipped rows[/]")


def import_contacts(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="CSV: id,account_id,email,first_name,last_name,title")],
    batch_size: Annotated[int, typer.Option(min=1, help="contacts per transaction")] = IMPORT_BATCH,
) -> None:
    """Upsert contacts from a CSV. Rows with an unknown account or a malformed email are skipped."""
    from api.qualification import service as qualification_service
    from api.accounts import store
    from api.db import make_engine, make_sessionmaker, migrate as run, session_scope
    from matcher import normalize

    settings = console.settings()
    run(settings.database_url)
    started = time.perf_counter()
    errors: list[str] = []
    rows: list[tuple[int, store.ContactData]] = []
    with open(file, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("id", "account_id") if c not in (reader.fieldnames or [])]
        if missing:
            console.err.print(f"[red]error:[/] {file.name}: missing column(s) {', '.join(missing)}")
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
    with session_scope(sessions) as session:
        known = store.existing_account_ids(session, {c.account_id for _, c in rows})
    errors.extend(f"line {line} (id {c.id}): account_id: account {c.account_id!r} does not exist"
                  for line, c in rows if c.account_id not in known)
    rows = [(line, c) for line, c in rows if c.account_id in known]
    def upsert(session, batch):  # noqa: ANN001, ANN202
        report, touched = store.upsert_contacts(session, batch, validate=False)
        # events recorded for these people's emails before they were contacts attach to them now;
        # their accounts' statuses follow at the next recompute
        qualification_service.contacts_stored(session, report.changed_ids)
        return report, sorted(touched)

    _import_in_batches("contacts", rows, batch_size, sessions, upsert, errors, started)
    engine.dispose()
