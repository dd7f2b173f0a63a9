"""Validate a whole input, chunk by chunk: the step ``validate``, ``run`` and ``plan`` share.

Reading and checking run a chunk ahead in background threads (:mod:`importer.read`); the
duplicate check and the reports follow in file order on the caller's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from importer.core import STAGE_VALIDATION, ApiSettings, ImportOptions, InputError
from importer.jobs._result import Progress, ProgressCallback
from importer.read import (
    CellNote,
    HeaderMap,
    Prefetch,
    SourceInfo,
    Table,
    display_fields,
    header_scorer,
    open_table,
)
from importer.report import Outcomes, ReportWriter
from importer.validate import (
    CheckedChunk,
    DuplicateTracker,
    Intake,
    check_chunk,
    finish_chunk,
    name_lookups,
    no_valid_rows,
    read_intake,
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


def default_out_dir(path: str | Path) -> Path:
    """``people.xlsx`` -> ``people.xlsx-results/`` next to it.

    The whole file name, extension included: ``people.csv`` and ``people.xlsx`` side by side get
    folders of their own (each with its own run journal), and the folder sorts next to its file.
    """
    p = Path(path)
    return p.with_name(f"{p.name}-results")


def with_cell_notes(errors: pd.DataFrame, notes: Sequence[CellNote]) -> pd.DataFrame:
    """Add to an error the note of the cells it is about ("merged cells D5:D14", a formula
    never calculated): rows in the note's block whose ``error_field`` names its column."""
    rows = errors.index.to_numpy(dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    fields = errors["error_field"].to_numpy(dtype=object)
    messages = errors["error_message"].to_numpy(dtype=object).copy()
    for note in notes:
        lo, hi = np.searchsorted(rows[order], [note.first_row, note.last_row + 1])
        for at in order[lo:hi]:
            names = str(fields[at]).split("; ")
            if any(n == note.label or n.startswith(note.label + " [") for n in names):
                messages[at] = f"{messages[at]} ({note.text})"
    return errors.assign(error_message=messages)


@dataclass
class Validated:
    """What validating a whole input found: its valid rows (typed, by source row) and counts."""

    info: SourceInfo
    headers: HeaderMap
    valid: pd.DataFrame
    rows: int
    failed: int


def intake_for(info: SourceInfo, options: ImportOptions) -> Intake:
    """How the input's columns are read (``read_intake`` with the options' mapping)."""
    return read_intake(
        info.headers,
        where=info.where,
        mapping=options.mapping,
        samples=info.samples,
        header=info.header,
    )


def errors_report(out: Path, info: SourceInfo, intake: Intake) -> ReportWriter:
    """The report of a job that creates nothing (``validate``, ``plan``): errors only."""
    return ReportWriter(
        out,
        info.headers,
        sheet=info.sheet,
        write_success=False,
        excel=info.format != "csv",
        labels=intake.labels,
    )


def validate_table(
    table: Table,
    intake: Intake,
    outcomes: Outcomes,
    progress: ProgressCallback | None,
    writer: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
    *,
    keep: bool = True,
) -> Validated:
    """Validate every chunk. ``keep=False`` (``validate``, which has ``writer``): valid rows and
    errors are not kept in memory, so memory does not grow with the file."""
    info = table.info
    duplicates = DuplicateTracker()
    parts: list[pd.DataFrame] = []
    rows = failed = 0

    if intake.resolver is not None and progress is not None:
        # Looking 100,000 names up takes a while: say what is looked up, and how far it is.
        report = progress
        intake.resolver.report_to(lambda what, done, total: report(Progress(what, done, total)))

    def checked() -> Iterator[tuple[pd.DataFrame, CheckedChunk]]:
        for chunk in table.chunks(read_ahead=True):
            ready = intake.prepare(chunk)  # names -> IDs, when the file has name columns
            yield chunk, check_chunk(ready.cells, ready.headers, prior=ready.errors)

    # Reading and checking run a chunk ahead in a thread; duplicates and reports stay in order.
    with Prefetch(checked(), depth=1, name="validate") as ahead:
        for chunk, cells in ahead:
            result = finish_chunk(cells, duplicates, valid_rows=keep)
            fields = display_fields(result.errors["error_field"], intake.headers)
            result.errors["error_field"] = fields
            if info.cell_notes and not result.errors.empty:
                result.errors = with_cell_notes(result.errors, info.cell_notes)
            if keep:
                parts.append(result.valid)
                outcomes.failed_frame(result.errors, STAGE_VALIDATION)
            if writer is not None:
                errors = result.errors.assign(status="failed", error_stage=STAGE_VALIDATION)
                writer(chunk, errors)
            rows += len(chunk)
            failed += len(result.errors)
            del chunk, cells, result  # a few chunks in memory at a time, never the file
            if progress:
                progress(Progress("validate", rows, None))
    if rows == 0:
        raise InputError(f"{info.where} has a header row but no data rows", path=str(info.path))
    valid = pd.concat(parts) if parts else no_valid_rows()
    return Validated(info, intake.headers, valid, rows, failed)


@dataclass
class CheckedInput:
    """An input opened and validated whole, with its results folder: what ``run`` and ``plan``
    start from."""

    table: Table
    out: Path
    intake: Intake
    outcomes: Outcomes
    validated: Validated


def check_input(
    path: str | Path,
    options: ImportOptions,
    api: ApiSettings | None,
    *,
    out_dir: str | Path | None,
    transport: httpx.BaseTransport | None,
    progress: ProgressCallback | None,
    before: Callable[[Path], object] | None = None,
) -> CheckedInput:
    """Open ``path``, look names up through ``api`` when it has name columns, validate every row.

    ``before`` is called with the results folder once the file is open, before the (long)
    validation: ``run`` makes the folder there, so a folder it cannot write fails at once.
    """
    table = open_input(path, options)
    info = table.info
    out = Path(out_dir) if out_dir is not None else default_out_dir(path)
    intake = intake_for(info, options)
    if before is not None:
        before(out)
    outcomes = Outcomes()
    with name_lookups(intake, api, where=info.where, transport=transport):
        validated = validate_table(table, intake, outcomes, progress)
    return CheckedInput(table, out, intake, outcomes, validated)
