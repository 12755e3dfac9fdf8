"""Reading lead files: every row gives a lead or an error naming its line, and the rest goes on."""
from __future__ import annotations

from pathlib import Path

import pytest

from api import csvio
from matcher.matching.types import Lead


def _read(tmp_path: Path, text: str | bytes) -> list:
    path = tmp_path / "leads.csv"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return list(csvio.iter_leads(path))


def test_rows_become_leads_or_errors(tmp_path: Path) -> None:
    long = "x" * (csvio.MAX_FIELD_CHARS + 1)
    text = (
        "\ufefftitle,company,email,lead_id,extra,company\n"  # BOM, any order, unknown and repeated columns
        "CEO,Ignored Co, Jo@Acme.com ,L1,whatever,Acme Corp\n"
        "\n"  # blank line: skipped, still counted
        ",,,L3,,\n"  # neither email nor company
        "CTO,x,bob@globex.com,,e\n"  # a missing cell (the last company): empty
        "a,b,c@d.com,L5,e,f,TOO MANY\n"
        f"{long},x,e@f.com,L6,,x\n"
        '"Head of\nSales",x,ann@initech.com,L7,,Initech\n'  # a quoted newline: one row over two lines
    )
    rows = _read(tmp_path, text)
    assert [type(r).__name__ for r in rows] == ["LeadRow", "RowError", "LeadRow", "RowError", "RowError", "LeadRow"]
    first, no_key, missing, too_many, too_long, multiline = rows
    assert (first.line, first.lead_id) == (2, "L1")
    assert first.lead == Lead(email="Jo@Acme.com", company="Acme Corp", title="CEO")  # the last 'company' column
    assert (no_key.line, no_key.row_id, no_key.field) == (4, "L3", "email")
    assert (missing.line, missing.lead_id) == (5, "4")  # no lead_id: the data row's number
    assert missing.lead == Lead(email="bob@globex.com", title="CTO")
    assert (too_many.line, too_many.row_id, too_many.message) == (6, "L5", "row has more cells than the header")
    assert (too_long.line, too_long.field) == (7, "title")
    assert (multiline.line, multiline.lead.title, multiline.lead.company) == (9, "Head of\nSales", "Initech")


def test_a_file_without_lead_columns_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs an 'email' or a 'company' column"):
        _read(tmp_path, "name,phone\nAcme,123\n")
    with pytest.raises(ValueError):
        _read(tmp_path, "")


def test_an_unterminated_quote_runs_to_the_end_of_the_file(tmp_path: Path) -> None:
    # a quoted field goes on over line ends until its closing quote; without one, until the end of
    # the file: the rows before it are read, the rest of the file is that one field
    rows = _read(tmp_path, 'email,company\nx@y.com,Ok\na@b.com,"unterminated\nc@d.com,Globex\n')
    assert rows == [csvio.LeadRow(2, "1", Lead(email="x@y.com", company="Ok")),
                    csvio.LeadRow(4, "3", Lead(email="a@b.com", company="unterminated\nc@d.com,Globex"))]
    # swallowing more than a field may hold makes the row an error naming the field, not a lead
    rest = "".join(f"p{i}@d.com,Company {i}\n" for i in range(100))  # over MAX_FIELD_CHARS
    rows = _read(tmp_path, 'email,company\nx@y.com,Ok\na@b.com,"unterminated\n' + rest)
    assert rows[0] == csvio.LeadRow(2, "1", Lead(email="x@y.com", company="Ok")) and len(rows) == 2
    assert (rows[1].line, rows[1].row_id, rows[1].field) == (103, "102", "company"), rows[1]


def test_an_unreadable_row_does_not_stop_the_file(tmp_path: Path) -> None:
    rows = _read(tmp_path, b"email,company\na@b.com,Acme\n\xff\xfe,bad\nc@d.com,Globex\n")
    assert isinstance(rows[0], csvio.LeadRow) and rows[0].lead.company == "Acme"
    assert any(isinstance(r, csvio.RowError) and "cannot be parsed" in r.message for r in rows)
    assert len(rows) == 3 and rows[2] == csvio.LeadRow(4, "3", Lead(email="c@d.com", company="Globex"))
