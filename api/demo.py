"""Synthetic demo data, generated deterministically, and ``leadmatch demo`` that loads it.

``generate()``: ~2,000 accounts: standalone companies plus families (a parent such as "Acme
Corporation" with acme.com, and regional children such as "Acme GmbH" in DE with acme.de, owned by
the territory's seller), several domains per account, some contacts (some on domains the account
does not list, which the matcher learns as contact evidence) and owners by territory. Fit tiers
are "1", "2" and "3", the tiers the default qualification rules (config/qualification.toml) know:
their qualifying actions count at tiers 1 and 2 only.

``story(data, now)``: the qualification ledger of those accounts, so that every account status
(``config.vocabulary.ACCOUNT_STATUSES``) appears on some account with a history a person can
read. Each account gets one story (``STORIES``; the first account that can tell a story tells it,
the others draw theirs with a generator seeded by the account id): activities (webinars, page
views, email clicks, form fills, demo requests, ...), opportunities with their stage changes
(open, won, lost), contracts (active, ending soon, ended), account flags and a few sellers'
contact moves. The stories are written for the default rules.

Time: every ledger time is relative to ``now``, the time of the first load (``--as-of`` to pin
it). Ids are deterministic (``DEMO-<account>-...``), so a second run finds the story loaded and
leaves the ledger alone: resending it with other times would be the same ids with other content,
which the API refuses. A run on a later day therefore keeps the first load's times and only
recomputes the statuses at its own ``now``: decay, contract ends and renewal windows move some
statuses as the weeks pass, as they would for real accounts; a fresh database starts the story
again.

Statuses are derived by the bulk recompute that ``leadmatch recompute`` runs
(``api.qualification.recompute.recompute_all``, the active rule set), first at a few past
checkpoints (``CHECKPOINT_DAYS`` before ``now``), so the transition log tells each story step by
step, then at ``now``. A checkpoint's transitions are recorded at the time of the load; their
``since`` says when each status began.
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Callable, Optional

import typer

from api import console

if TYPE_CHECKING:  # imported where used: every command imports this module (api/cli.py)
    from api.qualification.store import OpportunityData
    from matcher.qualification.ledger import Activity, Contract, ManualContactMove

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
_SENIOR_TITLES = ("CEO", "CFO", "VP Engineering", "IT Director", "Head of Procurement")  # director or above
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
    from api.accounts.store import AccountData, ContactData  # the ORM only when demo data is made

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


# ---------------------------------------------------------------- the qualification story

# Checkpoints of the story, in days before now: statuses are recomputed at each, oldest first.
CHECKPOINT_DAYS = (365, 180, 90, 45, 21, 7, 0)


@dataclass(slots=True)
class DemoLedger:
    """The qualification ledger of the demo accounts, in the shapes the store functions take."""

    activities: list[Activity] = field(default_factory=list)
    # an opportunity's successive states, one upsert per round: a stage different from the stored
    # one is recorded as a stage change at its stage_changed_at (api.qualification.store)
    opportunity_rounds: list[list[OpportunityData]] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    flags: list[tuple[str, bool, bool, datetime]] = field(default_factory=list)  # (account, disq., partner, set at)
    moves: list[ManualContactMove] = field(default_factory=list)
    stories: dict[str, str] = field(default_factory=dict)  # account id -> story name

    @property
    def marker(self) -> str:
        """The id of the story's first activity: present in the database once the story is loaded."""
        return self.activities[0].id


