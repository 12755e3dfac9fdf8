"""Reading what people actually upload (api/batches/reading.py): each file is bytes the test writes,
each expected row worked out by hand from them (line = the physical line a record starts on, the
header is line 1). Every non-blank record after the header comes back exactly once, as a lead or
as an error."""
from __future__ import annotations

import datetime as dt
import io
import tempfile
import zipfile
from pathlib import Path

import pytest

from api.batches import reading
from api.batches.reading import BadRow, DataRow, UploadRefused, detect_encoding, open_upload, sniff_delimiter
from api.csvio import MAX_FIELD_CHARS
from config import get_settings
from matcher.matching.types import Lead


def _upload(tmp_path: Path, data: bytes, mapping: dict | None = None):  # noqa: ANN202 - an Upload
    path = tmp_path / "upload.csv"
    path.write_bytes(data)
    return open_upload(path.open("rb"), mapping)


def _rows(tmp_path: Path, data: bytes, mapping: dict | None = None) -> list:
    return list(_upload(tmp_path, data, mapping).rows())


def test_utf8_with_bom(tmp_path: Path) -> None:
    up = _upload(tmp_path, b"\xef\xbb\xbfEmail,Company\r\njo@acme.com,Acme \xe2\x80\x93 M\xc3\xbcnchen\r\n")
    assert (up.encoding, up.delimiter, up.header) == ("utf-8-sig", ",", ["Email", "Company"])  # no BOM in 'Email'
    assert list(up.rows()) == [DataRow(2, ["jo@acme.com", "Acme – München"],
                                       Lead(email="jo@acme.com", company="Acme – München"), None)]


def test_utf8_without_bom(tmp_path: Path) -> None:
    up = _upload(tmp_path, "Email,Company\njo@x.fr,Société Générale\n".encode("utf-8"))
    assert up.encoding == "utf-8"
    assert [r.lead.company for r in up.rows()] == ["Société Générale"]


@pytest.mark.parametrize(("codec", "name"), [("utf-16", "utf-16-le"), ("utf-16-be", "utf-16-be")])
def test_utf16_with_bom(tmp_path: Path, codec: str, name: str) -> None:
    # Excel's "Unicode text": UTF-16 with a byte order mark, tab-separated
    text = "Email\tCompany\tCountry\r\nhans@mueller.de\tMüller GmbH\tDE\r\nana@x.es\tPeña SL\tES\r\n"
    data = text.encode("utf-16") if codec == "utf-16" else b"\xfe\xff" + text.encode("utf-16-be")
    assert data[:2] == (b"\xff\xfe" if codec == "utf-16" else b"\xfe\xff")  # the LE/BE mark the test means
    up = _upload(tmp_path, data)
    assert (up.encoding, up.delimiter, up.header) == (name, "\t", ["Email", "Company", "Country"])
    assert list(up.rows()) == [
        DataRow(2, ["hans@mueller.de", "Müller GmbH", "DE"], Lead(email="hans@mueller.de", company="Müller GmbH", country="DE"), None),
        DataRow(3, ["ana@x.es", "Peña SL", "ES"], Lead(email="ana@x.es", company="Peña SL", country="ES"), None),
    ]


def test_windows_1252_accents(tmp_path: Path) -> None:
    # é = E9, ü = FC, € = 80 in Windows-1252 (none of them valid UTF-8 here); 81 is a byte 1252 leaves
    # undefined: read as Latin-1 (U+0081), not an error
    data = (b"Company;Email;City\n"
            b"Soci\xe9t\xe9 G\xe9n\xe9rale;contact@socgen.fr;Paris\n"
            b"M\xfcller \x80 Co\x81;info@mueller.de;K\xf6ln\n")
    up = _upload(tmp_path, data)
    assert (up.encoding, up.delimiter) == ("cp1252", ";")
    assert list(up.rows()) == [
        DataRow(2, ["Société Générale", "contact@socgen.fr", "Paris"],
                Lead(email="contact@socgen.fr", company="Société Générale", city="Paris"), None),
        DataRow(3, ["Müller € Co\x81", "info@mueller.de", "Köln"],
                Lead(email="info@mueller.de", company="Müller € Co\x81", city="Köln"), None),
    ]


