"""Fuzzing the loader and the validator: any bytes in -> a result or an InputError, nothing else.

Bounded for CI: ``IMPORTER_FUZZ_EXAMPLES`` examples per test (default 100, no Hypothesis
deadline). For a longer hunt: ``IMPORTER_FUZZ_EXAMPLES=5000 pytest tests/read/test_fuzz.py``.

No example can hang the suite: workbooks are read in a child process (``importer.read``) stopped
after :data:`READ_TIMEOUT` seconds, which makes a reader that never returns an InputError like
any other; a file that once did (calamine looping on a stray ``<`` in an .ods) stays as
``fixtures/hangs-calamine.ods``. Text files are read in this process: pyarrow's CSV reader does
work linear in the bytes (see ``importer.read._child``).

Atheris is not used: its coverage guidance only sees Python code, while the parsers that matter
here are native (pyarrow's CSV reader in C++, calamine in Rust) and would need rebuilding with
libFuzzer instrumentation; the Python around them is small and branchy in ways Hypothesis's
structured strategies (below) reach directly, in bounded time, on every platform CI runs.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.core import ImportOptions, InputError
from importer.jobs import ImportResult, validate_file
from importer.read._zipguard import greater_than

from ..hostile_files import ods_workbook

HEADER = ["geography_id", "department_id", "member_id", "member_type"]
SHEET = "xl/worksheets/sheet1.xml"
READ_TIMEOUT = 15.0  # seconds a workbook example may take before its reader is stopped
FIXTURES = Path(__file__).parent / "fixtures"
FUZZ = settings(
    max_examples=int(os.environ.get("IMPORTER_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def outcome(name: str, data: bytes, read_timeout: float = READ_TIMEOUT) -> ImportResult | None:
    """Validate ``data`` saved as ``name``: the result, or None after a clean one-line error."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            result = validate_file(
                path, out_dir=Path(folder) / "out", options=ImportOptions(read_timeout=read_timeout)
            )
        except InputError as exc:
            message = str(exc)
        else:
            message = ""
    if message:
        assert message.strip()
        assert "\n" not in message
        return None
    assert result.exit_code in (0, 1)
    assert result.counts["rows"] == result.counts["valid"] + result.counts["failed_validation"]
    return result


def _workbook() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Members"
    for row in [HEADER, [105, 202, 10010, "User"], [106, 203, "x", "Team"]]:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


WORKBOOK = _workbook()


def with_sheet(xml: bytes) -> bytes:
    """The workbook above with its sheet XML replaced."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(WORKBOOK)) as src, zipfile.ZipFile(buffer, "w") as out:
        for info in src.infolist():
            out.writestr(info.filename, xml if info.filename == SHEET else src.read(info))
    return buffer.getvalue()


SHEET_XML = zipfile.ZipFile(io.BytesIO(WORKBOOK)).read(SHEET)
SUFFIXES = st.sampled_from([".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods", ".bin", ""])


@FUZZ
@given(data=st.binary(max_size=4096), suffix=SUFFIXES)
def test_any_bytes_under_any_name(data: bytes, suffix: str) -> None:
    """Arbitrary bytes, whatever the extension: a result or one InputError line."""
    outcome(f"input{suffix}", data)


@FUZZ
@given(tail=st.binary(max_size=2048), bom=st.sampled_from([b"", codecs.BOM_UTF8]))
def test_bytes_after_a_good_header(tail: bytes, bom: bytes) -> None:
    """A valid header followed by arbitrary bytes reaches validation, or fails cleanly."""
    outcome("people.csv", bom + ",".join(HEADER).encode() + b"\r\n" + tail)


@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(0, len(WORKBOOK) - 1), st.integers(0, 255)), max_size=8),
    cut=st.integers(len(WORKBOOK) // 2, len(WORKBOOK)),
)
def test_damaged_workbook(edits: list[tuple[int, int]], cut: int) -> None:
    """A real .xlsx with bytes flipped and its end cut off: a result or one InputError line."""
    data = bytearray(WORKBOOK)
    for position, value in edits:
        data[position] = value
    outcome("damaged.xlsx", bytes(data[:cut]))


_REF = st.from_regex(r"\A[A-Za-z]{0,4}[0-9]{0,8}\Z")
_FRAGMENT = st.one_of(
    _REF.map(lambda ref: f'<c r="{ref}"><v>1</v></c>'),
    _REF.map(lambda ref: f'<row r="{ref}">'),
    st.sampled_from(["<c>", "</c>", "<row>", "</row>", "<v>", "</v>", '<c t="s"><v>99</v></c>',
                     '<c t="e"><v>#N/A</v></c>', '<c t="inlineStr"><is><t>x</t></is></c>', "<x:c>",
                     "<![CDATA[<c>]]>", "&amp;", "&#0;", "<f>1+1</f>", "</sheetData>"]),
    st.text(max_size=20),
)  # fmt: skip


@FUZZ
@given(fragments=st.lists(_FRAGMENT, max_size=12), at=st.integers(0, len(SHEET_XML)))
def test_mangled_sheet_xml(fragments: list[str], at: int) -> None:
    """Cell references, tags and text spliced into a sheet's XML: a result or an InputError."""
    xml = SHEET_XML[:at] + "".join(fragments).encode("utf-8", "surrogatepass") + SHEET_XML[at:]
    outcome("mangled.xlsx", with_sheet(xml))