class _Teller:
    """Writes one account's story into the ledger: times ``days`` before ``now`` (minus a few
    working hours, drawn from the account's own generator), ids from the account id."""

    def __init__(self, ledger: DemoLedger, account: AccountData, contacts: list[ContactData], now: datetime,
                 rng: random.Random) -> None:
        self.ledger, self.account, self.contacts, self.now, self.rng = ledger, account, contacts, now, rng
        self.events = 0
        self.opportunities = 0

    def ago(self, days: int) -> datetime:
        return self.now - timedelta(days=days, hours=self.rng.randint(1, 8), minutes=self.rng.randint(0, 59))

    def day(self, days: int) -> date:
        """A contract date ``days`` before now (negative: after)."""
        return (self.now - timedelta(days=days)).date()

    def senior(self) -> ContactData:
        return next(c for c in self.contacts if c.title in _SENIOR_TITLES)

    def act(self, contact: ContactData, type_: str, days: int, **kw) -> None:  # noqa: ANN003
        from matcher.qualification.ledger import Activity

        self.events += 1
        channel = {"page_view": "web", "form_fill": "web", "demo_request": "web", "contact_us": "web",
                   "content_download": "web", "webinar": "event", "event_attended": "event", "meeting": "sales",
                   "call": "sales"}.get(type_, "email")
        self.ledger.activities.append(Activity(f"DEMO-{self.account.id}-E{self.events:02d}", type_, self.ago(days),
                                               contact_id=contact.id, channel=channel, **kw))

    def opportunity(self, type_: str, contact: ContactData | None, stages: list[tuple[str, int]],
                    outcome: tuple[str, str, int] | None = None) -> None:
        """Opened in the first stage ``stages[0]`` (stage, days ago), moved through the others,
        then closed ``outcome`` = (state, stage, days ago) if given."""
        from api.qualification.store import OpportunityData

        self.opportunities += 1
        opp_id = f"DEMO-{self.account.id}-O{self.opportunities}"
        opened = self.ago(stages[0][1])
        amount = float(self.rng.randrange(12_000, 240_000, 1_000))
        states = [OpportunityData(opp_id, self.account.id, type=type_, stage=stage,
                                  primary_contact_id=contact.id if contact else None, owner=self.account.owner,
                                  amount=amount, opened_at=opened, stage_changed_at=opened if i == 0 else self.ago(days))
                  for i, (stage, days) in enumerate(stages)]
        if outcome is not None:
            state, stage, days = outcome
            closed = self.ago(days)
            states.append(OpportunityData(opp_id, self.account.id, state=state, type=type_, stage=stage,
                                          primary_contact_id=states[-1].primary_contact_id, owner=self.account.owner,
                                          amount=amount, opened_at=opened, closed_at=closed,
                                          stage_changed_at=closed))
        rounds = self.ledger.opportunity_rounds
        for i, state_ in enumerate(states):
            if i == len(rounds):
                rounds.append([])
            rounds[i].append(state_)

    def contract(self, starts_days_ago: int, ends_days_ago: int) -> None:
        from matcher.qualification.ledger import Contract

        self.ledger.contracts.append(Contract(f"DEMO-{self.account.id}-K1", self.account.id,
                                              self.day(starts_days_ago), self.day(ends_days_ago)))

    def move(self, contact: ContactData, status: str, days: int, note: str) -> None:
        """A seller's move, one the default move matrix allows from the contact's status then."""
        from matcher.qualification.ledger import ManualContactMove

        self.ledger.moves.append(ManualContactMove(contact.id, status, self.ago(days), by=self.account.owner,
                                                   note=note))

    def flag(self, disqualified: bool, partner: bool, days: int) -> None:
        self.ledger.flags.append((self.account.id, disqualified, partner, self.ago(days)))


# The stories; after each, the account statuses it goes through under the default rules.
def _cold(t: _Teller) -> None:  # pre_qualified: nobody engaged
    pass


def _browsing(t: _Teller) -> None:  # pre_qualified -> nurture: engagement below the MQA threshold
    c = t.contacts[0]
    t.act(c, "page_view", 55, page_kind="blog")
    t.act(c, "email_click", 40, campaign_id="CMP-NEWSLETTER-10")
    t.act(c, "webinar", 20, campaign_id="CMP-WEBINAR-11")
    t.act(c, "page_view", 6, page_kind="product")


def _gated_demo(t: _Teller) -> None:  # -> nurture: a demo request at a tier-3 account does not qualify
    t.act(t.contacts[0], "page_view", 30, page_kind="product")
    t.act(t.senior(), "demo_request", 2)


def _sent_back(t: _Teller) -> None:  # -> nurture -> qualified -> nurture: a seller sent the contact back
    c = t.contacts[0]
    t.act(c, "webinar", 100, campaign_id="CMP-WEBINAR-08")
    t.act(c, "demo_request", 40)
    t.move(c, "nurture", 10, "budget frozen until next year")


def _lost_deal(t: _Teller) -> None:  # -> opportunity_open -> nurture: the opportunity was lost
    c = t.contacts[0]
    t.act(c, "demo_request", 130)
    t.opportunity("new_business", c, [("Discovery", 110), ("Proposal", 75)], ("lost", "Closed Lost", 30))


