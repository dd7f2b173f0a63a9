"""``importer run``: validate a file, send its valid rows in bulk, write a result for every row.

``run_import`` is the library call behind the CLI (a scheduler or a notebook calls it and gets an
``ImportResult``, never a process exit). Nothing here prints: progress goes to an optional
callback.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.core import NAME_COLUMNS, ApiSettings, ImportOptions, make_out_dir
from importer.jobs._heartbeat import Heartbeat
from importer.jobs._result import ImportResult, ProgressCallback

if TYPE_CHECKING:
    import httpx

__all__ = ["run_import"]


def run_import(
    path: str | Path,
    *,
    out_dir: str | Path | None = None,
    options: ImportOptions | None = None,
    api: ApiSettings | None = None,
    transport: httpx.BaseTransport | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """Validate ``path``, send its valid rows in bulk, and write a result for every row.

    Args:
        path: the CSV/TSV/XLSX/XLS/ODS file.
        out_dir: the results folder (default: ``<name>-results`` next to the input).
        options: sheet, batch size, header mapping, dry run.
        api: base URL, token, concurrency, rate, retries (default: ``ApiSettings.from_env()``,
            ``$KANTATA_BASE_URL`` and ``$KANTATA_API_TOKEN`` as the CLI reads them).
        transport: an httpx transport to use instead of the network (tests, proxies).
        progress: called with ``Progress`` events, at least every second or two while the
            run works (a wait for replies in doubt counts down: phase ``wait``).
        cancel: set it (from a signal handler, another thread) to stop sending: requests in
            flight finish, unsent rows are reported ``not_processed``, the journal keeps the rest
            for the next run.

    Returns:
        The counts, files and exit code. Server refusals of the whole run (bad token, server
        unreachable) are reported in ``exit_code``/``fatal``, with unsent rows ``not_processed``.

    Raises:
        InputError: the file cannot be read, the sheet is unknown, a required column is missing,
            the file has name columns to resolve but ``api`` has no token.
        ApiError: the names could not be looked up (token refused, server unreachable).
    """
    if progress is not None and not isinstance(progress, Heartbeat):
        with Heartbeat(progress) as beat:  # events at least every second or two
            return run_import(
                path,
                out_dir=out_dir,
                options=options,
                api=api,
                transport=transport,
                progress=beat,
                cancel=cancel,
            )
    from importer.jobs import _steps  # the data stack loads here
    from importer.jobs._skeleton import Source
    from importer.report import PAYLOADS_FILE
    from importer.send import JOURNAL_FILE

    options = options or ImportOptions()
    api = api or ApiSettings.from_env()
    source = Source.open(path, options, out_dir)
    make_out_dir(source.out)  # before the (long) check: a folder it cannot write fails at once
    checked = source.check(api, transport=transport, progress=progress)
    valid = checked.validated.valid
    extra: dict[str, Any] = {"base_url": api.base_url, "batch_size": options.batch_size}
    sent, files = _steps.Sent(), {}
    if options.dry_run:
        payloads = source.out / PAYLOADS_FILE
        extra["batches"] = _steps.write_payloads(payloads, valid, options.batch_size)
        files[PAYLOADS_FILE] = payloads
    elif len(valid):
        sent = _steps.send_rows(
            source, checked, api, transport=transport, cancel=cancel, progress=progress
        )
        extra.update(sent.extra)
        files[JOURNAL_FILE] = source.out / JOURNAL_FILE
    source.lap("send")
    final = _steps.with_names(
        _steps.final_outcomes(source, checked),
        valid,
        sent,
        source.out,
        known=source.intake.member_labels,
    )
    files.update(
        source.report(
            final,
            write_success=not options.dry_run,
            progress=progress,
            total=checked.validated.rows,
            names=NAME_COLUMNS,
        )
    )
    source.lap("report")
    source.total()
    counts = _steps.run_counts(final, checked, dry_run=options.dry_run)
    extra.update(_steps.resumed_counts(final, counts, sent))
    failed = counts["failed_validation"] + counts["failed_remote"] + counts["not_processed"]
    fatal = str(sent.fatal) if sent.fatal else None
    return source.finish(
        "run --dry-run" if options.dry_run else "run",
        counts,
        sent.exit_code(failed),
        files,
        {**extra, "fatal_error": fatal},
        fatal=fatal,
    )
