"""Blocking keys: what an account is filed under and what a lead is looked up by.

Each key is a ``(kind, value)`` pair. The index files every account under ``account_keys`` and
looks a lead up by ``lead_keys``; an account is a candidate for a lead exactly when the two
share a key (tests check the index against a brute-force scan built on these functions).
Free-mail and disposable domains never become lookup keys, except as owned domains: an account
that owns zoho.com is still found by a zoho.com email.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, fields

from matcher.fastdata import fast_init
from typing import Iterator

from matcher import normalize
from matcher.normalize import NameNormalizer, NormalizedName
from matcher.matching.types import Account, Lead

DOMAIN = "domain"  # a domain the account owns (registrable form)
CONTACT_DOMAIN = "contact_domain"  # learned from the account's contacts
LABEL = "label"  # name part of an owned domain: siemens (siemens.de / siemens.com)
TOKEN = "token"  # a word of a normalised name
KEY = "key"  # a whole normalised name without spaces
ACRONYM = "acronym"  # initials of a name of three or more words

KINDS = (DOMAIN, CONTACT_DOMAIN, LABEL, TOKEN, KEY, ACRONYM)


@fast_init
@dataclass(frozen=True, slots=True)
class AccountFeatures:
    """An account prepared once, at index time, for fast scoring."""

    account: Account
    names: tuple[NormalizedName, ...]
    # tuples, not sets: an account has one to three of each and a million small sets would
    # cost more memory than all the postings
    domains: tuple[str, ...]
    contact_domains: tuple[str, ...]
    country: str | None
    region: str | None
    city: str | None
    phone: str | None

    @property
    def labels(self) -> tuple[str, ...]:
        """The name parts of the account's domains (``siemens.co.uk`` -> ``siemens``), of three
        letters or more. A registrable domain is its name part and a public suffix, so this is
        derived, not stored: a million accounts would hold a million more tuples."""
        found = tuple(dict.fromkeys(d.partition(".")[0] for d in self.domains))
        return tuple(lbl for lbl in found if len(lbl) >= 3)

    def has_label(self, label: str) -> bool:
        """``label in self.labels``, without making the tuple (asked for every candidate scored)."""
        if len(label) < 3:
            return False
        for d in self.domains:
            if d.partition(".")[0] == label:
                return True
        return False


@fast_init
@dataclass(frozen=True, slots=True)
class LeadFeatures:
    lead: Lead
    email_domain: str | None
    email_is_free: bool  # free-mail or disposable: says nothing about the employer
    email_is_disposable: bool
    website_domain: str | None
    names: tuple[NormalizedName, ...]
    alias_names: tuple[NormalizedName, ...]  # names the alias table adds
    country: str | None
    country_raw_unknown: bool  # a country was given but not recognised
    region: str | None
    city: str | None
    phone: str | None

    @property
    def corporate_domain(self) -> str | None:
        """The lead's own company domain, when its email (or website) says so."""
        if self.email_domain and not self.email_is_free:
            return self.email_domain
        return self.website_domain


def _fold(value: str | None) -> str | None:
    if not value:
        return None
    v = (value if value.isascii() else normalize.anyascii(value)).strip().lower()
    # interned: regions and cities repeat across accounts
    return sys.intern(v) if v else None


def account_features(account: Account, names: NameNormalizer, country_aliases: dict[str, str]) -> AccountFeatures:
    all_names: list[NormalizedName] = []
    for raw in (account.name, *account.aliases):
        for n in names.names(raw):
            if n not in all_names:
                all_names.append(n)
    split = [(x, *normalize.split_domain(x)) for x in account.domains]
    # the stored string itself where it already is the registrable domain: a million accounts
    # would otherwise hold every domain twice
    domains = tuple(dict.fromkeys(raw if raw == reg else reg for raw, reg, _ in split if reg))
    if domains == account.domains:
        domains = account.domains  # the same tuple, not an equal copy
    contact_domains = tuple(dict.fromkeys(
        d for d in (normalize.registrable_domain(x) for x in account.contact_domains)
        if d and d not in domains and not normalize.is_free_mail(d) and not normalize.is_disposable(d)
    ))
    country = normalize.country(account.country, country_aliases)
    return AccountFeatures(
        account=account,
        names=tuple(all_names),
        domains=domains,
        contact_domains=contact_domains,
        country=country,
        region=_fold(account.region),
        city=_fold(account.city),
        phone=normalize.phone(account.phone, country),
    )


_ACCOUNT_FIELDS = tuple(f.name for f in fields(Account))
_SHARED_ACCOUNT_INDEXES = tuple(_ACCOUNT_FIELDS.index(n) for n in ("country", "region", "city", "owner"))
_ID_INDEX = _ACCOUNT_FIELDS.index("id")
_intern = sys.intern


