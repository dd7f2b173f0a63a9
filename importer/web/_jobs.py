"""Every call the web page makes into the library, in one place.

The page does what the CLI does, through the same functions: ``plan_file`` for "check against
the server", ``run_import`` for "send", the header matching of ``importer.read`` for the
column mapping, and the row checks of ``importer.validate`` (the ones ``validate_file`` runs on
each chunk) for the grid and its cell edits. Nothing else in ``importer.web`` imports the
pipeline.

Two things are in flux (issue 13) and are adapted here only:

* ``plan_file``'s words: today ``create``/``exists``/``conflict``/``invalid``; the page shows the
  new classes ``new``/``exists``/``differs``/``missing reference`` (``WORDS``);
* ``ImportOptions.differs`` ("report" | "move" | "add") and ``importer.jobs.undo_run``: used when
  the library has them (``supports_differs()``, ``supports_undo()``), refused clearly otherwise.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from importer.core import (
    DIFFERS_MODES,
    TEXT_SUFFIXES,
    WORKBOOK_SUFFIXES,
    ApiSettings,
    ImporterError,
    ImportOptions,
    InputError,
    load_row_schema,
)
from importer.jobs import (
    PLAN_FILE,
    ImportResult,
    Progress,
    plan_file,
    run_import,
)
from importer.read import (
    DEFAULT_MAX_BYTES,
    MAX_CELL_BYTES,
    CellNote,
    HeaderMap,
    display_fields,
    match_headers,
    open_input,
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

__all__ = [
    "ALLOWED_SUFFIXES",
    "DIFFERS_CHOICES",
    "IGNORE",
    "MAX_CELL_BYTES",
    "PLAN_CLASSES",
    "WORDS",
    "Checked",
    "Source",
    "check_rows",
    "column_choices",
    "max_upload_bytes",
    "plan",
    "plan_rows",
    "read_source",
    "send",
    "supports_differs",
    "supports_undo",
    "undo",
    "write_working_copy",
]

#: File types accepted, as the CLI's (``importer.read``).
ALLOWED_SUFFIXES = frozenset({*TEXT_SUFFIXES, *WORKBOOK_SUFFIXES})
#: The mapping choice that leaves a column out of the import.
IGNORE = "ignore"
#: What a plan class is called on the page (today's plan_file word -> the issue 13 word).
WORDS = {
    "create": "new",
    "new": "new",
    "exists": "exists",
    "conflict": "differs",
    "differs": "differs",
    "missing reference": "missing reference",
    "missing_reference": "missing reference",
    "invalid": "invalid",
}
PLAN_CLASSES = ("new", "exists", "differs", "missing reference", "invalid")
#: What a run does with rows that differ: the CLI's default / --move / --add.
DIFFERS_CHOICES = DIFFERS_MODES
_IGNORED_SUFFIX = " (ignored)"


def supports_differs() -> bool:
    """True when ``ImportOptions`` has the ``differs`` choice (issue 13)."""
    return "differs" in {f.name for f in dataclasses.fields(ImportOptions)}


def supports_undo() -> bool:
    """True when the library has ``importer.jobs.undo_run`` (issue 13)."""
    try:
        module = importlib.import_module("importer.jobs")
    except ImportError:
        return False
    return hasattr(module, "undo_run")


def max_upload_bytes(suffix: str) -> int:
    """The CLI's default size limit for a file of this type (``--max-file-mb``)."""
    kind = TEXT_SUFFIXES.get(suffix) or WORKBOOK_SUFFIXES[suffix]
    return DEFAULT_MAX_BYTES[kind]


def column_choices() -> list[str]:
    """What a header can be mapped to: the schema's columns, then its name columns."""
    spec = load_row_schema()
    return [*spec.column_names, *(a.name for a in spec.alternates)]


@dataclass
class Source:
    """An input read whole as text cells (what the grid shows and edits)."""

    format: str
    sheet: str | None
    sheets: tuple[str, ...]
    headers: tuple[str, ...]
    cells: pd.DataFrame  # text cells ("" for empty), indexed by source row
    last_row: int  # the highest source row (blank rows included in the numbering)
    where: str  # the file and sheet, for messages
    header_row: int = 1  # the header's row number, as Excel shows it
    notes: tuple[str, ...] = ()  # what the reader decided ("header found on row 3" ...)
    cell_notes: tuple[CellNote, ...] = ()  # merged ranges, uncalculated formulas


