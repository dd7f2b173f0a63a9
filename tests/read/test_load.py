"""Tests for importer.read: files -> chunks of text cells indexed by source row."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import random
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from importer.core import InputError, sha256_file
from importer.read import SourceInfo, footer_rows, open_table
from importer.read import _delimited as _delimited

HEADER = ["geography_id", "department_id", "member_id", "member_type"]


def read_all(path: Path, **kwargs: Any) -> pd.DataFrame:
    """All chunks of a file concatenated (an empty frame when there are none)."""
    table = open_table(path, **kwargs)
    chunks = list(table.chunks())
    if not chunks:
        return pd.DataFrame(columns=list(table.info.headers))
    return pd.concat(chunks)


def rows_of(frame: pd.DataFrame) -> dict[int, list[str]]:
    """{source_row: cells} of a frame."""
    return {
        int(i): list(r) for i, r in zip(frame.index, frame.itertuples(index=False), strict=True)
    }


def write_bytes(tmp_path: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``tmp_path/name``."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def write_workbook(path: Path, sheets: dict[str, list[list[Any]]], **opts: Any) -> Path:
    """An .xlsx with the given sheets; ``hidden`` names sheets to hide, ``origin`` offsets cells."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    row0, col0 = opts.get("origin", (1, 1))
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        if name in opts.get("hidden", ()):
            ws.sheet_state = "hidden"
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    ws.cell(row=row0 + r, column=col0 + c, value=value)
    wb.save(path)
    return path


# ----------------------------------------------------------------------------------------------
# delimited text


def test_csv_with_bom_and_semicolons(tmp_path: Path) -> None:
    """A UTF-8 BOM is dropped from the first header, ';' is detected, CRLF lines are fine."""
    data = "\ufeffGeography ID;Dept ID;Member;Type\r\n10;20;30;User\r\n11;21;31;Workspace\r\n"
    path = write_bytes(tmp_path, "people.csv", data.encode("utf-8"))
    table = open_table(path)
    assert table.info == SourceInfo(
        path=path,
        format="csv",
        sheet=None,
        sheets=(),
        headers=("Geography ID", "Dept ID", "Member", "Type"),
        encoding="utf-8-sig",
        delimiter=";",
    )
    assert rows_of(read_all(path)) == {
        2: ["10", "20", "30", "User"],
        3: ["11", "21", "31", "Workspace"],
    }


