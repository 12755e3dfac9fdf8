"""Which column of an uploaded lead list is which of our fields, and a lead from a row's cells.

Pure: no I/O. The header names each field goes by are data (``config/columns.toml``, overridable
with ``LEADMATCH_COLUMN_RULES``); the edge that reads the bytes (encoding, delimiter, quoting) is
``api/batches/reading.py``. What a user sees is described in docs/batches.md, "Reading uploads".

- ``recognise(header, mapping)``: the column of each field. A user's ``mapping`` (our field -> their
  column, by exact or case/punctuation-insensitive name) wins over recognition; an upload with
  neither an email nor a company column is refused with the columns it has.
- ``lead_from(cells, columns)``: the ``Lead`` and the export's id of one row.
- ``neutralise(cell)``: a cell made safe to open in a spreadsheet (CSV injection).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from config.columns import COLUMN_FIELDS, ColumnRules, default_column_rules, header_key
from matcher.matching.types import Lead

FIELDS: tuple[str, ...] = COLUMN_FIELDS

# a lead needs one of these (domain.md section 3: the email's domain or the company's name)
KEY_FIELDS = ("email", "company")


class UploadRefused(ValueError):
    """The upload cannot be read at all; ``field`` is what is at fault: ``file`` or ``mapping.<field>``."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class ColumnMap(Mapping[str, int]):
    """Field -> column index (0-based) of the fields the upload has; ``used``: field -> the header
    text of its column (what a job shows as "the column mapping used"), in ``FIELDS`` order."""

    index: dict[str, int]
    used: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> int:
        return self.index[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)


def _columns_list(header: list[str]) -> str:
    return ", ".join(repr(h) for h in header) if any(h.strip() for h in header) else "none"


def _find_column(header: list[str], keys: list[str], name: str) -> int | None:
    """The column a user named: its exact text first, then the same name without case and punctuation."""
    for i, h in enumerate(header):
        if h == name or h.strip() == name.strip():
            return i
    key = header_key(name)
    if key:
        for i, k in enumerate(keys):
            if k == key:
                return i
    return None


def recognise(header: list[str], mapping: dict[str, str] | None = None, *,
              rules: ColumnRules | None = None) -> ColumnMap:
    """The column of each of our fields in ``header``.

    ``mapping`` (our field -> their column) wins over recognition; mapping a field to ``""`` (or
    None) leaves it unread even if a column would be recognised. A repeated header name: its first
    column. Raises ``UploadRefused`` for a mapping naming an unknown field or a column the header
    lacks (``field`` = ``mapping.<field>``) and for a header with neither email nor company."""
    rules = rules or default_column_rules()
    keys = [header_key(h) for h in header]
    index: dict[str, int] = {}
    skipped: set[str] = set()
    for f, name in (mapping or {}).items():
        where = f"mapping.{f}"
        if f not in FIELDS:
            raise UploadRefused(f"{where}: unknown field {f!r} (the fields are {', '.join(FIELDS)})", where)
        if name is None or name == "":
            skipped.add(f)
            continue
        if not isinstance(name, str):
            raise UploadRefused(f"{where}: a column name is text, not {name!r}", where)
        at = _find_column(header, keys, name)
        if at is None:
            raise UploadRefused(f"{where}: no column {name!r} in the header (the columns are "
                                f"{_columns_list(header)})", where)
        other = next((g for g, i in index.items() if i == at), None)
        if other is not None:
            raise UploadRefused(f"{where}: column {header[at]!r} is already mapped to {other}", where)
        index[f] = at
    taken = set(index.values())
    for f in FIELDS:
        if f in index or f in skipped:
            continue
        for synonym in rules.synonyms.get(f, ()):
            key = header_key(synonym)
            at = next((i for i, k in enumerate(keys) if k == key and i not in taken), None)
            if at is not None:
                index[f] = at
                taken.add(at)
                break
    if not any(f in index for f in KEY_FIELDS):
        raise UploadRefused(
            "no email or company column: the columns are "
            f"{_columns_list(header)}; name them with a mapping, e.g. {{\"company\": \"Organisation\"}}")
    ordered = {f: index[f] for f in FIELDS if f in index}
    return ColumnMap(ordered, {f: header[i] for f, i in ordered.items()})


