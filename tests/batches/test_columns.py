"""Which column is which field (matcher/batches/columns.py, config/columns.toml): the synonyms of
common exports, a user's mapping over them, refusals naming what is wrong, full names split,
totals rows told apart and spreadsheet formulas neutralised. Expected values worked out by hand."""
from __future__ import annotations

from pathlib import Path

import pytest

from config.columns import ColumnRules, load_column_rules
from matcher.batches.columns import (FIELDS, ColumnMap, RowReader, UploadRefused, is_trailer, lead_from, neutralise,
                                     recognise, split_full_name)
from matcher.matching.types import Lead

# (header name as exports write it, our field): the list, then a few more obvious ones
SYNONYMS = [
    ("Email", "email"), ("E-mail", "email"), ("Email Address", "email"), ("Work Email", "email"),
    ("Business Email", "email"), ("E-Mail Address", "email"), ("Email 1", "email"),
    ("Company", "company"), ("Company Name", "company"), ("Organization", "company"),
    ("Organisation", "company"), ("Account Name", "company"), ("Employer", "company"),
    ("Company / Account", "company"), ("Organization Name", "company"),
    ("Country", "country"), ("Country/Region", "country"), ("Country Code", "country"),
    ("State", "region"), ("Province", "region"), ("Region", "region"), ("State/Province", "region"),
    ("City", "city"),
    ("First Name", "first_name"), ("Last Name", "last_name"), ("Full Name", "full_name"),
    ("Job Title", "title"), ("Title", "title"),
    ("Phone", "phone"), ("Mobile", "phone"), ("Phone Number", "phone"),
    ("Website", "website"), ("Company Website", "website"), ("URL", "website"),
    ("Lead ID", "lead_id"), ("Id", "lead_id"), ("Record ID", "lead_id"),
]


@pytest.mark.parametrize(("name", "field"), SYNONYMS)
def test_each_synonym_names_its_field(name: str, field: str) -> None:
    # a key column the synonym is not: 'Email' beside a company name, 'Company' beside the rest
    other = "Company" if field == "email" else "Email"
    columns = recognise([other, name])
    assert columns[field] == 1
    assert columns.used[field] == name


@pytest.mark.parametrize("name", ["EMAIL", "e_mail", " E-Mail ", "email-address", "Email.Address", "WORK EMAIL"])
def test_case_spaces_and_punctuation_do_not_matter(name: str) -> None:
    assert recognise([name]).index == {"email": 0}


def test_a_whole_export_header() -> None:
    # a HubSpot-like export: unknown columns are left alone, the used mapping is in our field order
    header = ["Record ID", "First Name", "Last Name", "Email", "Company Name", "Country/Region", "State/Region",
              "City", "Phone Number", "Website URL", "Job Title", "Lifecycle Stage"]
    columns = recognise(header)
    assert columns.index == {"email": 3, "company": 4, "country": 5, "region": 6, "city": 7, "first_name": 1,
                             "last_name": 2, "title": 10, "phone": 8, "website": 9, "lead_id": 0}
    assert list(columns.used) == ["email", "company", "country", "region", "city", "first_name", "last_name",
                                  "title", "phone", "website", "lead_id"]
    assert columns.used["company"] == "Company Name"
    assert dict(columns) == columns.index and len(columns) == 11  # a Mapping field -> index


def test_the_synonym_listed_first_wins_then_the_leftmost_column() -> None:
    # config/columns.toml lists "Work Email" before "Email": the work address says more about the company
    assert recognise(["Email", "Company", "Work Email"])["email"] == 2
    # one name twice: its first column
    assert recognise(["Company", "Email", "Email"])["email"] == 1


def test_a_mapping_wins_over_recognition() -> None:
    header = ["Org", "Company", "Mail Addr", "Phone"]
    columns = recognise(header, {"company": "Org", "email": "mail-addr", "phone": ""})
    # 'Org' by its exact text, 'mail-addr' by its name without case and punctuation, phone left unread;
    # the 'Company' column is not used for anything
    assert columns.index == {"email": 2, "company": 0}
    assert columns.used == {"email": "Mail Addr", "company": "Org"}
    # a column mapped to one field is not recognised as another
    assert recognise(["Title", "Email"], {"company": "Title"}).index == {"email": 1, "company": 0}


@pytest.mark.parametrize(("mapping", "field", "says"), [
    ({"fax": "Fax"}, "mapping.fax", "unknown field 'fax'"),
    ({"company": "Firm Name"}, "mapping.company", "no column 'Firm Name' in the header (the columns are 'Email', 'Org')"),
    ({"company": "Org", "city": "Org"}, "mapping.city", "column 'Org' is already mapped to company"),
    ({"company": 3}, "mapping.company", "a column name is text"),
])
def test_a_wrong_mapping_is_refused_naming_it(mapping: dict, field: str, says: str) -> None:
    with pytest.raises(UploadRefused) as refused:
        recognise(["Email", "Org"], mapping)
    assert refused.value.field == field
    assert refused.value.message.startswith(f"{field}: ") and says in refused.value.message