def test_cp1252_fallback(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are read as Windows-1252 ("Zürich" saved by old Excel)."""
    path = write_bytes(tmp_path, "people.csv", "city,member_id\nZürich,5\n".encode("cp1252"))
    table = open_table(path)
    assert table.info.encoding == "cp1252"
    assert rows_of(read_all(path)) == {2: ["Zürich", "5"]}


def test_cp1252_late_in_a_big_file(tmp_path: Path) -> None:
    """A single cp1252 byte far into the file still switches the encoding (no mojibake)."""
    body = "".join(f"{i},User\n" for i in range(300_000)) + "Zürich,User\n"
    path = write_bytes(tmp_path, "people.csv", ("member_id,member_type\n" + body).encode("cp1252"))
    frame = read_all(path)
    assert open_table(path).info.encoding == "cp1252"
    assert frame.iloc[-1].tolist() == ["Zürich", "User"]
    assert frame.index[-1] == 300_002


@pytest.mark.parametrize(
    ("name", "delimiter"),
    [("a.csv", ","), ("a.csv", ";"), ("a.tsv", "\t"), ("a.txt", "|"), ("a.txt", "\t")],
)
def test_delimiters_are_sniffed(tmp_path: Path, name: str, delimiter: str) -> None:
    """Comma, semicolon, tab and pipe files are all recognised, whatever the extension."""
    lines = [delimiter.join(HEADER), delimiter.join(["1", "2", "3", "User"])]
    path = write_bytes(tmp_path, name, ("\n".join(lines) + "\n").encode())
    table = open_table(path)
    assert table.info.delimiter == delimiter
    assert table.info.headers == tuple(HEADER)
    assert rows_of(read_all(path)) == {2: ["1", "2", "3", "User"]}


@pytest.mark.parametrize(
    ("text", "delimiter", "headers"),
    [
        (
            '"Geography, ID";Dept;"Member; ID"\n1;2;3\n',
            ";",
            ("Geography, ID", "Dept", "Member; ID"),
        ),
        ('"a;b",c,"d|e"\n1,2,3\n', ",", ("a;b", "c", "d|e")),
        ('a|"b,c;d"|e\n1|2|3\n', "|", ("a", "b,c;d", "e")),
    ],
)
def test_sniffing_ignores_quoted_delimiters(
    tmp_path: Path, text: str, delimiter: str, headers: tuple[str, ...]
) -> None:
    """Delimiters inside quoted header cells do not fool the sniffer."""
    path = write_bytes(tmp_path, "a.csv", text.encode())
    table = open_table(path)
    assert (table.info.delimiter, table.info.headers) == (delimiter, headers)
    assert rows_of(read_all(path)) == {2: ["1", "2", "3"]}


def test_blank_rows_keep_numbering(tmp_path: Path) -> None:
    """Blank lines (empty, spaces, only delimiters) are skipped but still count as rows."""
    text = "a,b\n1,2\n\n   \n,,\n , \n3,4\n\n\n"
    path = write_bytes(tmp_path, "a.csv", text.encode())
    assert rows_of(read_all(path)) == {2: ["1", "2"], 7: ["3", "4"]}


def test_leading_blank_lines_before_header(tmp_path: Path) -> None:
    """The header is the first non-blank line; its own line number starts the count."""
    path = write_bytes(tmp_path, "a.csv", b"\n\n\na,b\n1,2\n")
    assert rows_of(read_all(path)) == {5: ["1", "2"]}


def test_quoted_newline_is_one_row(tmp_path: Path) -> None:
    """A quoted value spanning lines is one row; rows are numbered by record (as Excel shows)."""
    text = 'a,b\n1,"two\nlines"\n3,4\n\n5,"x\r\ny"\n6,7\n'
    path = write_bytes(tmp_path, "a.csv", text.encode())
    assert rows_of(read_all(path)) == {
        2: ["1", "two\nlines"],
        3: ["3", "4"],
        5: ["5", "x\r\ny"],
        6: ["6", "7"],
    }


def test_text_is_kept_as_written(tmp_path: Path) -> None:
    """No stripping, no number parsing: ' 104 ', '00123', '123.0' and quotes stay as written."""
    text = 'a,b,c,d\n 104 ,00123,123.0,"say ""hi"""\n'
    path = write_bytes(tmp_path, "a.csv", text.encode())
    assert rows_of(read_all(path)) == {2: [" 104 ", "00123", "123.0", 'say "hi"']}


def test_short_rows_are_padded(tmp_path: Path) -> None:
    """Missing trailing cells are ''; rows around them keep their numbers."""
    path = write_bytes(tmp_path, "a.csv", b"a,b,c\n1,2,3\n4\n5,6\n7,8,9\n")
    assert rows_of(read_all(path)) == {
        2: ["1", "2", "3"],
        3: ["4", "", ""],
        4: ["5", "6", ""],
        5: ["7", "8", "9"],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b\n1,2,\n3,4,\n", {2: ["1", "2"], 3: ["3", "4"]}),  # trailing delimiters on data
        ("a,b\n1,2\n3,4,,\n", {2: ["1", "2"], 3: ["3", "4"]}),  # one row with empty extras
        ("a,b,\n1,2,\n", {2: ["1", "2", ""]}),  # header has the trailing delimiter too
    ],
)
def test_empty_cells_beyond_the_header_are_dropped(
    tmp_path: Path, text: str, expected: dict[int, list[str]]
) -> None:
    """Empty cells past the last header (trailing delimiters) are harmless."""
    path = write_bytes(tmp_path, "a.csv", text.encode())
    assert rows_of(read_all(path)) == expected


