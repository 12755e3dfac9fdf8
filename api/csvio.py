"""Reading accounts and leads from CSV files, row by row, without stopping at a bad row.

One reader per file kind, shared by the command line and the benchmarks. A row that cannot be
read becomes a ``RowError`` (with its 1-based line number and the field at fault) and the
caller decides what to do with it; the rest of the file goes on.

Accounts CSV (the CRM export format): ``id,name,domains,country,region,city,parent_id,owner``
with ``domains`` separated by ``;``. Extra columns are ignored.
Leads CSV: any of ``lead_id,email,company,country,region,city,phone,website,first_name,
last_name,title`` by name; other columns are ignored.

Writing: every CSV the service writes goes through ``csv_writer`` (or ``safe_row``), which
neutralises text cells a spreadsheet would run as a formula (CSV injection; docs/batches.md).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from matcher.batches.columns import FORMULA_STARTS
from matcher.matching.types import Account, Lead

ACCOUNT_COLUMNS = ("id", "name", "domains", "country", "region", "city", "parent_id", "owner")
LEAD_FIELDS = tuple(f.name for f in fields(Lead))  # email, company, ..., in Lead's order
MAX_FIELD_CHARS = 1000


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # 1-based line number in the file (the header is line 1)
    row_id: str | None  # the row's id / lead_id when it could be read
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class LeadRow:
    line: int
    lead_id: str
    lead: Lead


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _check_length(row: dict, line: int, row_id: str | None) -> RowError | None:
    for key, value in row.items():
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            return RowError(line, row_id, key, f"{key} is longer than {MAX_FIELD_CHARS} characters")
    return None


def read_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line, row, error) for each data row; ``restkey`` catches rows with too many cells."""
    with open(path, newline="", encoding="utf-8-sig", errors="strict") as fh:
        reader = csv.DictReader(fh, restkey="__extra__")
        if reader.fieldnames is None:
            return
        line = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                line = reader.line_num or line + 1
                yield line, None, f"row cannot be parsed: {exc}"
                continue
            line = reader.line_num
            yield line, row, None


def read_header(path: str | Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh), [])


def iter_accounts(path: str | Path) -> Iterator[Account | RowError]:
    """Accounts of a CRM export; raises ``ValueError`` if required columns are missing."""
    path = Path(path)
    header = read_header(path)
    missing = [c for c in ("id", "name") if c not in header]
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {', '.join(missing)}")
    for line, row, error in read_rows(path):
        if row is None:
            yield RowError(line, None, None, error or "unreadable row")
            continue
        account_id = _clean(row.get("id"))
        if row.get("__extra__"):
            yield RowError(line, account_id, None, "row has more cells than the header")
            continue
        if (err := _check_length(row, line, account_id)) is not None:
            yield err
            continue
        if not account_id:
            yield RowError(line, None, "id", "id is empty")
            continue
        name = _clean(row.get("name"))
        if not name:
            yield RowError(line, account_id, "name", "name is empty")
            continue
        domains = tuple(d for d in (_clean(x) for x in (row.get("domains") or "").split(";")) if d)
        yield Account(
            id=account_id,
            name=name,
            domains=domains,
            country=_clean(row.get("country")),
            region=_clean(row.get("region")),
            city=_clean(row.get("city")),
            parent_id=_clean(row.get("parent_id")),
            owner=_clean(row.get("owner")),
        )


def iter_leads(path: str | Path) -> Iterator[LeadRow | RowError]:
    """Leads by column name; ``lead_id`` is copied through (the line number when absent).

    Rows are read as lists with the columns looked up once (a batch of a million leads spends
    a third of its matching time here otherwise); a row reads as a ``csv.DictReader`` row would:
    blank lines skipped, missing cells empty, a repeated column name meaning its last column."""
    path = Path(path)
    # bytes that are not UTF-8 are kept as lone surrogates, so they spoil their row, not the file
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        if not any(f in header for f in ("email", "company")):
            raise ValueError(f"{path.name}: needs an 'email' or a 'company' column")
        column = {name: i for i, name in enumerate(header)}
        wanted = [column.get(f) for f in LEAD_FIELDS]
        id_at = column.get("lead_id")
        width = len(header)
        line = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line = reader.line_num or line + 1
                yield RowError(line, None, None, f"row cannot be parsed: {exc}")
                continue
            line = reader.line_num
            if not cells:
                continue
            n = len(cells)
            lead_id = (cells[id_at].strip() if id_at is not None and id_at < n else "") or str(line - 1)
            if n > width:
                yield RowError(line, lead_id, None, "row has more cells than the header")
                continue
            if not _is_utf8(cells):
                yield RowError(line, None, None, "row cannot be parsed: it is not UTF-8 text")
                continue
            if max(map(len, cells)) > MAX_FIELD_CHARS:
                key = header[next(i for i, c in enumerate(cells) if len(c) > MAX_FIELD_CHARS)]
                yield RowError(line, lead_id, key, f"{key} is longer than {MAX_FIELD_CHARS} characters")
                continue
            values = [(cells[i].strip() or None) if i is not None and i < n else None for i in wanted]
            if not values[0] and not values[1]:  # email, company
                yield RowError(line, lead_id, "email", "a lead needs an email or a company")
                continue
            yield LeadRow(line, lead_id, Lead(*values))


def _is_utf8(cells: list[str]) -> bool:
    text = "".join(cells)
    if text.isascii():
        return True
    try:
        text.encode("utf-8")  # a lone surrogate (an undecodable byte) cannot be encoded
    except UnicodeEncodeError:
        return False
    return True


def safe_row(row: Iterable[Any]) -> Sequence[Any]:
    """``row`` with each text cell that starts like a formula given a leading ``'``
    (``matcher.batches.columns.neutralise``). Cells that are not text (the numbers a report
    computes) are written as they are: a negative count of ours is a number, not user text."""
    cells = row if isinstance(row, (list, tuple)) else list(row)
    # match-file writes a row per lead, 100,000 a second: the common row (no cell to change, all
    # text) is answered by one set test and handed back as it is
    try:
        if FORMULA_STARTS.isdisjoint([c[:1] for c in cells]):
            return cells
    except TypeError:  # a cell that is not text
        pass
    return [("'" + c) if c.__class__ is str and c[:1] in FORMULA_STARTS else c for c in cells]


class SafeWriter:
    """A ``csv.writer`` whose rows go through ``safe_row``."""

    __slots__ = ("_writer",)

    def __init__(self, fh: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        writerow = self._writer.writerow
        for row in rows:
            writerow(safe_row(row))


def csv_writer(fh: Any, **kwargs: Any) -> SafeWriter:
    """``csv.writer(fh, **kwargs)`` for files people open in a spreadsheet: text cells neutralised."""
    return SafeWriter(fh, **kwargs)
