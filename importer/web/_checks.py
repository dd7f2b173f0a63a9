"""Reading an upload and checking its rows, through the library's own functions.

The page reads a file as ``importer validate`` does (``open_input``: the same limits, reader and
header search), with the header row and the columns the person chose, and checks every row as
``validate_table`` does, block by block, so that an edit checks its block again and the duplicate
check then runs over every row.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from importer.core import (
    TEXT_SUFFIXES,
    WORKBOOK_SUFFIXES,
    ApiSettings,
    ImporterError,
    ImportOptions,
    InputError,
)
from importer.read import (
    DEFAULT_MAX_BYTES,
    MAX_CELL_BYTES,
    CellNote,
    ColumnSuggestion,
    FirstRows,
    HeaderMap,
    display_fields,
    first_rows,
    match_headers,
    missing_columns,
    no_score,
    open_input,
    suggest_columns,
)
from importer.validate import (
    CheckedChunk,
    DuplicateTracker,
    check_chunk,
    finish_chunk,
    name_lookups,
    read_intake,
    with_cell_notes,
)
from importer.web._words import IGNORE, needed_words, plain

__all__ = [
    "ALLOWED_SUFFIXES",
    "MAX_CELL_BYTES",
    "PREVIEW_LIMIT",
    "PREVIEW_ROWS",
    "Checked",
    "Source",
    "auto_mapping",
    "check_rows",
    "ignored_labels",
    "library_mapping",
    "max_upload_bytes",
    "preview",
    "read_source",
    "suggestions",
    "write_working_copy",
]

#: File types accepted, as the CLI's (``importer.read``).
ALLOWED_SUFFIXES = frozenset({*TEXT_SUFFIXES, *WORKBOOK_SUFFIXES})
#: Rows shown to choose the header row from.
PREVIEW_ROWS = 12
#: Rows read for the header step (the header is searched for among as many)
PREVIEW_LIMIT = 30
_IGNORED_SUFFIX = " (ignored)"
_BLOCK = 10_000  # rows checked together; an edit checks its block again, then the duplicates


def max_upload_bytes(suffix: str) -> int:
    """The CLI's default size limit for a file of this type."""
    kind = TEXT_SUFFIXES.get(suffix) or WORKBOOK_SUFFIXES[suffix]
    return DEFAULT_MAX_BYTES[kind]


def preview(path: Path, sheet: str | None, header_row: int | None) -> tuple[FirstRows, str]:
    """The first rows of the file (``sheet``) and the header row the reader takes, or asked for.

    When the reader cannot choose a sheet by itself (the first names no column, several others
    do), the first sheet is shown with the reader's reason, so the person can choose: (rows,
    that reason in words), else (rows, "").

    Raises:
        InputError: the file cannot be read, as ``importer validate`` would say.
    """
    try:
        return first_rows(path, sheet=sheet, header_row=header_row, limit=PREVIEW_LIMIT), ""
    except InputError as exc:
        if sheet is not None or path.suffix.lower() not in WORKBOOK_SUFFIXES:
            raise
        rows = first_rows(path, header_row=header_row, limit=PREVIEW_LIMIT, score=no_score)
        return rows, plain(str(exc))


@dataclass
class Source:
    """An input read whole as text cells (what the grid shows and edits)."""

    format: str
    sheet: str | None
    headers: tuple[str, ...]
    cells: pd.DataFrame  # text cells ("" for empty), indexed by source row
    last_row: int  # the highest source row (blank rows included in the numbering)
    where: str  # the file and sheet, for messages
    header_row: int = 1  # the header's row number, as Excel shows it
    notes: tuple[str, ...] = ()  # what the reader decided ("skipped the totals row" ...)
    cell_notes: tuple[CellNote, ...] = ()  # merged ranges, uncalculated formulas


def read_source(path: Path, sheet: str | None, header_row: int) -> Source:
    """Read ``path`` (the sheet ``sheet``, the header on ``header_row``) as ``importer validate``
    would: ``open_input``, the same limits and reader.

    Raises:
        InputError: as ``importer validate`` would, one line.
    """
    table = open_input(path, ImportOptions(sheet=sheet, header_row=header_row))
    parts = list(table.chunks())
    info = table.info
    cells = pd.concat(parts) if parts else pd.DataFrame(columns=list(info.headers))
    cells = cells.astype(pd.StringDtype("pyarrow")).fillna("")
    cells.columns = list(info.headers)
    if cells.empty:
        raise InputError(f"{info.where}: no rows below the column names (row {header_row})")
    return Source(
        format=info.format,
        sheet=info.sheet,
        headers=info.headers,
        cells=cells,
        last_row=int(cells.index.max()),
        where=info.where,
        header_row=info.header_row,
        notes=info.notes,
        cell_notes=info.cell_notes,
    )