@pytest.mark.parametrize(
    "text",
    ["a,b\n1,2\n3,4,oops\n", "a,b\n1,2,\n3,4,oops\n5,6,\n"],
)
def test_values_beyond_the_header_are_rejected(tmp_path: Path, text: str) -> None:
    """A value in a column without a header is an InputError naming the row and the value."""
    path = write_bytes(tmp_path, "a.csv", text.encode())
    with pytest.raises(InputError, match=r"a\.csv, row 3: the value 'oops' in column 3"):
        read_all(path)


@pytest.mark.parametrize(
    ("text", "row"),
    [
        ('a,b,c\n1,2,3\n4,"5,6\n7,8,9\n', 3),  # the open quote leaves too few cells
        ('a,b\n1,2\n3,"x\n' + "y\n" * 50 + "5,6\n", 3),  # the rest of the file in one cell
    ],
)
def test_unclosed_quote(tmp_path: Path, text: str, row: int) -> None:
    """A quote that is never closed is reported with its row, not read as one giant cell."""
    path = write_bytes(tmp_path, "a.csv", text.encode())
    with pytest.raises(InputError, match=rf"a\.csv, row {row}: a quoted value is never closed"):
        read_all(path)


def test_stray_quote_inside_a_value_is_text(tmp_path: Path) -> None:
    """A quote inside an unquoted value (12" monitor) is just a character."""
    path = write_bytes(tmp_path, "a.csv", b'a,b\n12" monitor,2\n3,4\n')
    assert rows_of(read_all(path)) == {2: ['12" monitor', "2"], 3: ["3", "4"]}


def test_header_labels_are_cleaned_and_unique(tmp_path: Path) -> None:
    """Empty header cells become column_N, repeats get ' (2)', NBSP becomes a space."""
    path = write_bytes(tmp_path, "a.csv", "a,a,,Dept\xa0ID, a ,a (2)\n1,2,3,4,5,6\n".encode())
    assert open_table(path).info.headers == ("a", "a (3)", "column_3", "Dept ID", " a ", "a (2)")


def test_utf16_text_from_excel(tmp_path: Path) -> None:
    """Excel's 'Unicode Text' (UTF-16 with BOM, tab-separated) is read too."""
    path = write_bytes(tmp_path, "a.txt", "a\tb\nZürich\t2\n".encode("utf-16"))
    table = open_table(path)
    assert (table.info.encoding, table.info.delimiter) == ("utf-16", "\t")
    assert rows_of(read_all(path)) == {2: ["Zürich", "2"]}


def test_unknown_extension_with_text_is_read_as_delimited(tmp_path: Path) -> None:
    """A text file with an unexpected extension is read as delimited text."""
    path = write_bytes(tmp_path, "export.dat", b"a;b\n1;2\n")
    table = open_table(path)
    assert (table.info.format, table.info.delimiter) == ("csv", ";")


def test_header_only_gives_no_chunks(tmp_path: Path) -> None:
    """A file with only a header row is not an error: it has no data rows."""
    path = write_bytes(tmp_path, "a.csv", b"a,b\n\n\n")
    table = open_table(path)
    assert table.info.headers == ("a", "b")
    assert list(table.chunks()) == []


def test_single_column_of_commas_is_not_cut(tmp_path: Path) -> None:
    """One column whose value is "," (written by csv with ';'): the comma is the value."""
    path = write_bytes(tmp_path, "a.csv", b"col0\r\n,\r\n")
    assert rows_of(read_all(path)) == {2: [","]}


def test_single_column_file(tmp_path: Path) -> None:
    """A one-column file needs no delimiter."""
    path = write_bytes(tmp_path, "a.csv", b"member_id\n1\n\n2\n")
    assert rows_of(read_all(path)) == {2: ["1"], 4: ["2"]}


