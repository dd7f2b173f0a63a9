"""Hostile and broken input files: one clear line and exit 2 (or row errors), never a crash.

Each file is built in tmp_path. The ones that could take the process down (a zip bomb, a cell at
XFD1048576, a 100 MB line) run the real CLI in a subprocess that reports its peak memory.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from importer import ImportOptions
from importer.cli._app import app
from importer.read import DEFAULT_MAX_BYTES
from importer.read._table import DEFAULT_MAX_ROWS
from importer.read._zipguard import MAX_GRID_CELLS

from ..conftest import HEADER, write_csv, write_xlsx
from ..hostile_files import (
    MB,
    ROW,
    SHEET,
    add_cells,
    big_line,
    encrypted_workbook,
    ods_workbook,
    rewrite_sheet,
    zip_bomb,
)

runner = CliRunner()


def validate(path: Path, *args: str) -> tuple[int, str]:
    """Run ``importer validate --quiet`` in-process: (exit code, stderr); never a traceback."""
    out = str(path.parent / "o")
    result = runner.invoke(app, ["validate", str(path), "--out", out, "--quiet", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr


def put(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``; return the path."""
    path.write_bytes(data)
    return path


def refused(path: Path, *args: str) -> str:
    """Validate ``path``: exit 2 and exactly one ``error: ...`` line naming the file; return it."""
    code, stderr = validate(path, *args)
    lines = stderr.strip().splitlines()
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert path.name in lines[0]
    return lines[0]


def errors_of(path: Path) -> list[dict[str, str]]:
    """The rows of the errors.csv written next to ``path``."""
    with (path.parent / "o" / "errors.csv").open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def baseline_peak(tmp_path: Path) -> int:
    """Peak RSS (MB) of the same CLI validating a one-row file: imports and interpreter."""
    small = tmp_path / "baseline" / "ok.csv"
    small.parent.mkdir()
    small.write_text("geography_id,department_id,member_id,member_type\n105,202,10010,User\n")
    return cli_with_peak(small, small.parent)[1]


def cli_with_peak(path: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """``python -m importer.cli validate path`` in a subprocess: (process, peak RSS in MB)."""
    peak = tmp_path / "peak"
    code = (
        "import atexit, resource, sys\n"
        "out = sys.argv.pop(1)\n"
        "atexit.register(lambda: open(out, 'w').write("
        "str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))\n"
        "from importer.cli._app import main\n"
        "main()\n"
    )
    args = ["validate", str(path), "--out", str(tmp_path / "o"), "--quiet"]
    proc = subprocess.run(
        [sys.executable, "-c", code, str(peak), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}: {proc.stderr[-2000:]}"
    rss = int(peak.read_text()) if peak.exists() else 0
    return proc, rss // (MB if sys.platform == "darwin" else 1024)


# ----------------------------------------------------------------------------------------------
# files that cannot be read: exit 2, one line


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: put(p / "empty.csv", b""), "is empty"),
        (lambda p: write_csv(p / "head.csv", []), "header row but no data rows"),
        (lambda p: write_xlsx(p / "head.xlsx", {"M": [HEADER]}), "header row but no data rows"),
        (lambda p: write_csv(p / "noh.csv", [ROW], header=["101", "2", "1", "x"]), "no header"),
        (lambda p: put(p / "junk.csv", b"\x00" + os.urandom(4096)), "binary data"),
        (lambda p: put(p / "junk.xlsx", b"\x00" + os.urandom(4096)), "not a zip archive"),
        (lambda p: put(p / "junk", b"\x00\xff" * 999), "unsupported file type"),
    ],
    ids=["empty", "header-only-csv", "header-only-xlsx", "no-header", "binary-csv", "binary-xlsx",
         "binary-no-extension"],
)  # fmt: skip
def test_unreadable_files_exit_2_with_one_line(tmp_path: Path, make, needle: str) -> None:
    """Empty, header only, no header, binary garbage: exit 2, one line naming the file."""
    assert needle in refused(make(tmp_path))


