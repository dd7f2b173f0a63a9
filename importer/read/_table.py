"""What every reader of :mod:`importer.read` makes and shares: the :class:`Table` of text cells, its
:class:`SourceInfo`, and the helpers for header rows, blank rows and chunks (a module of its own so
that the readers and ``importer.read`` import it, and not each other)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from importer.core import EXCEL_COLUMNS, InputError
from importer.read._footer import FOOTER_ROWS, footer_rows
from importer.read._header_row import HEADER_SEARCH_ROWS, HeaderChoice, choose_header_row
from importer.read._prefetch import Prefetch

if TYPE_CHECKING:  # pandas is imported where frames are made: a workbook's reader child needs none
    import pandas as pd

DEFAULT_MAX_ROWS = 5_000_000
MAX_HEADER_CELLS = EXCEL_COLUMNS
MAX_LABEL_CHARS = 1_000
MAX_CELL_BYTES = 1 << 20  # 32x Excel's own limit (32,767 characters)

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
    # How the header row was chosen and why, and the first data rows (for column suggestions):
    # how the file was read, not what it holds, so not compared.
    header: HeaderChoice | None = field(default=None, compare=False)
    samples: tuple[tuple[str, ...], ...] = field(default=(), compare=False)

    @property
    def header_reason(self) -> str:
        """Why the header row was taken: ``row 4: it names 4 expected columns``."""
        why = self.header.reason if self.header is not None else "the row asked for"
        return f"row {self.header_row}: {why}"

    @property
    def where(self) -> str:
        """The file (and sheet) for messages: ``people.xlsx, sheet 'Members'``."""
        if self.sheet is None:
            return self.path.name
        return f"{self.path.name}, sheet {self.sheet!r}"


@dataclass(frozen=True)
class FirstRows:
    """The first rows of a file or sheet as a person sees them, above the header included.

    ``rows[i]`` is row ``i + 1`` as Excel numbers it (a blank row is an empty tuple or a tuple of
    empty cells); ``header_row`` is the row :func:`importer.read.open_table` would take as the
    header (1-based).
    """

    path: Path
    format: str  # "csv" | "xlsx" | "xls" | "ods"
    sheet: str | None
    sheets: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    header_row: int
    notes: tuple[str, ...] = ()
    header: HeaderChoice | None = field(default=None, compare=False)  # how, and why


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
        self._footer_notes: tuple[str, ...] = ()

    @property
    def footer_notes(self) -> tuple[str, ...]:
        """Once the rows have been read: the footer lines left out at the end ("skipped the
        footer line on row 15 ('Total: 300 starters'): not a member")."""
        return self._footer_notes

    @property
    def notes(self) -> tuple[str, ...]:
        """What was decided for the person: ``info.notes``, then :attr:`footer_notes`."""
        return self.info.notes + self._footer_notes

    def __repr__(self) -> str:
        return f"Table({self.info.where}, {len(self.info.headers)} columns)"

    def chunks(self, *, read_ahead: bool = False) -> Iterator[pd.DataFrame]:
        """Yield DataFrames of at most ``chunk_rows`` data rows, in file order.

        ``read_ahead``: parse the file in a background thread, one block of rows ahead (see
        :mod:`importer.read`), while the caller works on the current chunk.
        """
        labels = list(self.info.headers)
        seen = 0
        with contextlib.ExitStack() as stack:
            batches = self._without_footer(self._batches())
            if read_ahead:
                batches = iter(stack.enter_context(Prefetch(batches, depth=1, name="read")))
            for cells, rows in rechunk(batches, self._chunk_rows):
                seen += cells.num_rows
                if seen > self._max_rows:
                    raise too_many_rows(self.info.where, self._max_rows, self.info.path)
                _check_cell_sizes(cells, rows, labels, self.info)
                yield to_frame(cells, rows, labels)

    def _without_footer(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        """``batches`` less the footer lines at the end (the last rows are held back until the
        end is known, then looked at: see :mod:`importer.read._footer`)."""
        pending: Batch | None = None
        for cells, rows in batches:
            if cells.num_rows == 0:
                continue
            if pending is not None:
                cells = pa.concat_tables([pending[0], cells])
                rows = np.concatenate([pending[1], rows])
            cut = max(cells.num_rows - FOOTER_ROWS, 0)
            if cut:
                yield cells.slice(0, cut), rows[:cut]
            pending = cells.slice(cut), rows[cut:]
        if pending is None:
            return
        cells, rows = pending
        tail = [[str(v) for v in row.values()] for row in cells.to_pylist()]
        found = footer_rows(tail)
        notes = []
        for cells_of_row, row in zip(
            tail[len(tail) - found :], rows[len(tail) - found :], strict=True
        ):
            text = " | ".join(c.strip() for c in cells_of_row if c.strip())
            notes.append(f"skipped the footer line on row {row} ({shorten(text)!r}): not a member")
        self._footer_notes = tuple(notes)
        keep = len(tail) - found
        if keep:
            yield cells.slice(0, keep), rows[:keep]


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


def pick_header(
    rows: Sequence[Sequence[str]],
    score: HeaderScore,
    header_row: int | None,
    where: str,
    path: Path,
) -> HeaderChoice | None:
    """The header among ``rows`` (a file's first rows), None if all blank: as
    :func:`importer.read.choose_header_row` finds it, or row ``header_row`` (1-based, as asked
    with --header-row), which must not be blank.
    """
    choice = choose_header_row(rows, score, header_row=header_row)
    if choice is None and header_row is not None:
        raise InputError(
            f"{where}: row {header_row} (--header-row) is empty or beyond the end; give "
            "the number of the row holding the column names, as Excel shows it",
            path=str(path),
        )
    return choice


def sample_rows(rows: Sequence[Sequence[str]], header_row: int) -> tuple[tuple[str, ...], ...]:
    """The non-blank rows below the header among the first rows read (values for
    :func:`importer.read.suggest_columns`)."""
    below = (tuple(str(c) for c in r) for r in rows[header_row:])
    return tuple(r for r in below if any(c.strip() for c in r))[:HEADER_SEARCH_ROWS]


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
    import pandas as pd

    frame: pd.DataFrame = cells.rename_columns(
        [f"f{i}" for i in range(cells.num_columns)]
    ).to_pandas()
    frame.columns = pd.Index(labels)
    frame.index = pd.Index(np.asarray(rows, dtype=np.int64), name="source_row")
    return frame