def test_row_longer_than_a_block(tmp_path: Path) -> None:
    """A record longer than the streaming block is still read, and rows after it too."""
    big = "x" * 600_000
    path = write_bytes(tmp_path, "a.csv", f"a,b\n1,2\n3,{big}\n\n5,6\n".encode())
    frame = read_all(path, chunk_rows=1)
    assert frame.index.tolist() == [2, 3, 5]
    assert frame.loc[3, "b"] == big


@pytest.mark.parametrize("chunk_rows", [1, 3, 4, 10, 250_000])
def test_chunking_keeps_rows_and_numbers(tmp_path: Path, chunk_rows: int) -> None:
    """Chunks have chunk_rows rows (the last fewer) and concatenate to the whole file."""
    lines = ["a,b"] + [f"{i},v{i}" for i in range(10)]
    lines.insert(5, "")  # a blank line shifts the numbers of the rows after it
    path = write_bytes(tmp_path, "a.csv", ("\n".join(lines) + "\n").encode())
    table = open_table(path, chunk_rows=chunk_rows)
    chunks = list(table.chunks())
    sizes = [len(c) for c in chunks]
    assert all(size == chunk_rows for size in sizes[:-1])
    assert 0 < sizes[-1] <= chunk_rows
    frame = pd.concat(chunks)
    assert frame.index.tolist() == [2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    assert frame["a"].tolist() == [str(i) for i in range(10)]
    assert frame.equals(pd.concat(table.chunks())), "a second pass reads the same"


def test_chunk_dtypes(tmp_path: Path) -> None:
    """Cells are pandas str (never NaN) and the index is an int64 'source_row'."""
    path = write_bytes(tmp_path, "a.csv", b"a,b,c\n1,,3\n")
    frame = read_all(path)
    assert all(dtype == "str" for dtype in frame.dtypes)
    assert frame.index.name == "source_row"
    assert frame.index.dtype == "int64"
    assert frame.loc[2, "b"] == ""
    assert not frame.isna().any().any()


def _reference_rows(records: list[list[str]], width: int) -> dict[int, list[str]]:
    """Rows as the loader should return them, computed with Python's csv module."""
    out = {}
    for number, record in enumerate(records, start=1):
        if number == 1 or not any(cell.strip() for cell in record):
            continue
        out[number] = record + [""] * (width - len(record))
    return out


@pytest.mark.parametrize(("seed", "group_rows"), [(1, 1), (2, 997), (3, 100_000)])
def test_many_blocks_with_odd_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, group_rows: int
) -> None:
    """Over many streaming blocks, blank, short and multi-line rows keep exact numbers."""
    monkeypatch.setattr(_delimited, "_GROUP_ROWS", group_rows)
    rng = random.Random(seed)
    records: list[list[str]] = [["a", "b", "c"]]
    for i in range(40_000):
        roll = rng.random()
        if roll < 0.01:
            records.append([])
        elif roll < 0.02:
            records.append([str(i)])
        elif roll < 0.03:
            records.append([str(i), f"line\n{i}", "z"])
        elif roll < 0.035:
            records.append([str(i), f'short, "quoted"\r\n{i}'])
        else:
            records.append([str(i), f"b{i}", "c" * rng.randint(0, 20)])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for record in records:
        if record:
            writer.writerow(record)
        else:
            buffer.write("\n")
    path = write_bytes(tmp_path, "a.csv", buffer.getvalue().encode())
    assert rows_of(read_all(path, chunk_rows=7_777)) == _reference_rows(records, 3)