def _demo_request(t: _Teller) -> None:  # -> nurture -> qualified: a demo request at a fitting account
    c = t.contacts[0]
    t.act(c, "webinar", 35, campaign_id="CMP-WEBINAR-10")
    t.act(c, "demo_request", 3)


def _pricing_visit(t: _Teller) -> None:  # -> nurture -> qualified: a senior person viewed the pricing page
    c = t.senior()
    t.act(c, "email_click", 25, campaign_id="CMP-NEWSLETTER-11")
    t.act(c, "page_view", 4, page_kind="pricing")


def _buying_committee(t: _Teller) -> None:  # -> qualified at account level (MQA): two personas, many points
    first, second = t.contacts[0], next(c for c in t.contacts if c.title != t.contacts[0].title)
    t.act(first, "webinar", 12, campaign_id="CMP-WEBINAR-12")
    t.act(second, "webinar", 12, campaign_id="CMP-WEBINAR-12")
    t.act(first, "meeting", 6)
    t.act(second, "meeting", 5)
    t.act(first, "content_download", 3, asset_id="whitepaper-roi")
    t.act(second, "form_fill", 2)
    t.act(first, "email_reply", 1)
    t.act(second, "call", 1)


def _being_worked(t: _Teller) -> None:  # -> nurture -> qualified -> sales_working: a seller took it on
    c = t.contacts[0]
    t.act(c, "webinar", 50, campaign_id="CMP-WEBINAR-09")
    t.act(c, "contact_us", 30)
    t.move(c, "sales_working", 10, "discovery call booked")


def _open_deal(t: _Teller) -> None:  # -> qualified -> opportunity_open
    c = t.contacts[0]
    t.act(c, "webinar", 70, campaign_id="CMP-WEBINAR-09")
    t.act(c, "demo_request", 50)
    t.opportunity("new_business", c, [("Discovery", 40), ("Proposal", 15)])


def _disqualified(t: _Teller) -> None:  # -> nurture -> disqualified: flagged by hand
    if t.contacts:
        t.act(t.contacts[0], "webinar", 80, campaign_id="CMP-WEBINAR-08")
    t.flag(True, False, 30)


def _partner(t: _Teller) -> None:  # -> partner: flagged by hand
    t.flag(False, True, 200)


def _churned(t: _Teller) -> None:  # customer -> customer_opportunity -> customer -> churned: renewal lost
    t.contract(500, 40)
    t.opportunity("renewal", None, [("Renewal", 120), ("Negotiation", 80)], ("lost", "Closed Lost", 50))


def _customer(t: _Teller) -> None:  # customer; newsletters keep a contact in nurture, another one left
    t.contract(400, -150)
    if t.contacts:
        t.act(t.contacts[0], "email_open", 20, campaign_id="CMP-NEWSLETTER-11")
        t.act(t.contacts[0], "email_click", 5, campaign_id="CMP-NEWSLETTER-12")
    if len(t.contacts) > 1 and t.rng.random() < 0.3:
        t.move(t.contacts[1], "no_longer_with_company", 60, "left the company")


def _won_deal(t: _Teller) -> None:  # -> opportunity_open -> customer: the opportunity was won
    c = t.contacts[0]
    t.act(c, "demo_request", 200)
    t.opportunity("new_business", c, [("Discovery", 190), ("Proposal", 175)], ("won", "Closed Won", 160))
    t.contract(159, -206)


def _customer_engaged(t: _Teller) -> None:  # customer -> customer_engaged: a contact attended an event
    t.contract(300, -300)
    t.act(t.contacts[0], "event_attended", 5, campaign_id="CMP-SUMMIT")


def _expansion(t: _Teller) -> None:  # customer -> customer_opportunity: an expansion opportunity opened
    t.contract(250, -115)
    t.opportunity("expansion", t.contacts[0] if t.contacts else None, [("Discovery", 25), ("Proposal", 8)])


def _renewal(t: _Teller) -> None:  # customer -> customer_opportunity: the contract ends soon, renewal open
    t.contract(320, -40)
    t.opportunity("renewal", None, [("Renewal", 60)])


def _fits(a: AccountData) -> bool:
    return a.fit_tier in ("1", "2")


def _senior(cs: list[ContactData]) -> bool:
    return any(c.title in _SENIOR_TITLES for c in cs)


