"""Delimited text for :mod:`importer.read`: encoding, delimiter and header detection, streaming.

The bytes are parsed by pyarrow's streaming CSV reader (every column as text, one block at a time)
so a file larger than memory can be read. pyarrow is told not to skip empty lines, so every record
keeps its place and a row's number is simply its record number (header = the header's record
number, a quoted value with line breaks is one record). Records whose cell count differs from the
header's are handed to a small Python callback with their record number, then padded and merged
back in order; they are rare, so the hot path stays vectorised (~4M rows/s on 4 short columns).
Files with many such records (say every other row short) read at ~150k rows/s.

Before streaming, the whole file is checked once to be UTF-8 (fast for ASCII); if it is not, it is
read as cp1252. A UTF-16 BOM (Excel's "Unicode Text") selects UTF-16 (see :mod:`importer.read`,
which also refuses NUL bytes and undecodable bytes by line).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from importer.core import InputError
from importer.read._encoding import SCAN_BLOCK, detect_encoding, too_long
from importer.read._header_row import HeaderChoice
from importer.read._table import (
    Batch,
    FirstRows,
    HeaderScore,
    SourceInfo,
    Table,
    blank_cells,
    check_header,
    drop_blank_rows,
    header_labels,
    pick_header,
    sample_rows,
    shorten,
)

DELIMITERS = (",", ";", "\t", "|")
_SAMPLE = 64 << 10  # characters of text used to find the delimiter and the header
_MAX_HEADER_LINE = 1 << 20  # characters before the header line must have ended
_SNIFF_RECORDS = 200
_SEP_LINE = re.compile(r"sep=([^\r\n])[ \t]*(?:\r\n|\n|\r)", re.IGNORECASE)
_TEXT = pa.large_string()  # what pandas keeps its str columns in: no copy to a DataFrame
_GROUP_ROWS = 25_000  # rows parsed and checked together, then regrouped into chunks
# pyarrow's block size. Small blocks keep records of the wrong length cheap (pyarrow's cost per
# such record grows with the block), but a record must fit in one block: when one does not, the
# file is read again with the large size, skipping the rows already delivered.
BLOCK_SIZES = (256 << 10, 16 << 20)  # the larger one bounds a record, and the memory it takes


@dataclass(frozen=True)
class Layout:
    """How a delimited file is laid out, found by :func:`inspect`."""

    encoding: str  # "utf-8", "utf-8-sig", "cp1252" or "utf-16"
    delimiter: str
    header: tuple[str, ...]  # header cells as written
    header_record: int  # 1-based record number of the header in the file
    width: int  # fields parsed per record: the header's, or more for trailing delimiters
    skip: int = 0  # records before Excel's row 1: a first line ``sep=;`` (Excel hides it)
    notes: tuple[str, ...] = ()  # e.g. "delimiter ';' from the first line sep=;"
    header_choice: HeaderChoice | None = None  # how the header row was found
    samples: tuple[tuple[str, ...], ...] = ()  # the first data rows (column suggestions)


def inspect(
    path: Path, *, header_row: int | None = None, score: HeaderScore | None = None
) -> Layout:
    """Find the encoding, the delimiter and the header row of a text file.

    A first line ``sep=;`` (written by Excel, or by hand) sets the delimiter and is not a row:
    Excel hides it, so the rows after it are numbered from 1 as Excel shows them. The header is
    found as :func:`importer.read.choose_header_row` says (``header_row`` counts rows as Excel
    does).
    """
    encoding = detect_encoding(path)
    text, complete = _sample(path, encoding)
    if not text.strip():
        raise InputError(f"{path.name} is empty (it holds only blank lines)", path=str(path))
    sep = _SEP_LINE.match(text.removeprefix("\ufeff"))
    skip = 1 if sep else 0
    notes: tuple[str, ...] = ()
    if sep:
        text = text.removeprefix("\ufeff")[sep.end() :]
        notes = (f"delimiter {sep.group(1)!r} from the first line {sep.group(0).strip()}",)

    def pick(records: list[list[str]]) -> int | None:
        choice = pick_header(records, score or _no_score, header_row, path.name, path)
        return None if choice is None else choice.row - 1

    records_by_delimiter: dict[str, list[list[str]]] = {}
    for delimiter in (sep.group(1),) if sep else DELIMITERS:
        try:
            records_by_delimiter[delimiter] = _parse(text, delimiter)
        except csv.Error:
            continue
    if not records_by_delimiter:
        raise InputError(f"cannot find the header row of {path.name}", path=str(path))
    preferred = "\t" if path.suffix.lower() == ".tsv" else ","

    def rate(delimiter: str) -> tuple[int, bool, bool, bool, float, int, bool]:
        records = records_by_delimiter[delimiter]
        header, data = _header_and_data(records, complete, pick)
        width = len(header)
        if not width:
            return 0, False, False, False, 0.0, 0, False
        filled = [r for r in records if any(c.strip() for c in r)]
        usual = Counter(len(r) for r in filled).most_common(1)[0][0]
        same = sum(len(r) == width for r in data) / len(data) if data else 1.0
        named = (score or _no_score)(header)
        first = header == filled[0]
        return named, width > 1, first, usual >= 3, same, width, delimiter == preferred

    # A header naming more schema columns wins; then a header cut in several cells; then a
    # header on the first row (over one found below a title by its shape); then most rows cut
    # in three cells or more (a table under a title whose header nothing names); then rows cut
    # like the header (this also picks, for a single column, a delimiter that does not cut the
    # data); then the extension's usual one.
    delimiter = max(records_by_delimiter, key=rate)
    if rate(delimiter)[5] == 0:  # the width of the header
        what = "holds only empty rows" if complete else "has no header row in its first 64 KB"
        raise InputError(f"{path.name} is empty (it {what})", path=str(path))
    records = records_by_delimiter[delimiter]
    choice = pick_header(
        _usable(records, complete), score or _no_score, header_row, path.name, path
    )
    assert choice is not None  # a header was found above
    header, data = _header_and_data(records, complete, pick)
    check_header(header, path.name, path)
    width = len(header)
    if data:
        usual, _ = Counter(len(r) for r in data).most_common(1)[0]
        width = max(width, usual)
    if choice.note:
        notes += (choice.note,)
    samples = tuple(r[: len(header)] for r in sample_rows(_usable(records, complete), choice.row))
    return Layout(
        encoding, delimiter, tuple(header), choice.row + skip, width, skip, notes, choice, samples
    )


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
    """Open a delimited text file (``importer.read.open_table``'s text branch): its layout is
    found once, its records are streamed from disk at every ``chunks()``."""
    del fmt, max_unpacked, max_memory  # a text file is streamed, never unpacked or held
    if sheet is not None:
        raise InputError(
            f"{p.name} is a text file and has no sheets (asked for sheet {sheet!r})",
            path=str(p),
        )
    layout = inspect(p, header_row=header_row, score=score)
    shown = layout.header_record - layout.skip
    info = SourceInfo(
        path=p,
        format="csv",
        sheet=None,
        sheets=(),
        headers=header_labels(layout.header, range(1, len(layout.header) + 1)),
        encoding=layout.encoding,
        delimiter=layout.delimiter,
        header_row=shown,
        notes=layout.notes,
        header=layout.header_choice,
        samples=layout.samples,
    )
    return Table(info, lambda: read_batches(p, layout), chunk_rows, max_rows)


def first_rows(p: Path, *, limit: int, header_row: int | None, score: HeaderScore) -> FirstRows:
    """The first ``limit`` records of a text file, cut by the delimiter :func:`inspect` finds
    for the header it takes (``header_row``, or the one ``score`` rates highest)."""
    layout = inspect(p, header_row=header_row, score=score)
    text, complete = _sample(p, layout.encoding)
    records = _usable(_parse(text.removeprefix("\ufeff"), layout.delimiter), complete)
    rows = records[layout.skip : layout.skip + limit]
    return FirstRows(
        path=p,
        format="csv",
        sheet=None,
        sheets=(),
        rows=tuple(tuple(r) for r in rows),
        header_row=layout.header_record - layout.skip,
        notes=layout.notes,
        header=layout.header_choice,
    )


def _no_score(cells: Sequence[str]) -> int:
    return 0


def read_batches(path: Path, layout: Layout) -> Iterator[Batch]:
    """Stream the data rows (after the header) as Arrow text columns with their row numbers."""
    delivered = 0  # the last source row yielded so far
    held: Batch | None = None  # the latest batch, kept back until the next one arrives
    for attempt, block_size in enumerate(BLOCK_SIZES, start=1):
        try:
            for cells, rows in _stream(path, layout, block_size):
                if rows[-1] <= delivered:
                    continue
                if rows[0] <= delivered:
                    keep = rows > delivered
                    cells, rows = cells.filter(pa.array(keep)), rows[keep]
                delivered = int(rows[-1])
                if held is not None:
                    yield held
                held = cells, rows
            if held is not None:
                _check_last_record(path, layout, *held)
                yield held
            return
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise InputError(f"cannot read {path.name}: {exc}", path=str(path)) from exc
            if attempt == len(BLOCK_SIZES):
                raise too_long(path, block_size, delivered or layout.header_record) from exc
        except (pa.ArrowException, OSError, UnicodeError) as exc:
            raise InputError(f"cannot read {path.name}: {exc}", path=str(path)) from exc


def _stream(path: Path, layout: Layout, block_size: int) -> Iterator[Batch]:
    names = [f"f{i}" for i in range(layout.width)]
    pending: deque[tuple[int, list[str] | InputError]] = deque()

    def on_invalid(row: pacsv.InvalidRow) -> str:
        if row.number is None:  # only with threads, which are off
            return "error"
        if row.number <= layout.header_record:  # a title or a date line above the header
            pending.append((row.number, [""] * layout.width))
        else:
            shown = row.number - layout.skip
            pending.append((row.number, _fix_row(row.text, shown, layout, path)))
        return "skip"

    read_options = pacsv.ReadOptions(
        column_names=names,
        use_threads=False,  # serial parsing is what gives invalid rows their numbers
        block_size=block_size,
        skip_rows=layout.skip,
        encoding="utf8" if layout.encoding.startswith("utf-8") else layout.encoding,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=layout.delimiter,
        quote_char='"',
        double_quote=True,
        newlines_in_values=True,
        ignore_empty_lines=False,
        invalid_row_handler=on_invalid,
    )
    convert_options = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, _TEXT),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    next_record = 1 + layout.skip

    def number(group: list[pa.RecordBatch]) -> Batch:
        """Give the rows of consecutive batches their record numbers; merge the odd records."""
        nonlocal next_record
        cells = pa.Table.from_batches(group)
        rows = _record_numbers(next_record, cells.num_rows, pending)
        last = int(rows[-1])
        early = []
        while pending and pending[0][0] < last:
            early.append(pending.popleft())
        if early:
            cells, rows = _merge(cells, rows, early, names)
        next_record = last + 1
        return cells, rows

    with pa.OSFile(str(path)) as source:
        reader = pacsv.open_csv(source, read_options, parse_options, convert_options)
        group: list[pa.RecordBatch] = []
        size = 0
        for batch in reader:
            if batch.num_rows:
                group.append(batch)
                size += batch.num_rows
            if size >= _GROUP_ROWS:
                yield from _finish(*number(group), layout, path)
                group, size = [], 0
        if group:
            yield from _finish(*number(group), layout, path)
        if pending:
            empty = pa.table({n: pa.array([], _TEXT) for n in names})
            cells, rows = _merge(empty, np.zeros(0, np.int64), list(pending), names)
            yield from _finish(cells, rows, layout, path)


# ----------------------------------------------------------------------------------------------


def _sample(path: Path, encoding: str) -> tuple[str, bool]:
    """The first ~64K characters (more until a header line is complete) and whether that is all."""
    decoder = codecs.getincrementaldecoder(encoding)()
    parts: list[str] = []
    size = 0
    with path.open("rb") as fh:
        while True:
            block = fh.read(_SAMPLE)
            parts.append(decoder.decode(block, final=not block))
            size += len(parts[-1])
            if not block:
                return "".join(parts), True
            if size >= _SAMPLE:
                text = "".join(parts)
                stripped = text.lstrip()
                if stripped and any(ch in stripped for ch in "\r\n"):
                    return text, False
                if size >= _MAX_HEADER_LINE:
                    raise InputError(
                        f"{path.name}: no complete header row in its first "
                        f"{_MAX_HEADER_LINE >> 20} MB (no line break); this is not a table of "
                        "rows, or its line breaks are missing",
                        path=str(path),
                    )
                parts = [text]


def _parse(text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return list(itertools.islice(reader, _SNIFF_RECORDS))


def _usable(records: list[list[str]], complete: bool) -> list[list[str]]:
    if not complete and len(records) < _SNIFF_RECORDS:
        return records[:-1] or records  # the last record may be cut by the sample's end
    return records


def _header_and_data(
    records: list[list[str]],
    complete: bool,
    pick: Callable[[list[list[str]]], int | None],
) -> tuple[list[str], list[list[str]]]:
    records = _usable(records, complete)
    start = pick(records)
    if start is None:
        return [], []
    # Rows of empty cells still show how the delimiter cuts a row; empty lines show nothing.
    data = [r for r in records[start + 1 :] if len(r) > 1 or (r and r[0].strip())]
    return records[start], data


def _record_numbers(
    next_record: int, count: int, pending: deque[tuple[int, list[str] | InputError]]
) -> np.ndarray:
    """Record numbers of a batch's rows, skipping those of the invalid records set aside."""
    local = np.arange(count, dtype=np.int64)
    if not pending:
        return local + next_record
    invalid = np.fromiter((n for n, _ in pending), dtype=np.int64, count=len(pending))
    valid_before = invalid - next_record - np.arange(len(invalid), dtype=np.int64)
    return next_record + local + np.searchsorted(valid_before, local, side="right")


def _merge(
    cells: pa.Table,
    rows: np.ndarray,
    extra: list[tuple[int, list[str] | InputError]],
    names: list[str],
) -> Batch:
    for _, fixed in extra:
        if isinstance(fixed, InputError):
            raise fixed
    values = [fixed for _, fixed in extra if not isinstance(fixed, InputError)]
    added = pa.table(
        {name: pa.array([v[i] for v in values], _TEXT) for i, name in enumerate(names)}
    )
    merged = pa.concat_tables([cells, added])
    all_rows = np.concatenate([rows, np.array([n for n, _ in extra], dtype=np.int64)])
    order = np.argsort(all_rows, kind="stable")
    return merged.take(pa.array(order)), all_rows[order]


def _fix_row(text: str, number: int, layout: Layout, path: Path) -> list[str] | InputError:
    """Cells of a record with the wrong cell count, padded to the parse width, or the error."""
    if '"' not in text:  # at most width + 1 pieces, however long the record
        return _fit(text.split(layout.delimiter, layout.width), number, layout, path)
    try:
        records = list(
            csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter, strict=True)
        )
    except csv.Error as exc:
        if "end of data" in str(exc):
            return InputError(
                f'{path.name}, row {number}: a quoted value is never closed (a " opens it and '
                'the file ends before the closing ")',
                path=str(path),
            )
        try:
            records = list(csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter))
        except csv.Error as exc2:
            return InputError(f"{path.name}, row {number}: cannot be read ({exc2})", path=str(path))
    return _fit(records[0] if records else [], number, layout, path)


