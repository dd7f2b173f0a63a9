"""Read a spreadsheet or delimited text file into DataFrames of text cells.

``open_table(path)`` looks at the file once (format, encoding, delimiter, sheet, header row) and
returns a :class:`Table` whose :meth:`Table.chunks` yields DataFrames of at most ``chunk_rows``
rows. ``chunks()`` may be iterated any number of times: delimited text is streamed from disk again
each time (memory stays bounded however large the file is); a workbook sheet is parsed once by
calamine when the table is opened and kept as compact Arrow strings.

Every chunk has:

* one column per header cell, labelled by ``info.headers``: the header text as written (a BOM is
  removed, a no-break space becomes a plain space), ``column_7`` for an empty header cell in the
  7th column of the sheet/line, and ``label (2)``, ``label (3)`` ... for repeated labels;
* only text values, pandas' ``str`` dtype, never NaN: an empty cell is ``""``. Text cells keep
  exactly what was written (no stripping); workbook number cells are rendered as Excel shows them
  in General format (``123.0`` -> ``"123"``, ``1e20`` -> ``"100000000000000000000"``), booleans
  as ``TRUE``/``FALSE``, dates and times in ISO form, error cells as ``#N/A``, ``#DIV/0!`` ...;
* an ``int64`` index named ``source_row``: the row number a person sees in Excel, the header
  row's own number + 1 for the first data row. Rows whose cells are all empty or whitespace are
  left out and never renumber the rest.

Delimited text: a record is one row. A blank line is a row (Excel shows it as an empty row), a
quoted value spanning several lines is one row, so the number is the record's position in the
file, which is the physical line number until a quoted value contains a line break. Rows shorter
than the header get ``""`` for the missing cells; cells beyond the header are dropped when empty
(a trailing delimiter) and otherwise rejected with an :class:`InputError` naming the row.
Workbooks: every column of the sheet's used range is kept; columns beyond the header, or under an
empty header cell, get ``column_N`` labels unless they are empty throughout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.errors import InputError

__all__ = ["SourceInfo", "Table", "open_table", "sha256_file"]

TEXT_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv"}
WORKBOOK_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".ods": "ods"}
_SNIFF_BYTES = 8192

#: A batch of cells (string columns named f0, f1 ..., no nulls, blank rows removed) and the
#: source row number of each of its rows.
Batch = tuple[pa.Table, np.ndarray]


@dataclass(frozen=True)
class SourceInfo:
    """What was read: the file, its format, the sheet, the header labels and text settings."""

    path: Path
    format: str  # "csv" | "xlsx" | "xls" | "ods"
    sheet: str | None
    sheets: tuple[str, ...]
    headers: tuple[str, ...]
    encoding: str | None
    delimiter: str | None

    @property
    def where(self) -> str:
        """The file (and sheet) for messages: ``people.xlsx, sheet 'Members'``."""
        if self.sheet is None:
            return self.path.name
        return f"{self.path.name}, sheet {self.sheet!r}"


class Table:
    """An opened input: ``info`` plus :meth:`chunks`, which can be iterated repeatedly."""

    def __init__(
        self, info: SourceInfo, batches: Callable[[], Iterator[Batch]], chunk_rows: int
    ) -> None:
        self.info = info
        self._batches = batches
        self._chunk_rows = chunk_rows

    def __repr__(self) -> str:
        return f"Table({self.info.where}, {len(self.info.headers)} columns)"

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Yield DataFrames of at most ``chunk_rows`` data rows, in file order."""
        labels = list(self.info.headers)
        for cells, rows in rechunk(self._batches(), self._chunk_rows):
            yield to_frame(cells, rows, labels)


