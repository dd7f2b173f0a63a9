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

Limits (hostile or broken files meet an :class:`InputError`, never a crash or a runaway): a file
larger than ``max_bytes`` (default 1 GiB for text, 200 MiB for workbooks) is refused before it is
read; more than ``max_rows`` data rows (default 5,000,000) or a cell over 1 MiB stop the reading;
a workbook may unpack to at most 8x ``max_bytes``, never more than 250x its packed size per part,
and a sheet's used range may not exceed 33.5 million cells (.ods: 4.2 million; see
:mod:`importer._zipguard`); a header row has at most 16,384 cells of at most 1,000 characters,
and must end within the first 1 MB of a text file. A NUL byte anywhere in a text file makes it
unreadable (named by line).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from importer.arrow_memory import use_streaming_pool
from importer.errors import InputError
from importer.prefetch import Prefetch

__all__ = ["CellNote", "SourceInfo", "Table", "open_table"]

DEFAULT_MAX_ROWS = 5_000_000
DEFAULT_MAX_BYTES = {"csv": 1 << 30, "xlsx": 200 << 20, "xls": 200 << 20, "ods": 200 << 20}
DEFAULT_MAX_MEMORY = 2 << 30  # the most a workbook read may need by default (--max-memory-mb)
UNPACK_FACTOR = 8  # a zip workbook may unpack to this many times the file-size limit
MAX_HEADER_CELLS = 16_384  # Excel's last column
MAX_LABEL_CHARS = 1_000
MAX_CELL_BYTES = 1 << 20  # 32x Excel's own limit (32,767 characters)
TEXT_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv"}
WORKBOOK_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".ods": "ods"}
_SNIFF_BYTES = 8192

#: A batch of cells (string columns named f0, f1 ..., no nulls, blank rows removed) and the
#: source row number of each of its rows.
Batch = tuple[pa.Table, np.ndarray]


@dataclass(frozen=True)
class CellNote:
    """Something about a block of cells of one column that an error there should mention:
    ``merged cells D5:D14``, a formula never calculated."""

    label: str  # the column's header label
    first_row: int
    last_row: int
    text: str


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
    header_row: int = 1  # the header's row number as Excel shows it
    notes: tuple[str, ...] = ()  # what was decided for the person: "header found on row 3" ...
    cell_notes: tuple[CellNote, ...] = ()  # merged ranges, uncalculated formulas (workbooks)

    @property
    def where(self) -> str:
        """The file (and sheet) for messages: ``people.xlsx, sheet 'Members'``."""
        if self.sheet is None:
            return self.path.name
        return f"{self.path.name}, sheet {self.sheet!r}"