def test_other_documents_renamed_xlsx(tmp_path: Path) -> None:
    """A .docx or a plain .zip renamed .xlsx is named for what it is."""
    docx, plain = tmp_path / "report.xlsx", tmp_path / "archive.xlsx"
    with zipfile.ZipFile(docx, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("people.csv", "a,b\n1,2\n")
    assert "Word document" in refused(docx)
    assert "zip archive, not a workbook" in refused(plain)


def test_password_protected_workbook(tmp_path: Path) -> None:
    """An encrypted workbook (CFB container with EncryptionInfo) says to remove the password."""
    assert "password-protected" in refused(encrypted_workbook(tmp_path / "secret.xlsx"))


def test_zip_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    """A 200 KB .xlsx declaring 200 MB of sheet XML is refused from its directory alone."""
    path = zip_bomb(tmp_path / "bomb.xlsx", 200)
    assert path.stat().st_size < MB
    assert "looks like a zip bomb" in refused(path)


def test_zip_bomb_lying_about_its_sizes(tmp_path: Path) -> None:
    """The same bomb declaring tiny sizes is caught while unpacking: bounded work (subprocess)."""
    path = zip_bomb(tmp_path / "bomb.xlsx", 200, lie=True)
    proc, peak = cli_with_peak(path, tmp_path)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: bomb.xlsx is not a valid .xlsx workbook (damaged zip archive:")
    assert "holds more than the" in line
    assert peak - baseline_peak(tmp_path) < 200, f"peak memory {peak} MB"


def test_phantom_dimension_allocates_nothing(tmp_path: Path) -> None:
    """<dimension ref="A1:XFD1048576"/> over two real rows reads as two rows."""
    path = rewrite_sheet(
        tmp_path / "phantom.xlsx",
        lambda d: d.replace(b'<dimension ref="A1:D2" />', b'<dimension ref="A1:XFD1048576" />'),
    )
    assert b"XFD1048576" in zipfile.ZipFile(path).read(SHEET)
    assert validate(path) == (0, "")


@pytest.mark.parametrize(
    ("cells", "needle"),
    [
        ('<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', "XFD1048576"),
        ('<row r="9"><c r="XFD9"><v>1</v></c></row><row r="5000"><c r="A5000"><v>1</v></c></row>',
         "A5000"),
        ('<row r="999999"><c r="AN999999"><v>1</v></c></row>', "AN999999"),
        ('<row r="2000000"><c r="A2000000"><v>1</v></c></row>', "beyond Excel"),
        ("<row>" + "<c><v>1</v></c>" * 16_000 + '</row><row r="3000"><c r="A3000"/></row>',
         "used range"),
        ('<x:row xmlns:x="urn:x" r="1048576"><x:c r="XFD1048576"><x:v>1</x:v></x:c></x:row>',
         "XFD1048576"),
    ],
    ids=["far-corner", "wide-then-long", "wide-and-long", "beyond-excel", "cells-without-refs",
         "prefixed"],
)  # fmt: skip
def test_far_cells_are_refused_not_allocated(tmp_path: Path, cells: str, needle: str) -> None:
    """A used range of billions of cells is refused (calamine would abort the process)."""
    line = refused(rewrite_sheet(tmp_path / "far.xlsx", add_cells(cells)))
    assert needle in line
    assert "sheet 'Members'" in line


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ('<table:table-row table:number-rows-repeated="1000000"><table:table-cell '
         'table:number-columns-repeated="20" office:value-type="string"><text:p>x</text:p>'
         "</table:table-cell></table:table-row>", "1,000,002 rows x 20 columns"),
        ('<table:table-row table:number-rows-repeated="1048000"><table:table-cell '
         'table:number-columns-repeated="16383"/><table:table-cell office:value-type="string">'
         "<text:p>x</text:p></table:table-cell></table:table-row>", "x 16,384 columns"),
    ],
    ids=["repeated-values", "far-corner"],
)  # fmt: skip
def test_ods_repeats_are_refused_not_expanded(tmp_path: Path, rows: str, needle: str) -> None:
    """A 1 KB .ods repeating a cell millions of times is refused before calamine expands it."""
    path = ods_workbook(tmp_path / "repeats.ods", rows)
    assert path.stat().st_size < 2048
    line = refused(path)
    assert "sheet 'Members'" in line
    assert needle in line


