"""Titles -> (seniority, persona) with the default title rules, as a table of named cases."""
from __future__ import annotations

import pytest

from config.qualification import PersonaRule, SeniorityRule, Titles, load_qualification_rules
from matcher.qualification.persona import TitleClassifier, title_words

CLASSIFY = TitleClassifier(load_qualification_rules().titles)

CASES = [
    # title, seniority, persona
    ("VP Engineering", "vp", "engineering"),
    ("Vice President, Finance", "vp", "finance"),
    ("CTO", "c_level", "engineering"),
    ("Chief Marketing Officer", "c_level", "marketing"),
    ("Head of IT", "director", "it"),
    ("Sr. Director of Sales Ops", "director", "sales"),
    ("Software Engineer", "individual_contributor", "engineering"),
    ("Founder & CEO", "c_level", "executive"),
    ("Co-Founder & CTO", "c_level", "executive"),
    ("President", "c_level", "executive"),
    ("Executive Vice President of Sales", "vp", "sales"),
    ("SVP Operations", "vp", "operations"),
    ("CFO", "c_level", "finance"),
    ("Chief Information Security Officer", "c_level", "it"),
    ("Director, FP&A", "director", "finance"),
    ("IT Director", "director", "it"),
    ("Head of Procurement", "director", "procurement"),
    ("Head of People", "director", "hr"),
    ("Marketing Manager", "manager", "marketing"),
    ("Product Marketing Manager", "manager", "marketing"),
    ("Revenue Operations Manager", "manager", "sales"),
    ("Talent Acquisition Lead", "manager", "hr"),
    ("IT Security Engineer", "individual_contributor", "it"),
    ("Account Executive", "individual_contributor", "sales"),
    ("Product Owner", "individual_contributor", "product"),
    ("UX Designer", "individual_contributor", "product"),
    ("Data Scientist", "individual_contributor", "engineering"),
    ("General Counsel", "c_level", "legal"),
    ("Geschäftsführer", "c_level", "executive"),
    ("  vp   ENGINEERING ", "vp", "engineering"),
    ("Chief of Staff", None, None),
    ("Barista", None, None),
    ("Student", None, None),
]


@pytest.mark.parametrize(("title", "seniority", "persona"), CASES, ids=[c[0] for c in CASES])
def test_title_classification(title: str, seniority: str | None, persona: str | None) -> None:
    assert CLASSIFY.classify(title) == (seniority, persona)


@pytest.mark.parametrize("title", [None, ""])
def test_no_title_is_unknown(title: str | None) -> None:
    assert CLASSIFY.classify(title) == (None, None)


def test_title_words_fold_expand_and_drop_punctuation() -> None:
    abbreviations = {"sr": "senior", "dir": "director", "ops": "operations"}
    assert title_words("Sr. Dir., Sales Ops & Strategy", abbreviations) == \
        "senior director sales operations and strategy"
    assert title_words("Directrice Générale", {}) == "directrice generale"


def test_answers_are_cached_by_title() -> None:
    classifier = TitleClassifier(load_qualification_rules().titles)
    first = classifier.classify("VP Engineering")
    assert classifier.classify("VP Engineering") is first


def test_first_matching_rule_wins_so_order_is_configuration() -> None:
    sales_first = Titles(personas=[PersonaRule(persona="sales", patterns=[r"\bsales\b"]),
                                   PersonaRule(persona="operations", patterns=[r"\boperations\b"])],
                         seniority=[SeniorityRule(level="director", patterns=[r"\bdirector\b"])])
    ops_first = sales_first.model_copy(update={"personas": list(reversed(sales_first.personas))})
    title = "Director Sales Operations"
    assert TitleClassifier(sales_first).classify(title) == ("director", "sales")
    assert TitleClassifier(ops_first).classify(title) == ("director", "operations")
