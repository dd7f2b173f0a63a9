"""Workbooks (.xlsx/.xlsm/.xls/.ods) for :mod:`importer.read`, read through calamine.

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

import contextlib
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastexcel
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import python_calamine

from importer.core import InputError
from importer.read import _zipguard as _zipguard
from importer.read._header_row import HEADER_SEARCH_ROWS, HeaderChoice
from importer.read._table import (
    CellNote,
    FirstRows,
    HeaderScore,
    SourceInfo,
    Table,
    blank_cells,
    blank_rows,
    check_header,
    drop_blank_rows,
    header_labels,
    looks_like_text,
    pick_header,
    sample_rows,
    too_many_rows,
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
    header_row: int = 1
    notes: tuple[str, ...] = ()
    cell_notes: tuple[CellNote, ...] = ()
    header: HeaderChoice | None = None
    samples: tuple[tuple[str, ...], ...] = ()


def open_table(
    p: Path,
    fmt: str,
    *,
    sheet: str | None,
    chunk_rows: int,
    max_rows: int,
    max_unpacked: int,
    max_memory: int,
    header_row: int | None,
    score: HeaderScore,
) -> Table:
    """Open a workbook's sheet in this process (``importer.read.open_table`` reads workbooks in a
    child process instead, :mod:`importer.read._isolate`): the sheet is read once, now, and kept as
    compact Arrow strings."""
    book = read_sheet(
        p,
        fmt,
        sheet,
        max_unpacked=max_unpacked,
        header_row=header_row,
        score=score,
        max_memory=max_memory,
    )
    return sheet_table(
        p, fmt, book, header_row=header_row, chunk_rows=chunk_rows, max_rows=max_rows
    )


def sheet_table(
    p: Path, fmt: str, book: SheetData, *, header_row: int | None, chunk_rows: int, max_rows: int
) -> Table:
    """The :class:`Table` of a sheet read by :func:`read_sheet` (here or in a child process)."""
    info = SourceInfo(
        path=p,
        format=fmt,
        sheet=book.sheet,
        sheets=book.sheets,
        headers=book.headers,
        encoding=None,
        delimiter=None,
        header_row=book.header_row,
        notes=book.notes,
        cell_notes=book.cell_notes,
        header=book.header,
        samples=book.samples,
    )
    if book.cells.num_rows > max_rows:
        raise too_many_rows(info.where, max_rows, p)
    return Table(info, lambda: iter([(book.cells, book.rows)]), chunk_rows, max_rows)


def read_sheet(
    path: Path,
    fmt: str,
    sheet: str | None,
    *,
    max_unpacked: int,
    header_row: int | None = None,
    score: HeaderScore | None = None,
    max_memory: int | None = None,
    on_sheet: Callable[[str], None] | None = None,
) -> SheetData:
    """Read one sheet (default: the first visible worksheet) of a workbook.

    ``max_unpacked`` bounds what a zip-based workbook may unpack to (see :mod:`_zipguard`);
    ``max_memory`` what reading its sheet may need, estimated from the unpacked size.
    The header row is found as :func:`importer.read.choose_header_row` says. When no sheet was asked
    for and the first visible one has no row naming a schema column (an "Instructions" sheet),
    the only other sheet that has one is read instead (a note says so); when several have one,
    an InputError asks for ``--sheet``. ``on_sheet`` is told the chosen sheet before it is read.
    """
    rate = score or (lambda cells: 0)
    book = _load_sheet(path, fmt, sheet, max_unpacked, header_row, score, max_memory, on_sheet)
    chosen, cells, positions, where = book.sheet, book.cells, book.positions, book.where
    search = max(HEADER_SEARCH_ROWS, header_row or 0)
    first_rows = [[str(v) for v in r.values()] for r in cells.slice(0, search).to_pylist()]
    if sheet is not None and header_row is None and not any(rate(r) for r in first_rows):
        others = [s for s in book.sheets if s != chosen and book.names_columns(s, rate)]
        if others:
            raise InputError(
                f"{where} has no header row with the expected columns in its first "
                f"{HEADER_SEARCH_ROWS} rows; sheet {others[0]!r} has: use --sheet {others[0]!r}",
                path=str(path),
            )
    choice = pick_header(first_rows, rate, header_row, where, path)
    assert choice is not None  # the sheet is not blank
    header_index = choice.row - 1
    notes = book.notes + ((choice.note,) if choice.note else ())
    header = first_rows[header_index]
    check_header(header, where, path)
    labels = header_labels(header, positions)
    data = cells.slice(header_index + 1)
    rows = np.arange(header_index + 2, header_index + 2 + data.num_rows, dtype=np.int64)
    scans = book.scans
    scan = _zipguard.sheet_scan(path, scans, chosen) if scans else None
    cell_notes: list[CellNote] = []
    if scan is not None and (scan.merges or scan.uncalculated):
        data, cell_notes = _fill_merges(cells, data, header_index + 2, positions, labels, scan)
    if scans:
        data, rows, skipped = _skip_totals(path, chosen, data, rows)
        notes += skipped
    keep = [
        i
        for i, cell in enumerate(header)
        if cell.strip() or not pc.all(blank_cells(data.column(i))).as_py()
    ]
    data = data.select(keep).rename_columns([f"f{i}" for i in range(len(keep))])
    data, rows = drop_blank_rows(data, rows)
    headers = tuple(labels[i] for i in keep)
    kept = [n for n in cell_notes if n.label in headers]
    samples = tuple(tuple(r[i] for i in keep) for r in sample_rows(first_rows, choice.row))
    return SheetData(
        chosen, book.sheets, headers, data, rows, choice.row, notes, tuple(kept), choice, samples
    )


def first_rows(
    path: Path,
    fmt: str,
    sheet: str | None,
    *,
    limit: int,
    max_unpacked: int,
    max_memory: int | None,
    header_row: int | None,
    score: HeaderScore,
) -> FirstRows:
    """The first ``limit`` rows of a workbook's sheet (chosen as :func:`read_sheet` chooses it),
    every cell as text, and the row :func:`read_sheet` would take as the header."""
    book = _load_sheet(path, fmt, sheet, max_unpacked, header_row, score, max_memory)
    search = max(HEADER_SEARCH_ROWS, limit, header_row or 0)
    rows = [[str(v) for v in r.values()] for r in book.cells.slice(0, search).to_pylist()]
    choice = pick_header(rows, score, header_row, book.where, path)
    assert choice is not None  # the sheet is not blank
    return FirstRows(
        path=path,
        format=fmt,
        sheet=book.sheet,
        sheets=book.sheets,
        rows=tuple(tuple(r) for r in rows[:limit]),
        header_row=choice.row,
        notes=book.notes + ((choice.note,) if choice.note else ()),
        header=choice,
    )


@dataclass
class _Sheet:
    """A workbook's sheet loaded whole as text cells (row ``i`` is sheet row ``i + 1``)."""

    path: Path
    sheet: str
    sheets: tuple[str, ...]
    cells: pa.Table
    positions: list[int]  # the sheet's column number of each column of ``cells``
    notes: tuple[str, ...]
    scans: dict[str, _zipguard.Scan]
    reader: Any

    @property
    def where(self) -> str:
        return f"{self.path.name}, sheet {self.sheet!r}"

    def names_columns(self, sheet: str, rate: HeaderScore) -> bool:
        return _names_columns(self.reader, sheet, rate, self.path, self.scans)


