"""Territory facts from a lead and its account, and the first territory rule that fires."""
from __future__ import annotations

import pytest

from config.routing import TERRITORY_FIELDS, Range, Territory
from matcher.matching.types import Lead
from matcher.routing.territories import describe, facts, first_territory, holds
from matcher.routing.types import AccountFacts

ACME = AccountFacts("A17", "Acme Corp", owner="Jane Doe", country="Austria", region="Vienna", city="Wien",
                    industry="Software", employees=250, fit_tier="1",
                    attributes={"segment": "Enterprise", "partner": True, "products": ["CRM", "ERP"], "seats": 5,
                                "address": {"street": "Ring 1"}})


def test_facts_of_a_matched_lead():
    lead = Lead(email="max@mail.acme.co.uk", country="Germany", region="Bavaria", title="VP Sales")
    got = facts(lead, ACME, source="web", campaign_id="C9", decision="matched")
    assert got == {
        "country": "DE", "region": "Bavaria", "city": "Wien",  # the lead's where given, else the account's
        "industry": "Software", "employees": 250, "fit_tier": "1",
        "source": "web", "campaign_id": "C9", "email_domain": "acme.co.uk", "title": "VP Sales",
        "account_id": "A17", "account_owner": "Jane Doe", "decision": "matched",
        "attributes.segment": "Enterprise", "attributes.partner": True, "attributes.products": ["CRM", "ERP"],
        "attributes.seats": 5, "attributes.address": {"street": "Ring 1"},
    }


def test_facts_of_a_lead_without_an_account_know_only_the_lead():
    got = facts(Lead(email="max@gmail.com", country=" de "), None, source=None, campaign_id=None, decision="no_match")
    assert got == {**dict.fromkeys(TERRITORY_FIELDS), "country": "DE", "email_domain": "gmail.com",
                   "decision": "no_match"}


def test_an_unknown_or_blank_lead_location_is_the_accounts():
    got = facts(Lead(company="Acme", country="Narnia", region="  "), ACME, source=None, campaign_id=None,
                decision="matched")
    assert (got["country"], got["region"], got["city"]) == ("AT", "Vienna", "Wien")


def test_country_aliases_are_the_matching_rules():
    uk = AccountFacts("A1", "Acme UK", country="uk")
    got = facts(Lead(company="Acme"), uk, source=None, campaign_id=None, decision="matched",
                country_aliases={"uk": "gb"})
    assert got["country"] == "GB"
    assert facts(Lead(company="Acme"), uk, source=None, campaign_id=None, decision="matched")["country"] is None


# description, condition, fact, holds
CONDITIONS = [
    ("any of the values", ["DE", "AT"], "AT", True),
    ("none of the values", ["DE", "AT"], "CH", False),
    ("without case", ["de"], "DE", True),
    ("without case or spaces around", ["Software"], " SOFTWARE ", True),
    ("a missing fact satisfies no list", ["DE"], None, False),
    ("a range's lower end is in it", Range(min=50, max=500), 50, True),
    ("a range's upper end is in it", Range(min=50, max=500), 500, True),
    ("below a range", Range(min=50, max=500), 49, False),
    ("above a range", Range(min=50, max=500), 501, False),
    ("an open range", Range(min=1000), 10**6, True),
    ("a missing fact satisfies no range", Range(max=500), None, False),
    ("text is not in a range", Range(max=500), "12", False),
    ("a number in a list", ["500"], 500, True),
    ("a whole float in a list", ["500"], 500.0, True),
    ("a boolean is spelled as in JSON", ["true"], True, True),
    ("false is not true", ["true"], False, False),
    ("a list fact: any of its items", ["crm"], ["CRM", "ERP"], True),
    ("a list fact: none of its items", ["hr"], ["CRM", "ERP"], False),
    ("an object satisfies nothing", ["Ring 1"], {"street": "Ring 1"}, False),
]


@pytest.mark.parametrize("description,condition,fact,expected", CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_a_condition(description, condition, fact, expected):
    assert holds(condition, fact) is expected


DACH = Territory(id="dach", when={"country": ["DE", "AT", "CH"]}, pool="sdr-dach")
MID_SOFTWARE = Territory(id="mid-software", when={"industry": ["software"], "employees": Range(min=100, max=1000)},
                         member="Eva")
ENTERPRISE = Territory(id="enterprise", when={"attributes.segment": ["enterprise"]}, pool="ae")
REST = Territory(id="rest", pool="sdr")


def _facts(lead: Lead, account: AccountFacts | None) -> dict:
    return facts(lead, account, source="web", campaign_id=None, decision="matched" if account else "no_match")


def test_first_match_wins():
    lead = Lead(company="Acme")  # the account's Austria
    assert first_territory([DACH, MID_SOFTWARE, REST], _facts(lead, ACME)) is DACH
    assert first_territory([MID_SOFTWARE, DACH, REST], _facts(lead, ACME)) is MID_SOFTWARE


def test_every_condition_must_hold():
    small = AccountFacts("A2", "Tiny", industry="Software", employees=20)
    assert first_territory([MID_SOFTWARE, REST], _facts(Lead(company="Tiny"), small)) is REST


def test_a_missing_fact_never_fires_a_rule():
    # no account: no industry, no employees, no attributes; no country given
    lead_facts = _facts(Lead(email="x@example.org"), None)
    assert first_territory([DACH, MID_SOFTWARE, ENTERPRISE], lead_facts) is None
    assert first_territory([DACH, MID_SOFTWARE, ENTERPRISE, REST], lead_facts) is REST


def test_an_attribute_rule():
    other = AccountFacts("A3", "Other", attributes={"segment": "SMB"})
    assert first_territory([ENTERPRISE, REST], _facts(Lead(company="Acme"), ACME)) is ENTERPRISE
    assert first_territory([ENTERPRISE, REST], _facts(Lead(company="Other"), other)) is REST


def test_no_rules_no_territory():
    assert first_territory([], _facts(Lead(company="Acme"), ACME)) is None


def test_describe_names_the_facts_that_fired():
    lead_facts = _facts(Lead(company="Acme"), ACME)
    assert describe(MID_SOFTWARE, lead_facts) == "industry Software, employees 250"
    assert describe(DACH, lead_facts) == "country AT"
    assert describe(REST, lead_facts) == "every lead"
