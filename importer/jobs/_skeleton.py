"""The skeleton every job that reads a file shares: open the input, look names up, check every
row, [the job's own step: nothing, plan, or send], write the per-row results and the summary.

``validate_file``, ``plan_file`` and ``run_import`` are this skeleton plus a few lines each:

    source = Source.open(path, options, out_dir)      # open, header, results folder
    checked = source.check(api, transport=..., progress=...)   # names -> IDs, every row checked
    ...                                                # the job's own step
    files = source.report(final, ...)                  # per-row results (a second read)
    return source.finish(command, counts, exit_code, files, extra)   # summary.json

Reading and checking run a chunk ahead in background threads (:mod:`importer.read`); the
duplicate check and the reports follow in file order on the caller's thread. This module loads
the data stack (pandas, pyarrow, pandera): a job imports it when it runs, so that ``importer.jobs``
itself (and ``importer doctor``) does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from importer.core import (
    STAGE_VALIDATION,
    ApiSettings,
    ImportOptions,
    InputError,
    default_out_dir,
    sha256_file,
    write_json,
)
from importer.jobs._result import ImportResult, Progress, ProgressCallback, summary_record
from importer.read import (
    HeaderMap,
    Prefetch,
    SourceInfo,
    Table,
    display_fields,
    open_input,
)
from importer.report import SUMMARY_FILE, Outcomes, ReportWriter
from importer.validate import (
    CheckedChunk,
    DuplicateTracker,
    Intake,
    check_chunk,
    finish_chunk,
    name_lookups,
    no_valid_rows,
    read_intake,
    with_cell_notes,
)


@dataclass
class Validated:
    """What validating a whole input found: its valid rows (typed, by source row) and counts."""

    info: SourceInfo
    headers: HeaderMap
    valid: pd.DataFrame
    rows: int
    failed: int


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
class Source:
    """An input opened, its header row read and its results folder chosen: where every job that
    reads a file starts. ``timings`` gathers the seconds of each step (``lap``)."""

    table: Table
    intake: Intake
    out: Path
    options: ImportOptions
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # the report writer's, for the summary
    _t0: float = field(default_factory=time.perf_counter, repr=False)
    _lap: float = field(default_factory=time.perf_counter, repr=False)

    @classmethod
    def open(cls, path: str | Path, options: ImportOptions, out_dir: str | Path | None) -> Source:
        """Open ``path`` (sheet, limits and header mapping of ``options``); the results folder is
        ``out_dir`` or ``default_out_dir(path)`` (not created here)."""
        started, t0 = datetime.now(UTC), time.perf_counter()
        table = open_input(path, options)
        info = table.info
        intake = read_intake(
            info.headers,
            where=info.where,
            mapping=options.mapping,
            samples=info.samples,
            header=info.header,
        )
        out = Path(out_dir) if out_dir is not None else default_out_dir(path)
        return cls(table, intake, out, options, started, _t0=t0, _lap=t0)

    @property
    def info(self) -> SourceInfo:
        return self.table.info

    @cached_property
    def sha256(self) -> str:
        """The input's content hash (read once)."""
        return sha256_file(self.info.path)

    def lap(self, step: str) -> None:
        """Record the seconds since the last lap as ``step``'s."""
        now = time.perf_counter()
        self.timings[step] = now - self._lap
        self._lap = now

    def total(self) -> None:
        """Record the seconds since the input was opened as ``total``."""
        self.timings["total"] = time.perf_counter() - self._t0

    def check(
        self,
        api: ApiSettings | None,
        *,
        transport: httpx.BaseTransport | None,
        progress: ProgressCallback | None,
        stream_errors: bool = False,
    ) -> Checked:
        """Look names up through ``api`` (when the file has name columns) and check every row.

        ``stream_errors`` (``validate``): each chunk's errors are written to the errors report
        as they are found (``Checked.files``) and nothing is kept in memory; else the valid rows
        and the failures are kept for the job's own step.
        """
        outcomes = Outcomes()
        writer: ReportWriter | None = None
        with name_lookups(self.intake, api, where=self.info.where, transport=transport):
            writer = self.errors_report() if stream_errors else None
            try:
                validated = validate_table(
                    self.table,
                    self.intake,
                    outcomes,
                    progress,
                    writer.write_chunk if writer is not None else None,
                    keep=writer is None,
                )
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
        files = writer.close() if writer is not None else {}
        self.lap("validate")
        return Checked(validated, outcomes, files)

    def errors_report(self) -> ReportWriter:
        """The report of a job that creates nothing (``validate``, ``plan``): errors only."""
        writer = ReportWriter(
            self.out,
            self.info.headers,
            sheet=self.info.sheet,
            write_success=False,
            excel=self.info.format != "csv",
            labels=self.intake.labels,
        )
        self.warnings = writer.warnings
        return writer

    def report(
        self,
        final: pd.DataFrame,
        *,
        write_success: bool,
        progress: ProgressCallback | None,
        total: int,
        names: Sequence[str] = (),
    ) -> dict[str, Path]:
        """Every row's result (``final``: outcomes by source row, with the ``names`` columns),
        joined to the input read a second time chunk by chunk: ``success.csv``, ``errors.csv``
        (+ ``errors.xlsx``)."""
        writer = ReportWriter(
            self.out,
            self.info.headers,
            sheet=self.info.sheet,
            write_success=write_success,
            excel=self.info.format != "csv",
            labels=self.intake.labels,
            ids=list(self.intake.filled.values()),
            names=names,
        )
        self.warnings = writer.warnings
        written = 0
        for chunk in self.table.chunks():
            writer.write_chunk(chunk, final)
            written += len(chunk)
            if progress:
                progress(Progress("report", written, total))
        return writer.close()

    def finish(
        self,
        command: str,
        counts: dict[str, int],
        exit_code: int,
        files: dict[str, Path],
        extra: dict[str, Any],
        fatal: str | None = None,
    ) -> ImportResult:
        """Write ``summary.json`` (the input, counts, exit code, timings, ``extra``) and return
        the job's result."""
        summary = summary_record(
            command=command,
            info=self.info,
            sha=self.sha256,
            counts=counts,
            exit_code=exit_code,
            timings=self.timings,
            started=self.started,
            notes=(*self.table.footer_notes, *self.intake.headers.notes),
            extra={**extra, **self.intake.summary(), "warnings": self.warnings},
        )
        files[SUMMARY_FILE] = write_json(self.out / SUMMARY_FILE, summary)
        return ImportResult(exit_code, counts, self.out, files, summary, fatal)


@dataclass
class Checked:
    """Every row of an input checked: the valid rows (typed, by source row), the counts, and
    the failures so far (``outcomes``)."""

    validated: Validated
    outcomes: Outcomes
    files: dict[str, Path] = field(default_factory=dict)  # the errors report, when streamed
