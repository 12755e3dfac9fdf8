"""``leadmatch routing load FILE [--replace]`` and ``leadmatch routing show``.

``.toml``: a routing document merged over the active one (``--replace``: over the shipped defaults,
``config/routing.toml``), tables merging and lists replacing as ``config/loading.py`` merges.
``.csv``: members (columns ``id,email,timezone,schedule,manager,cap_per_day,cap_per_week,paused``;
optional ``pool`` and ``weight`` put the member in that pool, creating it if needed), merged into the
active document by id (``--replace``: the file's members are all the members).
Either way the whole result is validated before anything is stored; errors name the entry (or the
CSV line) and exit 2, storing nothing. Heavy imports happen inside the commands (api/cli.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from api import console

routing_app = typer.Typer(help="Routing configuration: load it from a file, show the active one.",
                          no_args_is_help=True)

MEMBER_COLUMNS = ("id", "email", "timezone", "schedule", "manager", "cap_per_day", "cap_per_week", "paused")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


def _fail(messages: list[str]) -> typer.Exit:
    for m in messages:
        console.err.print(f"[red]error:[/] {m}", markup=True, highlight=False)
    console.err.print("nothing was stored")
    return typer.Exit(2)


def members_from_csv(path: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str, float]], list[str]]:
    """(members, (pool, member, weight) memberships, problems naming line and column)."""
    import csv

    members, memberships, problems = [], [], []
    with path.open(newline="", encoding="utf-8-sig") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            where = f"{path.name} line {line} (id {row.get('id') or '?'})"
            member: dict[str, Any] = {"id": row.get("id", "")}
            for column in ("email", "timezone", "schedule", "manager"):
                if row.get(column):
                    member[column] = row[column]
            for column in ("cap_per_day", "cap_per_week"):
                if row.get(column):
                    try:
                        member[column] = int(row[column])
                    except ValueError:
                        problems.append(f"{where}: {column}: {row[column]!r} is not a whole number")
            paused = row.get("paused", "").lower()
            if paused not in _TRUE | _FALSE:
                problems.append(f"{where}: paused: {row['paused']!r} is not true or false")
            member["paused"] = paused in _TRUE
            members.append(member)
            if row.get("pool"):
                try:
                    weight = float(row["weight"]) if row.get("weight") else 1.0
                except ValueError:
                    problems.append(f"{where}: weight: {row['weight']!r} is not a number")
                    continue
                memberships.append((row["pool"], member["id"], weight))
    return members, memberships, problems


def merge_members(document: dict[str, Any], members: list[dict[str, Any]], memberships: list[tuple[str, str, float]],
                  *, replace: bool) -> dict[str, Any]:
    by_id = {} if replace else {m["id"]: m for m in document["members"]}
    for m in members:
        by_id[m["id"]] = m  # a duplicate id in the file: the later row wins
    pools = [dict(p, members=list(p["members"])) for p in document["pools"]]
    for pool_id, member, weight in memberships:
        pool = next((p for p in pools if p["id"] == pool_id), None)
        if pool is None:
            pool = {"id": pool_id, "members": []}
            pools.append(pool)
        pool["members"] = [pm for pm in pool["members"] if pm["member"] != member] + [{"member": member,
                                                                                       "weight": weight}]
    return {**document, "members": list(by_id.values()), "pools": pools}


@routing_app.command("load")
def load(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a .toml document or a .csv of members")],
         replace: Annotated[bool, typer.Option("--replace", help="TOML: over the shipped defaults instead of the "
                                               "active document; CSV: the file's members are all the members")] = False
         ) -> None:
    """Validate FILE and store it as the next version of the routing configuration."""
    import tomllib
    from datetime import datetime, timezone

    from api.db import make_engine, make_sessionmaker, migrate, session_scope
    from api.routing import config_store
    from config.loading import merge_tables
    from config.routing import DEFAULT_RULES_PATH

    settings = console.settings()
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            _, active = config_store.active_document(session, settings.routing_rules)
            if path.suffix.lower() == ".toml":
                try:
                    override = tomllib.loads(path.read_text(encoding="utf-8"))
                except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                    raise _fail([f"{path}: not TOML: {exc}"]) from None
                base = tomllib.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8")) if replace else active
                document = merge_tables(base, override)
            elif path.suffix.lower() == ".csv":
                members, memberships, problems = members_from_csv(path)
                if problems:
                    raise _fail(problems)
                document = merge_members(active, members, memberships, replace=replace)
            else:
                raise _fail([f"{path}: a routing file is .toml or .csv"])
            try:
                stored = config_store.write_document(session, document, now=datetime.now(timezone.utc),
                                                     source=str(path))
            except config_store.RoutingInvalid as exc:
                raise _fail([f"{path}: {f.field}: {f.message}" for f in exc.fields]) from None
    finally:
        engine.dispose()
    rules = stored.rules
    console.err.print(f"routing version {stored.version} stored from {path}: {len(rules.members)} members, "
                      f"{len(rules.pools)} pools, {len(rules.territories)} territories")


@routing_app.command("show")
def show() -> None:
    """Print the active routing document (JSON) with its version."""
    from api.db import make_engine, make_sessionmaker, session_scope
    from api.routing import config_store

    settings = console.settings()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            version, document = config_store.active_document(session, settings.routing_rules)
    finally:
        engine.dispose()
    typer.echo(json.dumps({"version": version, "document": document}, indent=2))


@routing_app.command("sla-check")
def sla_check(every: Annotated[float, typer.Option("--every", min=0, help="seconds between passes; 0: one pass "
                                                   "and exit")] = 0) -> None:
    """Handle every lead whose SLA deadline passed (met after all, reassigned or escalated), once.
    Safe beside the API processes' own schedulers (api/routing/sla_scheduler.py)."""
    import time

    from api.app import build_services
    from api.metrics import Metrics
    from api.routing import sla_scheduler

    settings = console.settings()
    services = build_services(settings, Metrics(), settings.cache_prefix)  # the index is not loaded: not needed
    try:
        while True:
            counts = sla_scheduler.check_sla(services)
            console.err.print(f"SLA check: {counts or 'nothing overdue'}")
            if every <= 0:
                return
            time.sleep(every)
    finally:
        services.close()