def test_no_email_and_no_company_column_is_refused_listing_the_columns() -> None:
    with pytest.raises(UploadRefused) as refused:
        recognise(["Name", "Phone", "Notes"])
    assert refused.value.field == "file"
    assert "no email or company column: the columns are 'Name', 'Phone', 'Notes'" in refused.value.message
    # a mapping that leaves the only key column unread is the same refusal
    with pytest.raises(UploadRefused, match="the columns are 'Email'"):
        recognise(["Email"], {"email": ""})
    with pytest.raises(UploadRefused, match="the columns are none"):
        recognise(["", " "])


@pytest.mark.parametrize(("full", "first", "last"), [
    ("Mary Smith", "Mary", "Smith"),
    ("  Mary   Ann  Smith ", "Mary Ann", "Smith"),
    ("Smith, Mary", "Mary", "Smith"),
    ("Ludwig van Beethoven", "Ludwig", "van Beethoven"),
    ("Vincent van der Berg", "Vincent", "van der Berg"),
    ("Van Morrison", "Van", "Morrison"),  # a particle as the first word is a first name
    ("Cher", "Cher", None),
    ("", None, None),
])
def test_full_name_split(full: str, first: str | None, last: str | None) -> None:
    particles = {"van", "der"}
    assert split_full_name(full, particles) == (first, last)


def test_a_lead_from_a_row() -> None:
    columns = recognise(["Id", "Full Name", "E-mail", "Company", "Country", "First Name", "Last Name"])
    cells = ["R7", "Ludwig van Beethoven", " LvB@Bonn.de ", "Bonn Musik", "DE", "", ""]
    # first and last name empty: the full name fills them (the particle goes with the last name)
    assert lead_from(cells, columns) == (Lead(email="LvB@Bonn.de", company="Bonn Musik", country="DE",
                                              first_name="Ludwig", last_name="van Beethoven"), "R7")
    # either one given: the full name is not used
    cells[5] = "Louis"
    assert lead_from(cells, columns)[0].first_name == "Louis" and lead_from(cells, columns)[0].last_name is None
    # cells past the end of a short row are empty
    assert lead_from(["R8", "", "a@b.com"], columns) == (Lead(email="a@b.com"), "R8")


@pytest.mark.parametrize(("cells", "trailer"), [
    (["Total", "", "", "5"], True),
    (["Totals:", "", "1,234", "12.5"], True),
    (["", "Grand Total", "3"], True),
    (["Count: 123", "", ""], True),
    (["Total attendees", "", "$1,200.00", "-4", "50%"], True),
    (["TOTAL"], True),
    (["Total", "", "x@y.com"], False),  # an email is not a number
    (["Totally Awesome Inc", "", "5"], False),  # not a totals label
    (["Acme", "", "5"], False),
    (["", "5", "7"], False),  # numbers without a label
    (["Total", "Count"], False),  # two labels
    (["", "", ""], False),
])
def test_totals_rows(cells: list[str], trailer: bool) -> None:
    assert is_trailer(cells) is trailer


@pytest.mark.parametrize(("cell", "safe"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1 555 0100", "'+1 555 0100"),
    ("-5", "'-5"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\tcmd", "'\tcmd"),
    ("\rcmd", "'\rcmd"),
    ("a=b", "a=b"),
    (" =1", " =1"),  # only the first character counts
    ("", ""),
])
def test_neutralise(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe


def test_fields_and_column_map() -> None:
    assert FIELDS == ("email", "company", "country", "region", "city", "first_name", "last_name", "full_name",
                      "title", "phone", "website", "lead_id")
    assert ColumnMap({"email": 0}).get("company") is None


def test_rules_file_is_laid_over_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "columns.toml"
    path.write_text('[synonyms]\ncompany = ["Firmenname"]\n[trailer]\nlabels = ["Anzahl"]\n', encoding="utf-8")
    rules = load_column_rules(path)
    # the company list is replaced (lists replace), the others stay
    assert recognise(["Firmenname", "Email"], rules=rules).index == {"email": 1, "company": 0}
    with pytest.raises(UploadRefused):
        recognise(["Company"], rules=rules)
    assert RowReader(ColumnMap({}), rules).is_trailer(["Anzahl", "7"])
    assert not RowReader(ColumnMap({}), rules).is_trailer(["Total", "7"])


@pytest.mark.parametrize(("toml", "says"), [
    ('[synonyms]\nfax = ["Fax"]\n', "synonyms.fax: unknown field 'fax'"),
    ('[synonyms]\nphone = ["E-Mail"]\n', "synonyms.phone: 'E-Mail' is also a name of email"),
    ('[synonyms]\nphone = ["--"]\n', "synonyms.phone: '--' has no letter or digit"),
    ('[trailer]\nlabel = ["x"]\n', "trailer.label"),
])
def test_bad_rules_are_refused_naming_the_entry(tmp_path: Path, toml: str, says: str) -> None:
    path = tmp_path / "columns.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        load_column_rules(path)


def test_the_shipped_rules_load() -> None:
    assert isinstance(load_column_rules(), ColumnRules)
