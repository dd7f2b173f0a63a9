"""errors.xlsx's writer: what readers get back, the archive's shape, streaming, ReportWriter.

Readers differ on Excel's ``_xHHHH_`` escapes (written for control characters, and ``_x005F_``
before text that looks like one): calamine (fastexcel, the importer's loader) and Excel decode
them; openpyxl does not, so its values are compared after the same decoding.
"""

from __future__ import annotations

import csv
import gc
import io
import math
import os
import re
import struct
import weakref
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import fastexcel
import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.read import _zipguard as _zipguard
from importer.read import open_table
from importer.report import ReportWriter
from importer.report import _report as report
from importer.report import _xlsx as xlsx_write
from importer.report._report import ERRORS_FILE, ERRORS_XLSX
from importer.report._xlsx import XlsxSheetWriter, column_letters

SHEET = "xl/worksheets/sheet1.xml"
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
LONG = ("a&<>_x0041_\x07" * 3000)[:32_767]
TRICKY = [
    "&<>\"'",
    "a & b < c > d; &amp; is not decoded twice",
    "'=SUM(A1:A2)",  # formulas arrive escaped with an apostrophe: they stay text
    "'+1 555 0100",
    "'-5",
    "'@handle",
    "bell\x07here",
    "\x00nul and \x1f unit separator",
    "all: " + "".join(chr(c) for c in range(32) if chr(c) not in "\t\n\r"),
    "_x0041_",  # literal text in Excel's escape form
    "a_x0041_x0042_b",  # two overlapping escape forms
    "_x005F_",
    "_x0041\x07",  # an escape form completed by an escaped control character
    "_x00e9_ and _X0041_ and _x004_",
    "Zoë Ünïcödé 日本語 🙂👍🏽 e\u0301",
    "  padded both sides  ",
    "\tleading tab",
    "trailing newline\n",
    "\r",
    "line\r\nbreaks\nand\rreturns",
    " ",
    "",
    None,
    math.nan,
    "x" * 32_767,
    LONG,
]
COLUMNS = ["sheet", "source_row", "value", "error_message"]


def tricky_frame() -> pd.DataFrame:
    n = len(TRICKY)
    return pd.DataFrame(
        {
            "sheet": ["Members"] * n,
            "source_row": np.arange(2, n + 2, dtype=np.int64),
            "value": pd.Series(TRICKY, dtype=object),
            "error_message": [f"row {i}: got {v!r}"[:200] for i, v in enumerate(TRICKY)],
        }
    )


def expected(frame: pd.DataFrame) -> list[list[str | None]]:
    """The cells as text, None where nothing was written (null, NaN, "")."""
    return [
        [
            None if v is None or v == "" or (isinstance(v, float) and math.isnan(v)) else str(v)
            for v in row
        ]
        for row in frame.itertuples(index=False, name=None)
    ]