def pack_features(f: AccountFeatures) -> tuple:
    """Account features as plain tuples and strings, cheap to pickle to another process
    (slotted dataclasses pickle through Python-level state functions, several times slower)."""
    a = f.account
    return (tuple(getattr(a, name) for name in _ACCOUNT_FIELDS), tuple(tuple(n) for n in f.names),
            f.domains, f.contact_domains, f.country, f.region, f.city, f.phone)


def packed_account_id(packed: tuple) -> str:
    """The account id of a ``pack_features`` tuple, without unpacking it."""
    return packed[0][_ID_INDEX]


def unpack_features(packed: tuple) -> AccountFeatures:
    """The inverse of ``pack_features``; repeated strings (words, places, owners) are interned
    again, since pickling hands each process its own copies."""
    account_values, names, domains, contact_domains, country, region, city, phone = packed
    values = list(account_values)
    for i in _SHARED_ACCOUNT_INDEXES:
        if values[i]:
            values[i] = _intern(values[i])
    account = Account(*values)
    return AccountFeatures(
        account,
        tuple([NormalizedName(tuple(map(_intern, tokens))) for tokens in names]),
        account.domains if domains == account.domains else domains,
        contact_domains,
        _intern(country) if country else None,
        _intern(region) if region else None,
        _intern(city) if city else None,
        phone,
    )


def lead_features(
    lead: Lead,
    names: NameNormalizer,
    country_aliases: dict[str, str],
    aliases: dict[str, tuple[NormalizedName, ...]],
) -> LeadFeatures:
    email_domain = normalize.email_domain(lead.email)
    disposable = normalize.is_disposable(email_domain)
    free = disposable or normalize.is_free_mail(email_domain)
    website = normalize.registrable_domain(lead.website)
    if website and (normalize.is_free_mail(website) or normalize.is_disposable(website)):
        website = None
    lead_names = names.names(lead.company)
    alias_names: list[NormalizedName] = []
    for n in lead_names:
        for alt in aliases.get(n.key, ()):
            if alt not in lead_names and alt not in alias_names:
                alias_names.append(alt)
    country = normalize.country(lead.country, country_aliases)
    return LeadFeatures(
        lead=lead,
        email_domain=email_domain,
        email_is_free=free,
        email_is_disposable=disposable,
        website_domain=website,
        names=lead_names,
        alias_names=tuple(alias_names),
        country=country,
        country_raw_unknown=bool(lead.country and lead.country.strip()) and country is None,
        region=_fold(lead.region),
        city=_fold(lead.city),
        phone=normalize.phone(lead.phone, country),
    )


def iter_account_keys(f: AccountFeatures) -> Iterator[tuple[str, str]]:
    """The keys an account is filed under (a key may come twice: filing is idempotent)."""
    for d in f.domains:
        yield DOMAIN, d
    for d in f.contact_domains:
        yield CONTACT_DOMAIN, d
    for lbl in f.labels:
        yield LABEL, lbl
    for n in f.names:
        yield KEY, n.key
        for t in n:
            yield TOKEN, t
        acr = normalize.acronym(n)
        if acr:
            yield ACRONYM, acr


def account_keys(f: AccountFeatures) -> frozenset[tuple[str, str]]:
    return frozenset(iter_account_keys(f))


def lead_domain_keys(f: LeadFeatures) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if f.email_domain:
        keys.append((DOMAIN, f.email_domain))  # owned domains match even when free-mail
        if not f.email_is_free:
            keys.append((CONTACT_DOMAIN, f.email_domain))
            lbl = normalize.domain_label(f.email_domain)
            if lbl and len(lbl) >= 3:
                keys.append((LABEL, lbl))
    if f.website_domain and f.website_domain != f.email_domain:
        keys.append((DOMAIN, f.website_domain))
    return keys


def lead_name_keys(f: LeadFeatures) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for n in (*f.names, *f.alias_names):
        keys.append((KEY, n.key))
        if len(n.key) >= 4:
            keys.append((LABEL, n.key))  # 'Stackdriver' finds the owner of stackdriver.com
        acr = normalize.acronym(n)
        if acr:
            keys.append((KEY, acr))  # 'International Business Machines' finds account 'IBM'
        if len(n) == 1 and 2 <= len(n[0]) <= 6:
            keys.append((ACRONYM, n[0]))  # 'IBM' finds 'International Business Machines'
    for n in (*f.names, *f.alias_names):
        keys.extend((TOKEN, t) for t in n)
    return keys


def lead_keys(f: LeadFeatures) -> frozenset[tuple[str, str]]:
    return frozenset(lead_domain_keys(f) + lead_name_keys(f))
