"""Manual contact moves: the default matrix, the answer to an illegal move, the matrix as
configuration."""
from __future__ import annotations

import pytest

from matcher.qualification.contacts import IllegalContactMove, allowed_manual_moves, validate_manual_move
from matcher.qualification.ledger import CONTACT_STATUSES
from matcher.qualification.rules import compile_rules
from tests.matcher.qualification.default_rules import RULES, rules_with


def test_allowed_manual_moves_follow_the_matrix() -> None:
    assert allowed_manual_moves("qualified") == ("sales_working", "nurture", "disqualified", "partner",
                                                 "no_longer_with_company")
    assert allowed_manual_moves("no_longer_with_company") == ("nurture",)
    assert allowed_manual_moves("sales_working", compile_rules(RULES)) == allowed_manual_moves("sales_working")
    for status in CONTACT_STATUSES:
        assert "pre_qualified" not in allowed_manual_moves(status)
        assert "opportunity_open" not in allowed_manual_moves(status)


def test_an_illegal_manual_move_names_the_allowed_ones() -> None:
    validate_manual_move("qualified", "sales_working")
    with pytest.raises(IllegalContactMove) as info:
        validate_manual_move("nurture", "opportunity_open")
    assert info.value.allowed == allowed_manual_moves("nurture")
    assert str(info.value) == ("a contact cannot be moved from nurture to opportunity_open; allowed: "
                               "qualified, sales_working, disqualified, partner, no_longer_with_company")


def test_the_manual_move_matrix_is_configuration() -> None:
    rules = compile_rules(rules_with(contacts={"manual_moves": {"qualified": ["sales_working"]}}))
    assert allowed_manual_moves("qualified", rules) == ("sales_working",)
    assert allowed_manual_moves("nurture", rules) == allowed_manual_moves("nurture")  # tables merge
    with pytest.raises(IllegalContactMove):
        validate_manual_move("qualified", "nurture", rules)