_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def excel_decode(text: str) -> str:
    """What Excel and calamine make of ``_xHHHH_``: one pass, left to right."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def write(path: Path, frame: pd.DataFrame, columns: list[str] | None = None) -> Path:
    with XlsxSheetWriter(path, "errors", columns or list(frame.columns)) as writer:
        writer.append(frame)
    return path


def by_fastexcel(path: Path) -> tuple[list[str], list[list[str | None]]]:
    batch = fastexcel.read_excel(path).load_sheet(0, dtypes="string").to_arrow()
    return list(batch.schema.names), [list(r.values()) for r in batch.to_pylist()]


def by_openpyxl(path: Path) -> list[list[Any]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    finally:
        wb.close()


# ----------------------------------------------------------------------------------------------
# what readers get back


def test_tricky_values_through_fastexcel(tmp_path: Path) -> None:
    """calamine gives back every value exactly; numbers as numbers; empty cells as nothing."""
    frame = tricky_frame()
    header, rows = by_fastexcel(write(tmp_path / "e.xlsx", frame))
    assert header == COLUMNS
    assert rows == expected(frame)


def test_tricky_values_through_openpyxl(tmp_path: Path) -> None:
    """openpyxl shows the _xHHHH_ escapes as written (it decodes none); decoded, all is exact."""
    frame = tricky_frame()
    rows = by_openpyxl(write(tmp_path / "e.xlsx", frame))
    assert rows[0] == COLUMNS
    assert [r[1] for r in rows[1:]] == frame["source_row"].tolist()  # numbers, not text
    got = [None if v is None else excel_decode(v) for v in (r[2] for r in rows[1:])]
    assert got == [r[2] for r in expected(frame)]
    raw = dict(zip(TRICKY, (r[2] for r in rows[1:]), strict=False))
    assert raw["bell\x07here"] == "bell_x0007_here"  # not decoded by openpyxl
    assert raw["_x0041_"] == "_x005F_x0041_"  # the literal text, escaped as Excel escapes it
    assert raw["\r"] == "\r"


def test_tricky_values_through_the_importers_loader(tmp_path: Path) -> None:
    """open_table (the loader a resubmission goes through) reads every cell back exactly."""
    frame = tricky_frame()
    table = open_table(write(tmp_path / "e.xlsx", frame))
    back = pd.concat(list(table.chunks()))
    assert list(table.info.headers) == COLUMNS
    assert back.index.tolist() == list(range(2, len(frame) + 2))
    want = [[v or "" for v in row] for row in expected(frame)]
    assert back.to_numpy().tolist() == want


def test_edited_with_openpyxl_and_saved_still_reads_back_exactly(tmp_path: Path) -> None:
    """openpyxl keeps the escaped text as it is, so a workbook it saves still decodes right.

    Except what openpyxl's own writer loses: it writes a CR raw (XML reads it as LF) and a cell
    of only white space without xml:space="preserve" (calamine then trims it to nothing).
    """
    frame = tricky_frame()
    path = write(tmp_path / "e.xlsx", frame)
    wb = openpyxl.load_workbook(path)
    wb.active["D2"] = "fixed by hand"
    wb.save(path)
    _, rows = by_fastexcel(path)
    want = expected(frame)
    want[0][3] = "fixed by hand"
    lost = {"\r": "", " ": "", "line\r\nbreaks\nand\rreturns": "line\nbreaks\nand\nreturns"}
    for row in want:
        row[2] = lost.get(row[2], row[2]) if row[2] is not None else None
    assert [r[2:] for r in rows] == [r[2:] for r in want]


def test_more_than_26_columns(tmp_path: Path) -> None:
    """Columns AA, AB ... and beyond ZZ get their letters; every reader puts cells in place."""
    assert [column_letters(n) for n in (1, 26, 27, 52, 53, 702, 703, 16_384)] == [
        "A", "Z", "AA", "AZ", "BA", "ZZ", "AAA", "XFD"
    ]  # fmt: skip
    labels = [f"col {i}" for i in range(1, 731)]
    frame = pd.DataFrame(
        [[f"r{r}c{c}" if (r + c) % 7 else "" for c in range(730)] for r in range(3)]
    )
    path = write(tmp_path / "wide.xlsx", frame, labels)
    header, rows = by_fastexcel(path)
    assert header == labels
    assert rows == expected(frame)
    assert by_openpyxl(path)[1:] == expected(frame)
    sheet = zipfile.ZipFile(path).read(SHEET).decode()
    assert '<c r="ABB4" t="inlineStr"><is><t>r2c729</t></is></c>' in sheet
    assert '<autoFilter ref="A1:ABB4"/>' in sheet


TEXT = st.text().filter(lambda s: "\ufffe" not in s and "\uffff" not in s)


@settings(
    max_examples=int(os.environ.get("IMPORTER_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=8))
def test_arbitrary_text_round_trips(rows: list[tuple[str, str]]) -> None:
    """Any text but U+FFFE/U+FFFF (XML cannot hold them) comes back exactly.

    (Surrogates are not generated: Arrow strings, hence the importer's, cannot hold them.)
    """
    frame = pd.DataFrame({"sheet": ["S"] * len(rows), "a": [a for a, _ in rows]})
    frame["b"] = [b for _, b in rows]
    buffer = io.BytesIO()
    with XlsxSheetWriter(buffer, "errors", ["sheet", "a", "b"]) as writer:
        writer.append(frame)
    data = buffer.getvalue()
    with _tmp_file(data) as path:
        _, back = by_fastexcel(path)
        assert back == expected(frame)
        opened = [
            [None if v is None else excel_decode(v) for v in row] for row in by_openpyxl(path)[1:]
        ]
        assert opened == expected(frame)


class _tmp_file:
    """A workbook's bytes in a temporary file (hypothesis reruns cannot share tmp_path)."""

    def __init__(self, data: bytes) -> None:
        import tempfile

        self._dir = tempfile.TemporaryDirectory()
        self.path = Path(self._dir.name) / "h.xlsx"
        self.path.write_bytes(data)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()


def test_what_xml_cannot_hold_comes_back_escaped(tmp_path: Path) -> None:
    """U+FFFE/U+FFFF and lone surrogates: written as _xFFFE_ (no crash), which calamine leaves
    as that text: XML 1.0 cannot hold them and calamine does not decode them."""
    frame = pd.DataFrame({"a": pd.Series(["x\ufffey", "\uffff", "lone \ud800"], dtype=object)})
    _, rows = by_fastexcel(write(tmp_path / "nc.xlsx", frame))
    assert rows == [["x_xFFFE_y"], ["_xFFFF_"], ["lone _xD800_"]]


def test_numbers_and_what_is_not_written(tmp_path: Path) -> None:
    """The numeric column as numbers (NaN, inf: empty); as text when its dtype is text."""
    frame = pd.DataFrame(
        {
            "source_row": [2.0, math.nan, math.inf, 1e20, -3.5],
            "n": pd.array([1, None, 3, 4, 5], dtype="Int64"),
            "t": [True, False, None, True, False],
        }
    )
    with XlsxSheetWriter(tmp_path / "n.xlsx", "errors", ["source_row", "n", "t"]) as writer:
        writer.append(frame)
        writer.append(pd.DataFrame({"x": ["007"], "y": [7], "z": ["x"]}))
    rows = by_openpyxl(tmp_path / "n.xlsx")
    assert [r[0] for r in rows[1:]] == [2, None, None, 1e20, -3.5, "007"]
    assert [r[1] for r in rows[1:]] == ["1", None, "3", "4", "5", "7"]  # not numeric: text
    assert [r[2] for r in rows[1:]] == ["true", "false", None, "true", "false", "x"]


# ----------------------------------------------------------------------------------------------
# the archive


def test_archive_parts_and_worksheet(tmp_path: Path) -> None:
    """The parts a workbook needs, plain zip records (no ZIP64), a frozen bold header, a filter."""
    path = write(tmp_path / "e.xlsx", tricky_frame())
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names[0] == "[Content_Types].xml"
        assert set(names) == {
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            SHEET,
        }
        for info in archive.infolist():
            ET.fromstring(archive.read(info))  # well-formed XML
            assert info.extra == b""  # no ZIP64 extra field: Excel refuses those on small parts
            assert info.compress_type == zipfile.ZIP_DEFLATED
        sheet_xml = archive.read(SHEET)
        workbook = ET.fromstring(archive.read("xl/workbook.xml"))
        styles = ET.fromstring(archive.read("xl/styles.xml"))
    with path.open("rb") as fh:  # the streamed part's local header: no ZIP64 there either
        fh.seek(zipfile.ZipFile(path).getinfo(SHEET).header_offset)
        local = fh.read(30)
    version, *_, name_length, extra_length = struct.unpack("<4xHHHHHIIIHH", local)
    assert (version, name_length, extra_length) == (20, len(SHEET), 0)

    sheet = ET.fromstring(sheet_xml)
    pane = sheet.find("m:sheetViews/m:sheetView/m:pane", NS)
    assert pane is not None
    assert pane.attrib == {
        "ySplit": "1",
        "topLeftCell": "A2",
        "activePane": "bottomLeft",
        "state": "frozen",
    }
    n = len(TRICKY) + 1
    auto = sheet.find("m:autoFilter", NS)
    assert auto is not None
    assert auto.get("ref") == f"A1:D{n}"
    widths = [float(c.get("width", 0)) for c in sheet.iterfind("m:cols/m:col", NS)]
    assert len(widths) == 4
    assert all(8 <= w <= 60 for w in widths)
    header = sheet.findall("m:sheetData/m:row", NS)[0]
    assert {c.get("s") for c in header} == {"1"}
    fonts = styles.findall("m:fonts/m:font", NS)
    xfs = styles.findall("m:cellXfs/m:xf", NS)
    assert fonts[int(xfs[1].get("fontId", 0))].find("m:b", NS) is not None
    sheets = workbook.findall("m:sheets/m:sheet", NS)
    assert [s.get("name") for s in sheets] == ["errors"]
    # every cell and row carries its reference: the zip guard measures such sheets fastest
    assert sheet_xml.count(b"<c ") == sheet_xml.count(b'<c r="')
    assert sheet_xml.count(b"<row") == sheet_xml.count(b'<row r="')
    scans = _zipguard.check_archive(path, max_unpacked=1 << 30)
    assert scans[SHEET].canonical  # type: ignore[union-attr]
    assert openpyxl.load_workbook(path).active.freeze_panes == "A2"


def test_header_only_is_a_valid_workbook(tmp_path: Path) -> None:
    """No rows appended (or only empty frames): a workbook with its header row."""
    with XlsxSheetWriter(tmp_path / "h.xlsx", "errors", COLUMNS) as writer:
        writer.append(tricky_frame().iloc[:0])
    path = tmp_path / "h.xlsx"
    assert by_openpyxl(path) == [COLUMNS]
    assert by_fastexcel(path) == (COLUMNS, [])
    assert list(open_table(path).info.headers) == COLUMNS
    assert b'<autoFilter ref="A1:D1"/>' in zipfile.ZipFile(path).read(SHEET)


def test_header_labels_are_escaped_too(tmp_path: Path) -> None:
    labels = ["'=HYPERLINK(x)", "a&b", " spaced ", "_x0041_", "bell\x07"]
    path = write(tmp_path / "l.xlsx", pd.DataFrame([["1"] * 5]), labels)
    assert by_fastexcel(path)[0] == labels


# ----------------------------------------------------------------------------------------------
# streaming


def _chunk(i: int, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sheet": "Members",
            "source_row": np.arange(i * n + 2, (i + 1) * n + 2),
            "value": [f"person{i}-{j}@example.com" for j in range(n)],
            "error_message": [f"member_id must be a whole number, got '{j}.5'" for j in range(n)],
        }
    ).astype({"sheet": "str", "value": "str", "error_message": "str"})


