"""Normalisation edge cases, as tables of named cases."""
import pytest

from config import load_matching_rules
from matcher import normalize

RULES = load_matching_rules()
NAMES = normalize.NameNormalizer(RULES.names.legal_forms)

NAME_CASES = [
    # (description, raw, expected normalised text)
    ("US legal form", "Some Big Pharma, LLC", "some big pharma"),
    ("German long form cleanco keeps", "Siemens Aktiengesellschaft", "siemens"),
    ("German KG with ampersand", "Acme GmbH & Co. KG", "acme"),
    ("Australian Pty Limited", "Example Pty Limited", "example"),
    ("Japanese romanised", "Toyota Kabushiki Kaisha", "toyota"),
    ("Japanese native script", "株式会社トヨタ", "toyota"),
    ("Russian native prefix", "ООО Ромашка", "romashka"),
    ("Mexican S.A. de C.V.", "Acme S.A. de C.V.", "acme"),
    ("French accents folded", "Société Générale S.A.", "societe generale"),
    ("leading The and trailing Company", "The Acme Company", "acme"),
    ("name that is only a legal form is kept", "COOP", "coop"),
    ("domain-like name", "Hosting.com", "hosting"),
    ("dotted initials", "I.B.M.", "ibm"),
    ("AT&T keeps its letters together", "AT&T Inc.", "att"),
    ("& and 'and' are the same", "Johnson & Johnson", "johnson johnson"),
    ("apostrophe", "Ernie's", "ernies"),
    ("several legal forms", "Acme Holdings Co., Ltd.", "acme holdings"),
    ("country tag in brackets dropped", "Acme Corp (UK) Ltd", "acme"),
]


@pytest.mark.parametrize("description,raw,expected", NAME_CASES, ids=[c[0] for c in NAME_CASES])
def test_company_name(description, raw, expected):
    assert NAMES.normalize(raw).text == expected if "(" not in raw else NAMES.names(raw)[0].text == expected


def test_other_names_written_into_a_name():
    assert [n.text for n in NAMES.names("Spot formerly PlacePop")] == ["spot", "placepop"]
    assert [n.text for n in NAMES.names("Meta Platforms (Facebook)")] == ["meta platforms", "facebook"]


def test_normalisation_is_idempotent():
    for _, raw, _ in NAME_CASES:
        once = NAMES.normalize(raw).text
        assert NAMES.normalize(once).text == once


DOMAIN_CASES = [
    ("subdomain reduced", "us.ibm.com", "ibm.com"),
    ("two-level public suffix kept", "acme.co.uk", "acme.co.uk"),
    ("www and subdomain on ccTLD", "www.siemens.co.uk", "siemens.co.uk"),
    ("url with path and port", "https://www.Acme.com:443/about?x=1", "acme.com"),
    ("private suffix keeps the tenant", "acme.blogspot.com", "acme.blogspot.com"),
    ("new gTLD", "lostmy.name", "lostmy.name"),
    ("no suffix", "localhost", None),
    ("ip address", "10.0.0.1", None),
    ("empty", "", None),
]


@pytest.mark.parametrize("description,raw,expected", DOMAIN_CASES, ids=[c[0] for c in DOMAIN_CASES])
def test_registrable_domain(description, raw, expected):
    assert normalize.registrable_domain(raw) == expected


def test_registrable_domain_agrees_with_tldextract():
    """split_domain walks tldextract's PSL trie itself (for speed); it must say what
    tldextract says, wildcard and exception rules and internationalised names included."""
    samples = [
        "us.ibm.com", "www.siemens.co.uk", "acme.blogspot.com", "a.b.c.d.example.com.au",
        "foo.bar.ck", "www.ck", "city.kawasaki.jp", "x.city.kawasaki.jp", "co.uk", "com",
        "xn--bcher-kva.de", "bücher.de", "münchen.de", "example.xn--p1ai", "10.0.0.1",
        "localhost", "a..b.com", "-.com", "sub.example.github.io", "s3.amazonaws.com",
        "my.site.herokuapp.com", "example.co", "a.gov.uk", "paris.fr", "x.y.paris",
    ]
    for raw in samples:
        h = normalize.host(raw)
        expected = normalize._TLD(h).top_domain_under_public_suffix or None if h else None
        assert normalize.registrable_domain(raw) == expected, raw


@pytest.mark.parametrize("email,expected", [
    ("John.Doe@US.IBM.com", "ibm.com"),
    ("a@acme.co.uk", "acme.co.uk"),
    ("not-an-email", None),
    ("two@@acme.com", None),
    ("spaces in@acme.com", None),
    ("a@nodot", None),
])
def test_email_domain(email, expected):
    assert normalize.email_domain(email) == expected


@pytest.mark.parametrize("domain,free,disposable", [
    ("gmail.com", True, False),
    ("yahoo.co.uk", True, False),
    ("mailinator.com", None, True),  # on both lists upstream
    ("x.mailinator.com", None, True),  # upstream lists second-level domains only
    ("acme.com", False, False),
])
def test_free_and_disposable(domain, free, disposable):
    if free is not None:
        assert normalize.is_free_mail(domain) == free
    assert normalize.is_disposable(domain) == disposable


@pytest.mark.parametrize("raw,expected", [
    ("DE", "DE"), ("de", "DE"), ("Germany", "DE"), ("Deutschland", "DE"), ("UK", "GB"),
    ("England", "GB"), ("United States", "US"), ("USA", "US"), ("Holland", "NL"), ("Narnia", None), ("", None),
])
def test_country(raw, expected):
    aliases = {k.lower(): v for k, v in RULES.country_aliases.items()}
    assert normalize.country(raw, aliases) == expected


def test_phone():
    assert normalize.phone("+49 89 636 00", None) is not None
    assert normalize.phone("(650) 253-0000", "US") == "+16502530000"
    assert normalize.phone("12", "US") is None