def suggestions(source: Source) -> dict[str, ColumnSuggestion]:
    """What each column holds, as the CLI suggests it (``suggest_columns``: its header and its
    first values; an HR number is never a member id)."""
    rows = source.cells.head(PREVIEW_LIMIT).to_numpy().tolist()
    return {s.header: s for s in suggest_columns(source.headers, rows)}


def auto_mapping(headers: Sequence[str]) -> dict[str, str]:
    """Each header's column under the library's own matching (names and aliases: what it reads
    without being told), or ``IGNORE``."""
    try:
        found = match_headers(headers, where="", required=[])
    except InputError:
        return dict.fromkeys(headers, IGNORE)
    by_label = {label: name for name, label in {**found.columns, **found.names}.items()}
    return {h: by_label.get(h, IGNORE) for h in headers}


def library_mapping(headers: Sequence[str], chosen: dict[str, str]) -> dict[str, str]:
    """The page's choices as the library's ``mapping``: only where they differ from the match."""
    auto = auto_mapping(headers)
    return {h: c for h, c in chosen.items() if c != IGNORE and h in auto and auto[h] != c}


def ignored_labels(headers: Sequence[str], chosen: dict[str, str]) -> dict[str, str]:
    """Headers the person left out that the matching would use -> their working label."""
    auto = auto_mapping(headers)
    return {
        h: h + _IGNORED_SUFFIX
        for h, c in chosen.items()
        if c == IGNORE and auto.get(h, IGNORE) != IGNORE
    }


def columns_problem(headers: Sequence[str], chosen: dict[str, str]) -> str | None:
    """What keeps the columns as chosen from being read, in words (``None``: nothing)."""
    used: dict[str, str] = {}
    for header in headers:
        target = chosen.get(header, IGNORE)
        if target == IGNORE:
            continue
        if target in used:
            return f"'{used[target]}' and '{header}' are both read as the same thing; keep one"
        used[target] = header
    missing = missing_columns(list(used))
    if {"member_id", "member_type"} <= set(missing):
        missing.remove("member_type")  # an e-mail or project column gives both
    if missing:
        return "Still to choose: " + "; ".join(needed_words(missing)) + "."
    return None


@dataclass
class Checked:
    """The result of checking every row: the header match and one error line per failing row."""

    headers: HeaderMap | None
    errors: pd.DataFrame  # error_field (as the CLI words it), error_message, schema_fields
    mapping_error: str | None  # why the rows cannot be checked (the columns), in words
    blocks: list[CheckedChunk | None] = field(default_factory=list, repr=False)

    def bad_columns(self, fields: str) -> list[str]:
        """The file headers of the fields named in an ``error_field`` ("member_id; member")."""
        if self.headers is None:
            return []
        where = {**self.headers.columns, **self.headers.names}
        out: list[str] = []
        for name in fields.split("; "):
            for column in ("member_id", "member_type") if name == "member" else (name,):
                if column in where and where[column] not in out:
                    out.append(where[column])
        return out


