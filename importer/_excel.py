"""Workbooks (.xlsx/.xlsm/.xls/.ods) for :mod:`importer.load`, read through calamine.

fastexcel lists the sheets and parses the chosen one once into Arrow (python-calamine tells which
sheets are hidden when there are several and none was asked for). Every cell comes as text:
numbers as Excel's General format shows them (``123.0`` -> ``"123"``), text as written. Row ``i``
of the batch is sheet row ``i + 1`` because leading empty rows are kept (``skip_rows=0``). The
rest is vectorised Arrow work: booleans -> ``TRUE``/``FALSE``, ``2024-03-01 00:00:00`` ->
``2024-03-01``, other date-times to ISO ``2024-03-01T09:30:00``, time-only cells to ``09:30:00``,
error cells to ``#N/A`` and the like.

Known limits: calamine renders fractions with at most 9 decimals (``1/3`` -> ``0.333333333``,
``2.5e-10`` -> ``0``); a text cell holding exactly ``true``/``false`` or ``2024-03-01 00:00:00`` is
indistinguishable from a boolean/date cell once rendered, and is shown like one.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastexcel
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import python_calamine

from importer import _zipguard
from importer.errors import InputError
from importer.load import (
    blank_cells,
    blank_rows,
    check_header,
    drop_blank_rows,
    header_labels,
    looks_like_text,
)

_ZIP = b"PK"
_OLE = bytes.fromhex("d0cf11e0a1b11ae1")
_ENCRYPTED_MARK = "EncryptionInfo".encode("utf-16-le")
_ERRORS = {
    "NA": "#N/A",
    "Div0": "#DIV/0!",
    "Value": "#VALUE!",
    "Ref": "#REF!",
    "Name": "#NAME?",
    "Num": "#NUM!",
    "Null": "#NULL!",
    "GettingData": "#GETTING_DATA",
}
_ERROR_DETAIL = re.compile(r"Error\((\w+)\)")
_LOOKS_DATED = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
_DATE_FIXES = (
    (r"^1899-12-3[01] (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$", r"\1"),  # a time without a date
    (r"^(\d{4}-\d{2}-\d{2}) 00:00:00$", r"\1"),  # a date
    (r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$", r"\1T\2"),  # a date and time
)
_BOOLEANS = pa.array(["true", "false"])


@dataclass(frozen=True)
class SheetData:
    """The chosen sheet: its name, all sheet names, header labels, data cells and row numbers."""

    sheet: str
    sheets: tuple[str, ...]
    headers: tuple[str, ...]
    cells: pa.Table
    rows: np.ndarray


def read_sheet(
    path: Path, fmt: str, sheet: str | None, *, max_unpacked: int, max_memory: int | None = None
) -> SheetData:
    """Read one sheet (default: the first visible worksheet) of a workbook.

    ``max_unpacked`` bounds what a zip-based workbook may unpack to (see :mod:`_zipguard`);
    ``max_memory`` what reading its sheet may need, estimated from the unpacked size.
    """
    scans = _check_container(path, fmt, max_unpacked)
    _zipguard.check_ods(path, scans)
    if max_memory is not None and fmt == "ods":  # calamine reads every table on opening
        _zipguard.check_memory(path, None, path.name, max_memory)
    with _calamine(path):
        reader = fastexcel.read_excel(path)
        sheets = tuple(reader.sheet_names)
    if sheet is not None:
        chosen = _choose(path, sheets, sheet)
    elif len(sheets) == 1:
        chosen = sheets[0]
    else:
        chosen = _first_visible(path)
    where = f"{path.name}, sheet {chosen!r}"
    if scans:
        _zipguard.check_sheet(path, scans, chosen, where)
        if max_memory is not None and fmt != "ods":
            _zipguard.check_memory(path, chosen, where, max_memory)
    with _calamine(path):
        loaded = reader.load_sheet(chosen, header_row=None, skip_rows=0, dtypes="string")
        batch, errors = loaded.to_arrow_with_errors()
        positions = [column.absolute_index + 1 for column in loaded.available_columns()]
    cells = _render(batch, errors)
    blank = blank_rows(cells)
    if cells.num_rows == 0 or blank.all():
        raise InputError(f"{where} is empty", path=str(path))
    header_index = int(np.argmin(blank))
    header = [str(v) for v in cells.slice(header_index, 1).to_pylist()[0].values()]
    check_header(header, where, path)
    labels = header_labels(header, positions)
    data = cells.slice(header_index + 1)
    rows = np.arange(header_index + 2, header_index + 2 + data.num_rows, dtype=np.int64)
    keep = [
        i
        for i, cell in enumerate(header)
        if cell.strip() or not pc.all(blank_cells(data.column(i))).as_py()
    ]
    data = data.select(keep).rename_columns([f"f{i}" for i in range(len(keep))])
    data, rows = drop_blank_rows(data, rows)
    return SheetData(chosen, sheets, tuple(labels[i] for i in keep), data, rows)


def _check_container(path: Path, fmt: str, max_unpacked: int) -> dict[str, _zipguard.Scan]:
    """Recognise files that are not what their extension says before calamine sees them.

    Returns the measures of a zip workbook's worksheets (empty for .xls).
    """
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        head = fh.read(8192)
    if fmt == "xls":
        if head.startswith(_ZIP):
            hint = "it is an .xlsx or .ods workbook; give it that extension"
        elif head.startswith(_OLE):
            return {}
        elif looks_like_text(head):
            hint = "it is a text or HTML file; save it as a real workbook or as .csv"
        else:
            hint = "it is not an Excel file"
        raise InputError(f"{path.name} is not a valid {suffix} workbook ({hint})", path=str(path))
    if head.startswith(_OLE):
        if _encrypted(path):
            raise InputError(
                f"{path.name} is password-protected (encrypted); open it, remove the password "
                "(File > Info > Protect Workbook > Encrypt with Password) and save it again",
                path=str(path),
            )
        hint = "it is an old-style .xls workbook; give it the .xls extension or save it as .xlsx"
    elif not head.startswith(_ZIP):
        if looks_like_text(head):
            hint = "it is a text file; save it as a real workbook or give it the .csv extension"
        else:
            hint = "it is not a zip archive"
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise InputError(
                f"{path.name} is not a valid {suffix} workbook (damaged zip archive: {exc})",
                path=str(path),
            ) from exc
        folders = {name.split("/", 1)[0] for name in names}
        if "word" in folders:
            hint = "it is a Word document"
        elif "ppt" in folders:
            hint = "it is a PowerPoint presentation"
        elif not {"xl", "content.xml", "[Content_Types].xml"} & {*folders, *names}:
            hint = "it is a zip archive, not a workbook"
        else:
            return _zipguard.check_archive(path, max_unpacked=max_unpacked)
    raise InputError(f"{path.name} is not a valid {suffix} workbook ({hint})", path=str(path))


def _encrypted(path: Path) -> bool:
    """An OLE container holding an ``EncryptionInfo`` stream is an encrypted OOXML workbook."""
    overlap = len(_ENCRYPTED_MARK)
    tail = b""
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            if _ENCRYPTED_MARK in tail + block:
                return True
            tail = block[-overlap:]
    return False


@contextmanager
def _calamine(path: Path) -> Iterator[None]:
    """Whatever calamine/fastexcel raise becomes one InputError line, Rust panics included."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        raise _invalid(path, exc) from exc