class Table:
    """An opened input: ``info`` plus :meth:`chunks`, which can be iterated repeatedly."""

    def __init__(
        self,
        info: SourceInfo,
        batches: Callable[[], Iterator[Batch]],
        chunk_rows: int,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        self.info = info
        self._batches = batches
        self._chunk_rows = chunk_rows
        self._max_rows = max_rows

    def __repr__(self) -> str:
        return f"Table({self.info.where}, {len(self.info.headers)} columns)"

    def chunks(self, *, read_ahead: bool = False) -> Iterator[pd.DataFrame]:
        """Yield DataFrames of at most ``chunk_rows`` data rows, in file order.

        ``read_ahead``: parse the file in a background thread, one block of rows ahead (see
        :mod:`importer.prefetch`), while the caller works on the current chunk.
        """
        labels = list(self.info.headers)
        seen = 0
        with contextlib.ExitStack() as stack:
            batches = self._batches()
            if read_ahead:
                batches = iter(stack.enter_context(Prefetch(batches, depth=1, name="read")))
            for cells, rows in rechunk(batches, self._chunk_rows):
                seen += cells.num_rows
                if seen > self._max_rows:
                    raise too_many_rows(self.info.where, self._max_rows, self.info.path)
                _check_cell_sizes(cells, rows, labels, self.info)
                yield to_frame(cells, rows, labels)


def _check_cell_sizes(
    cells: pa.Table, rows: np.ndarray, labels: list[str], info: SourceInfo
) -> None:
    """Refuse a cell over 1 MiB: no spreadsheet holds one; a line break or a quote went missing."""
    for i, column in enumerate(cells.columns):
        lengths = pc.binary_length(column)
        if (pc.max(lengths).as_py() or 0) <= MAX_CELL_BYTES:
            continue
        first = int(np.argmax(lengths.to_numpy(zero_copy_only=False) > MAX_CELL_BYTES))
        cell = column.slice(first, 1)  # never copied whole into Python
        size = pc.utf8_length(cell)[0].as_py()
        start = str(pc.utf8_slice_codeunits(cell, 0, 30)[0].as_py())
        raise InputError(
            f"{info.where}, row {rows[first]}, column {labels[i]!r}: a cell of {size:,} "
            f"characters ({start + '…'!r}), more than the {MAX_CELL_BYTES >> 20} MB a cell may "
            "hold; a line break or a closing quote is probably missing",
            path=str(info.path),
        )


def too_many_rows(where: str, limit: int, path: Path) -> InputError:
    """The error for a file with more than ``limit`` data rows."""
    return InputError(
        f"{where} has more than {limit:,} data rows, the limit; split the file, or raise the "
        "limit with --max-rows",
        path=str(path),
    )


def open_table(
    path: str | Path,
    *,
    sheet: str | None = None,
    chunk_rows: int = 250_000,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int | None = None,
    max_memory: int | None = None,
    header_row: int | None = None,
    score: HeaderScore | None = None,
) -> Table:
    """Open a .csv/.tsv/.txt text file or an .xlsx/.xlsm/.xls/.ods workbook.

    ``max_rows`` caps the data rows; ``max_bytes`` the file's size (default: 1 GiB for text,
    200 MiB for workbooks, which may unpack to 8x that); ``max_memory`` what reading a
    workbook's sheet may need (default: :func:`memory_budget`). The header is row ``header_row`` (as
    Excel numbers rows) or else, among the first 20 rows, the one ``score`` rates highest (how
    many schema columns it names; default: the bundled schema's names and aliases), or the first
    non-blank row when none names any. Raises :class:`InputError` (one line naming the file and
    sheet) when the file cannot be read or breaks a limit.
    """
    if header_row is not None and header_row < 1:
        raise ValueError(f"header_row must be at least 1, not {header_row}")
    if score is None:
        from importer.headers import header_scorer

        score = header_scorer()
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    if max_rows < 1 or (max_bytes is not None and max_bytes < 1):
        raise ValueError(f"limits must be positive, not {max_rows=}, {max_bytes=}")
    p = Path(path)
    name = p.name
    if not p.exists():
        raise InputError(f"file not found: {p}", path=str(p))
    if p.is_dir():
        raise InputError(f"{p} is a directory, not a file", path=str(p))
    try:
        mode = p.stat().st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_file(p, mode)
        # O_NONBLOCK: a FIFO swapped in after the check must not block the open forever.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):
                raise _not_a_file(p, opened.st_mode)
            size = opened.st_size
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}", path=str(p)) from exc
    if size == 0:
        raise InputError(f"{name} is empty", path=str(p))

    fmt = _format_of(p, head)
    use_streaming_pool()
    limit = max_bytes or DEFAULT_MAX_BYTES[fmt]
    if size > limit:
        kind = "text" if fmt == "csv" else "workbook"
        raise InputError(
            f"{name} is {size / 2**20:,.1f} MB, more than the {limit / 2**20:,.0f} MB limit for "
            f"{kind} files; split it, or raise the limit with --max-file-mb",
            path=str(p),
        )
    # The readers are imported here because they use the helpers at the end of this module.
    if fmt == "csv":
        from importer import _delimited

        if sheet is not None:
            raise InputError(
                f"{name} is a text file and has no sheets (asked for sheet {sheet!r})",
                path=str(p),
            )
        layout = _delimited.inspect(p, header_row=header_row, score=score)
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
            notes=layout.notes + header_note(shown, header_row),
        )
        return Table(info, lambda: _delimited.read_batches(p, layout), chunk_rows, max_rows)

    from importer import _excel

    book = _excel.read_sheet(
        p,
        fmt,
        sheet,
        max_unpacked=UNPACK_FACTOR * limit,
        header_row=header_row,
        score=score,
        max_memory=max_memory if max_memory is not None else memory_budget(),
    )
    info = SourceInfo(
        path=p,
        format=fmt,
        sheet=book.sheet,
        sheets=book.sheets,
        headers=book.headers,
        encoding=None,
        delimiter=None,
        header_row=book.header_row,
        notes=book.notes + header_note(book.header_row, header_row),
        cell_notes=book.cell_notes,
    )
    if book.cells.num_rows > max_rows:
        raise too_many_rows(info.where, max_rows, p)
    return Table(info, lambda: iter([(book.cells, book.rows)]), chunk_rows, max_rows)


