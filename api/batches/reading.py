"""Reading an uploaded lead list from its bytes: encoding, delimiter, quoting, and rows that are
leads or errors, streamed in file order.

What the columns mean is the pure ``matcher/batches/columns.py``; this module turns bytes into
records. The rules (detection, blank lines, ragged rows, totals rows, broken quotes) are described
for users in docs/batches.md, "Reading uploads"; each is written where it is applied below.

``open_upload(stream, mapping)`` reads the start of a seekable binary stream (a spooled temporary
file of the upload), works out its encoding, delimiter and header, recognises the columns (refusing
an upload without email or company column at once, ``UploadRefused``), and returns an ``Upload``
whose ``rows()`` streams ``DataRow`` / ``BadRow`` in file order: every non-blank record after the
header is exactly one of them. An XLSX workbook (known by its first bytes) is read the same way
from its first sheet, streamed by openpyxl's read-only mode (``_sheet_records``).
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import re
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from api.csvio import MAX_FIELD_CHARS
from config.columns import ColumnRules, load_column_rules
from matcher.batches.columns import ColumnMap, RowReader, UploadRefused, recognise
from matcher.matching.types import Lead

__all__ = ["BadRow", "DataRow", "Upload", "UploadRefused", "detect_encoding", "open_upload", "sniff_delimiter"]

# how much of the start of the file the encoding and the delimiter are worked out from
SAMPLE_BYTES = 1 << 20
SNIFF_RECORDS = 50
DELIMITERS = (",", ";", "\t", "|")
RAW_MAX_CHARS = 1000  # a BadRow's raw text is cut here (errors.csv shows it; the file has the rest)
TRAILER_ERROR = "trailer row (totals)"
# how workbooks begin: XLSX is a ZIP archive, XLS an OLE2 compound file (never CSV text)
_XLSX = b"PK\x03\x04"
_XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
XLSX_ENCODING = "xlsx"  # what Upload.encoding says of a workbook (it has no delimiter)
# a workbook whose parts unpack to more than this is refused before it is read (a ZIP bomb: the
# upload limit counts compressed bytes, and openpyxl holds a sheet's shared strings in memory)
XLSX_MAX_UNPACKED_BYTES = 2 << 30


@dataclass(frozen=True, slots=True)
class DataRow:
    line: int  # physical line where the record starts (the header is line 1)
    cells: list[str]  # as read, as many as the header has (missing cells are "")
    lead: Lead
    lead_id: str | None  # the export's own id of the row, if it has an id column


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    error: str
    raw: str  # the record's text as decoded, at most RAW_MAX_CHARS


# -- encoding ------------------------------------------------------------------------------------

# Bytes a decoder cannot read become U+DC00 + byte (as ``surrogateescape`` does, but for any byte and
# any codec): a lone surrogate cannot come from valid text, so a row holding one is an error row
# naming the byte, and the rest of the file goes on.
_BAD_BYTE = "leadmatch-bad-byte"
_LATIN1 = "leadmatch-latin1"


def _bad_byte(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start:exc.end]), exc.end


def _latin1(exc: UnicodeError) -> tuple[str, int]:
    # the five bytes Windows-1252 leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) read as Latin-1 does
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(b) for b in exc.object[exc.start:exc.end]), exc.end


codecs.register_error(_BAD_BYTE, _bad_byte)
codecs.register_error(_LATIN1, _latin1)
_SURROGATE = re.compile("[\udc00-\udcff]")

# a well-formed UTF-8 sequence of two to four bytes (RFC 3629's table)
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}")
_ASCII = bytes(range(128))


@dataclass(frozen=True, slots=True)
class _Encoding:
    name: str  # what Upload.encoding says
    codec: str  # what decodes it (a BOM codec drops the BOM)
    errors: str


def detect_encoding(sample: bytes) -> _Encoding:
    """The encoding of a file from the first bytes of it (docs/batches.md, "Encodings"):

    1. a byte order mark says it: UTF-8, UTF-16 LE/BE, UTF-32 LE/BE;
    2. no mark but NUL bytes in every other position: UTF-16 without a mark;
    3. the sample is valid UTF-8, or has more well-formed UTF-8 characters than stray non-ASCII
       bytes: UTF-8 (a stray byte spoils its row only);
    4. otherwise Windows-1252, with the five bytes it leaves undefined read as Latin-1.
    """
    for bom, name, codec in ((codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
                             (codecs.BOM_UTF8, "utf-8-sig", "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
                             (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16")):
        if sample.startswith(bom):
            return _Encoding(name, codec, _BAD_BYTE)
    head = sample[:4096]
    if head.count(0) * 4 >= len(head) > 0:  # text of Latin letters in UTF-16 is half NUL bytes
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd > 4 * even:
            return _Encoding("utf-16-le", "utf-16-le", _BAD_BYTE)
        if even > 4 * odd:
            return _Encoding("utf-16-be", "utf-16-be", _BAD_BYTE)
    if len(sample) >= SAMPLE_BYTES and (cut := sample.rfind(b"\n")) > 0:
        sample = sample[:cut + 1]  # a cut sample may end inside a character: end it at a line end
    non_ascii = len(sample.translate(None, _ASCII))  # the bytes left once the ASCII ones are deleted
    if non_ascii == 0:
        return _Encoding("utf-8", "utf-8", _BAD_BYTE)
    well_formed = _UTF8_SEQUENCE.findall(sample)
    stray = non_ascii - sum(map(len, well_formed))
    if stray == 0 or len(well_formed) > stray:
        return _Encoding("utf-8", "utf-8", _BAD_BYTE)
    return _Encoding("cp1252", "cp1252", _LATIN1)


# -- delimiter -----------------------------------------------------------------------------------

def sniff_delimiter(text: str) -> str:
    """The delimiter of a decoded sample: of ``, ; tab |``, the one found outside quotes in the
    header line that the most of the next records (up to SNIFF_RECORDS) have exactly as often; a
    tie goes to the one the header has more of, then to the order above. None in the header: ``,``
    (a file of one column)."""
    records: list[dict[str, int]] = []
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = content = False
    for ch in text:
        if ch == '"':
            quoted = not quoted  # a doubled quote inside a quoted field toggles twice
            content = True
        elif quoted:
            continue
        elif ch in counts:
            counts[ch] += 1
            content = True
        elif ch == "\n" or ch == "\r":
            if content:
                records.append(counts)
                if len(records) > SNIFF_RECORDS:
                    break
            counts, content = dict.fromkeys(DELIMITERS, 0), False
        elif not content and not ch.isspace():
            content = True
    else:
        if content and not quoted:
            records.append(counts)
    if not records:
        return ","
    header, data = records[0], records[1:]
    best, best_key = ",", (-1, -1, 0)
    for rank, d in enumerate(DELIMITERS):
        if header[d] == 0:
            continue
        key = (sum(1 for r in data if r[d] == header[d]), header[d], -rank)
        if key > best_key:
            best, best_key = d, key
    return best


# -- records -------------------------------------------------------------------------------------

class _Runaway(Exception):
    """A record grew longer than any readable row could be: an unclosed quote."""


class _Lines:
    """The decoded lines fed to ``csv.reader``, counted, kept per record (for a BadRow's raw text
    and line number), and put back when a broken record is read again from its second line."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text = iter(text)
        self._back: deque[str] = deque()
        self.line = 0  # lines handed out so far
        self.taken: list[str] = []  # lines of the record being read
        self._size = 0
        self.limit = 1 << 16

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        line = self._back.popleft() if self._back else next(self._text)
        self.line += 1
        self.taken.append(line)
        self._size += len(line)
        if self._size > self.limit:
            raise _Runaway
        return line

    def start_record(self) -> int:
        """Begin a record; the number of its first line."""
        self.taken = []
        self._size = 0
        return self.line + 1

    def put_back_all_but_first(self) -> str:
        """The broken record's first line; the lines after it are read again."""
        first, rest = self.taken[0] if self.taken else "", self.taken[1:]
        self._back.extendleft(reversed(rest))
        self.line -= len(rest)
        self.taken = []
        return first