def test_ods_trailing_empty_repeats_are_free(tmp_path: Path) -> None:
    """LibreOffice's million empty rows and 1,024 empty columns at a sheet's end read fine."""
    tail = ('<table:table-row table:number-rows-repeated="1048574"><table:table-cell '
            'table:number-columns-repeated="1024"/></table:table-row>')  # fmt: skip
    assert validate(ods_workbook(tmp_path / "lo.ods", tail)) == (0, "")


def test_far_cell_end_to_end_in_a_subprocess(tmp_path: Path) -> None:
    """The real CLI on a cell at XFD1048576: exit 2 with a line, no abort, modest memory."""
    path = rewrite_sheet(
        tmp_path / "far.xlsx", add_cells('<row r="1048576"><c r="XFD1048576"/></row>')
    )
    proc, peak = cli_with_peak(path, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "XFD1048576" in proc.stderr
    assert peak - baseline_peak(tmp_path) < 200, f"peak memory {peak} MB"


def test_wide_sheet_within_limits_is_read(tmp_path: Path) -> None:
    """60 columns x a few rows (a legit wide export) passes the extent checks."""
    header = [*HEADER, *(f"extra {i}" for i in range(56))]
    path = write_xlsx(tmp_path / "wide.xlsx", {"M": [header, [*ROW, *range(56)]]})
    assert validate(path) == (0, "")
    assert MAX_GRID_CELLS >= 1_048_576 * 32


def test_mixed_delimiters_give_row_errors(tmp_path: Path) -> None:
    """A ';' row in a ',' file: a row error naming the row and the columns, not a crash."""
    path = tmp_path / "mixed.csv"
    path.write_text(",".join(HEADER) + "\n105,202,10010,User\n105;202;10011;User\n")
    assert validate(path)[0] == 1
    (row,) = errors_of(path)
    assert row["source_row"] == "3"
    assert row["error_field"].startswith("geography_id")
    assert "'105;202;10011;User'" in row["error_message"]


def test_ragged_rows(tmp_path: Path) -> None:
    """Short rows are row errors ("is required"); a value beyond the header is exit 2 by row."""
    short = tmp_path / "short.csv"
    short.write_text(",".join(HEADER) + "\n105,202,10010,User\n105,202\n")
    assert validate(short)[0] == 1
    assert errors_of(short)[0]["error_message"] == "member_id is required; member_type is required"
    long = tmp_path / "long.csv"
    long.write_text(",".join(HEADER) + "\n105,202,10010,User\n105,202,10011,User,oops\n")
    assert "row 3: the value 'oops' in column 5" in refused(long)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"geography_id\x00,department_id", "not a text file (it holds binary data)"),
        ("geography_id,department_id".encode("utf-16-le"), "UTF-16 text without a byte-order"),
        (b"a,b\n" + b"1,2\n" * 5000 + b"3,\x004\n", "line 5002: a NUL byte (0x00) at offset 20,"),
        (b"a,b\n1,2\n3,\x81\n", "neither UTF-8 nor Windows-1252 text (byte 0x81 at offset 10,"),
    ],
    ids=["nul-at-start", "utf16-no-bom", "nul-deep-inside", "undecodable"],
)  # fmt: skip
def test_nul_bytes_and_bad_encodings(tmp_path: Path, data: bytes, needle: str) -> None:
    """NUL bytes anywhere and undecodable bytes are exit 2 naming the line and offset."""
    path = tmp_path / "bytes.csv"
    path.write_bytes(data)
    assert needle in refused(path)


def test_latin1_text_is_read_not_refused(tmp_path: Path) -> None:
    """Invalid UTF-8 that is valid Windows-1252 (an accented name) is read as such."""
    path = tmp_path / "latin.csv"
    path.write_bytes(",".join([*HEADER, "name"]).encode() + b"\n105,202,10010,User,Zo\xeb\n")
    assert validate(path) == (0, "")


