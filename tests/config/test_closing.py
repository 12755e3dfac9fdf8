"""Closing rules are refused when they are loaded, never at close time, with a message that names
the entry: one case per check in config/closing.py; and the shipped defaults are the ones the
reports and the disposition rules rely on."""
from __future__ import annotations

import copy
import tomllib
from typing import Any

import pydantic
import pytest

from config.closing import DEFAULT_CLOSING_PATH, ClosingRules, load_closing_rules

BASE: dict[str, Any] = tomllib.loads(DEFAULT_CLOSING_PATH.read_text(encoding="utf-8"))


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    where = doc
    for key in path[:-1]:
        where = where[key]
    if value is _DROP:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return doc


_DROP = object()
LOST = BASE["questions"]["lost"]


def _lost(*questions: dict[str, Any]) -> dict[str, Any]:
    return _with(("questions", "lost"), [*copy.deepcopy(LOST), *questions])


# description, document, words the refusal must contain (where, and what)
REFUSED = [
    ("a choice without options", _lost({"id": "budget", "label": "Budget", "type": "choice"}),
     ["questions.lost.9", "'budget': a choice question needs options"]),
    ("a text question with options", _lost({"id": "notes", "label": "Notes", "type": "text", "options": ["a"]}),
     ["questions.lost.9", "'notes': a text question takes no options"]),
    ("an option listed twice", _lost({"id": "size", "label": "S", "type": "multi_choice", "options": ["a", "a"]}),
     ["questions.lost.9", "'size': options listed twice: a"]),
    ("an unknown type", _lost({"id": "when", "label": "When", "type": "time"}),
     ["questions.lost.9.type"]),
    ("an id that is not a name", _lost({"id": "Primary Reason", "label": "x", "type": "text"}),
     ["questions.lost.9.id"]),
    ("a question id listed twice", _lost({"id": "competitor", "label": "Again", "type": "text"}),
     ["questions.lost: 'competitor' is listed twice"]),
    ("a question the disposition reads, missing",
     _with(("questions", "won"), [q for q in BASE["questions"]["won"] if q["id"] != "white_space"]),
     ["questions.won: 'white_space' is missing", "a choice question with the options yes, no"]),
    ("a question the disposition reads, with other options",
     _with(("questions", "lost", 6, "options"), ["yes", "no", "maybe"]),
     ["questions.lost[6] 'ever_a_fit'", "a choice question with the options yes, no"]),
    ("recycle_on as text", _with(("questions", "lost", 8, "type"), "text"),
     ["questions.lost[8] 'recycle_on'", "a date question"]),
    ("an unknown short-term disposition", _with(("disposition", "short_term"), "recycle"),
     ["disposition.short_term"]),
    ("a reason with an unknown placeholder", _with(("disposition", "reasons", "long_term"), "back on {when}"),
     ["disposition.reasons.long_term", "unknown placeholder {when}"]),
    ("a reason that is not a template", _with(("disposition", "reasons", "won"), "won {"),
     ["disposition.reasons.won"]),
    ("no reminders at all", _with(("reminders", "at_most"), 0), ["reminders.at_most"]),
    ("a cadence of no time", _with(("reminders", "every_days"), 0), ["reminders.every_days"]),
    ("an unknown key", _with(("reminders", "often"), True), ["reminders.often"]),
    ("recycling after no time", _with(("disposition", "recycle_after_months"), 0),
     ["disposition.recycle_after_months"]),
]


@pytest.mark.parametrize(("description", "document", "words"), REFUSED, ids=[c[0] for c in REFUSED])
def test_bad_rules_are_refused_naming_the_entry(description: str, document: dict[str, Any],
                                                words: list[str]) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        ClosingRules.model_validate(document)
    text = str(info.value)
    for word in words:
        assert word in text, f"{description}: {word!r} not in {text}"


def test_the_shipped_questions_are_the_ones_the_reports_read() -> None:
    rules = load_closing_rules()
    lost = {q.id: q for q in rules.questions.lost}
    won = {q.id: q for q in rules.questions.won}
    assert list(lost) == ["primary_reason", "competitor", "stalled_stage", "heard_from", "heard_from_whom",
                          "reason_confirmed", "ever_a_fit", "come_back", "recycle_on"]
    assert list(won) == ["primary_reason", "competitor", "heard_from", "heard_from_whom", "white_space"]
    assert {i for i, q in lost.items() if q.mandatory} == {"primary_reason", "stalled_stage", "heard_from",
                                                           "reason_confirmed", "ever_a_fit"}
    assert {i for i, q in won.items() if q.mandatory} == {"primary_reason", "heard_from", "white_space"}
    assert lost["primary_reason"].options == ("price", "product_fit", "outsold", "timing", "no_decision",
                                              "went_dark", "other")
    assert lost["stalled_stage"].options == ("discovery", "evaluation", "proposal", "negotiation")
    assert won["primary_reason"].options == ("product_fit", "price", "relationship", "timing", "other")
    assert lost["heard_from"].options == won["heard_from"].options == (
        "search", "referral", "event", "outbound", "partner", "content", "other")
    assert (lost["competitor"].type, lost["recycle_on"].type) == ("text", "date")


def test_a_rules_file_is_merged_over_the_defaults(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "closing.toml"
    path.write_text('[disposition]\nshort_term = "top_of_funnel"\n[reminders]\nevery_days = 7\n', encoding="utf-8")
    rules = load_closing_rules(path)
    assert rules.disposition.short_term == "top_of_funnel"
    assert rules.disposition.recycle_after_months == 12  # kept from the defaults
    assert rules.reminders.every_days == 7
    assert rules.reminders.first_after_days == 1
