"""The evidence ladder: its order, what each level is, and that the docs show it as it is."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from config import load_matching_rules
from matcher.matching import evidence
from matcher.matching.index import AccountIndex
from matcher.matching.types import Account, Lead

RULES = load_matching_rules()
ROOT = Path(__file__).resolve().parents[3]

# The order decisions have always used (the ranks of the stronger_evidence tie-break and of a
# family's stand-in), written out here rather than read from the code under test.
DEFAULT_ORDER = [
    "email_domain", "website_domain", "contact_domain", "name_exact", "name_alias", "name_core",
    "name_domain_label", "cctld_variant", "name_similar", "name_acronym",
]


def test_default_ladder_is_the_order_decisions_use():
    levels = evidence.ladder(RULES)
    assert list(levels) == DEFAULT_ORDER
    assert [level.rank for level in levels.values()] == list(range(len(DEFAULT_ORDER)))


@pytest.mark.parametrize("description,order", [
    ("default order", DEFAULT_ORDER),
    ("reversed", DEFAULT_ORDER[::-1]),
    ("acronym first", ["name_acronym", *DEFAULT_ORDER[:-1]]),
], ids=lambda x: x if isinstance(x, str) else None)
def test_ranks_follow_the_configured_order_and_are_total(description, order):
    rules = RULES.model_copy(update={"evidence": RULES.evidence.model_copy(update={"ladder": order})})
    levels = evidence.ladder(rules)
    ranks = {label: level.rank for label, level in levels.items()}
    assert ranks == {label: i for i, label in enumerate(order)}
    # total: every level has a rank and no two share one
    assert sorted(ranks.values()) == list(range(len(DEFAULT_ORDER)))


# description, level, kind, score (default rules), regional child, same name
LEVELS = [
    ("an owned email domain", "email_domain", "domain", 0.99, True, False),
    ("an owned website", "website_domain", "domain", 0.97, True, False),
    ("a domain the contacts use", "contact_domain", "domain", 0.93, True, False),
    ("the same name", "name_exact", "name", 0.92, True, True),
    ("an alias from the rules", "name_alias", "name", 0.90, True, True),
    ("a core name", "name_core", "name", 0.90, False, False),
    ("a brand named like an owned domain", "name_domain_label", "name", 0.88, False, False),
    ("a country-code variant", "cctld_variant", "variant", 0.60, True, False),
    ("a similar name starts from name_exact's score", "name_similar", "name", 0.92, True, False),
    ("an acronym", "name_acronym", "name", 0.70, False, False),
]


@pytest.mark.parametrize("description,label,kind,score,regional_child,same_name", LEVELS, ids=[c[0] for c in LEVELS])
def test_level(description, label, kind, score, regional_child, same_name):
    level = evidence.ladder(RULES)[label]
    assert (level.label, level.kind, level.regional_child, level.same_name) == (label, kind, regional_child, same_name)
    assert level.score == pytest.approx(score)


def test_a_level_score_comes_from_the_rules():
    rules = RULES.model_copy(update={"evidence": RULES.evidence.model_copy(update={"name_exact": 0.5, "cctld_variant": 0.3})})
    levels = evidence.ladder(rules)
    assert (levels["name_exact"].score, levels["name_similar"].score, levels["cctld_variant"].score) == (0.5, 0.5, 0.3)


def _ranked_first(label: str):
    order = [label, *(x for x in DEFAULT_ORDER if x != label)]
    return RULES.model_copy(update={"evidence": RULES.evidence.model_copy(update={"ladder": order})})


PLACE = {"country": "US", "region": "CA", "city": "Mountain View", "phone": "+1 650 253 0000"}
RANKED = [
    Account("X1", "Acme", ("acme.com",)),  # the lead's email domain: 0.99
    Account("Y1", "Acme Inc"),  # the same name, and the lead's domain reads like it: 0.92 + 0.05
    # one family; the rules' alias table has google ~ alphabet. Both names score 1.0 with the place.
    Account("G0", "Alphabet Inc.", **PLACE),
    Account("G1", "Google", parent_id="G0", **PLACE),
]
ACME = Lead(email="jo@acme.com", company="Acme")
GOOGLE = Lead(email="jo@gmail.com", company="Google", **PLACE)

# description, rules, lead, decision, account, evidence
BY_RANK = [
    ("scoring alike, the stronger evidence wins", RULES, ACME, "matched", "X1", "email_domain"),
    ("a ladder ranking the same name first lets it win", _ranked_first("name_exact"), ACME, "matched", "Y1", "name_exact"),
    ("a family's member with the stronger evidence stands for it", RULES, GOOGLE, "matched", "G1", "name_exact"),
    ("a ladder ranking aliases first lets the alias stand for the family", _ranked_first("name_alias"), GOOGLE, "matched", "G0", "name_alias"),
]


@pytest.mark.parametrize("description,rules,lead,decision,account_id,level", BY_RANK, ids=[c[0] for c in BY_RANK])
def test_decisions_follow_the_ladder_ranks(description, rules, lead, decision, account_id, level):
    index = AccountIndex(rules)
    index.upsert_many(RANKED)
    result = index.match(lead)
    assert (result.decision, result.account_id, result.evidence) == (decision, account_id, level), result.reasons


def _doc_table() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    after = text.split("## The evidence ladder", 1)[1]
    return [line for line in after.splitlines() if line.startswith("|")][: 2 + len(DEFAULT_ORDER)]


def test_docs_list_the_levels_in_the_ladder_order():
    rows = _doc_table()[2:]
    assert [re.match(r"\| (\d+) \| `(\w+)` \|", row).groups() for row in rows] == \
        [(str(i), label) for i, label in enumerate(DEFAULT_ORDER)]


def test_docs_table_is_the_ladder():
    expected = evidence.markdown_table(evidence.ladder(RULES))
    assert "\n".join(_doc_table()) + "\n" == expected, (
        "docs/architecture.md's ladder table is out of date; replace it with:\n" + expected)


def test_the_code_refuses_levels_it_does_not_implement():
    """matcher.matching.evidence checks at import that it knows exactly config's levels."""
    script = (
        "import config.matching as m\n"
        "m.EVIDENCE_LEVELS = m.EVIDENCE_LEVELS + ('name_phonetic',)\n"
        "import matcher.matching.evidence\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode != 0
    assert "RuntimeError" in run.stderr and "EVIDENCE_LEVELS" in run.stderr


# ------------------------------------------------------------------ the reasons a seller reads

WORDED = [
    Account("A1", "Acme Corporation", ("acme.com",), country="US"),
    Account("A2", "Globex Solutions", ("globex.com",), country="US"),
    Account("A3", "Initech", ("initech.com",), contact_domains=("initech-mail.com",)),
    Account("A4", "Velocity Dynamics"),
    Account("A5", "Batcorp", aliases=("Wayne Enterprises",)),
    Account("A6", "Alphabet Inc."),
    Account("A7", "Carlson Wireless Technologies"),
    Account("A8", "Stark Industries", ("stark.com", "jarvis.ai")),
    Account("A9", "Tri County Electric"),
    Account("A10", "SET"),
    Account("A11", "Umbrella"),
]

# description, lead, evidence of the answer, a reason it must give (whole); the wording is the
# ladder's (MEANINGS), written out here as a seller reads it
REASONS = [
    ("owned email domain", Lead(email="jo@acme.com"), "email_domain",
     "email domain acme.com is a domain of account A1 (Acme Corporation)"),
    ("owned website", Lead(email="jo@gmail.com", website="https://www.acme.com/about"), "website_domain",
     "website acme.com is a domain of account A1 (Acme Corporation)"),
    ("a domain the contacts use", Lead(email="jo@initech-mail.com"), "contact_domain",
     "email domain initech-mail.com is used by contacts of account A3 (Initech)"),
    ("identical names", Lead(company="Umbrella"), "name_exact", "same name 'Umbrella'"),
    ("names equal once normalised", Lead(company="INITECH, Inc."), "name_exact",
     "same name once legal forms, case and punctuation are set aside: 'INITECH, Inc.' and 'Initech'"),
    ("the same words in another order", Lead(company="Dynamics Velocity"), "name_exact",
     "same words in another order: 'Dynamics Velocity' and 'Velocity Dynamics'"),
    ("the same name as the account's alias", Lead(company="Wayne Enterprises Inc"), "name_exact",
     "same name once legal forms, case and punctuation are set aside: 'Wayne Enterprises Inc' and "
     "'wayne enterprises' (a name of 'Batcorp')"),
    ("an alias from the rules", Lead(company="Google"), "name_alias", "'Google' is a known alias of 'Alphabet Inc.'"),
    ("a core name", Lead(company="Carlson Wireless"), "name_core",
     "same name apart from 'technologies': 'Carlson Wireless' and 'Carlson Wireless Technologies'"),
    ("a brand named like an owned domain", Lead(company="Jarvis"), "name_domain_label",
     "company name 'Jarvis' is the name of jarvis.ai, a domain of account A8 (Stark Industries)"),
    ("a country-code variant", Lead(email="jo@globex.fr", company="Globex Solutions SA"), "cctld_variant",
     "email domain globex.fr is a country variant of globex.com, a domain of account A2 (Globex Solutions)"),
    ("the lead's company is the acronym", Lead(company="TCE"), "name_acronym", "'TCE' is the acronym of 'Tri County Electric'"),
    ("the account's name is the acronym", Lead(company="Smart Energy Today"), "name_acronym",
     "'SET' is the acronym of 'Smart Energy Today'"),
]


@pytest.fixture(scope="module")
def worded() -> AccountIndex:
    index = AccountIndex(RULES)
    index.upsert_many(WORDED)
    return index


@pytest.mark.parametrize("description,lead,level,reason", REASONS, ids=[c[0] for c in REASONS])
def test_reason_wording(worded, description, lead, level, reason):
    result = worded.match(lead)
    assert result.evidence == level
    assert reason in result.reasons, result.reasons


def test_every_level_has_a_worded_reason_case():
    assert {level for _, _, level, _ in REASONS} | {"name_similar"} == set(DEFAULT_ORDER)


def test_similar_names_give_their_similarity(worded):
    # the similarity itself depends on the word weights of the index: only its form is fixed
    answer = worded.match(Lead(company="Stark Industries Group"))
    assert answer.evidence == "name_similar"
    assert any(re.fullmatch(r"similar names 'Stark Industries Group' and 'Stark Industries' \(0\.\d\d\)", r)
               for r in answer.reasons), answer.reasons


def test_domain_evidence_tells_how_the_names_agree(worded):
    result = worded.match(Lead(email="jo@acme.com", company="ACME Corp."))
    assert result.reasons[:2] == (
        "email domain acme.com is a domain of account A1 (Acme Corporation)",
        "same name once legal forms, case and punctuation are set aside: 'ACME Corp.' and 'Acme Corporation'",
    )


# ---------------------------------------------------------------- learned names and domains

LEARNED = (("alias", "Acme Intl", "review of lead L1", "jane@ours.com"),
           ("domain", "acme-intl.com", "review of lead L2", None))


def test_a_learned_alias_and_domain_say_where_they_were_learned():
    index = AccountIndex(RULES)
    index.upsert(Account("A17", "Acme Corporation", ("acme.com", "acme-intl.com"), country="US",
                         aliases=("Acme Nordic", "Acme Intl"), learned=LEARNED))
    by_name = index.match(Lead(email="max@gmail.com", company="Acme Intl", country="US"))
    assert by_name.decision == "matched"
    assert by_name.reasons[0] == "'Acme Intl' is a name of 'Acme Corporation' learned from review of lead L1 (by jane@ours.com)"
    by_domain = index.match(Lead(email="max@acme-intl.com", company="Someone Else"))
    assert by_domain.reasons[0] == "email domain acme-intl.com was learned for account A17 (Acme Corporation) from review of lead L2"
    # the account's own domain and an alias from the CRM read as before
    assert index.match(Lead(email="max@acme.com")).reasons[0] == "email domain acme.com is a domain of account A17 (Acme Corporation)"
    crm_alias = index.match(Lead(email="max@gmail.com", company="Acme Nordic AB", country="US"))
    assert crm_alias.reasons[0] == ("same name once legal forms, case and punctuation are set aside: "
                                    "'Acme Nordic AB' and 'acme nordic' (a name of 'Acme Corporation')")


def test_a_learned_alias_met_by_a_longer_name_is_quoted_as_learned():
    index = AccountIndex(RULES)
    index.upsert(Account("A17", "Acme Corporation", ("acme.com",), country="US",
                         aliases=("Zentrix Robotics",), learned=(("alias", "Zentrix Robotics", "review of lead L1", None),)))
    # not the very same name: the learned name is still quoted as learned
    reasons = index.match(Lead(email="max@gmail.com", company="Zentrix Robotics Systems", country="US")).reasons
    assert reasons[0] == ("same name apart from 'systems': 'Zentrix Robotics Systems' and "
                          "'Zentrix Robotics' (a name of 'Acme Corporation' learned from review of lead L1)")