def read_source(path: Path, sheet: str | None, chosen: dict[str, str] | None = None) -> Source:
    """Read ``path`` (the sheet ``sheet``) as ``importer validate`` would (``open_input``: the
    same limits, header-row search and reader), with the page's column choices.

    Raises:
        InputError: as ``importer validate`` would, one line.
    """
    chosen = chosen or {}
    options = ImportOptions(sheet=sheet, mapping=library_mapping(list(chosen), chosen))
    table = open_input(path, options)
    parts = list(table.chunks())
    info = table.info
    cells = pd.concat(parts) if parts else pd.DataFrame(columns=list(info.headers))
    cells = cells.astype(pd.StringDtype("pyarrow")).fillna("")
    cells.columns = list(info.headers)
    if cells.empty:
        raise InputError(f"{info.where} has a header row but no data rows", path=str(path))
    return Source(
        format=info.format,
        sheet=info.sheet,
        sheets=info.sheets,
        headers=info.headers,
        cells=cells,
        last_row=int(cells.index.max()),
        where=info.where,
        header_row=info.header_row,
        notes=info.notes,
        cell_notes=info.cell_notes,
    )


@dataclass
class Checked:
    """The result of checking every row: the header match and one error line per failing row."""

    headers: HeaderMap | None
    errors: pd.DataFrame  # error_field (as the CLI words it), error_message, schema_fields
    mapping_error: str | None
    suggested: dict[str, str]  # file header -> column, as the CLI would match it ("" = none)
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


def suggested_mapping(headers: Sequence[str]) -> dict[str, str]:
    """Each header's column under the CLI's automatic matching (aliases, case, spaces)."""
    try:
        found = match_headers(headers, where="", required=[])
    except InputError:
        return dict.fromkeys(headers, "")
    by_label = {label: name for name, label in {**found.columns, **found.names}.items()}
    return {h: by_label.get(h, "") for h in headers}


def library_mapping(headers: Sequence[str], chosen: dict[str, str]) -> dict[str, str]:
    """The ``--map`` equivalent of the page's choices: only where they differ from the match."""
    auto = suggested_mapping(headers)
    return {h: c for h, c in chosen.items() if c and c != IGNORE and h in auto and auto[h] != c}


def ignored_labels(headers: Sequence[str], chosen: dict[str, str]) -> dict[str, str]:
    """Headers the person chose to ignore that the matching would use -> their working label."""
    auto = suggested_mapping(headers)
    return {
        h: h + _IGNORED_SUFFIX
        for h, c in chosen.items()
        if c == IGNORE and auto.get(h) and h in auto
    }


_BLOCK = 10_000  # rows checked together; an edit checks its block again, then the duplicates


def check_rows(
    source: Source,
    chosen: dict[str, str],
    *,
    api: ApiSettings | None,
    transport: httpx.BaseTransport | None = None,
    changed_row: int | None = None,
    previous: Checked | None = None,
) -> Checked:
    """Check every row as ``importer validate`` does, with the page's column choices.

    The sheet goes through the CLI's header matching and name resolution, then, as in
    ``validate_table``, blocks of rows through ``check_chunk`` (the cells) and, in row order with
    one ``DuplicateTracker``, ``finish_chunk`` (duplicates across the whole file). After an edit
    (``changed_row``, with the ``previous`` result) only that row's block is checked again; the
    duplicate pass always runs over every block.
    """
    suggested = suggested_mapping(source.headers)
    renamed = ignored_labels(source.headers, chosen)
    labels = [renamed.get(h, h) for h in source.headers]
    where = source.where
    try:
        intake = read_intake(labels, where=where, mapping=library_mapping(source.headers, chosen))
    except ImporterError as exc:
        return Checked(None, _no_errors(), str(exc), suggested)
    cells = source.cells
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
        return Checked(None, _no_errors(), str(exc), suggested)
    done = [b for b in blocks if b is not None]
    errors = finish_chunk(_joined(done), DuplicateTracker(), valid_rows=False).errors
    # As validate_table words them: fields by the file's names, cell notes added.
    errors["schema_fields"] = errors["error_field"]
    errors["error_field"] = display_fields(errors["error_field"], intake.headers)
    if source.cell_notes and not errors.empty:
        errors = with_cell_notes(errors, source.cell_notes)
    return Checked(_unrenamed(intake.headers, renamed), errors, None, suggested, blocks)


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