# name -> (told of customers (is_customer) or of the others, weight, what the account needs, the story)
_Need = Callable[["AccountData", "list[ContactData]"], bool]
STORIES: dict[str, tuple[bool, float, _Need, Callable[[_Teller], None]]] = {
    "cold": (False, 38, lambda a, cs: True, _cold),
    "gated_demo": (False, 4, lambda a, cs: a.fit_tier == "3" and _senior(cs), _gated_demo),
    "browsing": (False, 25, lambda a, cs: bool(cs), _browsing),
    "sent_back": (False, 1.5, lambda a, cs: _fits(a) and bool(cs), _sent_back),
    "lost_deal": (False, 1.5, lambda a, cs: _fits(a) and bool(cs), _lost_deal),
    "demo_request": (False, 4, lambda a, cs: _fits(a) and bool(cs), _demo_request),
    "pricing_visit": (False, 2, lambda a, cs: _fits(a) and _senior(cs), _pricing_visit),
    "buying_committee": (False, 2, lambda a, cs: _fits(a) and len({c.title for c in cs}) > 1, _buying_committee),
    "being_worked": (False, 3, lambda a, cs: _fits(a) and bool(cs), _being_worked),
    "open_deal": (False, 4, lambda a, cs: _fits(a) and bool(cs), _open_deal),
    "disqualified": (False, 1.5, lambda a, cs: True, _disqualified),
    "partner": (False, 1.5, lambda a, cs: True, _partner),
    "churned": (False, 4, lambda a, cs: True, _churned),
    "customer": (True, 40, lambda a, cs: True, _customer),
    "won_deal": (True, 15, lambda a, cs: _fits(a) and bool(cs), _won_deal),
    "customer_engaged": (True, 15, lambda a, cs: _fits(a) and bool(cs), _customer_engaged),
    "expansion": (True, 15, lambda a, cs: True, _expansion),
    "renewal": (True, 15, lambda a, cs: True, _renewal),
}


def story(data: DemoData, now: datetime, seed: int = SEED) -> DemoLedger:
    """The demo accounts' qualification ledger, with times relative to ``now``. The first account
    (by id) able to tell a story tells it, so every story is told; each other account draws a
    story it can tell, weighted, from a generator seeded by its id, which also draws its times."""
    contacts: dict[str, list[ContactData]] = {}
    for c in data.contacts:
        contacts.setdefault(c.account_id, []).append(c)
    accounts = sorted(data.accounts, key=lambda a: a.id)
    chosen: dict[str, str] = {}
    for name, (for_customers, _, needs, _) in STORIES.items():
        first = next(a for a in accounts if a.id not in chosen and a.is_customer == for_customers
                     and needs(a, contacts.get(a.id, [])))
        chosen[first.id] = name
    ledger = DemoLedger()
    for a in accounts:
        cs = contacts.get(a.id, [])
        rng = random.Random(f"{seed}:{a.id}")
        name = chosen.get(a.id)
        if name is None:
            fitting = [(n, w) for n, (for_customers, w, needs, _) in STORIES.items()
                       if for_customers == a.is_customer and needs(a, cs)]
            name = rng.choices([n for n, _ in fitting], [w for _, w in fitting])[0]
        ledger.stories[a.id] = name
        STORIES[name][3](_Teller(ledger, a, cs, now, rng))
    return ledger


def _load_story(session, ledger: DemoLedger, now: datetime) -> bool:  # noqa: ANN001 - Session
    """Write the story through the API's store functions, unless it is loaded already. True if
    it was written now."""
    from sqlalchemy import select

    from api.db.rows import ActivityRow
    from api.qualification import store as ledger_store

    if session.scalar(select(ActivityRow.id).where(ActivityRow.id == ledger.marker)) is not None:
        return False
    ledger_store.ingest_activities(session, ledger.activities, now=now)
    for opportunities in ledger.opportunity_rounds:
        ledger_store.upsert_opportunities(session, opportunities, now=now)
    ledger_store.upsert_contracts(session, ledger.contracts, now=now)
    for account_id, disqualified, partner, at in ledger.flags:
        ledger_store.set_account_flags(session, account_id, disqualified=disqualified, partner=partner, now=at)
    for move in ledger.moves:
        ledger_store.record_manual_move(session, move, now=now)
    return True