def test_appending_keeps_no_chunk(tmp_path: Path) -> None:
    """Every appended frame is freed at once, and Arrow memory does not grow with the rows."""
    live: list[int] = []
    with XlsxSheetWriter(tmp_path / "s.xlsx", "errors", COLUMNS) as writer:
        for i in range(30):
            frame = _chunk(i, 2_000)
            ref = weakref.ref(frame)
            writer.append(frame)
            del frame
            if ref() is not None:  # only a reference cycle may keep it: the collector frees that
                gc.collect()
            assert ref() is None
            live.append(pa.total_allocated_bytes())
        assert writer.rows == 60_000
    # one chunk's XML may wait for the compressing thread: a bound, not 30 chunks' worth (~30 MB)
    assert max(live[10:]) <= max(live[:10]) + (2 << 20)
    _, rows = by_fastexcel(tmp_path / "s.xlsx")
    assert len(rows) == 60_000
    assert rows[-1][:3] == ["Members", "60001", "person29-1999@example.com"]


def test_rows_past_excels_last_row_are_counted_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx_write, "EXCEL_ROWS", 101)  # 100 data rows
    with XlsxSheetWriter(tmp_path / "r.xlsx", "errors", COLUMNS) as writer:
        writer.append(_chunk(0, 60))
        writer.append(_chunk(1, 60))
        writer.append(_chunk(2, 60))
    assert (writer.rows, writer.dropped) == (100, 80)
    assert len(by_fastexcel(tmp_path / "r.xlsx")[1]) == 100