_CELL = st.text(
    alphabet=st.characters(codec="cp1252", exclude_categories=("Cc", "Cs"))
    | st.sampled_from('\n\r\t,;|"'),
    max_size=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    width=st.integers(1, 4),
    cells=st.lists(st.lists(_CELL, max_size=4), max_size=12),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
)
def test_delimited_round_trip(
    tmp_path: Path, width: int, cells: list[list[str]], delimiter: str, encoding: str
) -> None:
    """Any table of text cells (rows may be short) written as CSV reads back identical.

    Short rows are padded with ""; row numbers are those of the records written. (A footer
    line at the end, or a one-column file whose cells hold another delimiter, reads otherwise.)
    """
    header = [f"col{i}" for i in range(width)]
    rows = [row[:width] for row in cells]
    padded = [[*r, *[""] * (width - len(r))] for r in rows if any(c.strip() for c in r)]
    assume(footer_rows(padded) == 0)  # footer lines are left out (tests/read/test_footer.py)
    if width == 1:
        # One column has no delimiter to find: cells cut by another delimiter into a table of
        # labels over data read as that table under a title line (as a report's would).
        assume(not any(d in c for r in rows for c in r for d in ",;\t|" if d != delimiter))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])
    data = buffer.getvalue().encode(encoding)
    if encoding == "cp1252":  # cp1252 bytes that also decode as UTF-8 are read as UTF-8
        with contextlib.suppress(UnicodeDecodeError):
            assume(data.decode("utf-8") == buffer.getvalue())
    path = tmp_path / "round.csv"
    path.write_bytes(data)
    # Python's csv counts one record per row written; the loader must agree.
    records = list(csv.reader(io.StringIO(buffer.getvalue(), newline=""), delimiter=delimiter))
    assert rows_of(read_all(path, chunk_rows=5)) == _reference_rows(records, width)


# ----------------------------------------------------------------------------------------------
# workbooks


def test_xlsx_cells_render_as_excel_shows_them(tmp_path: Path) -> None:
    """Numbers as Excel shows them, text as written, booleans and dates in a fixed form."""
    rows = [
        ["Geography ID", "Dept ID", "Member", "Type", "When"],
        [123.0, 201, " 104 ", "User", dt.date(2024, 3, 1)],
        ["00123", 10006.5, 1e20, "workspace", dt.datetime(2024, 3, 1, 9, 30)],
        [7, "123.0", True, False, dt.time(9, 30)],
    ]
    path = write_workbook(tmp_path / "people.xlsx", {"Members": rows})
    table = open_table(path)
    assert table.info == SourceInfo(
        path=path,
        format="xlsx",
        sheet="Members",
        sheets=("Members",),
        headers=("Geography ID", "Dept ID", "Member", "Type", "When"),
        encoding=None,
        delimiter=None,
    )
    assert rows_of(read_all(path)) == {
        2: ["123", "201", " 104 ", "User", "2024-03-01"],
        3: ["00123", "10006.5", "100000000000000000000", "workspace", "2024-03-01T09:30:00"],
        4: ["7", "123.0", "TRUE", "FALSE", "09:30:00"],
    }


def test_xlsx_error_cells(tmp_path: Path) -> None:
    """Error cells read as Excel shows them (#N/A, #DIV/0!), not as empty cells."""
    path = write_workbook(tmp_path / "e.xlsx", {"S": [["a", "b"], ["#N/A", "#DIV/0!"], [1, 2]]})
    wb = openpyxl.load_workbook(path)
    for cell in ("A2", "B2"):
        wb["S"][cell].data_type = "e"
    wb.save(path)
    assert rows_of(read_all(path)) == {2: ["#N/A", "#DIV/0!"], 3: ["1", "2"]}


def test_xlsx_hidden_first_sheet(tmp_path: Path) -> None:
    """The default sheet is the first visible one; all sheets are listed."""
    path = write_workbook(
        tmp_path / "people.xlsx",
        {"Lookup": [["x"], [1]], "Members": [HEADER, [1, 2, 3, "User"]], "Other": [["y"]]},
        hidden={"Lookup"},
    )
    table = open_table(path)
    assert (table.info.sheet, table.info.sheets) == ("Members", ("Lookup", "Members", "Other"))
    assert rows_of(read_all(path)) == {2: ["1", "2", "3", "User"]}