def _raw(text: str) -> str:
    text = text.rstrip("\r\n")
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text[:RAW_MAX_CHARS]


def _records(lines: _Lines, delimiter: str) -> Iterator[tuple[int, list[str] | None, str, str | None]]:
    """(first line, cells, raw text, error) of each record, blank ones included; cells None and an
    error for a record that cannot be parsed. A broken record (a quote closed in the middle of a
    field, an unclosed quote running to the end of the file or past any readable length) is its
    first line only: that line is the error, and reading goes on from the line after it."""
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    while True:
        start = lines.start_record()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (csv.Error, _Runaway) as exc:
            first = lines.put_back_all_but_first()
            reason = "a quoted field is not closed" if isinstance(exc, _Runaway) or "end of data" in str(exc) \
                else str(exc)
            yield start, None, first, f"row cannot be parsed: {reason}"
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            continue
        yield start, cells, "".join(lines.taken), None


def _blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)


# -- the upload ----------------------------------------------------------------------------------

# (first line, cells or None, raw text, error or None) of every record of a file, header included
Records = Iterator[tuple[int, list[str] | None, str, str | None]]


class Upload:
    """An opened upload: how it is encoded and delimited (a workbook: ``encoding`` "xlsx", no
    delimiter), its header and columns; ``rows()`` reads it (again, from the start, each time it
    is called) from ``records()``."""

    def __init__(self, records: Callable[[], Records], encoding: str, delimiter: str | None, header: list[str],
                 header_line: int, columns: ColumnMap, rules: ColumnRules) -> None:
        self._records = records
        self.encoding = encoding
        self.delimiter = delimiter
        self.header = header
        self.columns = columns
        self._header_line = header_line
        self._reader = RowReader(columns, rules)

    def rows(self) -> Iterator[DataRow | BadRow]:
        """Every non-blank record after the header, in file order, as a ``DataRow`` or a ``BadRow``.

        Blank records (no line, or only empty cells: ``,,,``) are skipped. Totals rows at the end
        of the file (``RowReader.is_trailer``, followed by nothing but blank lines) are error rows
        "trailer row (totals)"; one in the middle is read like any other row."""
        with contextlib.closing(self._records()) as records:
            held: list[tuple[int, list[str], str]] = []  # possible totals rows, until the end shows they are
            for start, cells, raw, error in records:
                if start <= self._header_line:
                    continue
                if cells is None:
                    yield from (self._row(*h) for h in held)
                    held.clear()
                    yield BadRow(start, error or "", _raw(raw))
                    continue
                if _blank(cells):
                    continue
                if self._reader.is_trailer(cells):
                    held.append((start, cells, raw))
                    continue
                if held:
                    yield from (self._row(*h) for h in held)
                    held.clear()
                yield self._row(start, cells, raw)
            for start, _, raw in held:
                yield BadRow(start, TRAILER_ERROR, _raw(raw))

    def _row(self, line: int, cells: list[str], raw: str) -> DataRow | BadRow:
        width = len(self.header)
        n = len(cells)
        if n > width:
            if any(c.strip() for c in cells[width:]):
                return BadRow(line, f"row has {n} cells, the header has {width}", _raw(raw))
            cells = cells[:width]  # a trailing delimiter (empty cells past the header) is no error
        elif n < width:
            cells = cells + [""] * (width - n)
        if not "".join(cells).isascii():
            bad = next((i for i, c in enumerate(cells) if _SURROGATE.search(c)), None)
            if bad is not None:
                byte = ord(_SURROGATE.search(cells[bad]).group()) - 0xDC00
                return BadRow(line, f"{self._column(bad)}: byte 0x{byte:02X} is not {self.encoding} text", _raw(raw))
        if max(map(len, cells), default=0) > MAX_FIELD_CHARS:
            at = next(i for i, c in enumerate(cells) if len(c) > MAX_FIELD_CHARS)
            return BadRow(line, f"{self._column(at)} is longer than {MAX_FIELD_CHARS} characters", _raw(raw))
        lead, lead_id = self._reader.lead(cells)
        if lead.email is None and lead.company is None:
            named = [f"{f} ({self.columns.used[f]!r})" for f in ("email", "company") if f in self.columns]
            error = f"neither {named[0]} nor {named[1]}: a lead needs one" if len(named) == 2 \
                else f"no {named[0]}: a lead needs an email or a company"
            return BadRow(line, error, _raw(raw))
        return DataRow(line, cells, lead, lead_id)

    def _column(self, at: int) -> str:
        name = self.header[at].strip() if at < len(self.header) else ""
        return repr(name) if name else f"column {at + 1}"