def test_one_stray_byte_in_a_utf8_file_spoils_its_row_only(tmp_path: Path) -> None:
    # three well-formed UTF-8 characters (é twice as C3 A9, ü as C3 BC) outnumber the one stray byte
    # (E9 alone): the file is UTF-8 and the row holding the stray byte is an error
    data = (b"Email,Company\n"
            b"a@x.fr,Soci\xc3\xa9t\xc3\xa9\n"
            b"b@y.fr,Caf\xe9 Bleu\n"
            b"c@z.de,M\xc3\xbcller\n")
    up = _upload(tmp_path, data)
    assert up.encoding == "utf-8"
    assert list(up.rows()) == [
        DataRow(2, ["a@x.fr", "Société"], Lead(email="a@x.fr", company="Société"), None),
        BadRow(3, "'Company': byte 0xE9 is not utf-8 text", "b@y.fr,Caf\ufffd Bleu"),
        DataRow(4, ["c@z.de", "Müller"], Lead(email="c@z.de", company="Müller"), None),
    ]


def test_an_ascii_file_with_one_high_byte_is_windows_1252(tmp_path: Path) -> None:
    # no well-formed UTF-8 at all: the lone E9 is an é of Windows-1252, not a broken row
    up = _upload(tmp_path, b"Email,Company\nb@y.fr,Caf\xe9 Bleu\n")
    assert up.encoding == "cp1252"
    assert [r.lead.company for r in up.rows()] == ["Café Bleu"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    # the other candidates appear inside the values (unquoted where they are not the delimiter)
    others = [d for d in (",", ";", "|") if d != delimiter]
    company = f"Acme{others[0]} Inc"
    lines = [["Email", "Company", "Country"], ["jo@acme.com", company, "US"], ["al@b.io", f"B{others[1]}B", "GB"]]
    data = "".join(delimiter.join(cells) + "\n" for cells in lines).encode()
    up = _upload(tmp_path, data)
    assert up.delimiter == delimiter
    assert [r.cells for r in up.rows()] == [["jo@acme.com", company, "US"], ["al@b.io", f"B{others[1]}B", "GB"]]


def test_sniffing_counts_only_outside_quotes() -> None:
    # four quoted commas per row, one semicolon outside quotes: semicolons
    assert sniff_delimiter('Email;"Company, a, b"\nx@y.com;"A, B, C, D"\n') == ";"
    # semicolons only inside quotes, more of them than commas outside: commas
    assert sniff_delimiter('Email,"Company; Division; Unit"\na@b.com,"X; Y; Z"\nc@d.com,"P; Q; R"\n') == ","
    assert sniff_delimiter("Email\nx@y.com\n") == ","  # one column: no delimiter to find
    # a header line with both: the one the rows agree with
    assert sniff_delimiter("Email;Company, legal name\na@b.com;Acme\nc@d.com;Beta\n") == ";"


def test_quoted_newlines(tmp_path: Path) -> None:
    data = (b'Email,Company,Title\n'
            b'jo@acme.com,"Acme\nEurope",CEO\n'
            b'al@b.io,Beta,"Head of\r\nSales\r\nEMEA"\n'
            b'cy@c.com,Gamma,CTO\n')
    assert _rows(tmp_path, data) == [
        DataRow(2, ["jo@acme.com", "Acme\nEurope", "CEO"], Lead(email="jo@acme.com", company="Acme\nEurope", title="CEO"), None),
        DataRow(4, ["al@b.io", "Beta", "Head of\r\nSales\r\nEMEA"],
                Lead(email="al@b.io", company="Beta", title="Head of\r\nSales\r\nEMEA"), None),
        DataRow(7, ["cy@c.com", "Gamma", "CTO"], Lead(email="cy@c.com", company="Gamma", title="CTO"), None),
    ]


def test_ragged_rows(tmp_path: Path) -> None:
    data = (b"Email,Company,Country\n"
            b"jo@acme.com,Acme\n"  # fewer cells: the missing ones are empty
            b"al@b.io\n"
            b"cy@c.com,Gamma,US,extra\n"  # more cells holding something: an error
            b"di@d.com,Delta,DE,,\n")  # a trailing delimiter (empty cells past the header): no error
    assert _rows(tmp_path, data) == [
        DataRow(2, ["jo@acme.com", "Acme", ""], Lead(email="jo@acme.com", company="Acme"), None),
        DataRow(3, ["al@b.io", "", ""], Lead(email="al@b.io"), None),
        BadRow(4, "row has 4 cells, the header has 3", "cy@c.com,Gamma,US,extra"),
        DataRow(5, ["di@d.com", "Delta", "DE"], Lead(email="di@d.com", company="Delta", country="DE"), None),
    ]


def test_blank_lines_are_skipped_not_counted(tmp_path: Path) -> None:
    data = (b"\n"  # before the header too
            b"Email,Company\r\n"
            b"\r\n"
            b"jo@acme.com,Acme\r\n"
            b"   \r\n"
            b",,\r\n"  # only empty cells: blank
            b" , \r\n"
            b"al@b.io,Beta\r\n"
            b"\r\n\r\n")
    up = _upload(tmp_path, data)
    assert up.header == ["Email", "Company"]
    assert [(r.line, r.lead.email) for r in up.rows()] == [(4, "jo@acme.com"), (8, "al@b.io")]


def test_totals_at_the_end_are_error_rows(tmp_path: Path) -> None:
    data = (b"Email,Company,Tickets\n"
            b"jo@acme.com,Acme,2\n"
            b"Total,,3\n"  # followed by more rows: not the end, read like any row ('Total' is its email)
            b"al@b.io,Beta,1\n"
            b"\n"
            b"Total,,3\n"
            b"Count: 2,,\n"
            b"\n")
    assert _rows(tmp_path, data) == [
        DataRow(2, ["jo@acme.com", "Acme", "2"], Lead(email="jo@acme.com", company="Acme"), None),
        DataRow(3, ["Total", "", "3"], Lead(email="Total"), None),
        DataRow(4, ["al@b.io", "Beta", "1"], Lead(email="al@b.io", company="Beta"), None),
        BadRow(6, "trailer row (totals)", "Total,,3"),
        BadRow(7, "trailer row (totals)", "Count: 2,,"),
    ]


def test_a_totals_label_in_the_company_column_mid_file_is_a_lead(tmp_path: Path) -> None:
    data = b"Company,Employees\nTotal,100000\nAcme,5\n"
    assert _rows(tmp_path, data) == [DataRow(2, ["Total", "100000"], Lead(company="Total"), None),
                                     DataRow(3, ["Acme", "5"], Lead(company="Acme"), None)]


def test_broken_rows_are_errors_and_the_rest_goes_on(tmp_path: Path) -> None:
    long = "x" * (MAX_FIELD_CHARS + 1)
    data = ("Email,Company,Title\n"
            'jo@acme.com,"Acme" Corp,CEO\n'  # text after a closing quote
            "al@b.io,Beta,CTO\n"
            ",,Intern\n"  # neither email nor company
            f"cy@c.com,Gamma,{long}\n"
            'di@d.com,"Delta,VP\n'  # a quote never closed: only its own line is lost
            "ed@e.com,Echo,CFO\n").encode()
    rows = _rows(tmp_path, data)
    assert rows == [
        BadRow(2, "row cannot be parsed: ',' expected after '\"'", 'jo@acme.com,"Acme" Corp,CEO'),
        DataRow(3, ["al@b.io", "Beta", "CTO"], Lead(email="al@b.io", company="Beta", title="CTO"), None),
        BadRow(4, "neither email ('Email') nor company ('Company'): a lead needs one", ",,Intern"),
        BadRow(5, f"'Title' is longer than {MAX_FIELD_CHARS} characters", f"cy@c.com,Gamma,{long}"[:1000]),
        BadRow(6, "row cannot be parsed: a quoted field is not closed", 'di@d.com,"Delta,VP'),
        DataRow(7, ["ed@e.com", "Echo", "CFO"], Lead(email="ed@e.com", company="Echo", title="CFO"), None),
    ]


def test_an_unclosed_quote_in_a_long_file_does_not_swallow_it(tmp_path: Path) -> None:
    # the quote would run to the end of the file; past what any readable row can hold it is given up
    rest = "".join(f"p{i}@d.com,Company {i}\n" for i in range(3000))
    data = f'Email,Company\nbad@x.com,"Open\n{rest}'.encode()
    rows = _rows(tmp_path, data)
    assert rows[0] == BadRow(2, "row cannot be parsed: a quoted field is not closed", 'bad@x.com,"Open')
    assert len(rows) == 3001
    assert rows[1] == DataRow(3, ["p0@d.com", "Company 0"], Lead(email="p0@d.com", company="Company 0"), None)
    assert rows[-1].line == 3002 and rows[-1].lead.company == "Company 2999"


def test_every_data_row_comes_back_once(tmp_path: Path) -> None:
    # results rows + error rows = data rows (non-blank records after the header)
    data = (b"Email,Company\n"
            b"a@a.com,A\n\n"
            b'b@b.com,"B\nB"\n'
            b"c@c.com,C,x\n"
            b",\n"
            b"d@d.com,\"D\" x\n"
            b"Total,4\n")
    rows = _rows(tmp_path, data)
    assert [(type(r).__name__, r.line) for r in rows] == [
        ("DataRow", 2), ("DataRow", 4), ("BadRow", 6), ("BadRow", 8), ("BadRow", 9)]


def test_lead_id_full_name_and_a_mapping(tmp_path: Path) -> None:
    data = b"Attendee #,Full Name,Org,Mail\n17,Mary Ann Smith,Acme,mary@acme.com\n18,\"Doe, John\",Beta,\n"
    up = _upload(tmp_path, data, {"lead_id": "attendee", "company": "Org", "email": "Mail"})
    assert up.columns.used == {"email": "Mail", "company": "Org", "full_name": "Full Name", "lead_id": "Attendee #"}
    assert list(up.rows()) == [
        DataRow(2, ["17", "Mary Ann Smith", "Acme", "mary@acme.com"],
                Lead(email="mary@acme.com", company="Acme", first_name="Mary Ann", last_name="Smith"), "17"),
        DataRow(3, ["18", "Doe, John", "Beta", ""], Lead(company="Beta", first_name="John", last_name="Doe"), "18"),
    ]


def test_refused_uploads(tmp_path: Path) -> None:
    with pytest.raises(UploadRefused) as refused:
        _upload(tmp_path, b"Name;Phone;Notes\nJo;123;x\n")
    assert "no email or company column: the columns are 'Name', 'Phone', 'Notes'" in refused.value.message
    with pytest.raises(UploadRefused, match="the file is empty"):
        _upload(tmp_path, b"")
    with pytest.raises(UploadRefused, match="the file is empty"):
        _upload(tmp_path, b"\r\n\r\n")
    with pytest.raises(UploadRefused) as refused:
        _upload(tmp_path, b"Email,Company\n", {"company": "Firm"})
    assert refused.value.field == "mapping.company"
    # binary files are said to be what they are, not "no email or company column" over their bytes
    with pytest.raises(UploadRefused, match=r"an XLS workbook \(Excel 97-2003\), which is not read") as refused:
        _upload(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00")
    assert refused.value.field == "file"
    with pytest.raises(UploadRefused, match="starts like an XLSX workbook but is not a readable one"):
        _upload(tmp_path, b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("list.csv", "email,company\n")
    with pytest.raises(UploadRefused, match="a ZIP archive but not an XLSX workbook"):
        _upload(tmp_path, archive.getvalue())


def test_the_stream_is_read_as_it_goes_and_left_open(tmp_path: Path) -> None:
    rows = "".join(f"p{i}@d.com,Company {i}\n" for i in range(200_000))  # about 5 MB
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as stream:
        stream.write(f"Email,Company\n{rows}".encode())
        size = stream.tell()
        up = open_upload(stream)
        it = up.rows()
        first = next(it)
        assert first == DataRow(2, ["p0@d.com", "Company 0"], Lead(email="p0@d.com", company="Company 0"), None)
        assert stream.tell() < size // 10  # not the whole file
        assert sum(1 for _ in it) == 199_999
        assert not stream.closed
        assert sum(1 for _ in up.rows()) == 200_000  # read again from the start


def test_column_rules_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "columns.toml"
    rules.write_text('[synonyms]\ncompany = ["Firmenname"]\n', encoding="utf-8")
    monkeypatch.setenv("LEADMATCH_COLUMN_RULES", str(rules))
    get_settings.cache_clear()
    try:
        up = _upload(tmp_path, b"Firmenname,E-Mail\nACME AG,a@acme.de\n")
    finally:
        get_settings.cache_clear()
    assert up.columns.used == {"email": "E-Mail", "company": "Firmenname"}


@pytest.mark.parametrize(("sample", "name"), [
    (b"\xef\xbb\xbfa", "utf-8-sig"),
    (b"\xff\xfea\x00", "utf-16-le"),
    (b"\xfe\xff\x00a", "utf-16-be"),
    ("Email,Company\n".encode("utf-16-le"), "utf-16-le"),  # no mark: the NUL bytes tell
    ("Email,Company\n".encode("utf-16-be"), "utf-16-be"),
    (b"plain ascii", "utf-8"),
    ("M\u00fcller".encode(), "utf-8"),
    (b"M\xfcller", "cp1252"),
])
def test_detect_encoding(sample: bytes, name: str) -> None:
    assert detect_encoding(sample).name == name


def test_bytes_io_works_too() -> None:
    up = open_upload(io.BytesIO(b"email\na@b.com\n"))
    assert [r.lead for r in up.rows()] == [Lead(email="a@b.com")]


# -- XLSX workbooks: written by the test with openpyxl, read back through the same rules --------

def _workbook(*sheets: list[list]) -> bytes:
    """An XLSX file whose sheets hold these rows (None: an empty cell; a row of None: a row with
    nothing in it, which the file leaves out)."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for n, rows in enumerate(sheets):
        sheet = book.create_sheet(f"Sheet{n + 1}")
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    sheet.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sheet_rewritten(workbook: bytes, rewrite) -> bytes:  # noqa: ANN001 - bytes -> bytes
    """The workbook with its first sheet's XML passed through ``rewrite``."""
    source, out = zipfile.ZipFile(io.BytesIO(workbook)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            body = source.read(item)
            target.writestr(item, rewrite(body) if item.filename == "xl/worksheets/sheet1.xml" else body)
    return out.getvalue()


def test_an_xlsx_workbook_is_read_like_a_csv(tmp_path: Path) -> None:
    data = _workbook([
        [None],  # row 1 empty: the header is row 2
        ["E-mail", "Company Name", "Country", "Phone", "Signed up", "Badge"],
        ["jo@acme.com", "Acme", "US", 4155550100, dt.datetime(2026, 11, 3), True],
        [None],  # row 4: blank, skipped
        ["al@beta.io", "Beta GmbH", "DE", 49.5, dt.datetime(2026, 11, 3, 9, 30), None],
        [None, None, "FR", 33123456789],  # row 6: neither email nor company
        ["x@y.com", "Gamma", None, None, None, None, "extra"],  # row 7: a cell past the header
        ["Total", 3],  # row 8: totals at the end
    ], [["email", "company"], ["not@read.com", "Second sheet"]])
    up = _upload(tmp_path, data)
    assert (up.encoding, up.delimiter) == ("xlsx", None)
    assert up.header == ["E-mail", "Company Name", "Country", "Phone", "Signed up", "Badge"]
    assert up.columns.used == {"email": "E-mail", "company": "Company Name", "country": "Country", "phone": "Phone"}
    assert list(up.rows()) == [
        DataRow(3, ["jo@acme.com", "Acme", "US", "4155550100", "2026-11-03", "TRUE"],
                Lead(email="jo@acme.com", company="Acme", country="US", phone="4155550100"), None),
        DataRow(5, ["al@beta.io", "Beta GmbH", "DE", "49.5", "2026-11-03 09:30:00", ""],
                Lead(email="al@beta.io", company="Beta GmbH", country="DE", phone="49.5"), None),
        BadRow(6, "neither email ('E-mail') nor company ('Company Name'): a lead needs one", ",,FR,33123456789"),
        BadRow(7, "row has 7 cells, the header has 6", "x@y.com,Gamma,,,,,extra"),
        BadRow(8, "trailer row (totals)", "Total,3"),  # a row is as long as its last cell
    ]


def test_xlsx_header_refusals_and_cell_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UploadRefused) as refused:
        _upload(tmp_path, _workbook([["Name", "Phone"], ["Jo", 1]]))
    assert "no email or company column: the columns are 'Name', 'Phone'" in refused.value.message
    with pytest.raises(UploadRefused, match="the file is empty"):
        _upload(tmp_path, _workbook([]))
    monkeypatch.setattr(reading, "XLSX_MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(UploadRefused, match=r"the workbook unpacks to [\d,]+ bytes, more than the 1,000 read"):
        _upload(tmp_path, _workbook([["email"], ["jo@acme.com"]]))
    assert [reading.cell_text(v) for v in (None, "x", 0.1, 1e20, -3.0, 7, False, dt.date(2026, 1, 2))] == [
        "", "x", "0.1", "1e+20", "-3", "7", "FALSE", "2026-01-02"]


def test_a_big_workbook_reads_every_row_once(tmp_path: Path) -> None:
    n = 30_000
    up = _upload(tmp_path, _workbook([["email", "company"], *([f"p{i}@d{i % 97}.com", f"Company {i}"] for i in range(n))]))
    seen = [(r.line, r.lead.email) for r in up.rows()]
    assert seen == [(i + 2, f"p{i}@d{i % 97}.com") for i in range(n)]


def test_a_workbook_whose_stated_size_is_wrong_is_read_whole(tmp_path: Path) -> None:
    # exporters write <dimension ref="A1"/> for sheets of any size; read-only openpyxl would
    # believe it and stop after the first row
    data = _workbook([["email", "company"], ["jo@acme.com", "Acme"], ["al@beta.io", "Beta"]])

    def state_one_cell(sheet: bytes) -> bytes:
        assert b'<dimension ref="A1:B3" />' in sheet
        return sheet.replace(b'<dimension ref="A1:B3" />', b'<dimension ref="A1" />')

    rows = _upload(tmp_path, sheet_rewritten(data, state_one_cell)).rows()
    assert [(r.line, r.lead.company) for r in rows] == [(2, "Acme"), (3, "Beta")]


def test_a_damaged_sheet_is_refused_saying_where(tmp_path: Path) -> None:
    data = _workbook([["email", "company"], ["jo@acme.com", "Acme"], ["al@beta.io", "Beta"]])
    cut = sheet_rewritten(data, lambda sheet: sheet[:sheet.index(b'<row r="3"')] + b'<row r="3"><c r="A3" t="inl')
    up = _upload(tmp_path, cut)  # the header is readable
    rows = up.rows()
    assert next(rows).lead.email == "jo@acme.com"
    with pytest.raises(UploadRefused, match=r"the XLSX sheet cannot be read after row 2 \(ParseError"):
        next(rows)
