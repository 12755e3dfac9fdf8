"""Manual contact moves: which statuses a seller may move a contact to, by hand.

The matrix is configuration (``contacts.manual_moves`` in the rules, defaults in
``config.qualification.DEFAULT_MANUAL_MOVES``); the API checks a move against it when the seller
makes it. A move, once recorded, is a ledger entry the contact replay applies as recorded
(``matcher.qualification.evaluate``), whatever the matrix says later.
"""
from __future__ import annotations

from config.qualification import DEFAULT_MANUAL_MOVES
from matcher.qualification.rules import CompiledQualification, manual_move_table

__all__ = ["IllegalContactMove", "allowed_manual_moves", "validate_manual_move"]


class IllegalContactMove(ValueError):
    """A manual contact move the rules do not allow; ``allowed`` lists the moves that are (the
    API answers 409 with them)."""

    def __init__(self, current: str, target: str, allowed: tuple[str, ...]) -> None:
        self.current, self.target, self.allowed = current, target, allowed
        listed = ", ".join(allowed) or "none"
        super().__init__(f"a contact cannot be moved from {current} to {target}; allowed: {listed}")


_DEFAULT_MOVES = manual_move_table(DEFAULT_MANUAL_MOVES)


def allowed_manual_moves(current: str, rules: CompiledQualification | None = None) -> tuple[str, ...]:
    """The statuses a seller may move a contact in ``current`` to (the default matrix without
    rules)."""
    table = _DEFAULT_MOVES if rules is None else rules.manual_moves
    return table.get(current, ())


def validate_manual_move(current: str, target: str, rules: CompiledQualification | None = None) -> None:
    allowed = allowed_manual_moves(current, rules)
    if target not in allowed:
        raise IllegalContactMove(current, target, allowed)