def _load_sheet(
    path: Path,
    fmt: str,
    sheet: str | None,
    max_unpacked: int,
    header_row: int | None,
    score: HeaderScore | None,
    max_memory: int | None,
    on_sheet: Callable[[str], None] | None = None,
) -> _Sheet:
    """Check the container, choose the sheet (see :func:`read_sheet`; ``on_sheet`` is told which),
    load it as text."""
    rate = score or (lambda cells: 0)
    notes: tuple[str, ...] = ()
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
        if (
            score is not None
            and header_row is None
            and not _names_columns(reader, chosen, rate, path, scans)
        ):
            chosen, notes = _other_sheet(path, sheets, chosen, rate, reader, scans)
    where = f"{path.name}, sheet {chosen!r}"
    if on_sheet is not None:
        on_sheet(chosen)
    if scans:
        _zipguard.check_sheet(path, scans, chosen, where)
        if max_memory is not None and fmt != "ods":
            _zipguard.check_memory(path, chosen, where, max_memory)
    with _calamine(path):
        loaded = reader.load_sheet(chosen, header_row=None, skip_rows=0, dtypes="string")
        batch, errors = loaded.to_arrow_with_errors()
        positions = [column.absolute_index + 1 for column in loaded.available_columns()]
    cells = _render(batch, errors)
    if cells.num_rows == 0 or blank_rows(cells).all():
        raise InputError(f"{where} is empty", path=str(path))
    return _Sheet(path, chosen, sheets, cells, positions, notes, scans, reader)


