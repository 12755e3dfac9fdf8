"""The routing tables.

Round-robin state (``api/routing/turns.py``): ``routing_pool_turns`` is each pool's turn counter
and the row a turn locks; ``routing_pool_loads`` the turns each member got in a pool (what the
weighted choice reads); ``routing_member_counts`` each member's leads per local day and ISO week
(``d:2026-12-02``, ``w:2026-W49``), what the caps read.

Configuration (``api/routing/config_store.py``): ``routing_configs`` keeps every version of the
routing document (the newest is active); ``routing_config_head`` is the one row a write locks
first, so writes are numbered one after the other.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.rows.base import Base, NAME_LEN, UTCDateTime


class RoutingPoolTurnRow(Base):
    __tablename__ = "routing_pool_turns"

    pool: Mapped[str] = mapped_column(String(100), primary_key=True)
    turn: Mapped[int] = mapped_column(Integer)


class RoutingPoolLoadRow(Base):
    __tablename__ = "routing_pool_loads"

    pool: Mapped[str] = mapped_column(String(100), primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    assigned: Mapped[int] = mapped_column(Integer)


class RoutingMemberCountRow(Base):
    __tablename__ = "routing_member_counts"

    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class RoutingConfigRow(Base):
    __tablename__ = "routing_configs"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LEN))


class RoutingConfigHeadRow(Base):
    __tablename__ = "routing_config_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)


__all__ = ["RoutingConfigHeadRow", "RoutingConfigRow", "RoutingMemberCountRow", "RoutingPoolLoadRow",
           "RoutingPoolTurnRow"]