def test_xml_beyond_2_gib_is_cut_at_a_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ZIP64 a part holds at most 2 GiB: whole rows are written up to that (scaled down)."""
    monkeypatch.setattr(xlsx_write, "MAX_SHEET_XML", 20_000)
    with XlsxSheetWriter(tmp_path / "x.xlsx", "errors", COLUMNS) as writer:
        writer.append(_chunk(0, 100))
        writer.append(_chunk(1, 100))
    assert 0 < writer.rows < 100
    assert writer.rows + writer.dropped == 200
    with zipfile.ZipFile(tmp_path / "x.xlsx") as archive:
        assert archive.getinfo(SHEET).file_size <= 20_000
    assert len(by_fastexcel(tmp_path / "x.xlsx")[1]) == writer.rows


def test_abort_and_errors_remove_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    writer = XlsxSheetWriter(path, "errors", COLUMNS)
    writer.append(_chunk(0, 10))
    writer.abort()
    assert not path.exists()
    with pytest.raises(RuntimeError, match="the run failed"):
        _fail_inside(path)
    assert not path.exists()
    with (
        pytest.raises(ValueError, match="expected 4 columns"),
        XlsxSheetWriter(path, "errors", COLUMNS) as writer,
    ):
        writer.append(pd.DataFrame({"a": [1]}))
    assert not path.exists()


def _fail_inside(path: Path) -> None:
    with XlsxSheetWriter(path, "errors", COLUMNS) as writer:
        writer.append(_chunk(0, 10))
        assert path.exists()
        raise RuntimeError("the run failed")


def test_file_object_target_is_left_open(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with XlsxSheetWriter(buffer, "errors", COLUMNS) as writer:
        writer.append(_chunk(0, 5))
    assert not buffer.closed
    assert zipfile.ZipFile(buffer).testzip() is None


@pytest.mark.parametrize("name", ["", "x" * 32, "a/b", "a[1]", "'quoted'", "bell\x07"])
def test_invalid_sheet_names_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="worksheet name"):
        XlsxSheetWriter(tmp_path / "n.xlsx", name, COLUMNS)
    assert not (tmp_path / "n.xlsx").exists()


# ----------------------------------------------------------------------------------------------
# ReportWriter


def _outcomes(index: pd.Index) -> pd.DataFrame:
    n = len(index)
    return pd.DataFrame(
        {
            "status": ["failed_validation"] * n,
            "error_stage": ["validation"] * n,
            "error_field": ["member_id"] * n,
            "error_message": [f"member_id must be a whole number, got '{i}'" for i in index],
            "organization_membership_id": [None] * n,
            "note": [None] * n,
        },
        index=index,
    )


def test_report_writer_streams_errors_xlsx_like_errors_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """errors.xlsx is written at each flush of errors.csv (.part until close), with its cells."""
    monkeypatch.setattr(report, "_FLUSH_ROWS", 50)
    out = tmp_path / "out"
    writer = ReportWriter(out, ("Email", "Notes"), sheet="Members", excel=True)
    assert (out / f"{ERRORS_XLSX}.part").exists()
    for i in range(6):
        index = pd.Index(range(2 + 40 * i, 42 + 40 * i), name="source_row")
        chunk = pd.DataFrame(
            {"Email": [f"p{j}@example.com" for j in index], "Notes": ["=1+1", "a\x07b"] * 20},
            index=index,
        )
        writer.write_chunk(chunk, _outcomes(index))
        assert writer._pending_rows.get(ERRORS_FILE, 0) < 50  # flushed
    files = writer.close()
    assert files[ERRORS_XLSX] == out / ERRORS_XLSX
    assert not (out / f"{ERRORS_XLSX}.part").exists()
    with (out / ERRORS_FILE).open(encoding="utf-8-sig", newline="") as fh:
        csv_rows = list(csv.reader(fh))
    header, rows = by_fastexcel(out / ERRORS_XLSX)
    assert header == csv_rows[0]
    assert len(rows) == 240
    assert rows == [[v or None for v in row] for row in csv_rows[1:]]
    assert rows[0][3] == "'=1+1"  # formulas escaped, as in errors.csv
    assert rows[1][3] == "a\x07b"


def test_report_writer_abort_removes_errors_xlsx(tmp_path: Path) -> None:
    out = tmp_path / "out"
    writer = ReportWriter(out, ("Email",), sheet="M", excel=True)
    index = pd.Index([2, 3], name="source_row")
    writer.write_chunk(pd.DataFrame({"Email": ["a", "b"]}, index=index), _outcomes(index))
    writer.abort()
    assert list(out.iterdir()) == []


def test_report_writer_escapes_formulas_in_errors_xlsx(tmp_path: Path) -> None:
    """Cells and labels that a spreadsheet would run are escaped, as in errors.csv."""
    out = tmp_path / "out"
    writer = ReportWriter(out, ("=Email",), sheet="M", excel=True)
    index = pd.Index([5], name="source_row")
    writer.write_chunk(pd.DataFrame({"=Email": ["@x"]}, index=index), _outcomes(index))
    writer.close()
    header, rows = by_fastexcel(out / ERRORS_XLSX)
    assert header[2] == "'=Email"
    assert rows[0][:5] == ["M", "5", "'@x", "validation", "member_id"]
    assert by_openpyxl(out / ERRORS_XLSX)[1][1] == 5  # source_row: a number
