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
:mod:`importer.read`); a header row has at most 16,384 cells of at most 1,000 characters,
and must end within the first 1 MB of a text file. A NUL byte anywhere in a text file makes it
unreadable (named by line).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from importer.core import TEXT_SUFFIXES, WORKBOOK_SUFFIXES, ImportOptions, InputError
from importer.read import _delimited as _delimited
from importer.read import _excel as _excel
from importer.read import _isolate as _isolate
from importer.read._child import Job
from importer.read._header_row import HEADER_SEARCH_ROWS
from importer.read._headers import header_scorer
from importer.read._isolate import default_read_timeout
from importer.read._table import (
    DEFAULT_MAX_ROWS,
    CellNote,
    FirstRows,
    HeaderScore,
    SourceInfo,
    Table,
    looks_like_text,
)

__all__ = [
    "DEFAULT_MAX_ROWS",
    "CellNote",
    "FirstRows",
    "SourceInfo",
    "Table",
    "default_read_timeout",
    "first_rows",
    "memory_budget",
    "open_input",
    "open_table",
]

DEFAULT_MAX_BYTES = {"csv": 1 << 30, "xlsx": 200 << 20, "xls": 200 << 20, "ods": 200 << 20}
DEFAULT_MAX_MEMORY = 2 << 30  # the most a workbook read may need by default (--max-memory-mb)
UNPACK_FACTOR = 8  # a zip workbook may unpack to this many times the file-size limit
_SNIFF_BYTES = 8192


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
    read_timeout: float | None = None,
    isolate: bool = True,
) -> Table:
    """Open a .csv/.tsv/.txt text file or an .xlsx/.xlsm/.xls/.ods workbook.

    ``max_rows`` caps the data rows; ``max_bytes`` the file's size (default: 1 GiB for text,
    200 MiB for workbooks, which may unpack to 8x that); ``max_memory`` what reading a
    workbook's sheet may need (default: :func:`memory_budget`). The header is row ``header_row`` (as
    Excel numbers rows) or else, among the first 20 rows, the one ``score`` rates highest (how
    many schema columns it names; default: the bundled schema's names and aliases), or the first
    non-blank row when none names any. Raises :class:`InputError` (one line naming the file and
    sheet) when the file cannot be read or breaks a limit.

    A workbook is read in a child process (:mod:`importer.read._isolate`) that is stopped after
    ``read_timeout`` seconds (default: :func:`default_read_timeout` of the file's size) and may
    grow by ``max_memory`` bytes at most; a reader that hangs, explodes or crashes ends in an
    InputError too. ``score`` goes to the child, so it must be picklable and importable there
    without the caller's modules: :func:`header_scorer`'s scorer or :func:`no_score`.
    ``isolate=False`` reads it in this process instead, unguarded (benchmarks compare the two).
    """
    if header_row is not None and header_row < 1:
        raise ValueError(f"header_row must be at least 1, not {header_row}")
    if score is None:
        score = header_scorer()
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    if max_rows < 1 or (max_bytes is not None and max_bytes < 1):
        raise ValueError(f"limits must be positive, not {max_rows=}, {max_bytes=}")
    _check_timeout(read_timeout)
    p = Path(path)
    fmt, limit = _checked_file(p, max_bytes)
    memory = max_memory if max_memory is not None else memory_budget()
    # Each reader owns its format's branch: text is streamed, a workbook's sheet read once.
    if fmt == "csv" or not isolate:
        opener = _delimited.open_table if fmt == "csv" else _excel.open_table
        return opener(
            p,
            fmt,
            sheet=sheet,
            chunk_rows=chunk_rows,
            max_rows=max_rows,
            max_unpacked=UNPACK_FACTOR * limit,
            max_memory=memory,
            header_row=header_row,
            score=score,
        )
    book = _isolate.read_isolated(
        Job("sheet", p, fmt, sheet, UNPACK_FACTOR * limit, header_row, score, memory),
        timeout=_timeout(p, read_timeout),
    )
    return _excel.sheet_table(
        p, fmt, book, header_row=header_row, chunk_rows=chunk_rows, max_rows=max_rows
    )


def first_rows(
    path: str | Path,
    *,
    sheet: str | None = None,
    header_row: int | None = None,
    limit: int = HEADER_SEARCH_ROWS,
    max_bytes: int | None = None,
    max_memory: int | None = None,
    score: HeaderScore | None = None,
    read_timeout: float | None = None,
) -> FirstRows:
    """The first ``limit`` rows of a file (a workbook's sheet, chosen as :func:`open_table`
    chooses it), rows above the header included, and the header row :func:`open_table` would
    take with the same ``header_row``: what a person looks at to say which row holds the column
    names. The same checks and limits as :func:`open_table` (a workbook is read in a child
    process, within ``read_timeout``); raises the same ``InputError``s."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    _check_timeout(read_timeout)
    p = Path(path)
    fmt, size_limit = _checked_file(p, max_bytes)
    score = score or header_scorer()
    if fmt == "csv":
        if sheet is not None:
            raise InputError(
                f"{p.name} is a text file and has no sheets (asked for sheet {sheet!r})",
                path=str(p),
            )
        return _delimited.first_rows(p, limit=limit, header_row=header_row, score=score)
    memory = max_memory if max_memory is not None else memory_budget()
    job = Job(
        "first_rows", p, fmt, sheet, UNPACK_FACTOR * size_limit, header_row, score, memory, limit
    )
    rows: FirstRows = _isolate.read_isolated(job, timeout=_timeout(p, read_timeout))
    return rows


def _check_timeout(read_timeout: float | None) -> None:
    if read_timeout is not None and not read_timeout > 0:
        raise ValueError(f"read_timeout must be positive, not {read_timeout}")


def _timeout(p: Path, read_timeout: float | None) -> float:
    """The deadline of reading ``p`` in a child: as asked, or as big files need."""
    if read_timeout is not None:
        return read_timeout
    with contextlib.suppress(OSError):
        return default_read_timeout(p.stat().st_size)
    return default_read_timeout(0)


def _checked_file(p: Path, max_bytes: int | None) -> tuple[str, int]:
    """Refuse what is no readable file of ours (missing, a directory, a FIFO, empty, too big);
    its format and size limit."""
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
    limit = max_bytes or DEFAULT_MAX_BYTES[fmt]
    if size > limit:
        kind = "text" if fmt == "csv" else "workbook"
        raise InputError(
            f"{name} is {size / 2**20:,.1f} MB, more than the {limit / 2**20:,.0f} MB limit for "
            f"{kind} files; split it, or raise the limit with --max-file-mb",
            path=str(p),
        )
    return fmt, limit


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


def open_input(path: str | Path, options: ImportOptions) -> Table:
    """Open ``path`` with the sheet, chunk size and limits of ``options``."""
    return open_table(
        path,
        sheet=options.sheet,
        chunk_rows=options.chunk_rows,
        max_rows=options.max_rows,
        max_bytes=options.max_file_bytes,
        max_memory=options.max_memory_mb << 20 if options.max_memory_mb else None,
        read_timeout=options.read_timeout,
        header_row=options.header_row,
        score=header_scorer(options.mapping),
    )
