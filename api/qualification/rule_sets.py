"""Which qualification rule set is active, and rule sets from text.

``leadmatch rules apply`` records the rule set it applies in ``rule_sets`` (the newest row is the
active one) before recomputing. From then on every process evaluates with that rule set, whatever
its own ``LEADMATCH_QUALIFICATION_RULES`` says: statuses stored under two rule sets at once would
not add up, and a changed settings file must not go live without the preview and the recompute
(docs/qualification.md, "Rule-change preview"). A database where nothing was applied yet uses the settings
file (or the shipped defaults).

Running API processes notice a newly applied rule set on their next status write
(``FollowingQualifier``), so a write that lands during or after ``rules apply`` never stores a
verdict of the old rules over one of the new.
"""
from __future__ import annotations

import logging
import threading
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.db.rows import RuleSetRow
from api.qualification.service import Qualifier
from api.qualification.recompute import note_touched
from config.qualification import DEFAULT_QUALIFICATION_PATH, QualificationRules, load_qualification_rules
from config.loading import merge_tables

_RULE_SETS = RuleSetRow.__table__
log = logging.getLogger("leadmatch.rules")


@dataclass(frozen=True, slots=True)
class AppliedRuleSet:
    version: str
    rules: QualificationRules
    source: str | None
    applied_at: datetime


def rules_from_document(override: dict[str, Any], *, strict: bool = False) -> QualificationRules:
    """The shipped defaults with ``override`` merged over them, exactly as
    ``load_qualification_rules`` merges a TOML file (tables merge, lists and values replace; an
    override without its own ``version`` gets a content hash). Raises pydantic's ValidationError.
    ``strict``: every value in its own JSON/TOML type (no ``"80"`` for a number, no ``0`` for
    ``false``), as the OpenAPI document of ``POST /v1/rules/preview`` says."""
    data = tomllib.loads(DEFAULT_QUALIFICATION_PATH.read_text(encoding="utf-8"))
    if "version" not in override:
        data.pop("version", None)
    return QualificationRules.model_validate(merge_tables(data, override), strict=strict)


def rules_from_toml(text: str) -> QualificationRules:
    """Like ``rules_from_document`` for TOML text (``tomllib.TOMLDecodeError`` if it is not TOML)."""
    return rules_from_document(tomllib.loads(text))


def active_rule_set(conn: Connection | Session) -> AppliedRuleSet | None:
    row = conn.execute(select(_RULE_SETS.c.version, _RULE_SETS.c.rules, _RULE_SETS.c.source,
                              RuleSetRow.applied_at).order_by(_RULE_SETS.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    # stored whole (version included), so validating it back gives the very same rule set
    return AppliedRuleSet(row[0], QualificationRules.model_validate(row[1]), row[2], row[3])


def active_version(conn: Connection | Session) -> str | None:
    return conn.execute(select(_RULE_SETS.c.version).order_by(_RULE_SETS.c.id.desc()).limit(1)).scalar()


def record_applied(conn: Connection | Session, rules: QualificationRules, source: str | Path | None = None,
                   now: datetime | None = None) -> None:
    """Make ``rules`` the active rule set (in the caller's transaction)."""
    conn.execute(insert(_RULE_SETS).values(version=rules.version, rules=rules.model_dump(mode="json"),
                                           source=None if source is None else str(source),
                                           applied_at=now or datetime.now(timezone.utc)))


def current_rules(engine: Engine, settings_path: str | Path | None = None) -> QualificationRules:
    """The active rule set; the settings file's (or the defaults) while none was applied."""
    with engine.connect() as conn:
        applied = active_rule_set(conn)
    return applied.rules if applied is not None else load_qualification_rules(settings_path)


class FollowingQualifier(Qualifier):
    """A ``Qualifier`` that follows the applied rule set: before re-evaluating accounts it asks
    the database for the active version (one single-row read per write transaction) and switches
    when another process applied a new rule set.

    A write evaluates and stamps its verdicts with one immutable ``Qualifier`` taken at its start,
    so a switch in another thread can never pair one rule set's verdict with the other's version.
    """

    def __init__(self, rules: QualificationRules) -> None:
        super().__init__(rules)
        self._configured = rules.version
        self._active = Qualifier(rules)
        self._switch = threading.Lock()

    def follow(self, conn: Connection | Session) -> Qualifier:
        """The qualifier of the active rule set, switching to it first if another process applied
        a new one since this one last looked."""
        active = self._active
        version = active_version(conn)
        if version is not None and version != active.version:
            with self._switch:
                active = self._active
                applied = active_rule_set(conn) if version != active.version else None
                if applied is not None:
                    if applied.version != self._configured:
                        log.info("qualification follows the applied rule set %s (settings: %s)",
                                 applied.version, self._configured)
                    active = self._active = Qualifier(applied.rules)
                    Qualifier.__init__(self, applied.rules)  # reads (evaluate, version) follow too
        return active

    def follow_database(self, engine: Engine) -> None:
        """At start: take the applied rule set before the first request. A database that cannot
        be reached yet is no reason not to start; the first write looks again."""
        try:
            with engine.connect() as conn:
                self.follow(conn)
        except SQLAlchemyError as exc:
            log.warning("could not read the applied rule set yet (%s); using %s until the first write",
                        str(exc).splitlines()[0], self.version)

    def refresh(self, session: Session, account_ids, *, now: datetime | None = None) -> list[str]:  # noqa: ANN001
        if not account_ids:
            return []
        active = self.follow(session)
        # a bulk recompute that is writing must re-read these accounts, not store its older verdict
        note_touched(session, list(account_ids))
        return active.refresh(session, account_ids, now=now)