def _other_sheet(
    path: Path,
    sheets: tuple[str, ...],
    chosen: str,
    rate: HeaderScore,
    reader: Any,
    scans: dict[str, _zipguard.Scan],
) -> tuple[str, tuple[str, ...]]:
    """The first sheet names no column: the only other sheet that does (with a note)."""
    others = [s for s in sheets if s != chosen and _names_columns(reader, s, rate, path, scans)]
    if len(others) == 1:
        note = (
            f"sheet {chosen!r} has no header row with the expected columns; read sheet "
            f"{others[0]!r}, the only one that has (choose with --sheet)"
        )
        return others[0], (note,)
    if others:
        listing = ", ".join(repr(s) for s in others)
        raise InputError(
            f"{path.name}: the first sheet, {chosen!r}, has no header row with the "
            f"expected columns; sheets {listing} have: choose one with --sheet "
            f'"{others[0]}"',
            path=str(path),
        )
    return chosen, ()


def _cell(ref: str) -> tuple[int, int]:
    """``"D5"`` -> (row 5, column 4)."""
    letters = ref.rstrip("0123456789")
    return int(ref[len(letters) :]), _zipguard.column_number(letters.encode("ascii"))


def _fill_merges(
    cells: pa.Table,
    data: pa.Table,
    first_row: int,
    positions: list[int],
    labels: tuple[str, ...],
    scan: _zipguard.SheetScan,
) -> tuple[pa.Table, list[CellNote]]:
    """Give every cell of a merged range the range's value, as the person sees it.

    Ranges that start above the data (a merged title, a merged header) are left as they are.
    Returns the data and the notes errors in those cells should carry (the merges, and the
    formulas saved without a value).
    """
    column_at = {position: i for i, position in enumerate(positions)}
    notes: list[CellNote] = []
    fills: dict[int, list[tuple[int, int, str]]] = {}
    for ref in scan.merges:
        start, _, end = ref.partition(":")
        (r1, c1), (r2, c2) = _cell(start), _cell(end or start)
        if r1 < first_row or c1 not in column_at:
            continue
        value = str(cells.column(column_at[c1])[r1 - 1].as_py())
        for column in range(c1, c2 + 1):
            if column in column_at:
                i = column_at[column]
                fills.setdefault(i, []).append((r1 - first_row, r2 - first_row, value))
                notes.append(CellNote(labels[i], r1, r2, f"merged cells {ref}"))
    for ref in scan.uncalculated:
        row, column = _cell(ref)
        if row >= first_row and column in column_at:
            notes.append(
                CellNote(
                    labels[column_at[column]],
                    row,
                    row,
                    f"cell {ref} is a formula that was never calculated: the file was saved "
                    "without its values; open it in Excel and save it",
                )
            )
    columns = list(data.columns)
    for i, ranges in fills.items():
        mask = np.zeros(data.num_rows, dtype=bool)
        values: list[str] = []
        for lo, high, value in sorted(ranges):
            hi = min(high, data.num_rows - 1)
            if hi < lo:
                continue
            mask[lo : hi + 1] = True
            values += [value] * (hi + 1 - lo)
        if values:
            columns[i] = pc.replace_with_mask(
                data.column(i).combine_chunks(), pa.array(mask), pa.array(values, pa.string())
            )
    return pa.table(columns, names=data.column_names), notes


def _skip_totals(
    path: Path, sheet: str, data: pa.Table, rows: np.ndarray
) -> tuple[pa.Table, np.ndarray, tuple[str, ...]]:
    """Leave out the totals row of an Excel table (Table Design > Total Row): not a member."""
    notes: list[str] = []
    drop = np.zeros(len(rows), dtype=bool)
    for table in _zipguard.sheet_tables(path, sheet):
        if table.totals < 1 or ":" not in table.ref:
            continue
        last = _cell(table.ref.partition(":")[2])[0]
        first = last - table.totals + 1
        hit = (rows >= first) & (rows <= last)
        if hit.any():
            drop |= hit
            where = f"row {first}" if first == last else f"rows {first}-{last}"
            notes.append(f"skipped the totals row of table {table.name!r} ({where})")
    if not drop.any():
        return data, rows, ()
    keep = ~drop
    return data.filter(pa.array(keep)), rows[keep], tuple(notes)


def _names_columns(
    reader: Any, sheet: str, rate: HeaderScore, path: Path, scans: dict[str, _zipguard.Scan]
) -> bool:
    """Whether one of the sheet's first rows names a schema column (reads only those rows)."""
    with contextlib.suppress(Exception):  # an unreadable or hostile sheet names nothing
        if scans:
            _zipguard.check_sheet(path, scans, sheet, f"{path.name}, sheet {sheet!r}")
        loaded = reader.load_sheet(
            sheet, header_row=None, skip_rows=0, n_rows=HEADER_SEARCH_ROWS, dtypes="string"
        )
        table = pa.table(loaded.to_arrow())
        for row in table.to_pylist():
            if rate(["" if v is None else str(v) for v in row.values()]) > 0:
                return True
    return False


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
