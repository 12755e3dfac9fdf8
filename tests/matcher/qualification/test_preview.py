"""The rule-change preview: every (before, after) pair counted, samples of the moves, and tallies
of chunks merging into the tally of the whole."""
from __future__ import annotations

import random

from matcher.qualification.ledger import AccountEvaluation, Reason
from matcher.qualification.preview import TransitionTally, transition_matrix


def evaluated(account_id: str, status: str) -> AccountEvaluation:
    return AccountEvaluation(account_id, status, None, (Reason("account_mqa", f"{account_id} is MQA"),))


def test_transition_matrix_counts_every_pair_and_samples_the_moves() -> None:
    evaluations = [evaluated(f"A{i}", "qualified") for i in range(5)] + [evaluated("B1", "pre_qualified")]
    before = {"A0": "nurture", "A1": "nurture", "A2": "nurture", "A3": "qualified", "B1": "pre_qualified"}
    preview = transition_matrix(before, evaluations, samples_per_cell=2)
    assert preview.count("nurture", "qualified") == 3
    assert preview.count("qualified", "qualified") == 1
    assert preview.count(None, "qualified") == 1  # A4 was not evaluated before
    assert preview.count("pre_qualified", "pre_qualified") == 1
    assert (preview.total, preview.changed) == (6, 4)
    moved = next(c for c in preview.cells if (c.before, c.after) == ("nurture", "qualified"))
    assert moved.samples == (("A0", (Reason("account_mqa", "A0 is MQA"),)),
                             ("A1", (Reason("account_mqa", "A1 is MQA"),)))
    unchanged = next(c for c in preview.cells if c.before == c.after == "qualified")
    assert unchanged.samples == ()


def test_tallies_of_chunks_merge_into_the_whole() -> None:
    evaluations = [evaluated(f"A{i:02}", "qualified") for i in range(20)]
    random.Random(7).shuffle(evaluations)
    before = {e.account_id: "nurture" for e in evaluations}
    whole = transition_matrix(before, evaluations)
    left, right = TransitionTally(), TransitionTally()
    for i, e in enumerate(evaluations):
        (left if i % 2 else right).add(before[e.account_id], e)
    left.merge(right)
    assert left.preview() == whole
    assert [a for a, _ in whole.cells[0].samples] == ["A00", "A01", "A02"]
