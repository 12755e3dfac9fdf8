"""The account tables: owners, accounts, their domains, contacts.

``accounts.parent_id`` deliberately has no enforced foreign key: a CRM sync may send a child
before its parent, so ``api/accounts/store.py`` validates parents (they must exist in the
database or in the same batch, and no cycles) instead of the database. ``contacts.account_id``
has none either, for the same reason; ``upsert_contacts`` checks it and ``delete_account`` cleans up.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (Boolean, DateTime, ForeignKey, Index, Integer, JSON, String, Text, UniqueConstraint, false, func,
                        true)
from sqlalchemy.orm import Mapped, mapped_column

from api.db.rows.base import Base, CODE_LEN, DOMAIN_LEN, ID_LEN, NAME_LEN, UTCDateTime

class OwnerRow(Base):
    """A seller who owns accounts. Created automatically from the owner names accounts carry."""

    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)  # the CRM's id
    name: Mapped[str] = mapped_column(String(NAME_LEN))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[str | None] = mapped_column(String(ID_LEN), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_customer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    fit_tier: Mapped[str | None] = mapped_column(String(20))
    industry: Mapped[str | None] = mapped_column(String(100))
    employees: Mapped[int | None] = mapped_column(Integer)
    # manual account states (PUT /v1/accounts/{id}/flags); PUT /v1/accounts leaves them alone
    disqualified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    partner: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # when each flag was set (NULL while it is not): the manual status's "since"
    disqualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    partner_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # other firmographics the CRM sends; not interpreted by the matcher
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountDomainRow(Base):
    """A domain an account owns, stored as the normalised host (lower case, no ``www.``)."""

    __tablename__ = "account_domains"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    domain: Mapped[str] = mapped_column(String(DOMAIN_LEN), primary_key=True)

    # "which account owns acme.com" is the question conflicts and admin tools ask
    __table_args__ = (Index("ix_account_domains_domain", "domain"),)


class LearnedNameRow(Base):
    """An alias or domain of an account that a person taught through a review
    (``matcher/routing/review.py``), kept apart from the CRM's aliases and domains so a CRM sync
    that rewrites those never drops it, and removable on its own. The index reads it with the
    account (``api/matching/store.py``); deleting the account deletes it."""

    __tablename__ = "learned_names"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(CODE_LEN))  # "alias" or "domain"
    value: Mapped[str] = mapped_column(String(NAME_LEN))  # the alias as written; the registrable domain
    source: Mapped[str] = mapped_column(String(NAME_LEN))  # e.g. "review of lead L123"
    learned_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("account_id", "kind", "value", name="uq_learned_names_account_kind_value"),)


class ContactRow(Base):
    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    # registrable domain of the email (us.ibm.com -> ibm.com): evidence for the account
    email_domain: Mapped[str | None] = mapped_column(String(DOMAIN_LEN))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------- qualification ledger


