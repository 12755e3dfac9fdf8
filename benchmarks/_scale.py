"""Deterministic scale data: N realistic accounts grown from the development accounts.

The real accounts come first, unchanged. Each further account is a variant of a real one (taken
round-robin) the way a big CRM grows them: the company in another city or region ("Acme
Lyon"), a numbered subsidiary ("Acme Holdings 3"), another legal form ("Acme GmbH"), a business
line ("Acme Analytics"), always with a new domain of its own ("acme-lyon.fr", "acmeanalytics.io")
and sometimes a parent link to the real account (a regional child). Same N and seed -> same data.
A generator: nothing is kept beyond the real accounts it grows from.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Iterator

from matcher.matching.types import Account

LINES = ("Holdings", "Group", "Labs", "Technologies", "Systems", "Partners", "Solutions",
         "International", "Digital", "Consulting", "Ventures", "Analytics", "Media", "Services",
         "Networks", "Capital", "Software", "Health", "Energy", "Logistics", "Studios", "Robotics",
         "Foods", "Finance", "Security", "Cloud", "Data", "Mobile", "Retail", "Pharma")
LEGAL = ("Inc.", "LLC", "Ltd", "GmbH", "S.A.", "B.V.", "AG", "SAS", "Pty Ltd", "K.K.", "S.r.l.",
         "Oy", "AB", "Corp.", "PLC", "SE", "A/S", "Sp. z o.o.", "S.L.", "Limited")
REGIONS = (("US", "CA", "San Francisco"), ("US", "NY", "New York"), ("US", "TX", "Austin"),
           ("US", "MA", "Boston"), ("US", "WA", "Seattle"), ("US", "IL", "Chicago"),
           ("GB", "London", "London"), ("GB", "Manchester", "Manchester"), ("DE", "Berlin", "Berlin"),
           ("DE", "Bayern", "Munich"), ("FR", "Ile-de-France", "Paris"), ("FR", "Rhone-Alpes", "Lyon"),
           ("NL", "Noord-Holland", "Amsterdam"), ("ES", "Madrid", "Madrid"), ("IT", "Lombardia", "Milan"),
           ("SE", "Stockholm", "Stockholm"), ("CH", "Zurich", "Zurich"), ("IN", "Karnataka", "Bangalore"),
           ("SG", "", "Singapore"), ("JP", "Tokyo", "Tokyo"), ("AU", "NSW", "Sydney"),
           ("CA", "ON", "Toronto"), ("BR", "SP", "Sao Paulo"), ("IE", "Dublin", "Dublin"),
           ("IL", "Tel Aviv", "Tel Aviv"), ("CN", "Shanghai", "Shanghai"), ("PL", "Mazowieckie", "Warsaw"),
           ("DK", "Hovedstaden", "Copenhagen"), ("FI", "Uusimaa", "Helsinki"), ("AT", "Wien", "Vienna"))
CC_TLD = {"US": "com", "GB": "co.uk", "DE": "de", "FR": "fr", "NL": "nl", "ES": "es", "IT": "it",
          "SE": "se", "CH": "ch", "IN": "in", "SG": "sg", "JP": "co.jp", "AU": "com.au", "CA": "ca",
          "BR": "com.br", "IE": "ie", "IL": "co.il", "CN": "cn", "PL": "pl", "DK": "dk", "FI": "fi",
          "AT": "at"}
GENERIC_TLD = ("com", "io", "net", "co", "ai", "app", "tech", "org")

_slug_re = re.compile(r"[^a-z0-9]+")


def _slug(s: str) -> str:
    return _slug_re.sub("", s.lower())


def _label(account: Account) -> str:
    for d in account.domains:
        d = d.lower().removeprefix("www.")
        if d:
            return _slug(d.split(".")[0]) or _slug(account.name)[:20] or "co"
    return _slug(account.name)[:20] or "co"


def scale_accounts(real: list[Account], n: int, seed: int = 20151201) -> Iterator[Account]:
    """The first ``min(n, len(real))`` real accounts, then variants up to ``n`` in total."""
    yield from real[:n]
    if n <= len(real) or not real:
        return
    rng = random.Random(seed)
    base_n = len(real)
    for i in range(n - base_n):
        base = real[i % base_n]
        k = i // base_n + 1  # variant number of this base: makes domains unique per base
        label = _label(base)
        country, region, city = REGIONS[rng.randrange(len(REGIONS))]
        kind = rng.random()
        parent = None
        if kind < 0.30:  # regional entity, child of the real account
            name = f"{base.name} {city}"
            domain = f"{label}-{_slug(city)}{k if k > 1 else ''}.{CC_TLD.get(country, 'com')}"
            parent = base.id
        elif kind < 0.55:  # business line
            line = LINES[rng.randrange(len(LINES))]
            name = f"{base.name} {line}"
            domain = f"{label}{_slug(line)}{k if k > 1 else ''}.{GENERIC_TLD[rng.randrange(len(GENERIC_TLD))]}"
        elif kind < 0.75:  # numbered subsidiary
            line = LINES[rng.randrange(8)]
            name = f"{base.name} {line} {k + 1}"
            domain = f"{label}{k + 1}.{GENERIC_TLD[rng.randrange(len(GENERIC_TLD))]}"
            parent = base.id if rng.random() < 0.5 else None
        else:  # same brand, another legal entity in another country
            legal = LEGAL[rng.randrange(len(LEGAL))]
            name = f"{base.name} {city} {legal}"
            domain = f"{label}{k if k > 1 else ''}.{CC_TLD.get(country, 'com')}"
            if domain.endswith(".com"):
                domain = f"{label}-{_slug(city)}{k}.com"
        yield Account(id=f"S{i + 1:07d}", name=name, domains=(domain,), country=country,
                      region=region or None, city=city, parent_id=parent, owner=base.owner)


def read_real_accounts(accounts_csv: Path) -> list[Account]:
    from api import csvio

    return [a for a in csvio.iter_accounts(accounts_csv) if not isinstance(a, csvio.RowError)]