def write_working_copy(source: Source, chosen: dict[str, str], folder: Path) -> Path:
    """The input as the library will read it: the person's edits applied, ignored columns renamed.

    Rows keep their numbers (blank rows are written blank), so every report names the row the
    person saw. A text file becomes UTF-8 CSV; a workbook an .xlsx with the same sheet name.
    """
    renamed = ignored_labels(source.headers, chosen)
    labels = [renamed.get(h, h) for h in source.headers]
    top = source.header_row
    full = source.cells.reindex(pd.RangeIndex(top + 1, source.last_row + 1), fill_value="")
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


def _options(
    sheet: str | None,
    headers: Sequence[str],
    chosen: dict[str, str],
    header_row: int,
    **kwargs: Any,
) -> ImportOptions:
    """The options of the CLI command for the working copy (whose header is where it was)."""
    mapping = library_mapping(headers, chosen)
    return ImportOptions(sheet=sheet, mapping=mapping, header_row=header_row, **kwargs)


def plan(
    path: Path,
    out: Path,
    *,
    sheet: str | None,
    headers: Sequence[str],
    chosen: dict[str, str],
    header_row: int,
    api: ApiSettings,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, int]:
    """``importer plan`` on the working copy: counts per page class (``PLAN_CLASSES``)."""
    plan_file(
        path,
        api=api,
        out_dir=out,
        options=_options(sheet, headers, chosen, header_row),
        transport=transport,
    )
    actions = plan_rows(out)["action"]
    return {c: int(np.sum(actions.to_numpy() == c)) for c in PLAN_CLASSES}


def plan_rows(out: Path) -> pd.DataFrame:
    """``plan.csv`` of a plan, its ``action`` in the page's words."""
    frame = pd.read_csv(out / PLAN_FILE, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame["action"] = frame["action"].map(lambda a: WORDS.get(a, a))
    return frame


class Watch(httpx.BaseTransport):
    """The HTTP transport of a send, counting requests and transient failures as they happen.

    ``run_import`` takes a transport (its public ``transport=``); this one is httpx's own with the
    pool the client would size, wrapped so the page can show retries while a run goes on
    (``ImportResult`` has the exact count at the end).
    """

    TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})

    def __init__(self, api: ApiSettings) -> None:
        pool = max(4, api.concurrency * 2)
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self._inner = httpx.HTTPTransport(limits=limits)
        self._lock = threading.Lock()
        self.requests = 0
        self.transient = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
        try:
            response = self._inner.handle_request(request)
        except httpx.TransportError:
            with self._lock:
                self.transient += 1
            raise
        if response.status_code in self.TRANSIENT:
            with self._lock:
                self.transient += 1
        return response

    def close(self) -> None:
        """Kept open across the run's clients; ``shut`` closes it."""

    def shut(self) -> None:
        self._inner.close()


def send(
    path: Path,
    out: Path,
    *,
    sheet: str | None,
    headers: Sequence[str],
    chosen: dict[str, str],
    header_row: int,
    differs: str,
    api: ApiSettings,
    batch_size: int,
    progress: Callable[[Progress], None],
    cancel: threading.Event,
    transport: httpx.BaseTransport | None = None,
) -> ImportResult:
    """``importer run`` on the working copy (resumes from ``out``'s journal, as the CLI).

    ``transport``: a ``Watch`` to follow the requests live (or any httpx transport).
    """
    extra: dict[str, Any] = {"batch_size": batch_size}
    if supports_differs():
        extra["differs"] = differs
    elif differs != "report":
        raise InputError(f"differs={differs!r} needs a newer importer (issue 13)")
    return run_import(
        path,
        out_dir=out,
        options=_options(sheet, headers, chosen, header_row, **extra),
        api=api,
        transport=transport,
        progress=progress,
        cancel=cancel,
    )


def undo(
    results: Path,
    *,
    api: ApiSettings,
    progress: Callable[[Progress], None],
    cancel: threading.Event,
    transport: httpx.BaseTransport | None = None,
) -> ImportResult:
    """``importer.jobs.undo_run`` on a run's results (issue 13; see ``supports_undo``)."""
    if not supports_undo():
        raise InputError("undo needs a newer importer (importer.jobs.undo_run, issue 13)")
    module = importlib.import_module("importer.jobs")
    result: ImportResult = module.undo_run(
        results, api=api, transport=transport, progress=progress, cancel=cancel
    )
    return result