# Small repeats, or ones past a sheet's limits (in between: legit big sheets, merely slow).
_REPEAT = st.one_of(st.integers(0, 60), st.sampled_from([20_000, 1_048_577, 2**31])).map(str)
_ODS_FRAGMENT = st.one_of(
    _REPEAT.map(lambda n: f'<table:table-row table:number-rows-repeated="{n}">'),
    _REPEAT.map(lambda n: f'<table:table-cell table:number-columns-repeated="{n}"/>'),
    _REPEAT.map(
        lambda n: f'<table:table-cell table:number-columns-repeated="{n}" '
        'office:value-type="string"><text:p>x</text:p></table:table-cell>'
    ),
    st.sampled_from(["<table:table-row>", "</table:table-row>", "<table:table-cell>",
                     "</table:table-cell>", '<table:table table:name="Other">', "</table:table>",
                     "<table:table-row-group>", "<table:covered-table-cell/>", "<text:p>"]),
    st.text(max_size=10),
)  # fmt: skip


@FUZZ
@given(fragments=st.lists(_ODS_FRAGMENT, max_size=10))
def test_mangled_ods(fragments: list[str]) -> None:
    """Repeated rows and cells spliced into an .ods: a result or an InputError, fast."""
    with tempfile.TemporaryDirectory() as folder:
        path = ods_workbook(Path(folder) / "in.ods", "".join(fragments).replace("\x00", ""))
        data = path.read_bytes()
    outcome("mangled.ods", data)


def test_the_mangled_ods_that_hung_the_suite() -> None:
    """The 817-byte .ods test_mangled_ods once made (calamine never returned): one line now."""
    data = (FIXTURES / "hangs-calamine.ods").read_bytes()
    assert outcome("hangs-calamine.ods", data, read_timeout=3) is None


_CELL = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)) | st.sampled_from("\",;|\t\r\n'=+-@ "),
    max_size=12,
)


@FUZZ
@given(
    rows=st.lists(st.lists(_CELL, max_size=6), max_size=15),
    header=st.lists(_CELL, max_size=5).map(lambda extra: HEADER + extra),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONE]),
)
def test_structured_csv(
    rows: list[list[str]], header: list[str], delimiter: str, encoding: str, quoting: int
) -> None:
    """Valid-ish CSV with random cells, quotes and delimiters: a result or an InputError."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, escapechar="\\")
    try:
        writer.writerows([header, *rows])
    except csv.Error:
        return  # QUOTE_NONE cannot write some cells at all
    data = buffer.getvalue().encode(encoding, errors="replace")
    outcome("people.csv", data)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 10**9), m=st.integers(0, 10**12))
def test_greater_than_regex(n: int, m: int) -> None:
    """The regex the sheet guard uses matches exactly the numbers greater than n."""
    pattern = re.compile(greater_than(n))
    assert bool(pattern.fullmatch(str(m))) is (m > n)
    assert pattern.fullmatch(str(n + 1))
    assert not pattern.fullmatch(str(n))
