"""The pieces every table is built from: the declarative base, the UTC time type, length caps.

Only portable column types are used (``JSON`` becomes ``json`` on PostgreSQL and text on SQLite).
The Alembic migrations under ``api/db/migrations`` must be kept in step with the rows. Classes
are named ``...Row`` so that they are never mistaken for the core's plain types
(``matcher.matching.types.Account`` is what the matcher sees; ``AccountRow`` is the table).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (DateTime, TypeDecorator)
from sqlalchemy.orm import DeclarativeBase

# Lengths are generous caps, not business rules: they keep one bad row from storing megabytes.
ID_LEN = 64
NAME_LEN = 300
DOMAIN_LEN = 253  # longest DNS name
CODE_LEN = 32  # status codes, activity types, opportunity states: short fixed vocabularies


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC ``datetime`` on both databases.

    SQLite keeps no offset: a plain ``DateTime(timezone=True)`` stores an aware value's wall
    clock and reads it back naive, so 10:00+02:00 would come back as 10:00. This stores UTC and
    reads it back as UTC-aware, so ledger times compare and order the same on SQLite and
    PostgreSQL. Naive values are taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