def _status_table(session) -> list[tuple[str, int, str]]:  # noqa: ANN001 - Session
    """(status, accounts, the lowest account id in it), in the order of ACCOUNT_STATUSES."""
    from sqlalchemy import func, select

    from api.db.rows import AccountStatusRow
    from config.vocabulary import ACCOUNT_STATUSES

    rows = {r[0]: (r[1], r[2]) for r in session.execute(
        select(AccountStatusRow.status, func.count(), func.min(AccountStatusRow.account_id))
        .group_by(AccountStatusRow.status))}
    return [(s, *rows[s]) for s in ACCOUNT_STATUSES if s in rows]


AsOfOpt = Annotated[Optional[str], typer.Option(
    help="the story's now (ISO 8601) instead of the clock: ledger times are relative to it, statuses are "
         "evaluated at it")]


def demo(as_of: AsOfOpt = None) -> None:
    """Migrate, load ~2,000 synthetic demo accounts with their qualification story and derive
    their statuses (idempotent), then print the statuses and example requests."""
    from api.accounts import commands as account_commands
    from api.accounts import store
    from api.db import make_engine, make_sessionmaker, migrate as run, session_scope
    from api.qualification import rule_sets
    from api.qualification.commands import cache_dropper, parse_as_of
    from api.qualification.recompute import recompute_all
    from matcher.qualification.rules import compile_rules

    settings = console.settings()
    now = parse_as_of(as_of) or datetime.now(timezone.utc).replace(microsecond=0)
    run(settings.database_url)
    data = generate()
    ledger = story(data, now)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    try:
        with session_scope(sessions) as session:
            accounts = store.upsert_accounts(session, data.accounts)
            contacts, _ = store.upsert_contacts(session, data.contacts)
            loaded = _load_story(session, ledger, now)
        publish = account_commands.change_publisher()
        if publish and (accounts.changed_ids or contacts.changed_ids):
            publish(sorted({c.account_id for c in data.contacts} | set(accounts.changed_ids)))
        console.err.print(f"demo data in {console.redact(settings.database_url)}: accounts {accounts.created} created, "
                          f"{accounts.updated} updated, {accounts.unchanged} unchanged; contacts {contacts.created} "
                          f"created, {contacts.updated} updated, {contacts.unchanged} unchanged")
        console.err.print(
            f"qualification story: {len(ledger.activities)} activities, "
            f"{len({o.id for r in ledger.opportunity_rounds for o in r})} opportunities, {len(ledger.contracts)} "
            f"contracts, {len(ledger.flags)} flags, {len(ledger.moves)} contact moves "
            + ("loaded" if loaded else "already loaded: left as it is"))
        compiled = compile_rules(rule_sets.current_rules(engine, settings.qualification_rules))
        drop = cache_dropper(settings)
        transitions = 0
        for days in (CHECKPOINT_DAYS if loaded else (0,)):
            report = recompute_all(engine, compiled, now - timedelta(days=days), apply=True, workers=1,
                                   on_slice_written=drop)
            transitions += report.transitions
        console.err.print(f"statuses as of {now.isoformat()} under rule set {compiled.version}: "
                          f"{transitions} transitions logged")
        with sessions() as session:
            table = _status_table(session)
    finally:
        engine.dispose()
    base = "http://127.0.0.1:8000"
    width = max(len(s) for s, _, _ in table)
    rows = "\n".join(f"  {status:<{width}}  {count:>5}  {example}" for status, count, example in table)
    examples = dict((s, e) for s, _, e in table)
    shown = [examples[s] for s in ("opportunity_open", "nurture") if s in examples]
    status_lines = "".join(f"  curl -s {base}/v1/accounts/{a}/status\n  curl -s {base}/v1/accounts/{a}/history\n"
                           for a in shown)
    sys.stdout.write(f"""
Account statuses (status, accounts, example):
{rows}

Start the API:   leadmatch serve
Then try:
  curl -s {base}/v1/match -H 'content-type: application/json' \\
       -d '{{"email": "jane.doe@acme.de", "company": "ACME GmbH", "country": "DE"}}'
  curl -s {base}/v1/match -H 'content-type: application/json' \\
       -d '{{"email": "jane1987@gmail.com", "company": "Acme Corp", "country": "GB"}}'
  curl -s {base}/v1/match -H 'content-type: application/json' -d '{{"company": "Acme Corporation"}}'
  curl -s {base}/v1/accounts/D00001
{status_lines}  curl -s {base}/readyz
  API docs: {base}/docs
""")
