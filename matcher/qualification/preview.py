"""Rule-change preview: how many accounts move from each status to each other one.

``transition_matrix(before, evaluations)`` counts every (before, after) pair, unchanged ones
included, with sample accounts per changed pair; ``TransitionTally`` is the same streamed, and the
tallies of chunks merge (the bulk recompute, ``api.qualification.recompute``, runs in chunks).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from operator import itemgetter
from typing import Iterable, Mapping

from matcher.qualification.ledger import AccountEvaluation, Reason

__all__ = ["Preview", "TransitionCell", "TransitionTally", "transition_matrix"]


@dataclass(frozen=True, slots=True)
class TransitionCell:
    """Accounts that were ``before`` (None: not evaluated before) and are ``after``; ``samples``
    are up to N of them (lowest account ids, so a preview is reproducible) with their reasons."""

    before: str | None
    after: str
    count: int
    samples: tuple[tuple[str, tuple[Reason, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Preview:
    cells: tuple[TransitionCell, ...]  # every (before, after) pair that occurs, unchanged included

    @property
    def total(self) -> int:
        return sum(c.count for c in self.cells)

    @property
    def changed(self) -> int:
        return sum(c.count for c in self.cells if c.before != c.after)

    def count(self, before: str | None, after: str) -> int:
        return next((c.count for c in self.cells if c.before == before and c.after == after), 0)


class TransitionTally:
    """Counts (before, after) pairs as evaluations stream by, keeping a few samples per changed
    pair; tallies of chunks can be merged (the bulk recompute runs in chunks)."""

    def __init__(self, samples_per_cell: int = 3) -> None:
        self.samples_per_cell = samples_per_cell
        self.counts: dict[tuple[str | None, str], int] = {}
        # per changed cell, a max-heap (by negated id) of the lowest account ids seen
        self._samples: dict[tuple[str | None, str], list[tuple[_Desc, tuple[Reason, ...]]]] = {}

    def add(self, before: str | None, evaluation: AccountEvaluation) -> None:
        cell = (before, evaluation.status)
        self.counts[cell] = self.counts.get(cell, 0) + 1
        if before != evaluation.status and self.samples_per_cell > 0:
            self._keep(cell, evaluation.account_id, evaluation.reasons)

    def _keep(self, cell: tuple[str | None, str], account_id: str, reasons: tuple[Reason, ...]) -> None:
        heap = self._samples.setdefault(cell, [])
        item = (_Desc(account_id), reasons)
        if len(heap) < self.samples_per_cell:
            heapq.heappush(heap, item)
        elif account_id < heap[0][0].value:
            heapq.heapreplace(heap, item)

    def merge(self, other: "TransitionTally") -> None:
        for cell, n in other.counts.items():
            self.counts[cell] = self.counts.get(cell, 0) + n
        for cell, heap in other._samples.items():
            for desc, reasons in heap:
                self._keep(cell, desc.value, reasons)

    def preview(self) -> Preview:
        def order(cell: tuple[str | None, str]) -> tuple:
            return (cell[0] is None, cell[0] or "", cell[1])
        cells = []
        for cell in sorted(self.counts, key=order):
            samples = sorted(((d.value, r) for d, r in self._samples.get(cell, ())), key=itemgetter(0))
            cells.append(TransitionCell(cell[0], cell[1], self.counts[cell], tuple(samples)))
        return Preview(tuple(cells))


@dataclass(frozen=True, slots=True, order=False)
class _Desc:
    """An account id that sorts in reverse, so a heapq min-heap keeps the lowest ids."""

    value: str

    def __lt__(self, other: "_Desc") -> bool:
        return self.value > other.value


def transition_matrix(before: Mapping[str, str], after: Iterable[AccountEvaluation],
                      samples_per_cell: int = 3) -> Preview:
    """How many accounts move from each status (``before[account_id]``, None when absent) to each
    status in ``after``, unchanged pairs included, with sample accounts and their reasons."""
    tally = TransitionTally(samples_per_cell)
    for evaluation in after:
        tally.add(before.get(evaluation.account_id), evaluation)
    return tally.preview()