@pytest.mark.parametrize("asked", ["Second", "second", "Lookup"])
def test_xlsx_sheet_by_name(tmp_path: Path, asked: str) -> None:
    """A sheet chosen by name (case-insensitively if unambiguous, hidden ones too) is read."""
    path = write_workbook(
        tmp_path / "people.xlsx",
        {"First": [["a"], ["1"]], "Second": [["b"], ["2"]], "Lookup": [["c"], ["3"]]},
        hidden={"Lookup"},
    )
    table = open_table(path, sheet=asked)
    assert table.info.sheet.casefold() == asked.casefold()
    assert len(rows_of(read_all(path, sheet=asked))) == 1


def test_xlsx_unknown_sheet(tmp_path: Path) -> None:
    """An unknown sheet name is an InputError listing the sheets."""
    path = write_workbook(tmp_path / "people.xlsx", {"A": [["a"]], "B": [["b"]]})
    with pytest.raises(InputError) as info:
        open_table(path, sheet="X")
    assert str(info.value) == "sheet 'X' not found in people.xlsx; sheets: 'A', 'B'"


def test_xlsx_used_range_not_at_a1(tmp_path: Path) -> None:
    """Leading empty rows and columns: rows keep their sheet numbers, blank rows are skipped."""
    rows = [["Geography ID", None, "Member"], [1, None, 3], [None, None, None], [4, None, 6]]
    path = write_workbook(tmp_path / "people.xlsx", {"S": rows}, origin=(3, 2))
    table = open_table(path)
    assert table.info.headers == ("Geography ID", "Member")  # the empty column C is dropped
    assert rows_of(read_all(path)) == {4: ["1", "3"], 6: ["4", "6"]}


def test_xlsx_values_without_a_header(tmp_path: Path) -> None:
    """A column with data but no header cell gets a column_N label (N = sheet column)."""
    rows = [["a", None, "c"], [1, "note", 3], [4, None, 6]]
    path = write_workbook(tmp_path / "people.xlsx", {"S": rows})
    table = open_table(path)
    assert table.info.headers == ("a", "column_2", "c")
    assert rows_of(read_all(path)) == {2: ["1", "note", "3"], 3: ["4", "", "6"]}


@pytest.mark.parametrize("chunk_rows", [3, 100])
def test_xlsx_chunking(tmp_path: Path, chunk_rows: int) -> None:
    """Workbook chunks have chunk_rows rows and can be read twice."""
    rows = [HEADER] + [[i, i, i, "User"] for i in range(1, 11)]
    path = write_workbook(tmp_path / "people.xlsx", {"S": rows})
    table = open_table(path, chunk_rows=chunk_rows)
    first, second = list(table.chunks()), list(table.chunks())
    assert [len(c) for c in first] == ([3, 3, 3, 1] if chunk_rows == 3 else [10])
    assert pd.concat(first).equals(pd.concat(second))
    assert pd.concat(first).index.tolist() == list(range(2, 12))


def test_ods(tmp_path: Path) -> None:
    """An OpenDocument spreadsheet with leading empty rows is read like an .xlsx."""
    frame = pd.DataFrame(
        {"Geography ID": [123.0, 5.0], "Member Type": ["User", "Workspace"], "Code": ["00123", "x"]}
    )
    path = tmp_path / "people.ods"
    frame.to_excel(path, engine="odf", index=False, startrow=2, sheet_name="Members")
    table = open_table(path)
    assert (table.info.format, table.info.sheet) == ("ods", "Members")
    assert table.info.headers == ("Geography ID", "Member Type", "Code")
    assert rows_of(read_all(path)) == {4: ["123", "User", "00123"], 5: ["5", "Workspace", "x"]}


def test_xlsm_is_xlsx(tmp_path: Path) -> None:
    """.xlsm workbooks are read as xlsx."""
    path = write_workbook(tmp_path / "people.xlsm", {"S": [["a"], [1]]})
    assert open_table(path).info.format == "xlsx"


