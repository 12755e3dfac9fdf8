"""Synthetic demo data, generated deterministically (same seed -> same accounts, so re-running
``leadmatch demo`` changes nothing).

~2,000 accounts: standalone companies plus families (a parent such as "Acme Corporation" with
acme.com, and regional children such as "Acme GmbH" in DE with acme.de, owned by the territory's
seller), several domains per account, some contacts (some on domains the account does not list,
which the matcher learns as contact evidence), owners by territory and fit tiers 1 to 3.
``demo`` is the ``leadmatch demo`` command that loads them.
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass

from api import console

from api.accounts.store import AccountData, ContactData

SEED = 20240601

_SYLLABLES = ["ac", "me", "glo", "bex", "ini", "tech", "umb", "rel", "vo", "lta", "nex", "ora", "zen",
              "tri", "quan", "tum", "sol", "aris", "pax", "ter", "ion", "cor", "vex", "lum", "ina",
              "dyn", "amo", "kor", "bal", "tis", "mar", "vel", "ox", "ful", "gra", "nit", "hel", "io"]
_WORDS = ["Systems", "Analytics", "Logistics", "Foods", "Energy", "Robotics", "Health", "Capital",
          "Software", "Networks", "Materials", "Labs", "Motors", "Pharma", "Media", "Security"]
_GENERIC = ["Global", "Group", "Solutions", "International", "Holdings"]

# country -> (legal form for a regional child, ccTLD, region, city)
_COUNTRIES = {
    "US": ("Inc.", "com", "CA", "San Francisco"),
    "DE": ("GmbH", "de", "BY", "Munich"),
    "GB": ("Ltd", "co.uk", "England", "London"),
    "FR": ("SAS", "fr", "IDF", "Paris"),
    "NL": ("B.V.", "nl", "NH", "Amsterdam"),
    "JP": ("K.K.", "jp", "Tokyo", "Tokyo"),
    "ES": ("S.L.", "es", "MD", "Madrid"),
    "BR": ("Ltda.", "com.br", "SP", "Sao Paulo"),
    "AU": ("Pty Ltd", "com.au", "NSW", "Sydney"),
    "CA": ("Inc.", "ca", "ON", "Toronto"),
}

# owners by territory: the regional seller owns the accounts in their countries
_OWNERS = {
    "US": ["Dana Whitfield", "Marcus Lee"], "CA": ["Marcus Lee"], "BR": ["Ana Souza"],
    "DE": ["Lena Vogel", "Jonas Becker"], "NL": ["Jonas Becker"], "FR": ["Claire Martin"],
    "ES": ["Claire Martin"], "GB": ["Oliver Hughes"], "JP": ["Yuki Tanaka"], "AU": ["Yuki Tanaka"],
}

_FIRST = ["Anna", "Ben", "Carla", "David", "Elif", "Felix", "Grace", "Hiro", "Ines", "Jamal", "Kara", "Luis"]
_LAST = ["Schmidt", "Nguyen", "Garcia", "Okafor", "Rossi", "Kowalski", "Smith", "Tanaka", "Dubois", "Silva"]
_TITLES = ["CFO", "Head of Procurement", "VP Engineering", "Marketing Manager", "IT Director", "CEO"]
# the fit tiers the default qualification rules know (config/qualification.toml): their
# qualifying actions count at tiers 1 and 2
_FIT_TIERS = ("1", "2", "3")


@dataclass(frozen=True, slots=True)
class DemoData:
    accounts: list[AccountData]
    contacts: list[ContactData]


def _brand(rng: random.Random, used: set[str]) -> str:
    while True:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()
        if name.lower() not in used and len(name) >= 4:
            used.add(name.lower())
            return name


def generate(n_accounts: int = 2000, seed: int = SEED) -> DemoData:
    rng = random.Random(seed)
    used = {"acme"}
    accounts: list[AccountData] = []
    contacts: list[ContactData] = []
    countries = list(_COUNTRIES)

    def owner(country: str) -> str:
        return rng.choice(_OWNERS[country])

    def add_contacts(acc: AccountData, domains: list[str]) -> None:
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            contacts.append(ContactData(
                id=f"DC{len(contacts) + 1:05d}", account_id=acc.id,
                email=f"{first.lower()}.{last.lower()}@{rng.choice(domains)}",
                first_name=first, last_name=last, title=rng.choice(_TITLES)))

    def family(base: str, words: str, home: str, n_children: int, where: tuple[str, ...] = ()) -> None:
        slug = base.lower()
        parent = AccountData(
            id=f"D{len(accounts) + 1:05d}", name=f"{base} {words}".strip(),
            domains=(f"{slug}.com", f"{slug}{rng.choice(('group', 'global', 'hq'))}.com"),
            country=home, region=_COUNTRIES[home][2], city=_COUNTRIES[home][3], owner=owner(home),
            aliases=(f"{base} {rng.choice(_GENERIC)}",) if rng.random() < 0.2 else (),
            is_customer=rng.random() < 0.25, fit_tier=rng.choice(_FIT_TIERS),
            industry=words or rng.choice(_WORDS), employees=rng.randrange(500, 50_000, 50))
        accounts.append(parent)
        add_contacts(parent, list(parent.domains))
        for country in where or rng.sample([c for c in countries if c != home], n_children):
            form, tld, region, city = _COUNTRIES[country]
            child = AccountData(
                id=f"D{len(accounts) + 1:05d}", name=f"{base} {form}", domains=(f"{slug}.{tld}",),
                country=country, region=region, city=city, parent_id=parent.id, owner=owner(country),
                fit_tier=parent.fit_tier, industry=parent.industry, employees=rng.randrange(20, 2000, 10))
            accounts.append(child)
            # contacts of a regional office sometimes write from the parent's domain
            add_contacts(child, [*child.domains, f"{country.lower()}.{slug}.com"])

    # the family every example in the README and the curl commands refers to
    family("Acme", "Corporation", "US", 3, where=("DE", "GB", "FR"))
    while len(accounts) < n_accounts:
        base = _brand(rng, used)
        if rng.random() < 0.12:
            family(base, rng.choice(("Corporation", "Group", "Holdings")), rng.choice(countries),
                   rng.randint(1, 4))
            continue
        country = rng.choice(countries)
        form, tld, region, city = _COUNTRIES[country]
        slug = base.lower()
        words = rng.choice(_WORDS)
        domains = [f"{slug}.{tld}"]
        if rng.random() < 0.4:
            domains.append(f"{slug}{words.lower()}.com")
        acc = AccountData(
            id=f"D{len(accounts) + 1:05d}", name=f"{base} {words} {form}", domains=tuple(domains),
            country=country, region=region, city=city, owner=owner(country),
            is_customer=rng.random() < 0.15, fit_tier=rng.choice(_FIT_TIERS), industry=words,
            employees=rng.randrange(10, 5000, 10))
        accounts.append(acc)
        add_contacts(acc, domains)
    return DemoData(accounts[:n_accounts], [c for c in contacts if int(c.account_id[1:]) <= n_accounts])


def demo() -> None:
    """Migrate and load ~2,000 synthetic demo accounts (idempotent), then print example requests."""
    from api.accounts import commands as account_commands
    from api.accounts import store
    from api.db import make_engine, make_sessionmaker, migrate as run, session_scope

    settings = console.settings()
    run(settings.database_url)
    data = generate()
    engine = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        accounts = store.upsert_accounts(session, data.accounts)
        contacts, _ = store.upsert_contacts(session, data.contacts)
    engine.dispose()
    publish = account_commands.change_publisher()
    if publish and (accounts.changed_ids or contacts.changed_ids):
        publish(sorted({c.account_id for c in data.contacts} | set(accounts.changed_ids)))
    console.err.print(f"demo data in {console.redact(settings.database_url)}: accounts {accounts.created} created, "
              f"{accounts.updated} updated, {accounts.unchanged} unchanged; contacts {contacts.created} created, "
              f"{contacts.updated} updated, {contacts.unchanged} unchanged")
    base = "http://127.0.0.1:8000"
    sys.stdout.write(f"""
Start the API:   leadmatch serve
Then try:
  curl -s {base}/v1/match -H 'content-type: application/json' \\
       -d '{{"email": "jane.doe@acme.de", "company": "ACME GmbH", "country": "DE"}}'
  curl -s {base}/v1/match -H 'content-type: application/json' \\
       -d '{{"email": "jane1987@gmail.com", "company": "Acme Corp", "country": "GB"}}'
  curl -s {base}/v1/match -H 'content-type: application/json' -d '{{"company": "Acme Corporation"}}'
  curl -s {base}/v1/accounts/D00001
  curl -s {base}/readyz
  API docs: {base}/docs
""")