def test_100_mb_single_line(tmp_path: Path) -> None:
    """A 100 MB line: refused fast with the row it follows, memory bounded (subprocess)."""
    head = (",".join(HEADER) + "\n105,202,10010,User\n").encode()
    path = big_line(tmp_path / "long.csv", head, 100, b"\n105,202,10011,User\n")
    proc, peak = cli_with_peak(path, tmp_path)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "long.csv, line 3: longer than 16 MB" in line
    assert peak < 500, f"peak memory {peak} MB"
    no_breaks = big_line(tmp_path / "one.csv", b"", 100, b"")
    assert "no complete header row in its first 1 MB" in refused(no_breaks)
    path.unlink()
    no_breaks.unlink()


def test_huge_cells_and_headers(tmp_path: Path) -> None:
    """A 2 MB cell, a 5,000-character header cell, 20,000 header cells: exit 2, named."""
    cell = tmp_path / "cell.csv"
    cell.write_text(
        ",".join(HEADER) + "\n105,202,10010,User\n105,202,10011," + "U" * (2 * MB) + "\n"
    )
    assert "row 3, column 'member_type': a cell of 2,097,152 characters" in refused(cell)
    label = tmp_path / "label.csv"
    label.write_text(",".join([*HEADER, "n" * 5000]) + "\n105,202,10010,User,x\n")
    assert "header cell 5 is 5,000 characters long" in refused(label)
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join([*HEADER, *(f"c{i}" for i in range(20_000))]) + "\n1,2,3,User\n")
    assert "the header row has 20,004 cells" in refused(wide)


def test_merged_cells_read_as_the_person_sees_them(tmp_path: Path) -> None:
    """A value merged over rows 2-4 counts for rows 3-4 too (issue 15: what the person sees)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Members"
    for row in [HEADER, ROW, [None, 202, 10011, "User"], [None, 202, 10012, "User"]]:
        ws.append(row)
    ws.merge_cells("A2:A4")
    wb.save(tmp_path / "merged.xlsx")
    assert validate(tmp_path / "merged.xlsx")[0] == 0
    assert errors_of(tmp_path / "merged.xlsx") == []


def test_formulas_without_cached_values_give_row_errors(tmp_path: Path) -> None:
    """A formula never calculated (no saved result) reads as empty: a row error saying why."""
    rows = [HEADER, ["=100+5", 202, 10010, "User"]]
    path = write_xlsx(tmp_path / "formulas.xlsx", {"Members": rows})
    assert b"<f>100+5</f>" in zipfile.ZipFile(path).read(SHEET)
    assert validate(path)[0] == 1
    (row,) = errors_of(path)
    assert (row["source_row"], row["error_field"]) == ("2", "geography_id")
    assert row["error_message"] == (
        "geography_id is required (cell A2 is a formula that was never calculated: the file "
        "was saved without its values; open it in Excel and save it)"
    )


def test_limits_have_sane_defaults_and_flags(tmp_path: Path) -> None:
    """--max-rows and --max-file-mb refuse with exit 2; defaults are 5M rows, 1 GiB / 200 MiB."""
    assert ImportOptions().max_rows == DEFAULT_MAX_ROWS == 5_000_000
    assert ImportOptions().max_file_bytes is None
    assert DEFAULT_MAX_BYTES["csv"] == 1 << 30
    assert DEFAULT_MAX_BYTES["xlsx"] == 200 * MB
    rows = [[105, 202, 10010 + i, "User"] for i in range(30)]
    csv_file = write_csv(tmp_path / "a.csv", rows)
    xlsx_file = write_xlsx(tmp_path / "a.xlsx", {"M": [HEADER, *rows]})
    assert "more than 25 data rows" in refused(csv_file, "--max-rows", "25")
    assert "more than 25 data rows" in refused(xlsx_file, "--max-rows", "25")
    assert validate(csv_file, "--max-rows", "30") == (0, "")
    notes = "n" * 600_000
    big = write_csv(tmp_path / "big.csv", [[*ROW, notes], [105, 202, 10011, "User", notes]],
                    header=[*HEADER, "notes"])  # fmt: skip
    assert "MB limit for text files" in refused(big, "--max-file-mb", "1")
    assert validate(big, "--max-file-mb", "2") == (0, "")
