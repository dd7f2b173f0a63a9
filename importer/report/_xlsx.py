"""Write a single-sheet ``.xlsx`` of text cells, streamed chunk by chunk.

Why hand-written: 40x faster than xlsxwriter in its constant-memory mode, for the same file.

:class:`XlsxSheetWriter` opens the zip archive at once and streams the worksheet XML into it as
DataFrames are appended, so memory stays bounded by one chunk whatever the number of rows. Each
chunk's XML is assembled by Arrow kernels over whole columns (escaping, cell and row markup) and
written as one buffer; only the rare cells holding control characters or text that looks like an
escape (``_x0041_``) are escaped one by one in Python.

What is written:

* every cell as an inline string (``<c r="B7" t="inlineStr">``), text exactly as given; the
  ``numeric`` columns as numbers when their values are numbers (integer or finite float dtype);
  a null, NaN or empty value as a cell without a value (``<c r="B7"/>``); every cell and row
  with its reference (the form :mod:`importer.read` measures fastest);
* a header row in bold, frozen, with an auto-filter over the rows written; column widths from the
  header and the first rows' values (capped);
* characters XML 1.0 cannot hold (``\\x00``-``\\x1f`` but tab, LF and CR; U+FFFE, U+FFFF; lone
  surrogates) written as Excel writes them, ``_xHHHH_``, and a ``_`` that starts text of that form
  (``_x0041_``) written ``_x005F_``, so that readers which decode the escapes give back the
  original text; CR is written ``&#13;`` (an XML parser turns a raw CR into LF).

Readers: calamine (fastexcel, python-calamine, so the importer's own loader) decodes the escapes
in one pass and gives back exactly the text written (tested), as Excel does by ECMA-376 (not
tested here), except for U+FFFE/U+FFFF and lone surrogates, which calamine returns as the literal
text ``_xFFFE_`` (XML cannot hold them at all). openpyxl decodes no ``_xHHHH_`` in inline strings:
it returns ``_x0007_`` for a BEL character and ``_x005F_x0041_`` for the text ``_x0041_``; as it
also writes cell text back unchanged, a workbook edited and saved with openpyxl still reads back
exactly through calamine (but for what openpyxl's own writer loses: a CR, white-space-only cells).

Limits: Excel's 1,048,576 rows; the worksheet XML stays under 2 GiB (the archive is written
without ZIP64 records, which Excel rejects on small members). Rows beyond either are not written
and are counted in :attr:`XlsxSheetWriter.dropped`. Cells are not cut to Excel's 32,767
characters.
"""

from __future__ import annotations

import contextlib
import os
import re
import zipfile
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import IO, Any, Self, TypeAlias
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.core import EXCEL_COLUMNS, EXCEL_ROWS

#: One column of cells: a pandas Series, an Arrow array or a numpy array.
Column: TypeAlias = pd.Series | pa.Array | pa.ChunkedArray | np.ndarray

MAX_SHEET_XML = zipfile.ZIP64_LIMIT  # what zipfile writes without ZIP64 records
_SLICE_ROWS = 8_192  # rows assembled at once (bounds the XML held in memory)
_MAX_WIDTH = 60
_MIN_WIDTH = 8
_WIDTH_SAMPLE = 1_000  # rows whose values set the column widths
_SHEET_PART = "xl/worksheets/sheet1.xml"
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")

# Characters XML 1.0 cannot hold. Python's re (per-cell fallback) and RE2 (Arrow) spellings.
_BAD_CHARS = r"\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff"
_ILLEGAL = re.compile(f"[{_BAD_CHARS}]")
# A "_" that a reader would take for the start of an escape: "_x" 4 hex digits and "_" (or a
# character that is about to be written as an escape, which starts with "_").
_ESCAPE_LIKE = re.compile(f"_(?=x[0-9A-Fa-f]{{4}}(?:_|[{_BAD_CHARS}]))")
# Cells that need the per-cell path: a character to escape, or "_x" and 4 hex digits.
_RARE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}]|_x[0-9A-Fa-f]{4}"
_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;"))