def _fit(cells: list[str], number: int, layout: Layout, path: Path) -> list[str] | InputError:
    header_width = len(layout.header)
    delimiter = layout.delimiter
    for column, value in enumerate(cells[header_width:], start=header_width + 1):
        if value.strip():  # the last piece may be the unsplit rest of a long record
            for offset, piece in enumerate(_pieces(value, delimiter)):
                if piece.strip():
                    return _beyond_header(path, number, column + offset, piece, header_width)
    cells = cells[: layout.width]
    return cells + [""] * (layout.width - len(cells))


def _pieces(text: str, delimiter: str) -> Iterator[str]:
    """The cells of ``text`` one at a time (no list of millions of cells for a huge record)."""
    start = 0
    while (end := text.find(delimiter, start)) >= 0:
        yield text[start:end]
        start = end + 1
    yield text[start:]


def _check_last_record(path: Path, layout: Layout, cells: pa.Table, rows: np.ndarray) -> None:
    """A quote never closed swallows the rest of the file into the last record's cell.

    pyarrow reads that silently; the signs are a line break in the last row and an odd number
    of ``"`` in the file (counted only when the first sign is there).
    """
    last = cells.slice(cells.num_rows - 1).to_pylist()[0].values()
    if not any("\n" in value or "\r" in value for value in last):
        return
    if layout.encoding == "utf-16":
        return
    quotes = 0
    with path.open("rb") as fh:
        while block := fh.read(SCAN_BLOCK):
            quotes += block.count(b'"')
    if quotes % 2:
        raise InputError(
            f'{path.name}, row {rows[-1]}: a quoted value is never closed (a " opens it and '
            "the rest of the file ends up in this row)",
            path=str(path),
        )


