"""``first_rows``: the rows a person looks at to say which one holds the column names."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.core import InputError
from importer.read import first_rows, open_table

from ..conftest import write_xlsx

TITLED = [
    ["Memberships for March"],
    [],
    ["geography_id", "department_id", "member_id", "member_type"],
    [105, 202, 10040, "User"],
    [105, 202, 10041, "User"],
]


def _csv(path: Path, rows: list[list[object]], first_line: str = "") -> Path:
    text = first_line + "".join(",".join(str(c) for c in r) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_rows_above_the_header_are_shown_with_their_numbers(tmp_path: Path, kind: str) -> None:
    """A title and a blank row come first; the header is row 3, as open_table takes it."""
    path = (
        _csv(tmp_path / "t.csv", TITLED)
        if kind == "csv"
        else write_xlsx(tmp_path / "t.xlsx", {"Members": TITLED})
    )
    seen = first_rows(path)
    assert seen.header_row == 3 == open_table(path).info.header_row
    assert seen.rows[0][0] == "Memberships for March"
    assert not any(cell.strip() for cell in seen.rows[1])  # the blank row keeps its place
    assert seen.rows[2] == ("geography_id", "department_id", "member_id", "member_type")
    assert seen.rows[3][:3] == ("105", "202", "10040")
    assert len(seen.rows) == 5


def test_a_chosen_header_row_sets_how_text_is_cut(tmp_path: Path) -> None:
    """Row 4 asked for: the delimiter is found for that row, so every row is cut in cells."""
    rows: list[list[object]] = [["Report"], ["Run by: HR"], ["Date: today"]]
    rows += [["Name", "Team", "Email"], ["Ann", "Sales", "ann@x.example"]]
    path = _csv(tmp_path / "adp.csv", rows)
    seen = first_rows(path, header_row=4)
    assert seen.header_row == 4
    assert seen.rows[3] == ("Name", "Team", "Email")
    assert seen.rows[4] == ("Ann", "Sales", "ann@x.example")


def test_limit_and_the_excel_sep_line(tmp_path: Path) -> None:
    """A first line sep=; is no row (Excel hides it); at most ``limit`` rows come back."""
    path = tmp_path / "s.csv"
    body = "geography_id;department_id;member_id;member_type\n"
    body += "".join(f"105;202;{10040 + i};User\n" for i in range(30))
    path.write_text("sep=;\n" + body, encoding="utf-8")
    seen = first_rows(path, limit=4)
    assert seen.header_row == 1
    assert len(seen.rows) == 4
    assert seen.rows[1] == ("105", "202", "10040", "User")


def test_sheets_are_listed_and_chosen(tmp_path: Path) -> None:
    """A workbook's sheets are named; asking for one shows its rows; an unknown one is refused."""
    book = write_xlsx(
        tmp_path / "b.xlsx",
        {"Members": TITLED[2:], "Notes": [["just a title"], ["more text"]]},
    )
    seen = first_rows(book, sheet="Notes")
    assert (seen.sheet, seen.sheets) == ("Notes", ("Members", "Notes"))
    assert seen.rows == (("just a title",), ("more text",))
    with pytest.raises(InputError, match="sheet 'Nope' not found"):
        first_rows(book, sheet="Nope")


def test_files_open_table_refuses_are_refused(tmp_path: Path) -> None:
    """The same file checks as open_table: an empty file, a missing one."""
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        first_rows(empty)
    with pytest.raises(InputError, match="file not found"):
        first_rows(tmp_path / "missing.csv")


def test_missing_columns_counts_name_columns_as_stand_ins() -> None:
    """An e-mail column stands for member_id and member_type; a department name for its id."""
    from importer.read import missing_columns

    assert missing_columns([]) == ["geography_id", "department_id", "member_id", "member_type"]
    assert missing_columns(["member_email", "department", "geography_id"]) == []
    assert missing_columns(["member_id", "department", "geography"]) == ["member_type"]