_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES = (
    _XML_DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    _XML_DECL + f'<Relationships xmlns="{_NS_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    _XML_DECL + f'<Relationships xmlns="{_NS_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_NS_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_NS_REL}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_STYLES = (
    _XML_DECL + f'<styleSheet xmlns="{_NS_MAIN}">'
    '<fonts count="2">'
    '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    "</fonts>"
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


_EMPTY = _text("")
# By byte, at the start and at the end of an escaped value: white space for XML (tab, LF, CR,
# space) or maybe a CR written "&#13;" (readers trim that too without xml:space="preserve").
_FIRST_SPACE = np.zeros(256, dtype=bool)
_FIRST_SPACE[[0x09, 0x0A, 0x0D, 0x20, ord("&")]] = True
_LAST_SPACE = np.zeros(256, dtype=bool)
_LAST_SPACE[[0x09, 0x0A, 0x0D, 0x20, ord(";")]] = True
# How a cell goes on after its reference, by kind (an empty cell is just its reference).
_TEXT_OPEN = '" t="inlineStr"><is><t>'
_TEXT_OPEN_KEEP = '" t="inlineStr"><is><t xml:space="preserve">'
_TEXT_CLOSE = "</t></is></c>"
_NUMBER_OPEN = '"><v>'
_NUMBER_CLOSE = "</v></c>"
_NO_VALUE = '"/>'
_ROWS = object()  # stands for the row numbers in a row's pieces


def _edged(text: str) -> bool:
    """Does ``text`` start or end with XML white space (kept only with xml:space="preserve")?"""
    return bool(text) and (text[0] in " \t\n\r" or text[-1] in " \t\n\r")


def column_letters(number: int) -> str:
    """``1`` -> ``A``, ``27`` -> ``AA``, ``16384`` -> ``XFD``."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def escape_text(text: str) -> str:
    """Cell text as it goes between ``<t>`` and ``</t>`` (the per-cell form of the escaping)."""
    text = _ESCAPE_LIKE.sub("_x005F_", text)
    text = _ILLEGAL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    for char, entity in _ENTITIES:
        text = text.replace(char, entity)
    return text


def _layout(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a large_string array: value ``i`` is ``bytes[offsets[i]:offsets[i + 1]]``
    (a view of the array's buffers)."""
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    if buffers[2] is None:
        return offsets, np.empty(0, dtype=np.uint8)
    return offsets, np.frombuffer(buffers[2], dtype=np.uint8)


def _escape_array(text: pa.Array) -> pa.Array:
    """:func:`escape_text` over a large_string array (nulls stay null).

    The column's bytes are searched once per special character (C speed); an Arrow kernel runs
    only for the characters found, and only the cells a regex picks go through Python.
    """
    offsets, data = _layout(text)
    raw = data[offsets[0] : offsets[-1]]
    blob = raw.tobytes()
    escaped = text
    for char, entity in _ENTITIES:
        if blob.find(char.encode()) >= 0:
            escaped = pc.replace_substring(escaped, char, entity)
    low = raw < 0x20
    rare = (
        (low.any() and bool(np.any(low & (raw != 0x09) & (raw != 0x0A) & (raw != 0x0D))))
        or blob.find(b"_x") >= 0
        or blob.find(b"\xef\xbf\xbe") >= 0  # U+FFFE
        or blob.find(b"\xef\xbf\xbf") >= 0  # U+FFFF
    )
    if rare:
        picked = pc.fill_null(pc.match_substring_regex(text, _RARE), False)
        if pc.any(picked).as_py():
            values = text.filter(picked).to_pylist()
            fixed = pa.array([escape_text(v) for v in values], pa.large_string())
            escaped = pc.replace_with_mask(escaped, picked, fixed)
    return escaped


def _slice(column: Column, start: int, stop: int) -> Column:
    if isinstance(column, pd.Series):
        return column.iloc[start:stop]
    if isinstance(column, pa.Array | pa.ChunkedArray):
        return column.slice(start, stop - start)
    return column[start:stop]


def _python_text(series: Column) -> pa.Array:
    """Text of any column Arrow cannot convert (mixed objects, lone surrogates), escaped."""
    items = (
        series.to_pylist() if isinstance(series, pa.Array | pa.ChunkedArray) else series.tolist()
    )
    values = [None if _missing(v) else escape_text(str(v)) for v in items]
    return pa.array(values, pa.large_string())


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like values
        return False


def _cell_values(series: Column, numeric: bool) -> tuple[pa.Array, bool]:
    """(escaped text or number literals as large_string, numbers?) for one column."""
    if isinstance(series, pa.Array | pa.ChunkedArray):
        array = series
    else:
        try:
            array = pa.array(series, from_pandas=True)
        except (pa.ArrowException, UnicodeError):
            return _python_text(series), False
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if numeric and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        if pa.types.is_floating(kind):
            array = pc.if_else(pc.is_finite(array), array, pa.scalar(None, kind))
        return pc.cast(array, pa.large_string()), True
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
    try:
        text = pc.cast(array, pa.large_string())
    except (pa.ArrowException, UnicodeError):
        return _python_text(series), False
    return _escape_array(text), False


def _cell_pieces(series: Column, numeric: bool, letters: str) -> tuple[list[Any], pa.Array]:
    """The pieces of one column's cells (text, :data:`_ROWS`, or a large_string array each), and
    the values in them.

    A cell is ``<c r="`` letters row ``" t="inlineStr"><is><t>`` value ``</t></is></c>`` (or
    ``"><v>`` value ``</v></c>`` for a number); a null or empty value leaves ``<c r="B7"/>``.
    """
    values, is_number = _cell_values(series, numeric)
    offsets, data = _layout(values)
    filled = np.diff(offsets) > 0
    if values.null_count:
        filled &= values.is_valid().to_numpy(zero_copy_only=False)
        values = pc.fill_null(values, "")
    opening, closing = (_NUMBER_OPEN, _NUMBER_CLOSE) if is_number else (_TEXT_OPEN, _TEXT_CLOSE)
    kinds = filled.astype(np.int8)  # 0: no value, 1: value
    if not is_number and filled.any():
        # xml:space="preserve" where a value starts or ends with white space
        first = data[np.minimum(offsets[:-1], len(data) - 1)]
        last = data[np.maximum(offsets[1:] - 1, 0)]
        kinds[filled & (_FIRST_SPACE[first] | _LAST_SPACE[last])] = 2
    if kinds.min() == kinds.max() == 1:
        return [f'<c r="{letters}', _ROWS, opening, values, closing], values
    codes = pa.array(kinds)
    opens = pa.array([_NO_VALUE, opening, _TEXT_OPEN_KEEP], pa.large_string()).take(codes)
    closes = pa.array(["", closing, closing], pa.large_string()).take(codes)
    return [f'<c r="{letters}', _ROWS, opens, values, closes], values


def _joined(pieces: list[Any], rows: pa.Array) -> pa.Array:
    """Join the pieces element-wise (adjacent texts merged: the kernel's cost is per piece)."""
    merged: list[Any] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    args = [
        rows if piece is _ROWS else _text(piece) if isinstance(piece, str) else piece
        for piece in merged
    ]
    return pc.binary_join_element_wise(*args, _EMPTY)


def _sheet_name_ok(name: str) -> str:
    """``name`` if Excel accepts it as a worksheet name, else ValueError."""
    bad = (
        not name
        or len(name) > 31
        or name[0] == "'"
        or name[-1] == "'"
        or _SHEET_NAME_BAD.search(name)
        or _ILLEGAL.search(name)
    )
    if bad:
        raise ValueError(f"not a valid worksheet name: {name!r}")
    return name


class XlsxSheetWriter:
    """Stream DataFrames into a one-sheet workbook.

    Args:
        target: the file to write (created or truncated), or a binary file object (seekable,
            left open: the caller closes it).
        sheet_name: the worksheet's name (at most 31 characters, none of ``[]:*?/\\``).
        columns: the header labels; every appended frame has these columns, in this order (by
            position: the frame's own column names are not used).
        numeric: labels of the columns written as numbers (when their dtype is numeric).
        opener: passed to :func:`open` when ``target`` is a path.
        compresslevel: zlib level (1, the default, is the fastest; zlib's own default, 6, packs
            ~20 % tighter at three times the cost).

    Compressing a chunk's XML (half the time) runs in a background thread while the next chunk is
    assembled; at most one chunk's XML waits there.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[bytes],
        sheet_name: str,
        columns: Sequence[str],
        *,
        numeric: Collection[str] = ("source_row",),
        opener: Callable[[str, int], int] | None = None,
        compresslevel: int = 1,
    ) -> None:
        if not 1 <= len(columns) <= EXCEL_COLUMNS:
            raise ValueError(f"a worksheet has 1 to {EXCEL_COLUMNS:,} columns, not {len(columns)}")
        self.sheet_name = _sheet_name_ok(sheet_name)
        self.columns = [str(c) for c in columns]
        self._numeric = [c in numeric for c in self.columns]
        self._letters = [column_letters(i + 1) for i in range(len(self.columns))]
        self.rows = 0  # data rows written
        self.dropped = 0  # data rows not written (past Excel's last row, or the 2 GiB of XML)
        self._size = 0  # bytes of worksheet XML written (or queued)
        self._started = False
        self._full = False
        self._finished = False
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[int] | None = None
        self._path: str | None = None
        if isinstance(target, str | os.PathLike):
            self._path = os.fspath(target)
            self._file: IO[bytes] = open(self._path, "wb", opener=opener)  # noqa: SIM115
        else:
            self._file = target
        try:
            self._zip = zipfile.ZipFile(
                self._file, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel
            )
            self._zip.writestr("[Content_Types].xml", _CONTENT_TYPES)
            self._zip.writestr("_rels/.rels", _ROOT_RELS)
            self._zip.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
            self._zip.writestr("xl/styles.xml", _STYLES)
            self._sheet = self._zip.open(_SHEET_PART, "w")
        except BaseException:
            self._discard()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def append(self, frame: pd.DataFrame | Sequence[Column]) -> None:
        """Write the rows of ``frame`` (its columns by position, as given to the constructor):
        a DataFrame, or one equally long column per header (Series, Arrow or numpy arrays)."""
        if self._finished:
            raise ValueError("the workbook is closed")
        columns: list[Column] = (
            [frame.iloc[:, i] for i in range(frame.shape[1])]
            if isinstance(frame, pd.DataFrame)
            else list(frame)
        )
        if len(columns) != len(self.columns):
            raise ValueError(f"expected {len(self.columns)} columns, got {len(columns)}")
        n = len(columns[0]) if columns else 0
        for start in range(0, n, _SLICE_ROWS):
            stop = min(n, start + _SLICE_ROWS)
            room = 0 if self._full else EXCEL_ROWS - 1 - self.rows
            if stop - start > room:
                self.dropped += stop - start - room
                stop = start + room
            if stop > start:
                self._write_rows([_slice(c, start, stop) for c in columns])

    def close(self) -> None:
        """Finish the workbook (and close the file when the writer opened it)."""
        if self._finished:
            return
        try:
            if not self._started:
                self._start([0] * len(self.columns))
            last = f"{self._letters[-1]}{self.rows + 1}"
            self._write(f'</sheetData><autoFilter ref="A1:{last}"/></worksheet>'.encode())
            self._sheet.close()
            self._zip.writestr("xl/workbook.xml", self._workbook_xml())
            self._zip.close()
            self._finished = True
            self._shutdown()
            if self._path is not None:
                self._file.close()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Give up: the file is closed and, when the writer created it, removed."""
        if not self._finished:
            self._finished = True
            self._discard()

    # ------------------------------------------------------------------------------------------

    def _write(self, data: bytes | memoryview, *, background: bool = False) -> None:
        """Compress ``data`` into the worksheet, after what was queued before it."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # a failed write raises here
        self._size += len(data)
        if not background:
            self._sheet.write(data)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx-write")
        self._pending = self._pool.submit(self._sheet.write, data)

    def _shutdown(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(Exception):  # already failing: that write's error is moot
                pending.result()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _discard(self) -> None:
        self._shutdown()
        for name in ("_sheet", "_zip"):
            part = getattr(self, name, None)
            if part is not None:
                with contextlib.suppress(OSError, ValueError, RuntimeError, zipfile.BadZipFile):
                    part.close()
        if self._path is not None:
            self._file.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)

    def _start(self, widest: Sequence[int]) -> None:
        """The worksheet's opening: view, column widths (``widest`` values), the header row."""
        self._started = True
        widths = [max(len(label), w) for label, w in zip(self.columns, widest, strict=True)]
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{min(max(w + 2, _MIN_WIDTH), _MAX_WIDTH)}" '
            'customWidth="1"/>'
            for i, w in enumerate(widths, 1)
        )
        header = "".join(
            f'<c r="{letters}1" s="1{_TEXT_OPEN_KEEP if _edged(label) else _TEXT_OPEN}'
            f"{escape_text(label)}{_TEXT_CLOSE}"
            for letters, label in zip(self._letters, self.columns, strict=True)
        )
        head = (
            f'{_XML_DECL}<worksheet xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
            '<sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
            "</sheetView></sheetViews>"
            '<sheetFormatPr defaultRowHeight="15"/>'
            f"<cols>{cols}</cols><sheetData>"
            f'<row r="1">{header}</row>'
        )
        self._write(head.encode())

    def _write_rows(self, columns: list[Column]) -> None:
        """Queue the XML of the columns' rows (those that fit in the 2 GiB of XML)."""
        n = len(columns[0])
        first = self.rows + 2  # row 1 is the header
        numbers = pc.cast(pa.array(np.arange(first, first + n, dtype=np.int64)), pa.large_string())
        pieces: list[Any] = ['<row r="', _ROWS, '">']
        widest = []
        for i, letters in enumerate(self._letters):
            cells, values = _cell_pieces(columns[i], self._numeric[i], letters)
            pieces += cells
            if not self._started:  # column widths from the first rows' values (UTF-8 bytes)
                widest.append(int(np.diff(_layout(values[:_WIDTH_SAMPLE])[0]).max()))
        pieces.append("</row>")
        if not self._started:
            self._start(widest)
        rows = _joined(pieces, numbers)
        offsets, _ = _layout(rows)
        # The rows that fit whole, leaving room for the closing tags.
        room = MAX_SHEET_XML - self._size - 256
        fits = int(np.searchsorted(offsets, offsets[0] + room, side="right")) - 1
        if fits < n:
            self._full = True
            self.dropped += n - fits
        if fits > 0:
            data = memoryview(rows.buffers()[2])[offsets[0] : offsets[fits]]
            self._write(data, background=True)  # the view keeps the Arrow buffer alive
            self.rows += fits

    def _workbook_xml(self) -> str:
        quoted = self.sheet_name.replace("'", "''")  # quotes are always allowed
        area = f"'{quoted}'!$A$1:${self._letters[-1]}${self.rows + 1}"
        return (
            f'{_XML_DECL}<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
            "<bookViews><workbookView/></bookViews>"
            f'<sheets><sheet name={quoteattr(self.sheet_name)} sheetId="1" r:id="rId1"/></sheets>'
            "<definedNames>"
            '<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
            f"{escape(area)}</definedName></definedNames>"
            "</workbook>"
        )