def _beyond_header(path: Path, row: int, column: int, value: str, width: int) -> InputError:
    return InputError(
        f"{path.name}, row {row}: the value {shorten(value)!r} in column {column} is beyond the "
        f"last header column ({width} columns); remove it or give its column a header",
        path=str(path),
    )


def _finish(cells: pa.Table, rows: np.ndarray, layout: Layout, path: Path) -> Iterator[Batch]:
    """Drop the header and what precedes it, check cells beyond the header, drop blank rows."""
    if len(rows) and rows[0] <= layout.header_record:
        keep = rows > layout.header_record
        cells, rows = cells.filter(pa.array(keep)), rows[keep]
    if layout.skip:
        rows = rows - layout.skip  # as Excel numbers them: the sep= line is not a row
    header_width = len(layout.header)
    if layout.width > header_width and cells.num_rows:
        for i in range(header_width, layout.width):
            blank = blank_cells(cells.column(i)).to_numpy(zero_copy_only=False)
            filled = ~np.asarray(blank, dtype=bool)
            if filled.any():
                first = int(np.argmax(filled))
                value = cells.column(i)[first].as_py()
                raise _beyond_header(path, int(rows[first]), i + 1, value, header_width)
        cells = cells.select(list(range(header_width)))
    cells, rows = drop_blank_rows(cells, rows)
    if cells.num_rows:
        yield cells, rows
