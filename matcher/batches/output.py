"""What a batch job writes, as plain data: the answer columns of results.csv, the columns of
errors.csv and duplicate people within a list. No I/O (api/batches/jobs.py writes).

A chunk's rows are turned into bytes here exactly as they appear in the final files, so the
files are the chunks' bytes in chunk order: the same bytes whichever worker did which chunk.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Sequence

ANSWER_COLUMNS = ("decision", "account_id", "account_name", "confidence", "owner", "queue", "reasons")
ERROR_COLUMNS = ("line", "error", "raw")
REASON_SEPARATOR = " | "


def answer_cells(match: dict, owner: str | None, queue: str | None, extra_reasons: Sequence[str] = ()) -> list[str]:
    """decision, account_id, account_name, confidence, owner, queue, reasons of one answer, from
    a ``/v1/match`` answer (``MatchResult.to_dict()``); the account's name is its candidate's."""
    account_id = match.get("account_id")
    name = next((c["name"] for c in match.get("candidates", ()) if c["account_id"] == account_id), "") \
        if account_id else ""
    reasons = [*match.get("reasons", ()), *extra_reasons]
    return [match["decision"], account_id or "", name, f"{match['confidence']:.4f}", owner or "", queue or "",
            REASON_SEPARATOR.join(reasons)]


def duplicate_reason(first_line: int) -> str:
    return f"duplicate of line {first_line}"


class FirstSeen:
    """Duplicate people in a list: the same email, case-insensitive (surrounding space ignored);
    the first line wins. Rows without an email are never duplicates (a company alone is not a person).

    ``remembered`` holds what the first line of each email left (a dict by default); a list of
    millions of people can hand it a mapping kept on disk instead (``api/batches/spill.py``),
    since what it holds grows with every new email."""

    def __init__(self, remembered: MutableMapping[str, Any] | None = None) -> None:
        self._first: MutableMapping[str, Any] = {} if remembered is None else remembered

    def see(self, email: str | None, value: object) -> object | None:
        """``None`` the first time an email is seen (``value`` is remembered for it), else the
        value remembered for its first line."""
        if not email or not email.strip():
            return None
        earlier = self._first.setdefault(email.strip().casefold(), value)
        return None if earlier is value else earlier