def _not_a_file(p: Path, mode: int) -> InputError:
    """The error for an input that is not a regular file (a FIFO, a device, a socket)."""
    kind = next(
        (
            name
            for test, name in (
                (stat.S_ISFIFO, "a named pipe (FIFO)"),
                (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"),
            )
            if test(mode)
        ),
        "not a regular file",
    )
    return InputError(
        f"{p} is {kind}, not a regular file; save the data to a file and pass that",
        path=str(p),
    )


def memory_budget() -> int:
    """What reading a workbook may use by default: 2 GiB, or a quarter of the machine's memory
    (or of the container's limit) when that is less."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    return min(DEFAULT_MAX_MEMORY, total // 4)


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


#: Rates a row as a header: how many schema columns its cells name.
HeaderScore = Callable[[Sequence[str]], int]
HEADER_SEARCH_ROWS = 20  # the header row is looked for among this many first rows


def pick_header(
    rows: Sequence[Sequence[str]],
    score: HeaderScore,
    header_row: int | None,
    where: str,
    path: Path,
) -> int | None:
    """The 0-based index of the header among ``rows`` (a file's first rows), None if all blank.

    ``header_row`` (1-based, as asked with --header-row) is taken as it is; otherwise the row
    naming most schema columns among the first ``HEADER_SEARCH_ROWS`` (the earliest on a tie),
    or the first non-blank row when no later row names two or more.
    """
    if header_row is not None:
        index = header_row - 1
        if index >= len(rows) or not any(str(c).strip() for c in rows[index]):
            raise InputError(
                f"{where}: row {header_row} (--header-row) is empty or beyond the end; give "
                "the number of the row holding the column names, as Excel shows it",
                path=str(path),
            )
        return index
    first = next((i for i, r in enumerate(rows) if any(str(c).strip() for c in r)), None)
    if first is None:
        return None
    # A later row must name at least two columns: a data row holding "Workspace" (the name of a
    # column too) does not displace a header of unknown labels, which then gets the --map hint.
    best, best_score = first, max(score([str(c) for c in rows[first]]), 1)
    for index in range(first + 1, min(len(rows), HEADER_SEARCH_ROWS)):
        value = score([str(c) for c in rows[index]])
        if value > best_score:
            best, best_score = index, value
    return best


def header_note(row: int, asked: int | None) -> tuple[str, ...]:
    """ "header found on row 3" when the header is not the first row (and was not asked for)."""
    if row == 1 or asked is not None:
        return ()
    return (f"header found on row {row}",)


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis) for messages."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_header(cells: Sequence[str], where: str, path: Path) -> None:
    """Refuse a header row no table has: too many cells, or a cell too long to be a label."""
    if len(cells) > MAX_HEADER_CELLS:
        raise InputError(
            f"{where}: the header row has {len(cells):,} cells, more than {MAX_HEADER_CELLS:,} "
            "(Excel's last column); this is not a table's header",
            path=str(path),
        )
    for position, cell in enumerate(cells, start=1):
        if len(cell) > MAX_LABEL_CHARS:
            raise InputError(
                f"{where}: header cell {position} is {len(cell):,} characters long "
                f"({shorten(cell.strip(), 40)!r}); a header row holds column names of at most "
                f"{MAX_LABEL_CHARS:,} characters",
                path=str(path),
            )


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
    # Comparing lengths with 0: ``pc.equal(column, "")`` is ~6x slower (no fast path).
    return pc.or_(pc.equal(pc.binary_length(column), 0), pc.utf8_is_space(column))


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
