"""A close questionnaire's answers, checked against the questions of the outcome
(``config/closing.py`` ``Question``): the clean answers, and every problem at once.

Answers are plain JSON values keyed by question id. ``null``, a blank text and an empty
multi-choice list mean "not answered". A choice is one of the options; a multi-choice a list of
distinct options; a text is trimmed (at most ``MAX_TEXT_ANSWER`` characters); a number is a JSON
number; a date is an ISO date (``2027-03-01``), kept as that string.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping, Sequence

from config.closing import CHOICE_TYPES, MAX_TEXT_ANSWER, Question


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with the answer to ``question_id`` (or with an answer to no question)."""

    question_id: str
    message: str


@dataclass(frozen=True, slots=True)
class Checked:
    answers: Mapping[str, Any]  # the valid answers, cleaned; unanswered questions left out
    problems: tuple[Problem, ...]  # wrong answers, answers to unknown questions, missing mandatory ones
    missing: tuple[str, ...]  # the mandatory questions without an answer, in the questionnaire's order

    @property
    def complete(self) -> bool:
        return not self.missing


def _clean(question: Question, value: Any) -> tuple[Any, str | None]:
    """(the clean answer or None when unanswered, the problem or None)."""
    if value is None:
        return None, None
    kind = question.type
    if kind == "choice":
        if not isinstance(value, str):
            return None, f"expected one of {', '.join(question.options)} (a string)"
        if value not in question.options:
            return None, f"{value!r} is not an option (one of {', '.join(question.options)})"
        return value, None
    if kind == "multi_choice":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, f"expected a list of options from {', '.join(question.options)}"
        unknown = [v for v in value if v not in question.options]
        if unknown:
            return None, (f"{', '.join(repr(v) for v in unknown)} {'is not an option' if len(unknown) == 1 else 'are not options'}"
                          f" (options: {', '.join(question.options)})")
        if len(set(value)) != len(value):
            return None, "an option is listed twice"
        return (list(value) or None), None
    if kind == "text":
        if not isinstance(value, str):
            return None, "expected text"
        text = value.strip()
        if len(text) > MAX_TEXT_ANSWER:
            return None, f"at most {MAX_TEXT_ANSWER} characters"
        return text or None, None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None, "expected a number"
        return value, None
    # date
    if not isinstance(value, str):
        return None, "expected a date such as 2027-03-01"
    try:
        return date.fromisoformat(value).isoformat(), None
    except ValueError:
        return None, f"{value!r} is not a date such as 2027-03-01"


def check_answers(questions: Sequence[Question], answers: Mapping[str, Any]) -> Checked:
    """Check ``answers`` against ``questions``. Every problem is listed: each answer to a question
    that does not exist, each answer of the wrong type or with an unknown option, and each
    mandatory question left unanswered (these also make ``missing``)."""
    by_id = {q.id: q for q in questions}
    problems = [Problem(qid, "no such question") for qid in answers if qid not in by_id]
    clean: dict[str, Any] = {}
    missing: list[str] = []
    for question in questions:
        value, problem = _clean(question, answers.get(question.id))
        if problem is not None:
            problems.append(Problem(question.id, problem))
        elif value is not None:
            clean[question.id] = value
        elif question.mandatory:
            missing.append(question.id)
            problems.append(Problem(question.id, "mandatory: answer it"))
    return Checked(answers=clean, problems=tuple(problems), missing=tuple(missing))


def missing_answers(questions: Sequence[Question], answers: Mapping[str, Any]) -> tuple[str, ...]:
    """The mandatory questions that stored ``answers`` (already checked) leave unanswered."""
    return tuple(q.id for q in questions if q.mandatory and answers.get(q.id) in (None, "", []))


# What a win/loss interview records -> the seller's question it answers again: the loss-reasons
# report sets the buyer's reason beside the seller's primary_reason (and competitor beside
# competitor), so where that question offers options the buyer's answer must be one of them.
INTERVIEW_QUESTIONS = {"reason": "primary_reason", "competitor": "competitor", "heard_from": "heard_from"}


def check_interview(questions: Sequence[Question], answers: Mapping[str, str | None]) -> tuple[Problem, ...]:
    """The problems of a buyer's interview ``answers`` (interview field -> value, e.g. ``reason``)
    against the seller's ``questions`` of the same outcome: a field whose question (by
    ``INTERVIEW_QUESTIONS``) is a choice or multi-choice must be one of its options; a text
    question, or one the questionnaire does not have, takes any text. Problems name the field."""
    by_id = {q.id: q for q in questions}
    problems = []
    for field, question_id in INTERVIEW_QUESTIONS.items():
        value, question = answers.get(field), by_id.get(question_id)
        if value is None or question is None or question.type not in CHOICE_TYPES:
            continue
        if value not in question.options:
            problems.append(Problem(field, f"{value!r} is not an option of the seller's {question_id!r} question "
                                           f"(one of {', '.join(question.options)}); what the buyer said in their "
                                           "own words goes in notes"))
    return tuple(problems)
