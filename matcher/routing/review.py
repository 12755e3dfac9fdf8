"""What a person's review of a lead teaches: the lead's company spelling and email domain, as a
learned alias and domain of the account the person chose, so that the next lead spelled the same
way matches by itself.

Learning is for leads the service has never seen, so every rule is a general one; none looks at
who the lead was. A spelling or domain is learned only when it tells this account apart and
takes nothing from another one:
- a domain: the registrable part of the lead's email, when it is a company's (not free mail, not
  disposable), not already the account's, and neither owned by nor used by the contacts of
  another account (learning it would send that account's leads here);
- an alias: the lead's company as written, when its normalised name (``matcher/normalize.py``) is
  not empty, not too short to tell companies apart, not made of common words only, not already a
  name of this account, and not a name of another account (that would steal its leads).
Each candidate comes back as a ``Lesson``, learned or refused, with a reason a person reads
("not learned: 'Acme' is also the name of account A9 (Acme Ltd)").

Pure: what the index knows comes in as ``Known`` (``api/matching/service.py`` builds it from the
account index; the accuracy benchmark from its own).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Literal

from matcher import normalize
from matcher.matching.types import ALIAS, DOMAIN, Lead
from matcher.normalize import NameNormalizer

# A name key (its distinctive words joined) shorter than this names too many companies ('GE',
# 'AB'): a learned alias of two letters would be the exact name of every lead that writes them.
MIN_ALIAS_KEY = 3


@dataclass(frozen=True, slots=True)
class Lesson:
    """One thing a resolution could teach about ``account_id``; ``learn`` says whether it does,
    ``reason`` why (or why not)."""

    kind: Literal["alias", "domain"]
    value: str  # the alias as the lead wrote it (trimmed), the domain in its registrable form
    learn: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Known:
    """What is known about the accounts, as lookups (no I/O here).

    ``domain_owners(d)``: ids of the accounts owning registrable domain ``d``;
    ``contact_domain_users(d)``: ids of the accounts whose contacts use ``d``;
    ``name_owners(key)``: ids of the accounts one of whose names (name, alias, learned alias)
    normalises to ``key`` (``NormalizedName.key``);
    ``account_name(id)``: the account's name, for reasons (None when unknown);
    ``names``: the normaliser the index uses; ``generic``: the rules' common words."""

    domain_owners: Callable[[str], Collection[str]]
    contact_domain_users: Callable[[str], Collection[str]]
    name_owners: Callable[[str], Collection[str]]
    account_name: Callable[[str], str | None]
    names: NameNormalizer
    generic: frozenset[str]


def _named(account_id: str, known: Known) -> str:
    name = known.account_name(account_id)
    return f"account {account_id} ({name})" if name else f"account {account_id}"


def _others(ids: Collection[str], account_id: str, known: Known) -> str | None:
    """The other accounts among ``ids``, named for a reason (the first two), or None."""
    others = sorted(i for i in ids if i != account_id)
    if not others:
        return None
    said = " and ".join(_named(i, known) for i in others[:2])
    return said + (f" and {len(others) - 2} more" if len(others) > 2 else "")


def domain_lesson(lead: Lead, account_id: str, known: Known) -> Lesson | None:
    """The lesson of the lead's email domain, or None when the lead has no usable email."""
    domain = normalize.email_domain(lead.email)
    if domain is None:
        return None
    if normalize.is_disposable(domain):
        return Lesson(DOMAIN, domain, False, f"not learned: {domain} is a disposable-mail domain")
    if normalize.is_free_mail(domain):
        return Lesson(DOMAIN, domain, False, f"not learned: {domain} is free mail, anyone may use it")
    owners = known.domain_owners(domain)
    if account_id in owners:
        return Lesson(DOMAIN, domain, False, f"not learned: {domain} is already a domain of {_named(account_id, known)}")
    other = _others(owners, account_id, known)
    if other:
        return Lesson(DOMAIN, domain, False, f"not learned: {domain} is a domain of {other}")
    other = _others(known.contact_domain_users(domain), account_id, known)
    if other:
        return Lesson(DOMAIN, domain, False, f"not learned: {domain} is used by contacts of {other}")
    return Lesson(DOMAIN, domain, True, f"email domain {domain} becomes a domain of {_named(account_id, known)}")


def alias_lesson(lead: Lead, account_id: str, known: Known) -> Lesson | None:
    """The lesson of the lead's company spelling, or None when the lead gave no company."""
    company = (lead.company or "").strip()
    if not company:
        return None
    quoted = f"'{company}'"
    found = known.names.names(company)
    if not found:
        return Lesson(ALIAS, company, False, f"not learned: {quoted} has no name left once legal forms are set aside")
    if any(len(n.key) < MIN_ALIAS_KEY for n in found):
        return Lesson(ALIAS, company, False, f"not learned: {quoted} is too short to tell companies apart")
    if any(all(t in known.generic for t in n) for n in found):
        return Lesson(ALIAS, company, False, f"not learned: {quoted} is made of common words only")
    # every name the spelling holds ('X (Y)' holds two) would be learned: none may be another's
    for n in found:
        other = _others(known.name_owners(n.key), account_id, known)
        if other:
            return Lesson(ALIAS, company, False, f"not learned: {quoted} is also the name of {other}")
    if all(account_id in known.name_owners(n.key) for n in found):
        return Lesson(ALIAS, company, False, f"not learned: {quoted} is already a name of {_named(account_id, known)}")
    return Lesson(ALIAS, company, True, f"{quoted} becomes a name of {_named(account_id, known)}")


def lessons(lead: Lead, account_id: str, known: Known) -> list[Lesson]:
    """What resolving ``lead`` to ``account_id`` teaches: its company spelling, then its email
    domain, each learned or refused with its reason (nothing for what the lead did not give)."""
    return [lesson for lesson in (alias_lesson(lead, account_id, known), domain_lesson(lead, account_id, known))
            if lesson is not None]