def split_full_name(full: str, particles: frozenset[str] | set[str] = frozenset()) -> tuple[str | None, str | None]:
    """(first, last) of a full name: 'Smith, Mary' is last, first; otherwise the last word is the
    last name, with the ``particles`` before it ('Ludwig van Beethoven' -> 'Ludwig', 'van Beethoven');
    a single word is a first name."""
    text = " ".join(full.split())
    if not text:
        return None, None
    if "," in text:
        last, _, first = text.partition(",")
        return first.strip() or None, last.strip() or None
    words = text.split(" ")
    if len(words) == 1:
        return words[0], None
    at = len(words) - 1
    while at > 1 and words[at - 1].casefold() in particles:
        at -= 1
    return " ".join(words[:at]), " ".join(words[at:])


def _value(cells: list[str], at: int | None) -> str | None:
    if at is None or at >= len(cells):
        return None
    return cells[at].strip() or None


_NUMBER = re.compile(r"[-+]?[$€£¥]?\s*\d[\d\s,.']*%?")
_LABEL_WORDS = re.compile(r"[\s:=#]+")


class RowReader:
    """What one upload's rows mean, worked out once: the lead of a row's cells, and whether a row
    looks like a totals row."""

    def __init__(self, columns: ColumnMap, rules: ColumnRules | None = None) -> None:
        rules = rules or default_column_rules()
        self.columns = columns
        self.particles = frozenset(p.casefold() for p in rules.names.particles)
        self.trailer_labels = frozenset(header_key(x) for x in rules.trailer.labels)

    def lead(self, cells: list[str]) -> tuple[Lead, str | None]:
        """(lead, the export's id of the row). The full name fills first and last name when the row
        has neither (``split_full_name``)."""
        get = self.columns.index.get
        first, last = _value(cells, get("first_name")), _value(cells, get("last_name"))
        if first is None and last is None and (full := _value(cells, get("full_name"))) is not None:
            first, last = split_full_name(full, self.particles)
        lead = Lead(
            email=_value(cells, get("email")), company=_value(cells, get("company")),
            country=_value(cells, get("country")), region=_value(cells, get("region")),
            city=_value(cells, get("city")), phone=_value(cells, get("phone")),
            website=_value(cells, get("website")), first_name=first, last_name=last,
            title=_value(cells, get("title")),
        )
        return lead, _value(cells, get("lead_id"))

    def is_trailer(self, cells: list[str]) -> bool:
        """Whether a row looks like a totals row: one label cell ('Total', 'Grand total', 'Count: 123',
        'Total attendees': a label of ``trailer.labels``, alone or followed by more words or a
        number) and otherwise only numbers or empty cells. Whether it is at the end of the file is
        the reader's to know."""
        label_seen = False
        for cell in cells:
            text = cell.strip()
            if not text or _NUMBER.fullmatch(text):
                continue
            if label_seen:
                return False
            words = _LABEL_WORDS.split(text.casefold())
            if not any(header_key(" ".join(words[:n])) in self.trailer_labels for n in range(1, min(len(words), 3) + 1)):
                return False
            label_seen = True
        return label_seen


def lead_from(cells: list[str], columns: ColumnMap, *, rules: ColumnRules | None = None) -> tuple[Lead, str | None]:
    """(lead, the export's id of the row) of one row's cells: ``RowReader.lead`` (build a
    ``RowReader`` once for many rows)."""
    return RowReader(columns, rules).lead(cells)


def is_trailer(cells: list[str], rules: ColumnRules | None = None) -> bool:
    """``RowReader.is_trailer`` for a single row."""
    return RowReader(ColumnMap({}), rules).is_trailer(cells)


# CSV injection: a spreadsheet runs a cell that starts with one of these as a formula (or, for tab
# and carriage return, may drop the character and read what follows as one). The OWASP
# recommendation, cited in docs/batches.md ("CSV injection"), is a leading single quote, which
# spreadsheets show as text; that section also says which cells of which files get it.
FORMULA_STARTS = frozenset("=+-@\t\r")


def neutralise(cell: str) -> str:
    """``cell`` with a leading ``'`` if a spreadsheet would read it as a formula; as it is otherwise."""
    return "'" + cell if cell[:1] in FORMULA_STARTS else cell