def _text_records(stream: BinaryIO, encoding: _Encoding, delimiter: str, width: int) -> Records:
    """The records of a CSV upload, from its start."""
    text = _open_text(stream, encoding)
    try:
        lines = _Lines(text)
        # a row of cells of MAX_FIELD_CHARS, each quoted with every quote doubled, is the longest
        # readable one: a record past that has an unclosed quote (or is an error anyway)
        lines.limit = max(1 << 16, (2 * MAX_FIELD_CHARS + 3) * (width + 1))
        yield from _records(lines, delimiter)
    finally:
        text.detach()  # the stream is the caller's: leave it open


def _open_text(stream: BinaryIO, encoding: _Encoding) -> io.TextIOWrapper:
    stream.seek(0)
    # newline="": line ends are left to csv (a quoted field may hold one); universal line splitting
    return io.TextIOWrapper(stream, encoding=encoding.codec, errors=encoding.errors, newline="")  # type: ignore[arg-type]


def _decoded_sample(sample: bytes, encoding: _Encoding) -> str:
    return codecs.getincrementaldecoder(encoding.codec)(encoding.errors).decode(sample, final=False)


def open_upload(stream: BinaryIO, mapping: dict[str, str] | None = None, *,
                rules: ColumnRules | None = None) -> Upload:
    """Open an upload: encoding and delimiter detected, header read and its columns recognised.

    ``stream``: a seekable binary file, read from its start (and again by each ``rows()``); it is
    left open. ``rules``: the column rules (default: the shipped ones with ``LEADMATCH_COLUMN_RULES``
    over them). Raises ``UploadRefused`` for an empty file, an unreadable header, a wrong
    ``mapping`` (field ``mapping.<field>``) or a header with neither email nor company column."""
    if rules is None:
        from config.settings import get_settings

        rules = load_column_rules(get_settings().column_rules)
    stream.seek(0)
    sample = stream.read(SAMPLE_BYTES)
    if sample.startswith(_XLS):
        raise UploadRefused("this is an XLS workbook (Excel 97-2003), which is not read: save the sheet as CSV "
                            "or XLSX and upload that (docs/batches.md, Formats)")
    if sample.startswith(_XLSX):
        _check_workbook(stream)
        records: Callable[[int], Records] = lambda width: _sheet_records(stream)  # noqa: E731
        encoding, delimiter = XLSX_ENCODING, None
        where = "row"
    else:
        text_encoding = detect_encoding(sample)
        delimiter = sniff_delimiter(_decoded_sample(sample, text_encoding))
        records = lambda width: _text_records(stream, text_encoding, delimiter, width)  # noqa: E731
        encoding, where = text_encoding.name, "line"
    header, header_line = None, 0
    with contextlib.closing(records(0)) as found:
        for start, cells, _, error in found:
            if cells is None:
                raise UploadRefused(f"{where} {start}: the header {where} cannot be read ({error})")
            if not _blank(cells):
                header, header_line = cells, start
                break
    if header is None:
        raise UploadRefused("the file is empty: no header line")
    columns = recognise(header, mapping, rules=rules)
    width = len(header)
    return Upload(lambda: records(width), encoding, delimiter, header, header_line, columns, rules)


