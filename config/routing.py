"""Routing rules as validated data: the ladder, members, pools, territories, schedules and SLAs.

The defaults live in ``config/routing.toml``; a deployment loads its own with
``leadmatch routing load FILE`` (TOML, or CSV for members) or edits it over ``/v1/routing/...``,
and the stored document wins over the file. Either way the whole document goes through
``RoutingRules.model_validate`` before it is stored, so bad configuration is refused when it is
loaded, never at routing time, with an error that names the entry (``territories[2] 'emea'``).
The pure decisions that use these rules are under ``matcher/routing/``.
"""
from __future__ import annotations

import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.loading import merge_tables

DEFAULT_RULES_PATH = Path(__file__).with_name("routing.toml")

Step = Literal["account_owner", "opportunity_owner", "territories", "round_robin", "catch_all"]
OwnerPolicy = Literal["account", "regional", "ultimate_parent"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SlaAction = Literal["escalate", "reassign", "none"]

# The facts a territory rule may test. `country`, `region` and `city` are the lead's where it gave
# them, else its account's; the `account_` ones exist only for matched leads (an unmatched lead
# has no account, so a rule on them does not fire for it). `attributes.<name>` tests a key of the
# account's free-form attributes.
TERRITORY_FIELDS: dict[str, Literal["text", "number"]] = {
    "country": "text", "region": "text", "city": "text",
    "industry": "text", "employees": "number", "fit_tier": "text",
    "source": "text", "campaign_id": "text", "email_domain": "text", "title": "text",
    "account_id": "text", "account_owner": "text", "decision": "text",
}
ATTRIBUTE_FIELD = re.compile(r"^attributes\.[A-Za-z0-9_\-]{1,64}$")
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as 'Europe/Berlin')") from None
    return name


