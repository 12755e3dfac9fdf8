"""The reports benchmark writes close records and interviews straight into the tables; they must be
what the service itself would take (benchmarks/reports/bench_reports.py answer_maker)."""
from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from config.closing import load_closing_rules
from matcher.closing.questionnaire import check_answers, check_interview

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "reports" / "bench_reports.py"


def test_the_bench_close_answers_and_interview_reasons_are_valid_input() -> None:
    spec = importlib.util.spec_from_file_location("bench_reports", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    make, buyer_reasons = bench.answer_maker(random.Random(7))
    questions = load_closing_rules().questions
    for i in range(300):
        outcome, gone_dark = ("won", False) if i % 3 == 0 else ("lost", i % 3 == 1)
        answers = make(outcome, gone_dark)
        checked = check_answers(questions.of(outcome), answers)
        assert checked.problems == () and checked.complete, (outcome, answers)
        assert (answers["primary_reason"] == "went_dark") == gone_dark
    for reason in buyer_reasons:
        assert check_interview(questions.lost, {"reason": reason}) == ()