def open_table(path: str | Path, *, sheet: str | None = None, chunk_rows: int = 250_000) -> Table:
    """Open a .csv/.tsv/.txt text file or an .xlsx/.xlsm/.xls/.ods workbook.

    Raises :class:`InputError` (one line naming the file and sheet) when it cannot be read.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    p = Path(path)
    name = p.name
    if not p.exists():
        raise InputError(f"file not found: {p}", path=str(p))
    if p.is_dir():
        raise InputError(f"{p} is a directory, not a file", path=str(p))
    try:
        size = p.stat().st_size
        with p.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}", path=str(p)) from exc
    if size == 0:
        raise InputError(f"{name} is empty", path=str(p))

    fmt = _format_of(p, head)
    # The readers are imported here because they use the helpers at the end of this module.
    if fmt == "csv":
        from importer import _delimited

        if sheet is not None:
            raise InputError(
                f"{name} is a text file and has no sheets (asked for sheet {sheet!r})",
                path=str(p),
            )
        layout = _delimited.inspect(p)
        info = SourceInfo(
            path=p,
            format="csv",
            sheet=None,
            sheets=(),
            headers=header_labels(layout.header, range(1, len(layout.header) + 1)),
            encoding=layout.encoding,
            delimiter=layout.delimiter,
        )
        return Table(info, lambda: _delimited.read_batches(p, layout), chunk_rows)

    from importer import _excel

    book = _excel.read_sheet(p, fmt, sheet)
    info = SourceInfo(
        path=p,
        format=fmt,
        sheet=book.sheet,
        sheets=book.sheets,
        headers=book.headers,
        encoding=None,
        delimiter=None,
    )
    return Table(info, lambda: iter([(book.cells, book.rows)]), chunk_rows)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes, read in blocks (for run journals and reports)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError as exc:
        raise InputError(f"file not found: {p}", path=str(p)) from exc
    except OSError as exc:
        raise InputError(f"cannot read {p.name}: {exc.strerror or exc}", path=str(p)) from exc


# ----------------------------------------------------------------------------------------------
# helpers shared by importer._delimited and importer._excel


def _format_of(p: Path, head: bytes) -> str:
    suffix = p.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "csv"
    if suffix in WORKBOOK_SUFFIXES:
        return WORKBOOK_SUFFIXES[suffix]
    if looks_like_text(head):
        return "csv"
    kind = f"'{p.suffix}' files" if p.suffix else "files without an extension"
    raise InputError(
        f"{p.name}: unsupported file type ({kind} holding binary data); expected a .csv, .tsv "
        "or .txt text file or an .xlsx, .xlsm, .xls or .ods workbook",
        path=str(p),
    )


def looks_like_text(head: bytes) -> bool:
    """True when the first bytes of a file look like text (UTF-8/16 or cp1252, no NUL)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    controls = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 12, 13))
    if controls * 100 > len(head):
        return False
    for encoding in ("utf-8", "cp1252"):
        try:
            head.decode(encoding)
        except UnicodeDecodeError as exc:
            if encoding == "utf-8" and exc.start >= len(head) - 3:
                return True  # a character cut by the end of the sample
        else:
            return True
    return False


def clean_label(text: str) -> str:
    """The BOM/NBSP-only cleanup applied to header cells."""
    return text.replace("\ufeff", "").replace("\xa0", " ")


def header_labels(cells: Sequence[str], positions: Iterable[int]) -> tuple[str, ...]:
    """Labels for header cells: cleaned text, ``column_N`` for empty ones, unique with `` (2)``."""
    bases = []
    for cell, position in zip(cells, positions, strict=True):
        text = clean_label(cell)
        bases.append(text if text.strip() else f"column_{position}")
    taken = set(bases)
    used: set[str] = set()
    labels = []
    for base in bases:
        label = base
        if label in used:
            n = 2
            while f"{base} ({n})" in used or f"{base} ({n})" in taken:
                n += 1
            label = f"{base} ({n})"
        used.add(label)
        labels.append(label)
    return tuple(labels)


def blank_cells(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Boolean array: the cell is empty or whitespace only (no nulls expected)."""
    return pc.or_(pc.equal(column, ""), pc.utf8_is_space(column))


def blank_rows(cells: pa.Table) -> np.ndarray:
    """Boolean numpy mask of the rows whose every cell is empty or whitespace."""
    if cells.num_columns == 0:
        return np.ones(cells.num_rows, dtype=bool)
    mask = blank_cells(cells.column(0))
    for i in range(1, cells.num_columns):
        if not pc.any(mask).as_py():
            break  # usually decided by the first column alone
        mask = pc.and_(mask, blank_cells(cells.column(i)))
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def drop_blank_rows(cells: pa.Table, rows: np.ndarray) -> Batch:
    """Remove the rows whose cells are all empty or whitespace."""
    blank = blank_rows(cells)
    if not blank.any():
        return cells, rows
    keep = ~blank
    return cells.filter(pa.array(keep)), rows[keep]


def rechunk(batches: Iterator[Batch], chunk_rows: int) -> Iterator[Batch]:
    """Regroup batches into pieces of exactly ``chunk_rows`` rows (the last may be shorter)."""
    pending: list[Batch] = []
    count = 0
    for cells, rows in batches:
        if cells.num_rows == 0:
            continue
        pending.append((cells, rows))
        count += cells.num_rows
        if count < chunk_rows:
            continue
        merged = pa.concat_tables([c for c, _ in pending])
        all_rows = np.concatenate([r for _, r in pending])
        start = 0
        while count - start >= chunk_rows:
            yield merged.slice(start, chunk_rows), all_rows[start : start + chunk_rows]
            start += chunk_rows
        pending = [(merged.slice(start), all_rows[start:])] if start < count else []
        count -= start
    if count:
        yield pa.concat_tables([c for c, _ in pending]), np.concatenate([r for _, r in pending])


def to_frame(cells: pa.Table, rows: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """A DataFrame of ``str`` columns labelled ``labels`` and indexed by ``source_row``."""
    frame: pd.DataFrame = cells.rename_columns(
        [f"f{i}" for i in range(cells.num_columns)]
    ).to_pandas()
    frame.columns = pd.Index(labels)
    frame.index = pd.Index(np.asarray(rows, dtype=np.int64), name="source_row")
    return frame