# ----------------------------------------------------------------------------------------------
# errors


def _ole_file(path: Path, encrypted: bool) -> Path:
    body = b"\x00" * 512 + ("EncryptionInfo".encode("utf-16-le") if encrypted else b"Workbook")
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + body + b"\x00" * 2048)
    return path


def _zip_file(path: Path, member: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(member, "<x/>")
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.csv", r"^file not found: .*missing\.csv$"),
        (lambda p: p, r"is a directory, not a file$"),
        (lambda p: write_bytes(p, "a.csv", b""), r"^a\.csv is empty$"),
        (lambda p: write_bytes(p, "a.xlsx", b""), r"^a\.xlsx is empty$"),
        (lambda p: write_bytes(p, "a.csv", b"\n  \r\n\t\n"), r"^a\.csv is empty"),
        (
            lambda p: write_bytes(p, "a.xlsx", bytes(range(256)) * 8),
            r"^a\.xlsx is not a valid \.xlsx workbook \(it is not a zip archive\)$",
        ),
        (
            lambda p: _zip_file(p / "a.xlsx", "word/document.xml"),
            r"^a\.xlsx is not a valid \.xlsx workbook \(it is a Word document\)$",
        ),
        (
            lambda p: _zip_file(p / "a.xlsx", "other.xml"),
            r"^a\.xlsx is not a valid \.xlsx workbook \(",
        ),
        (lambda p: _ole_file(p / "a.xlsx", True), r"^a\.xlsx is password-protected"),
        (lambda p: _ole_file(p / "a.xlsx", False), r"it is an old-style \.xls workbook"),
        (lambda p: write_bytes(p, "a.xlsx", b"a,b\n1,2\n"), r"\(it is a text file;"),
        (lambda p: write_bytes(p, "a.ods", b"\x01\x02" * 99), r"^a\.ods is not a valid \.ods"),
        (lambda p: write_bytes(p, "a.xls", bytes(range(256))), r"^a\.xls is not a valid \.xls"),
        (lambda p: _zip_file(p / "a.xls", "xl/workbook.xml"), r"it is an \.xlsx or \.ods"),
        (lambda p: _ole_file(p / "a.xls", False), r"^a\.xls is not a valid \.xls workbook \("),
        (lambda p: write_bytes(p, "a.bin", b"\x00\x01\x02" * 9), r"unsupported file type"),
        (lambda p: write_bytes(p, "a.csv", b"PK\x03\x04\x00\x00"), r"looks like an \.xlsx or"),
        (lambda p: write_bytes(p, "a.csv", b"a,b\n1,\x81\n"), r"neither UTF-8 nor Windows-1252"),
    ],
)
def test_unreadable_files(tmp_path: Path, make: Any, message: str) -> None:
    """Every unreadable input is one clear InputError line, never a raw library exception."""
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as info:
        read_all(path)
    assert "\n" not in str(info.value)


def test_empty_sheet(tmp_path: Path) -> None:
    """A sheet without any cell is reported by name."""
    path = write_workbook(tmp_path / "people.xlsx", {"Blank": [], "Data": [["a"], [1]]})
    with pytest.raises(InputError, match=r"^people\.xlsx, sheet 'Blank' is empty$"):
        open_table(path)


def test_sheet_option_on_text_file(tmp_path: Path) -> None:
    """Asking for a sheet of a CSV file is an error, not silently ignored."""
    path = write_bytes(tmp_path, "a.csv", b"a\n1\n")
    with pytest.raises(InputError, match="has no sheets"):
        open_table(path, sheet="Members")


def test_sha256_file(tmp_path: Path) -> None:
    """sha256_file is the hex SHA-256 of the bytes."""
    path = write_bytes(tmp_path, "a.csv", b"a,b\n1,2\n" * 1000)
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(InputError, match="file not found"):
        sha256_file(tmp_path / "nope.csv")
