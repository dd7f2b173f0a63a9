"""Measure the sheets of an .ods workbook from its ``content.xml``, before calamine reads them.

Why hand-written: calamine expands ODS repeat attributes unbounded; no library measures them first.

ODS compresses repetition into attributes: ``table:number-rows-repeated="1000000"`` on a row whose
cell carries ``table:number-columns-repeated="20"`` and a value is twenty million cells, in a
file of 900 bytes. calamine expands them (its own cap is 100 million cells: ~4 GB and minutes),
so :class:`OdsScan` bounds each table's grid the way calamine lays it out: trailing empty rows and
cells (LibreOffice writes a million of those at the end of every sheet) cost nothing; every row
up to the last non-empty one counts, as wide as the widest non-empty row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from importer.core import EXCEL_COLUMNS, EXCEL_ROWS

_ROW_START = b"<table:table-row"
_TABLE = re.compile(rb"<table:table(?=[\s>])([^>]*)>")
_CELL = re.compile(rb"<table:(?:covered-)?table-cell(?=[\s/>])([^>]*)>")
_NAME = re.compile(rb'table:name="([^"]*)"')
_ROWS_REPEATED = re.compile(rb'table:number-rows-repeated="(\d+)"')
_COLUMNS_REPEATED = re.compile(rb'table:number-columns-repeated="(\d+)"')
_BIG_REPEAT = re.compile(rb'table:number-(rows|columns)-repeated="0*(\d{5,})"')


@dataclass
class OdsScan:
    """Grid bounds (rows, columns) of each table of ``content.xml``, by sheet name."""

    part: str
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)
    beyond: str = ""  # a repeat past the last row or column a spreadsheet has, if any
    _name: str = ""
    _rows: int = 0  # rows so far in the current table, empty ones included
    _height: int = 0  # up to the last non-empty row
    _width: int = 0
    _tail: bytes = field(default=b"", repr=False)

    def feed(self, block: bytes) -> None:
        """Measure the complete rows of ``block`` (from the last row start on, it waits)."""
        data = self._tail + block if self._tail else block
        cut = data.rfind(_ROW_START)
        if cut <= 0:
            self._tail = data
            return
        self._tail = data[cut:]
        self._measure(data, cut)

    def finish(self) -> None:
        """The end of ``content.xml``: measure what is left, close the last table."""
        self._measure(self._tail, len(self._tail))
        self._tail = b""
        self._close()

    def _measure(self, data: bytes, end: int) -> None:
        """Each piece of ``data[:end]`` split at ``<table:table-row`` is one row (its attributes,
        cells, end tag) and whatever follows it, such as the start of the next table."""
        if not self.beyond:
            for big in _BIG_REPEAT.finditer(data, 0, end):
                kind, count = big.group(1), int(big.group(2))
                if count > (EXCEL_ROWS if kind == b"rows" else EXCEL_COLUMNS):
                    self.beyond = f"{count:,} repeated {kind.decode()}"
                    break
        pieces = data[:end].split(_ROW_START)
        self._tables(pieces[0])
        for piece in pieces[1:]:
            if piece[:1] not in (b" ", b">", b"/", b"\t", b"\n", b"\r"):
                self._tables(piece)  # <table:table-row-group> and the like
                continue
            attrs = piece[: piece.find(b">") + 1]
            repeated = _ROWS_REPEATED.search(attrs) if b"repeated" in attrs else None
            self._rows += int(repeated.group(1)) if repeated else 1
            width = _row_width(piece)
            if width:
                self._height, self._width = self._rows, max(self._width, width)
            self._tables(piece)

    def _tables(self, piece: bytes) -> None:
        """A table starting in ``piece`` closes the current one."""
        if b"<table:table " not in piece and b"<table:table>" not in piece:
            return
        for table in _TABLE.finditer(piece):
            self._close()
            found = _NAME.search(table.group(1))
            self._name = found.group(1).decode("utf-8", "replace") if found else ""

    def _close(self) -> None:
        if self._rows > EXCEL_ROWS and not self.beyond:
            self.beyond = f"{self._rows:,} rows"
        if self._name or self._rows:
            previous = self.tables.get(self._name, (0, 0))
            self.tables[self._name] = max(previous, (self._height, self._width))
        self._name, self._rows, self._height, self._width = "", 0, 0, 0


def _row_width(row: bytes) -> int:
    """Cells up to the last non-empty one (a value type, or not self-closing), repeats expanded.

    A row without column repeats costs two counts; an upper bound is enough there.
    """
    if b"value-type" not in row and b"<text:" not in row:
        return 0
    cells = row.count(b"<table:table-cell") + row.count(b"<table:covered-table-cell")
    repeats = row.count(b"columns-repeated")
    if not repeats:
        return cells
    if repeats == 1 and _trailing_empty_repeat(row):  # LibreOffice's padding up to column 1024
        return cells - 1
    width = used = 0
    for cell in _CELL.finditer(row):
        attrs = cell.group(1)
        repeated = _COLUMNS_REPEATED.search(attrs) if b"repeated" in attrs else None
        width += int(repeated.group(1)) if repeated else 1
        if b"value-type" in attrs or not attrs.endswith(b"/"):
            used = width
    return used


def _trailing_empty_repeat(row: bytes) -> bool:
    """The one repeated cell of ``row`` is its last cell, self-closing and without a value."""
    at = row.rfind(b"columns-repeated")
    start, end = row.rfind(b"<", 0, at), row.find(b">", at)
    return (
        row[end - 1 : end] == b"/"
        and row.startswith((b"<table:table-cell", b"<table:covered-table-cell"), start)
        and b"value-type" not in row[start:end]
        and row.find(b"<table:table-cell", end) < 0
        and row.find(b"<table:covered-table-cell", end) < 0
    )
