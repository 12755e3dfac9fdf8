"""Checking a close questionnaire: each kind of problem, and all of them listed at once."""
from __future__ import annotations

import pytest

from config.closing import Question, load_closing_rules
from matcher.closing.questionnaire import Problem, check_answers, check_interview, missing_answers

QUESTIONS = (
    Question(id="reason", label="Reason", type="choice", options=("price", "timing"), mandatory=True),
    Question(id="channels", label="Channels", type="multi_choice", options=("web", "event", "call")),
    Question(id="notes", label="Notes", type="text"),
    Question(id="seats", label="Seats", type="number", mandatory=True),
    Question(id="come_back_on", label="When", type="date"),
)

# description, answers, clean answers, problems (question id, words of the message)
CASES = [
    ("all answered well", {"reason": "price", "channels": ["web", "call"], "notes": "  cheaper  ", "seats": 12,
                           "come_back_on": "2027-03-01"},
     {"reason": "price", "channels": ["web", "call"], "notes": "cheaper", "seats": 12, "come_back_on": "2027-03-01"},
     []),
    ("blank, null and empty are unanswered", {"reason": "timing", "seats": 2.5, "notes": "   ", "channels": [],
                                             "come_back_on": None},
     {"reason": "timing", "seats": 2.5}, []),
    ("a mandatory one missing", {"reason": "price"}, {"reason": "price"}, [("seats", "mandatory")]),
    ("an unknown question", {"reason": "price", "seats": 1, "budget": 10}, {"reason": "price", "seats": 1},
     [("budget", "no such question")]),
    ("an unknown option", {"reason": "cost", "seats": 1}, {"seats": 1}, [("reason", "'cost' is not an option")]),
    ("a choice that is not a string", {"reason": ["price"], "seats": 1}, {"seats": 1}, [("reason", "a string")]),
    ("a multi-choice with an unknown option", {"reason": "price", "seats": 1, "channels": ["web", "fax"]},
     {"reason": "price", "seats": 1}, [("channels", "'fax' is not an option")]),
    ("a multi-choice with an option twice", {"reason": "price", "seats": 1, "channels": ["web", "web"]},
     {"reason": "price", "seats": 1}, [("channels", "listed twice")]),
    ("a multi-choice that is a string", {"reason": "price", "seats": 1, "channels": "web"},
     {"reason": "price", "seats": 1}, [("channels", "a list of options")]),
    ("a number as text", {"reason": "price", "seats": "12"}, {"reason": "price"}, [("seats", "expected a number")]),
    ("a boolean for a number", {"reason": "price", "seats": True}, {"reason": "price"},
     [("seats", "expected a number")]),
    ("a date that is no date", {"reason": "price", "seats": 1, "come_back_on": "2027-02-30"},
     {"reason": "price", "seats": 1}, [("come_back_on", "is not a date")]),
    ("a text that is a number", {"reason": "price", "seats": 1, "notes": 5}, {"reason": "price", "seats": 1},
     [("notes", "expected text")]),
    ("a text too long", {"reason": "price", "seats": 1, "notes": "x" * 2001}, {"reason": "price", "seats": 1},
     [("notes", "at most 2000")]),
]


@pytest.mark.parametrize(("description", "answers", "clean", "problems"), CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_problem(description: str, answers: dict, clean: dict, problems: list) -> None:
    checked = check_answers(QUESTIONS, answers)
    assert dict(checked.answers) == clean
    assert [p.question_id for p in checked.problems] == [qid for qid, _ in problems], checked.problems
    for problem, (_, words) in zip(checked.problems, problems):
        assert words in problem.message


def test_every_problem_is_listed_at_once() -> None:
    checked = check_answers(QUESTIONS, {"budget": 1, "other": "x", "channels": ["fax"], "notes": 3,
                                        "come_back_on": "soon"})
    # unknown questions first (in the order sent), then the questionnaire's own in its order
    assert [p.question_id for p in checked.problems] == ["budget", "other", "reason", "channels", "notes", "seats",
                                                         "come_back_on"]
    assert checked.missing == ("reason", "seats")
    assert not checked.complete
    assert checked.answers == {}


def test_a_wrong_mandatory_answer_is_a_problem_not_a_missing_one() -> None:
    checked = check_answers(QUESTIONS, {"reason": "cost", "seats": 1})
    assert checked.problems == (Problem("reason", "'cost' is not an option (one of price, timing)"),)
    assert checked.missing == ()


def test_the_default_lost_questionnaire() -> None:
    lost = load_closing_rules().questions.lost
    checked = check_answers(lost, {"primary_reason": "went_dark"})
    assert checked.missing == ("stalled_stage", "heard_from", "reason_confirmed", "ever_a_fit")
    assert missing_answers(lost, checked.answers) == checked.missing


# the seller's questions an interview is checked against: primary_reason and heard_from with
# options, competitor as text
SELLER = (
    Question(id="primary_reason", label="Reason", type="choice", options=("price", "outsold"), mandatory=True),
    Question(id="competitor", label="Competitor", type="text"),
    Question(id="heard_from", label="Heard from", type="multi_choice", options=("event", "referral")),
)


@pytest.mark.parametrize(("interview", "questions", "fields"), [
    ({"reason": "price", "competitor": "Globex, cheaper", "heard_from": "event"}, SELLER, []),
    ({"reason": None, "competitor": None, "heard_from": None}, SELLER, []),
    ({"reason": "too expensive", "competitor": "Globex", "heard_from": "a podcast"}, SELLER,
     ["reason", "heard_from"]),
    ({"reason": "Price"}, SELLER, ["reason"]),  # an option as configured, to the letter
    # a rules file that makes competitor a choice makes the buyer's one too
    ({"competitor": "Globex"}, (Question(id="competitor", label="C", type="choice", options=("Initech",)),),
     ["competitor"]),
    # a questionnaire without the question (or with a text one) takes any text
    ({"reason": "too expensive", "heard_from": "a podcast"}, (), []),
], ids=["options and text", "nothing said", "not options", "case differs", "competitor a choice", "no such question"])
def test_an_interview_takes_the_options_of_the_sellers_questions(interview: dict, questions: tuple,
                                                                 fields: list[str]) -> None:
    problems = check_interview(questions, interview)
    assert [p.question_id for p in problems] == fields
    assert all("not an option" in p.message for p in problems)