def _invalid(path: Path, exc: BaseException) -> InputError:
    if isinstance(exc, python_calamine.PasswordError) or "password" in str(exc).lower():
        return InputError(
            f"{path.name} is password-protected (encrypted); open it, remove the password and "
            "save it again",
            path=str(path),
        )
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = reason.removeprefix("calamine error: ")
    return InputError(
        f"{path.name} is not a valid {path.suffix.lower()} workbook ({reason})", path=str(path)
    )


def _first_visible(path: Path) -> str:
    """The first visible worksheet (python-calamine reads the sheet list without the sheets)."""
    with _calamine(path):
        book = python_calamine.CalamineWorkbook.from_path(str(path))
        try:
            metadata = list(book.sheets_metadata)
        finally:
            book.close()
    worksheets = [m for m in metadata if m.typ == python_calamine.SheetTypeEnum.WorkSheet]
    visible = [m for m in worksheets if m.visible == python_calamine.SheetVisibleEnum.Visible]
    candidates = visible or worksheets
    if not candidates:
        raise InputError(f"{path.name} has no worksheet", path=str(path))
    return str(candidates[0].name)


def _choose(path: Path, sheets: tuple[str, ...], wanted: str) -> str:
    if wanted in sheets:
        return wanted
    folded = [s for s in sheets if s.casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    listing = ", ".join(repr(s) for s in sheets)
    raise InputError(
        f"sheet {wanted!r} not found in {path.name}; sheets: {listing}", path=str(path)
    )


def _render(batch: pa.RecordBatch, errors: Any) -> pa.Table:
    """Text cells as a person reads them: no nulls, error cells, booleans and dates fixed."""
    fixes: dict[int, dict[int, str]] = {}
    for error in getattr(errors, "errors", None) or ():
        row, column = error.position
        found = _ERROR_DETAIL.search(str(error.detail))
        text = _ERRORS.get(found.group(1), f"#{found.group(1).upper()}") if found else "#ERROR"
        fixes.setdefault(column, {})[row] = text
    columns = []
    for i, column in enumerate(batch.columns):
        if i in fixes:
            mask = np.zeros(len(column), dtype=bool)
            where = sorted(fixes[i])
            mask[where] = True
            values = pa.array([fixes[i][r] for r in where], pa.string())
            column = pc.replace_with_mask(column, pa.array(mask), values)
        columns.append(_readable(pc.fill_null(column, "")))
    return pa.table(columns, names=[f"f{i}" for i in range(len(columns))])


def _readable(column: pa.Array) -> pa.Array:
    if pc.any(pc.is_in(column, value_set=_BOOLEANS)).as_py():
        column = pc.if_else(
            pc.equal(column, "true"),
            "TRUE",
            pc.if_else(pc.equal(column, "false"), "FALSE", column),
        )
    if pc.any(pc.match_substring_regex(column, _LOOKS_DATED)).as_py():
        for pattern, replacement in _DATE_FIXES:
            column = pc.replace_substring_regex(column, pattern=pattern, replacement=replacement)
    return column
