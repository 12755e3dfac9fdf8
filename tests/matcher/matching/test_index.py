"""Match decisions and their reasons, as tables of named cases over a small fixture CRM."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import load_matching_rules
from matcher.matching.types import Account, Lead
from matcher.matching.index import AccountIndex
from matcher import normalize
from matcher.matching import decide, evidence, keys
from matcher.matching.distinct import answer_key

RULES = load_matching_rules()


def account(id, name, domains=(), **kw) -> Account:
    return Account(id=id, name=name, domains=tuple(domains), **kw)


FIXTURE = [
    account("A1", "Acme Corporation", ["acme.com"], country="US", region="CA", owner="ana"),
    account("A1-DE", "Acme GmbH", ["acme.de"], country="DE", parent_id="A1", owner="dieter"),
    account("A1-FR", "Acme SAS", [], country="FR", parent_id="A1", owner="francoise"),
    account("A1-ACQ", "Rocketly", ["rocketly.io"], country="DE", parent_id="A1", owner="ana"),
    account("A2", "Globex Solutions", ["globex.com", "globex-legacy.com"], country="US", owner="bob"),
    account("A3", "Zoho Corporation", ["zoho.com"], country="IN", owner="zara"),
    account("A4", "International Business Machines", ["ibm.com"], country="US", owner="irene"),
    account("A5", "Alphabet Inc.", ["abc.xyz"], country="US", owner="gail"),
    account("A6", "Initech", ["initech.com"], country="US", owner="peter",
            contact_domains=("initech-mail.com",)),
    account("A7", "Umbrella", ["umbrella.com"], country="US", owner="u1"),
    account("A8", "Umbrella", ["umbrella.co.uk"], country="GB", owner="u2"),
    account("A9", "Hooli", [], country="US", owner="h1"),
    account("A10", "Hooli", [], country="US", owner="h2"),
    account("A11", "Stark Industries", ["stark.com", "jarvis.ai"], country="US", owner="tony"),
    account("A12", "Global Solutions", [], country="US", owner="g1"),
    account("A13", "Tri County Electric", ["tce-power.com"], country="US", owner="t1"),
]


@pytest.fixture(scope="module")
def index() -> AccountIndex:
    idx = AccountIndex(RULES)
    idx.upsert_many(FIXTURE)
    return idx


CASES = [
    # description, lead, decision, account, evidence, a phrase the reasons must contain
    ("exact email domain", Lead(email="jo@acme.com"), "matched", "A1", "email_domain", "email domain acme.com is a domain of account A1"),
    ("subdomain email reduced to registrable domain", Lead(email="jo@us.acme.com", country="US"), "matched", "A1", "email_domain", "acme.com"),
    ("second domain of an account", Lead(email="x@globex-legacy.com"), "matched", "A2", "email_domain", "globex-legacy.com"),
    ("country picks the regional child", Lead(email="jo@acme.com", country="DE"), "matched", "A1-DE", "email_domain", "selects the regional account Acme GmbH"),
    ("country picks a regional child without a domain", Lead(email="jo@acme.com", country="France"), "matched", "A1-FR", "email_domain", "regional account Acme SAS"),
    ("acquired child is not a regional office", Lead(email="jo@acme.com", country="US"), "matched", "A1", "email_domain", "A1"),
    ("child's own domain matches the child", Lead(email="jo@rocketly.io", country="US"), "matched", "A1-ACQ", "email_domain", "rocketly.io"),
    ("free mail owned by an account still matches", Lead(email="jo@zoho.com"), "matched", "A3", "email_domain", "zoho.com"),
    ("free mail alone never matches", Lead(email="jo@gmail.com"), "no_match", None, None, "no account"),
    ("free mail matches by exact name and country", Lead(email="jo@gmail.com", company="Initech, Inc.", country="US"), "matched", "A6", "name_exact", "free mail"),
    ("domain learned from contacts", Lead(email="jo@initech-mail.com"), "matched", "A6", "contact_domain", "used by contacts"),
    ("country-code variant with the same name", Lead(email="jo@globex.fr", company="Globex Solutions SA", country="FR"), "matched", "A2", "cctld_variant", "country variant"),
    ("country-code variant without the name is only review", Lead(email="jo@globex.fr"), "review", None, "cctld_variant", "country variant"),
    ("country-code variant with another company name", Lead(email="jo@globex.fr", company="Frobnicate"), "no_match", None, "cctld_variant", "does not agree"),
    ("acronym is evidence, not proof", Lead(email="jo@gmail.com", company="TCE"), "review", None, "name_acronym", "acronym"),
    ("alias table: Google ~ Alphabet", Lead(email="jo@gmail.com", company="Google", country="US"), "matched", "A5", "name_alias", "alias"),
    ("brand named after an owned domain", Lead(email="jo@gmail.com", company="Jarvis", country="US"), "matched", "A11", "name_domain_label", "jarvis.ai"),
    ("same name in two countries: country decides", Lead(email="jo@gmail.com", company="Umbrella", country="GB"), "matched", "A8", "name_exact", "country GB agrees"),
    ("same name, same country, nothing decisive: review", Lead(email="jo@gmail.com", company="Hooli", country="US"), "review", None, "name_exact", "ambiguous"),
    ("a work email at another domain needs the exact name", Lead(email="jo@starkindustriesgroup.com", company="Stark Industries Group"), "review", None, "name_similar", "not a domain of this account"),
    ("alias table from configuration", Lead(email="jo@gmail.com", company="IBM", country="US"), "matched", "A4", "name_alias", "alias"),
    ("namesake abroad is not matched", Lead(email="jo@gmail.com", company="Initech", country="BR"), "review", None, "name_exact", "differs from account country US"),
    ("names made only of common words are never automatic", Lead(email="jo@gmail.com", company="Global Solutions", country="US"), "review", None, "name_exact", "common words only"),
    ("unknown company", Lead(email="jo@nowhere-corp.com", company="Nowhere Corp"), "no_match", None, None, "no account"),
]


@pytest.mark.parametrize("description,lead,decision,account_id,evidence,reason", CASES, ids=[c[0] for c in CASES])
def test_decision(index, description, lead, decision, account_id, evidence, reason):
    result = index.match(lead)
    assert result.decision == decision, result.reasons
    assert result.account_id == account_id
    assert result.evidence == evidence
    assert any(reason in r for r in result.reasons), result.reasons
    assert 0.0 <= result.confidence <= 1.0
    assert len(result.candidates) <= RULES.max_candidates_returned


def test_routing_goes_to_the_regional_owner(index):
    result = index.match(Lead(email="jo@acme.com", country="DE"))
    assert result.route.owner == "dieter"
    assert result.route.account_id == "A1-DE"


def test_unmatched_and_review_go_to_queues(index):
    assert index.match(Lead(email="jo@gmail.com")).route.queue == RULES.routing.fallback_queue
    assert index.match(Lead(email="jo@gmail.com", company="Hooli", country="US")).route.queue == RULES.routing.review_queue


def test_owner_inherited_from_parent():
    idx = AccountIndex(RULES)
    idx.upsert_many([account("P", "Parent Co", ["parent.com"], owner="pat"),
                     account("C", "Child Thing", ["child.com"], parent_id="P")])
    route = idx.match(Lead(email="a@child.com")).route
    assert (route.owner, route.account_id) == ("pat", "C")


# ------------------------------------------------------------------ tie-breaks

def _tied_pair(**second):
    return [account("T1", "Tyrell", [], country="US"), account("T2", "Tyrell", [], country="US", **second)]


@pytest.mark.parametrize("second,chain,winner,decision", [
    ({"has_open_opportunity": True}, None, "T2", "matched"),
    ({"is_customer": True}, None, "T2", "matched"),
    ({"contact_count": 9}, None, "T2", "review"),  # orders, but not decisive by default
    ({}, None, "T1", "review"),
    ({"is_customer": True}, ["lowest_id"], "T1", "review"),
    ({"contact_count": 9}, ["most_contacts"], "T2", "review"),
])
def test_tie_breaks(second, chain, winner, decision):
    rules = RULES if chain is None else RULES.model_copy(update={"tie_breaks": chain})
    idx = AccountIndex(rules)
    idx.upsert_many(_tied_pair(**second))
    result = idx.match(Lead(email="x@gmail.com", company="Tyrell", country="US"))
    assert result.candidates[0].account_id == winner
    assert result.decision == decision


def test_decisive_tie_breaks_are_configurable():
    rules = RULES.model_copy(update={"decisive_tie_breaks": ["most_contacts"], "tie_breaks": ["most_contacts"]})
    idx = AccountIndex(rules)
    idx.upsert_many(_tied_pair(contact_count=9))
    result = idx.match(Lead(email="x@gmail.com", company="Tyrell", country="US"))
    assert (result.decision, result.account_id) == ("matched", "T2")


# ------------------------------------------------------------------ index maintenance

def test_index_follows_changes():
    idx = AccountIndex(RULES)
    idx.upsert(account("X", "Wayne Enterprises", ["wayne.com"], owner="bruce"))
    assert idx.match(Lead(email="a@wayne.com")).account_id == "X"
    # new domain
    idx.upsert(account("X", "Wayne Enterprises", ["wayne.com", "wayneent.com"], owner="bruce"))
    assert idx.match(Lead(email="a@wayneent.com")).account_id == "X"
    # rename: the old name no longer finds it, the new one does
    idx.upsert(account("X", "Batcorp", ["wayne.com"], owner="bruce", country="US"))
    assert idx.match(Lead(email="a@gmail.com", company="Wayne Enterprises", country="US")).decision == "no_match"
    assert idx.match(Lead(email="a@gmail.com", company="Batcorp", country="US")).account_id == "X"
    assert idx.match(Lead(email="a@wayneent.com")).decision == "no_match"
    # re-parent under a new regional parent
    idx.upsert(account("P", "Batcorp International", ["batcorp.com"], country="US"))
    idx.upsert(account("X", "Batcorp", ["wayne.com"], owner="bruce", country="GB", parent_id="P"))
    assert idx.match(Lead(email="a@batcorp.com", country="GB")).account_id == "X"
    # delete
    assert idx.remove("X") is True
    assert idx.remove("X") is False
    assert idx.match(Lead(email="a@wayne.com")).decision == "no_match"
    assert len(idx) == 1


def test_parent_cycle_does_not_hang():
    idx = AccountIndex(RULES)
    idx.upsert_many([account("C1", "Cyclone", ["cyc.com"], parent_id="C2"),
                     account("C2", "Cyclone Two", ["cyc2.com"], parent_id="C1")])
    assert idx.match(Lead(email="a@cyc.com")).decision == "matched"


# ------------------------------------------------------------------ the index against a brute-force scan

WORDS = ["acme", "globex", "initech", "umbrella", "hooli", "tyrell", "wayne", "stark", "group",
         "solutions", "global", "labs", "systems", "north", "data"]
TLDS = ["com", "de", "co.uk", "io"]

name_st = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
domain_st = st.tuples(st.sampled_from(WORDS), st.sampled_from(TLDS)).map(".".join)
account_st = st.builds(
    lambda i, n, ds, c: account(f"R{i}", n.title(), ds, country=c),
    st.integers(0, 10_000), name_st, st.lists(domain_st, max_size=2), st.sampled_from(["US", "DE", None]),
)
lead_st = st.builds(
    lambda local, dom, company, c: Lead(email=f"{local}@{dom}", company=company, country=c),
    st.sampled_from(["a", "b.c"]), st.one_of(domain_st, st.just("gmail.com")),
    st.one_of(name_st, st.none()), st.sampled_from(["US", "DE", None]),
)


def slow_scan(accounts, lead, idx):
    """The reference: no postings, no candidate cap, no weight floor. Every account is prepared
    on its own, scored against the lead and handed to the decision rules. Only the word weights
    (frequencies over the same accounts) come from the index."""
    names = normalize.NameNormalizer(RULES.names.legal_forms)
    aliases = {k.lower(): v.upper() for k, v in RULES.country_aliases.items()}
    generic = frozenset(w.lower() for w in RULES.names.generic_words)
    # in id order, as the index hands over its candidates (equal scores keep that order)
    prepared = {a.id: keys.account_features(a, names, aliases) for a in sorted(accounts, key=lambda a: a.id)}
    f = idx.features_of(lead)
    scored = [s for acc in prepared.values() if (s := evidence.score(f, acc, evidence.ladder(RULES), RULES, idx.weight, generic)) is not None]
    return decide.decide(f, scored, RULES, prepared.get, lambda account_id: (), idx.name_similarity, [])


@settings(max_examples=150, deadline=None)
@given(st.lists(account_st, max_size=25, unique_by=lambda a: a.id), lead_st)
def test_index_returns_what_a_brute_force_scan_would(accounts, lead):
    idx = AccountIndex(RULES)
    idx.upsert_many(accounts)
    f = idx.features_of(lead)
    wanted = keys.lead_keys(f)
    brute = {
        a.id for a in accounts
        if keys.account_keys(keys.account_features(a, idx._names, idx._country_aliases)) & wanted
    }
    assert set(idx.candidate_ids(f, limit=10_000, min_shared_weight=0.0)) == brute
    # what the weight floor prunes could never have been matched automatically
    pruned = brute - set(idx.candidate_ids(f, limit=10_000))
    for aid in pruned:
        s = evidence.score(f, idx._features[aid], evidence.ladder(RULES), RULES, idx.weight, idx._generic)
        assert s is None or s.score < RULES.thresholds.match, (aid, s)
    # and blocking loses nothing that counts: the index decides as a scan scoring every account
    # does. Below the review threshold it may see less (a name of common words only is not
    # looked up), so there only the decision must agree
    result = idx.match(lead)
    reference = slow_scan(accounts, lead, idx)
    assert (result.decision, result.account_id) == (reference.decision, reference.account_id)
    if reference.decision != "no_match":
        assert (result.confidence, result.evidence) == (reference.confidence, reference.evidence)

    def counting(candidates):  # noqa: ANN001, ANN202
        return [(c.account_id, c.score) for c in candidates if c.score >= RULES.thresholds.review]

    assert counting(result.candidates) == counting(reference.candidates)
    assert 0.0 <= result.confidence <= 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(account_st, max_size=20, unique_by=lambda a: a.id), st.data())
def test_removing_everything_leaves_an_empty_index(accounts, data):
    idx = AccountIndex(RULES)
    idx.upsert_many(accounts)
    for a in accounts:
        idx.upsert(a)  # re-upsert is idempotent
    for a in accounts:
        idx.remove(a.id)
    assert len(idx) == 0
    assert all(not table for table in idx._postings.values())


def test_same_answers_in_every_process():
    """Set iteration order depends on the hash seed; answers must not."""
    import subprocess
    import sys

    script = (
        "from config import load_matching_rules\n"
        "from matcher.matching.index import AccountIndex\nfrom matcher.matching.types import Account, Lead\n"
        "idx = AccountIndex(load_matching_rules())\n"
        "idx.upsert_many(Account(f'Z{i}', f'Zeta {w} Labs', (), country='US') for i, w in enumerate(['north', 'south', 'east', 'west', 'north']))\n"
        "print([idx.match(Lead(company=c, country='US')).to_dict() for c in ['Zeta North', 'Zeta Labs', 'Zeta']])\n"
    )
    outs = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": ""}, cwd=str(__import__("pathlib").Path(__file__).parents[3])).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1


memo_lead_st = st.builds(
    lambda local, dom, company, c, first, region: Lead(email=f"{local}@{dom}" if local else dom, company=company,
                                                      country=c, region=region, first_name=first),
    st.sampled_from(["a", "b.c", "not valid", ""]), st.one_of(domain_st, st.just("gmail.com")),
    st.one_of(name_st, name_st.map(str.upper), st.none()), st.sampled_from(["US", "us", "DE", "Atlantis", None]),
    st.sampled_from(["Jane", "Omar", None]), st.sampled_from(["CA", "ca", None]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(account_st, max_size=20, unique_by=lambda a: a.id), st.lists(memo_lead_st, max_size=30))
def test_match_many_answers_each_lead_as_match_does(accounts, leads):
    """Leads with the same answer key are matched once; each still gets exactly its own answer
    (reasons quote the lead's own texts, a malformed email its own address)."""
    idx = AccountIndex(RULES)
    idx.upsert_many(accounts + FIXTURE)
    memo: dict = {}
    assert idx.match_many(leads, memo) == [idx.match(lead) for lead in leads]
    assert len(memo) == len({answer_key(lead) for lead in leads})
    # a memo carried into the next call keeps answering the same way
    assert idx.match_many(list(reversed(leads)), memo) == [idx.match(lead) for lead in reversed(leads)]


def test_colleagues_share_one_answer(index):
    a = Lead(email="jane.doe@acme.com", company="Acme", first_name="Jane", title="CFO")
    b = Lead(email="omar@acme.com", company="Acme", first_name="Omar", last_name="Haddad")
    assert answer_key(a) == answer_key(b)
    assert answer_key(a) != answer_key(Lead(email="jane.doe@acme.com", company="ACME"))
    first, second = index.match_many([a, b])
    assert first is second and first.account_id == "A1"


def test_restored_index_answers_as_the_original(index):
    """An index restored from packed accounts and their filing (what a match-file snapshot
    holds) unpacks accounts as it meets them and answers exactly as the one it came from."""
    import marshal  # as the snapshot stores them: copies, not the live tables

    packed, filing = marshal.loads(marshal.dumps(([keys.pack_features(f) for f in index.prepared_accounts()],
                                                   index.filing())))
    restored = AccountIndex.restore(RULES, packed, filing)
    assert len(restored) == len(index) and "A1" in restored
    leads = [lead for _, lead, *_ in CASES]
    assert [restored.match(lead) for lead in leads] == [index.match(lead) for lead in leads]
    assert [*restored.prepared_accounts()] == [*index.prepared_accounts()]
    assert restored.remove("A2") and restored.get("A2") is None and restored.get("A1") == index.get("A1")
    with pytest.raises(ValueError):
        AccountIndex.restore(RULES, [], ({"not a kind": {}}, {}))


def test_settled_index_answers_as_before_and_keeps_changing():
    """settle() compacts long postings into sorted tuples; answers must not change, and the
    index must go on taking upserts and removals, as a fresh build of the same accounts."""
    words = ["Acme", "Group", "Labs", "Global", "Data"]
    accounts = [account(f"S{i:03d}", f"{words[i % 5]} {words[(i // 5) % 5]} Holdings {i}",
                        [f"s{i}.example.com"], country="US", parent_id=f"S{i - 1:03d}" if i % 4 else None)
                for i in range(120)] + FIXTURE
    leads = [Lead(company="Acme Group Holdings"), Lead(company="Data Labs Holdings 7", country="US"),
             Lead(email="x@s17.example.com"), Lead(company="Global Data"), *(lead for _, lead, *_ in CASES)]
    idx = AccountIndex(RULES)
    idx.upsert_many(accounts)
    before = [idx.match(lead) for lead in leads]
    idx.settle()
    assert any(isinstance(p, tuple) and len(p) > 16 for p in idx._postings[keys.TOKEN].values())
    assert [idx.match(lead) for lead in leads] == before
    # changes after settling
    idx.remove("S017")
    idx.upsert(account("S200", "Acme Group Holdings", ["acme-group.example"], country="US"))
    idx.upsert(account("S003", "Renamed Co", ["renamed.example"], country="US"))
    fresh = AccountIndex(RULES)
    final = [a for a in accounts if a.id not in ("S017", "S003")]
    fresh.upsert_many(final + [account("S200", "Acme Group Holdings", ["acme-group.example"], country="US"),
                               account("S003", "Renamed Co", ["renamed.example"], country="US")])
    assert [idx.match(lead) for lead in leads] == [fresh.match(lead) for lead in leads]


def test_matching_makes_no_reference_cycles(index):
    """match-file's matching processes run without the cyclic collector
    (``api/matching/commands.py`` ``_without_cycle_collection``): every answer, of every kind,
    must be freed by reference counting alone."""
    import gc

    leads = [lead for _, lead, *_ in CASES] * 3
    gc.collect()
    gc.disable()
    try:
        answers = [index.match(lead) for lead in leads]
        assert {a.decision for a in answers} == {"matched", "review", "no_match"}
        del answers
        assert gc.collect() == 0
    finally:
        gc.enable()