# -- workbooks -----------------------------------------------------------------------------------

def _check_workbook(stream: BinaryIO) -> None:
    """Refuse, before reading it, a ZIP that is no workbook or that unpacks to too much."""
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UploadRefused(f"the file starts like an XLSX workbook but is not a readable one ({exc})") from None
    if "xl/workbook.xml" not in names:
        raise UploadRefused("the file is a ZIP archive but not an XLSX workbook (no xl/workbook.xml): "
                            "upload the list as CSV or XLSX")
    if unpacked > XLSX_MAX_UNPACKED_BYTES:
        raise UploadRefused(f"the workbook unpacks to {unpacked:,} bytes, more than the "
                            f"{XLSX_MAX_UNPACKED_BYTES:,} read: save the sheet as CSV and upload that")


def _sheet_records(stream: BinaryIO) -> Records:
    """The records of a workbook's first sheet, a record a row (row numbers are lines), streamed:
    openpyxl's read-only mode parses the sheet as it goes. Formulas give the value the workbook
    last computed. The sheet's stated size is not trusted (exporters get it wrong, and read-only
    mode would stop there): every row is read, as long as it is."""
    from openpyxl import load_workbook  # only uploads of workbooks pay for importing it

    stream.seek(0)
    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise UploadRefused(f"the XLSX workbook cannot be read ({type(exc).__name__}: {exc})") from None
    try:
        if not book.worksheets:
            raise UploadRefused("the XLSX workbook has no sheet")
        sheet = book.worksheets[0]
        sheet.reset_dimensions()
        number = 0
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [cell_text(v) for v in values]
                yield number, cells, _csv_text(cells), None
        except Exception as exc:  # noqa: BLE001 - a damaged sheet: a clear refusal, not a crash retried forever
            raise UploadRefused(f"the XLSX sheet cannot be read after row {number} "
                                f"({type(exc).__name__}: {exc})") from None
    finally:
        book.close()


def cell_text(value: object) -> str:
    """A workbook cell as the text a CSV export of it would hold: empty for an empty cell, whole
    numbers without ``.0`` (phone numbers and ids are often stored as numbers), dates as ISO
    dates, a date with a time as ISO date and time, TRUE/FALSE."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _csv_text(cells: list[str]) -> str:
    """A row's cells as one CSV line: the raw text errors.csv shows for a workbook row."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()
