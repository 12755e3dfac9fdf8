"""The stored routing configuration: every version of the whole routing document, the newest
active.

While nothing was stored the active rules are the settings file's (``LEADMATCH_ROUTING_RULES``,
merged over ``config/routing.toml``), as ``config.routing.load_routing_rules`` reads it. A write
(``write_document``) takes the ``routing_config_head`` row first (PostgreSQL: a row lock; SQLite: the
database's write lock), so writes get consecutive versions one after the other, and validates the
WHOLE document with ``RoutingRules.model_validate`` before it stores anything: a refused write
stores nothing and says which entry is wrong (``RoutingInvalid``).

Running processes follow a new version like ``api/qualification/rule_sets.py``
``FollowingQualifier`` does: ``active_rules`` reads the newest version number (one indexed row) on
every call and validates a document only when the number changed (cached per version).
"""
from __future__ import annotations

import json
import re
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from pydantic import ValidationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from api.db import after_commit
from api.db.bulk import hold_write_lock, insert_or_skip
from api.db.rows import RoutingConfigHeadRow, RoutingConfigRow
from api.errors import FieldError, ValidationFailed, field_path
from config.routing import RoutingRules, load_routing_rules, routing_document

_CONFIGS = RoutingConfigRow.__table__
_HEAD = RoutingConfigHeadRow.__table__
# the entries a model-level problem names: "territories[2] 'dach': ...", "default_pool: ..."
# what Territory's own check says about a condition in its `when` (config/routing.py Territory._valid)
_WHEN_PROBLEM = re.compile(r"unknown field |'[^']+' is not a number|'[^']+' lists no values")
_ENTRY = re.compile(r"^(?P<field>[a-z_]+(\[\d+\])?)")


@dataclass(frozen=True, slots=True)
class ActiveRouting:
    version: int  # 0: nothing stored yet, the settings file's rules
    rules: RoutingRules
    source: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None


class RoutingInvalid(ValidationFailed):
    """A routing document ``RoutingRules`` refuses; ``fields`` name each entry at fault."""


def _entry(document: dict[str, Any], loc: Sequence[Any]) -> str:
    """'territories[2] 'dach'' for ('territories', 2, ...), from the document as sent."""
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
        items = document.get(loc[0])
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        name = item.get("id", item.get("member")) if isinstance(item, dict) else None
        return f"{loc[0]}[{loc[1]}]" + (f" {name!r}" if isinstance(name, str) else "")
    return field_path(loc[:1]) if loc else "routing"


def problems(document: dict[str, Any], exc: ValidationError) -> list[FieldError]:
    out = []
    for e in exc.errors():
        loc = list(e["loc"])
        message = str(e["msg"]).removeprefix("Value error, ")
        if len(loc) == 2 and loc[0] == "territories" and _WHEN_PROBLEM.match(message):
            loc.append("when")  # Territory checks its conditions as a whole; the fault is in `when`
        if loc:
            out.append(FieldError(field_path(loc), f"{_entry(document, loc)}: {message}"))
            continue
        for part in message.split("; "):  # RoutingRules' cross-reference checks, one per entry
            m = _ENTRY.match(part)
            out.append(FieldError(m["field"] if m else "routing", part))
    return out


def validate(document: dict[str, Any]) -> RoutingRules:
    """Every value in its own JSON type (no "12" for a number), as the OpenAPI document says."""
    try:
        # json, not orjson: a body may hold integers beyond 64 bits, which pydantic then refuses by name
        return RoutingRules.model_validate_json(json.dumps(document), strict=True)
    except ValidationError as exc:
        fields = problems(document, exc)
        summary = "the routing configuration was refused, nothing was stored: " + "; ".join(
            f.message for f in fields[:3]) + (f" (and {len(fields) - 3} more)" if len(fields) > 3 else "")
        raise RoutingInvalid(summary, fields) from None


@lru_cache(maxsize=8)
def file_rules(path: Path | None) -> RoutingRules:
    return load_routing_rules(path)


# (database, version) -> its rules: one process may talk to several databases (tests, commands)
_cache: dict[tuple[str, int, datetime], ActiveRouting] = {}
_cache_lock = threading.Lock()


def stored_version(session: Session) -> int:
    return session.execute(select(func.max(_CONFIGS.c.version))).scalar() or 0


def active(session: Session, settings_path: Path | None = None) -> ActiveRouting:
    """The active routing document with its version (0 while none was stored)."""
    head = session.execute(select(_CONFIGS.c.version, _CONFIGS.c.created_at)
                           .order_by(_CONFIGS.c.version.desc()).limit(1)).first()
    if head is None:
        return ActiveRouting(0, file_rules(settings_path))
    # with created_at: a database emptied and written again must not meet the old version's rules
    key = (str(session.get_bind().url), head[0], head[1])
    found = _cache.get(key)
    if found is None:
        row = session.execute(select(_CONFIGS).where(_CONFIGS.c.version == head[0])).one()
        # stored only after validation, so this gives back the very rules that were stored
        found = ActiveRouting(row.version, RoutingRules.model_validate(row.document), row.source, row.created_at,
                              row.created_by)
        with _cache_lock:
            _cache[key] = found
            if len(_cache) > 16:
                del _cache[next(iter(_cache))]
    return found


# engine -> (the active routing, when it was last checked): lead intake asks on every lead. By
# engine, not URL: each app has its own, and a test that empties the database starts a new one.
_recent: "weakref.WeakKeyDictionary[Any, tuple[ActiveRouting, float]]" = weakref.WeakKeyDictionary()


def active_rules(session: Session, settings_path: Path | None = None, *, max_age: float = 0.0) -> RoutingRules:
    """The routing rules in force now (what the lead intake routes with). ``max_age`` > 0: a
    version checked less than that many seconds ago is taken without asking the database again
    (one query less per lead); a version written by this process is seen at once
    (``write_document`` forgets what was checked), one written by another replica within
    ``max_age``."""
    if max_age <= 0:
        return active(session, settings_path).rules
    key = session.get_bind()
    now = time.monotonic()
    known = _recent.get(key)
    if known is not None and now - known[1] < max_age:
        return known[0].rules
    found = active(session, settings_path)
    with _cache_lock:
        _recent[key] = (found, now)
    return found.rules


def active_document(session: Session, settings_path: Path | None = None) -> tuple[int, dict[str, Any]]:
    found = active(session, settings_path)
    return found.version, routing_document(found.rules)


def write_document(session: Session, document: dict[str, Any], *, now: datetime, source: str | None = None,
                   created_by: str | None = None) -> ActiveRouting:
    """Validate the whole ``document`` and store it as the next version (in the caller's transaction).
    Raises ``RoutingInvalid`` (nothing stored)."""
    rules = validate(document)
    engine = session.get_bind()

    def forget() -> None:
        with _cache_lock:
            _recent.pop(engine, None)
    forget()
    after_commit(session, forget)  # and again once it is in: a reader in between may have kept the old one
    hold_write_lock(session)
    session.execute(insert_or_skip(session, _HEAD, ["id"]).values(id=1, version=0))
    head = session.execute(select(_HEAD.c.version).where(_HEAD.c.id == 1).with_for_update()).scalar_one()
    # a head emptied by hand (or by a test's TRUNCATE) must not number a version twice
    version = max(head, stored_version(session)) + 1
    session.execute(update(_HEAD).where(_HEAD.c.id == 1).values(version=version))
    session.execute(insert(_CONFIGS).values(version=version, document=routing_document(rules), source=source,
                                            created_at=now, created_by=created_by))
    return ActiveRouting(version, rules, source, now, created_by)