def check_rows(
    source: Source,
    chosen: dict[str, str],
    *,
    api: ApiSettings | None,
    ignored: frozenset[int] = frozenset(),
    transport: httpx.BaseTransport | None = None,
    changed_row: int | None = None,
    previous: Checked | None = None,
) -> Checked:
    """Check every row but the ``ignored`` as ``importer validate`` does, with the page's
    column choices.

    The sheet goes through the CLI's header matching and name resolution, then, as in
    ``validate_table``, blocks of rows through ``check_chunk`` (the cells) and, in row order with
    one ``DuplicateTracker``, ``finish_chunk`` (duplicates across the whole file). After an edit
    (``changed_row``, with the ``previous`` result) only that row's block is checked again; the
    duplicate pass always runs over every block.
    """
    problem = columns_problem(source.headers, chosen)
    if problem:
        return Checked(None, _no_errors(), problem)
    renamed = ignored_labels(source.headers, chosen)
    labels = [renamed.get(h, h) for h in source.headers]
    where = source.where
    try:
        intake = read_intake(labels, where=where, mapping=library_mapping(source.headers, chosen))
    except ImporterError as exc:
        return Checked(None, _no_errors(), plain(str(exc)))
    cells = source.cells
    if ignored:
        cells = cells[~cells.index.isin(list(ignored))]
    starts = range(0, len(cells), _BLOCK)
    blocks = list(previous.blocks) if previous is not None and previous.blocks else []
    if changed_row is not None and len(blocks) == len(starts):
        todo = [int(cells.index.searchsorted(changed_row)) // _BLOCK]
    else:
        blocks = [None] * len(starts)
        todo = list(range(len(starts)))
    try:
        with name_lookups(intake, api, where=where, transport=transport):
            for i in todo:
                block = cells.iloc[i * _BLOCK : (i + 1) * _BLOCK].set_axis(labels, axis=1)
                ready = intake.prepare(block)
                blocks[i] = check_chunk(ready.cells, ready.headers, prior=ready.errors)
    except ImporterError as exc:
        return Checked(None, _no_errors(), plain(str(exc)))
    done = [b for b in blocks if b is not None]
    if not done:
        return Checked(_unrenamed(intake.headers, renamed), _no_errors(), None, blocks)
    errors = finish_chunk(_joined(done), DuplicateTracker(), valid_rows=False).errors
    # As validate_table words them: fields by the file's names, cell notes added.
    errors["schema_fields"] = errors["error_field"]
    errors["error_field"] = display_fields(errors["error_field"], intake.headers)
    if source.cell_notes and not errors.empty:
        errors = with_cell_notes(errors, source.cell_notes)
    return Checked(_unrenamed(intake.headers, renamed), errors, None, blocks)


def _joined(blocks: list[CheckedChunk]) -> CheckedChunk:
    """Checked blocks as one (for one duplicate pass: the same result as block by block with
    one tracker, as ``validate_table`` does, at a tenth of the per-block overhead)."""
    if len(blocks) == 1:
        return blocks[0]
    first = blocks[0]
    parsed = {
        name: (
            np.concatenate([b.parsed[name][0] for b in blocks]),
            np.concatenate([b.parsed[name][1] for b in blocks]),
        )
        for name in first.parsed
    }
    rows = np.concatenate([b.rows for b in blocks])
    messages = pd.concat([b.messages for b in blocks], ignore_index=True)
    return CheckedChunk(rows, parsed, messages, first.spec)


def _unrenamed(headers: HeaderMap, renamed: dict[str, str]) -> HeaderMap:
    back = {v: k for k, v in renamed.items()}
    return HeaderMap(
        columns=headers.columns,
        extras=tuple(back.get(h, h) for h in headers.extras),
        names=headers.names,
    )


def _no_errors() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "error_field": pd.Series(dtype="str"),
            "error_message": pd.Series(dtype="str"),
            "schema_fields": pd.Series(dtype="str"),
        },
        index=pd.Index([], dtype="int64", name="source_row"),
    )


def write_working_copy(
    source: Source, chosen: dict[str, str], folder: Path, ignored: frozenset[int] = frozenset()
) -> Path:
    """The input as the library will read it: the person's edits applied, columns left out
    renamed, ignored rows blank.

    Rows keep their numbers (blank rows are written blank), so every report names the row the
    person saw. A text file becomes UTF-8 CSV; a workbook an .xlsx with the same sheet name.
    """
    renamed = ignored_labels(source.headers, chosen)
    labels = [renamed.get(h, h) for h in source.headers]
    top = source.header_row
    cells = source.cells
    if ignored:
        cells = cells[~cells.index.isin(list(ignored))]
    full = cells.reindex(pd.RangeIndex(top + 1, source.last_row + 1), fill_value="")
    if source.format == "csv":
        path = folder / "input.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerows([[]] * (top - 1))  # the header keeps its row (rows above blank)
            writer.writerow(labels)
            writer.writerows(full.itertuples(index=False, name=None))
        return path
    return _write_workbook(folder / "input.xlsx", source.sheet or "Sheet1", labels, full, top)


def _write_workbook(
    path: Path, sheet: str, labels: list[str], full: pd.DataFrame, top: int
) -> Path:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)

    def cell(value: str) -> Any:
        if not value:
            return None
        if value.startswith("="):  # text, not a formula: the person typed it as a value
            c = WriteOnlyCell(ws, value=value)
            c.data_type = "s"
            return c
        return value

    for _ in range(top - 1):
        ws.append([])
    ws.append([cell(h) for h in labels])
    for row in full.itertuples(index=False, name=None):
        ws.append([cell(v) for v in row])
    book.save(path)
    return path