class Schedule(_Strict):
    """Working hours by weekday, read in the member's own time zone: {"mon": ["09:00-17:00"]}.
    A day that is absent is not a working day. `holidays` are whole days off for everyone on it."""

    hours: dict[Weekday, list[str]] = Field(default_factory=lambda: {d: ["09:00-17:00"] for d in WEEKDAYS[:5]})
    holidays: list[date] = []

    @field_validator("hours")
    @classmethod
    def _spans(cls, hours: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, spans in hours.items():
            bounds = []
            for span in spans:
                m = _HOURS.match(span)
                if m is None:
                    raise ValueError(f"{day}: {span!r} is not a span like '09:00-17:30'")
                if m[3] == "24" and m[4] != "00":
                    raise ValueError(f"{day}: {span!r} ends after midnight (24:00 is the latest end)")
                if (int(m[1]), int(m[2])) >= (int(m[3]), int(m[4])):
                    raise ValueError(f"{day}: {span!r} ends before it starts")
                bounds.append(((int(m[1]), int(m[2])), (int(m[3]), int(m[4])), span))
            # overlapping spans would count the shared time twice in an SLA (matcher/routing/sla.py)
            bounds.sort()
            for (_, end, first), (start, _, second) in zip(bounds, bounds[1:]):
                if start < end:
                    raise ValueError(f"{day}: {first!r} and {second!r} overlap")
        # a member on such a schedule could never take a lead, and no SLA of theirs could fall due
        # (matcher/routing/sla.py counts only time inside the spans); pausing says "nobody" plainly
        if not any(hours.values()):
            raise ValueError("no working hours on any day: give at least one span (to stop a member"
                             " taking leads, pause them)")
        return hours

    def spans(self, day: Weekday) -> list[tuple[time, time | None]]:
        """The day's spans as (start, end); an end of 24:00 is None (midnight at the day's end)."""
        out = []
        for span in self.hours.get(day, []):
            m = _HOURS.match(span)
            assert m is not None
            end = None if m[3] == "24" else time(int(m[3]), int(m[4]))
            out.append((time(int(m[1]), int(m[2])), end))
        return sorted(out, key=lambda s: s[0])


class OutOfOffice(_Strict):
    start: date
    end: date  # inclusive
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "OutOfOffice":
        if self.end < self.start:
            raise ValueError(f"out_of_office ends ({self.end}) before it starts ({self.start})")
        return self


class Member(_Strict):
    """A person who can be routed to. `id` is the owner name the accounts use (an account's
    `owner`), so a matched lead's owner and a pool member are the same person."""

    id: str = Field(min_length=1, max_length=200)
    email: str | None = None
    timezone: str = "UTC"
    schedule: str = "default"
    out_of_office: list[OutOfOffice] = []
    paused: bool = False
    # who hears about this member's missed SLAs (a member id or an email address)
    manager: str | None = None
    cap_per_day: int | None = Field(None, ge=0)
    cap_per_week: int | None = Field(None, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        return check_timezone(name)


class PoolMember(_Strict):
    member: str
    weight: float = Field(1.0, ge=0)
    # per-pool caps; absent: the member's own caps
    cap_per_day: int | None = Field(None, ge=0)
    cap_per_week: int | None = Field(None, ge=0)


class Overflow(_Strict):
    """Where a pool's lead goes when nobody in it is available: a queue, or another pool."""

    queue: str | None = None
    pool: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "Overflow":
        if (self.queue is None) == (self.pool is None):
            raise ValueError("overflow names exactly one of `queue` or `pool`")
        return self


class Sla(_Strict):
    # business minutes (the owner's working hours) until someone must act on a routed lead
    minutes: int = Field(240, ge=1)
    action: SlaAction = "reassign"
    # a lead reassigned this many times is escalated instead
    max_reassignments: int = Field(2, ge=0)


class Pool(_Strict):
    id: str = Field(min_length=1, max_length=100)
    members: list[PoolMember]
    overflow: Overflow | None = None  # None: the catch-all queue
    sla: Sla | None = None  # None: the rules' default SLA

    @field_validator("members")
    @classmethod
    def _not_empty(cls, members: list[PoolMember]) -> list[PoolMember]:
        if not members:
            raise ValueError("a pool has at least one member")
        ids = [m.member for m in members]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"member {', '.join(map(repr, twice))} listed twice")
        if sum(m.weight for m in members) <= 0:
            raise ValueError("every member has weight 0: nobody could ever get a lead")
        return members


class Range(_Strict):
    min: float | None = None
    max: float | None = None  # inclusive

    @model_validator(mode="after")
    def _some(self) -> "Range":
        if self.min is None and self.max is None:
            raise ValueError("a range has `min`, `max` or both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError(f"range max {self.max} is below min {self.min}")
        return self


class Territory(_Strict):
    """Fires when every condition in `when` holds: a list of values (any of them, compared without
    case), or a range {min, max} for a number. An empty `when` always fires (a catch-all rule)."""

    id: str = Field(min_length=1, max_length=100)
    when: dict[str, list[str] | Range] = {}
    pool: str | None = None
    member: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> "Territory":
        if (self.pool is None) == (self.member is None):
            raise ValueError("a territory names exactly one of `pool` or `member`")
        for field, condition in self.when.items():
            kind = TERRITORY_FIELDS.get(field, "text" if ATTRIBUTE_FIELD.match(field) else None)
            if kind is None:
                raise ValueError(f"unknown field {field!r}; the fields are {', '.join(TERRITORY_FIELDS)}"
                                 " and attributes.<name>")
            if isinstance(condition, Range) and kind != "number":
                raise ValueError(f"{field!r} is not a number: give it a list of values, not a range")
            if isinstance(condition, list) and not condition:
                raise ValueError(f"{field!r} lists no values: the rule could never fire")
        return self

    def covers(self, other: "Territory") -> bool:
        """True when this rule fires for every lead `other` fires for (so `other`, after this one,
        can never fire)."""
        for field, mine in self.when.items():
            theirs = other.when.get(field)
            if theirs is None:
                return False
            if isinstance(mine, list):
                if not isinstance(theirs, list) or not {v.casefold() for v in theirs} <= {v.casefold() for v in mine}:
                    return False
            else:
                if isinstance(theirs, list):
                    return False
                lo_ok = mine.min is None or (theirs.min is not None and theirs.min >= mine.min)
                hi_ok = mine.max is None or (theirs.max is not None and theirs.max <= mine.max)
                if not (lo_ok and hi_ok):
                    return False
        return True


class RoutingRules(_Strict):
    version: str = "routing-default"
    # the steps tried in order, first one that names a person or a queue wins
    ladder: list[Step] = ["account_owner", "territories", "round_robin", "catch_all"]
    # whose account a matched lead goes to: the matched account's owner (the nearest owning parent's
    # when it has none), the regional child's owner where the lead's country picks one, or the
    # owner of the hierarchy's ultimate parent
    owner_policy: OwnerPolicy = "account"
    # the round_robin step's pool for leads that no territory rule sent elsewhere
    default_pool: str | None = None
    catch_all_queue: str = "sdr-queue"
    review_queue: str = "match-review"
    # the owner of a matched account who is out of office or paused: still gets the lead (they
    # own the account), but the SLA counts from their return
    sla: Sla = Sla()
    schedules: dict[str, Schedule] = Field(default_factory=lambda: {"default": Schedule()})
    members: list[Member] = []
    pools: list[Pool] = []
    territories: list[Territory] = []

    @field_validator("ladder")
    @classmethod
    def _steps_once(cls, ladder: list[str]) -> list[str]:
        twice = sorted({s for s in ladder if ladder.count(s) > 1})
        if twice:
            raise ValueError(f"step {', '.join(map(repr, twice))} appears more than once")
        if not ladder:
            raise ValueError("the ladder has at least one step")
        return ladder

    @model_validator(mode="after")
    def _references(self) -> "RoutingRules":
        problems: list[str] = []
        member_ids = [m.id for m in self.members]
        members = set(member_ids)
        pools = {p.id: p for p in self.pools}
        for twice in sorted({i for i in member_ids if member_ids.count(i) > 1}):
            problems.append(f"members: {twice!r} is defined twice")
        pool_ids = [p.id for p in self.pools]
        for twice in sorted({i for i in pool_ids if pool_ids.count(i) > 1}):
            problems.append(f"pools: {twice!r} is defined twice")
        if "default" not in self.schedules:
            problems.append("schedules: the 'default' schedule is missing (the working hours of owners who are "
                            "not members, and of members who name no schedule)")
        for i, m in enumerate(self.members):
            if m.schedule not in self.schedules:
                problems.append(f"members[{i}] {m.id!r}: unknown schedule {m.schedule!r}")
        for i, p in enumerate(self.pools):
            for pm in p.members:
                if pm.member not in members:
                    problems.append(f"pools[{i}] {p.id!r}: unknown member {pm.member!r}")
            if p.overflow is not None and p.overflow.pool is not None and p.overflow.pool not in pools:
                problems.append(f"pools[{i}] {p.id!r}: overflow to unknown pool {p.overflow.pool!r}")
        for pool_id in pools:  # an overflow chain must end in a queue
            seen, at = [], pool_id
            while at is not None and at in pools and at not in seen:
                seen.append(at)
                overflow = pools[at].overflow
                at = overflow.pool if overflow is not None else None
            if at is not None and at in seen:
                problems.append(f"pools: overflow goes round in a circle: {' -> '.join([*seen, at])}")
                break
        if self.default_pool is not None and self.default_pool not in pools:
            problems.append(f"default_pool: unknown pool {self.default_pool!r}")
        if "round_robin" in self.ladder and self.default_pool is None and not self.territories and self.pools:
            problems.append("default_pool: the ladder has round_robin and pools exist, but no default_pool names one")
        ids = [t.id for t in self.territories]
        for twice in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"territories: {twice!r} is defined twice")
        for i, t in enumerate(self.territories):
            if t.pool is not None and t.pool not in pools:
                problems.append(f"territories[{i}] {t.id!r}: unknown pool {t.pool!r}")
            if t.member is not None and t.member not in members:
                problems.append(f"territories[{i}] {t.id!r}: unknown member {t.member!r}")
            for j, earlier in enumerate(self.territories[:i]):
                if earlier.covers(t):
                    problems.append(f"territories[{i}] {t.id!r} can never fire: territories[{j}] "
                                    f"{earlier.id!r} comes first and fires for every lead it would")
                    break
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def member(self, member_id: str) -> Member | None:
        return next((m for m in self.members if m.id == member_id), None)

    def pool(self, pool_id: str) -> Pool | None:
        return next((p for p in self.pools if p.id == pool_id), None)


def load_routing_rules(path: str | Path | None = None) -> RoutingRules:
    """Default rules, with the TOML at ``path`` (if any) merged over them."""
    data = tomllib.loads(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    if path is not None:
        data = merge_tables(data, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    return RoutingRules.model_validate(data)


def routing_document(rules: RoutingRules) -> dict[str, Any]:
    """The rules as the JSON document that is stored and served (`/v1/routing`)."""
    return rules.model_dump(mode="json")
