"""The pipeline: load -> validate -> batch -> send -> report.

``validate_file`` and ``run_import`` are the library API behind the CLI (a scheduler or a notebook
calls them and gets an ``ImportResult``, never a process exit). Nothing here prints: progress goes
to an optional callback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from importer.api import KantataClient
from importer.api import describe as describe_pace
from importer.core import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_ROWS_FAILED,
    NAME_COLUMNS,
    STAGE_NOT_PROCESSED,
    STAGE_REMOTE,
    STAGE_VALIDATION,
    STATUS_CREATED,
    STATUS_EXISTED,
    STATUS_MOVED,
    ApiError,
    ApiSettings,
    Cancelled,
    FatalApiError,
    ImportOptions,
    sha256_file,
)
from importer.jobs._heartbeat import Heartbeat
from importer.jobs._result import ImportResult, Progress, ProgressCallback, summary_record
from importer.jobs._table import (
    check_input,
    default_out_dir,
    errors_report,
    intake_for,
    open_input,
    validate_table,
)
from importer.read import display_fields
from importer.report import (
    PAYLOADS_FILE,
    SUMMARY_FILE,
    Outcomes,
    ReportWriter,
    earlier_names,
    make_out_dir,
    name_columns,
    private_opener,
    write_json,
)
from importer.send import (
    JOURNAL_FILE,
    ROW_IN_FLIGHT,
    Journal,
    SendReport,
    iter_batches,
    send_all,
)
from importer.validate import name_lookups, origin_digest

# ImportResult and Progress live in importer.jobs._result; they are part of this module's API too.
__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_ROWS_FAILED",
    "ImportResult",
    "Progress",
    "ProgressCallback",
    "default_out_dir",
    "open_input",
    "run_import",
    "validate_file",
]


def validate_file(
    path: str | Path,
    *,
    out_dir: str | Path | None = None,
    options: ImportOptions | None = None,
    progress: ProgressCallback | None = None,
    api: ApiSettings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ImportResult:
    """Check every row of ``path``; write ``errors.csv`` and the summary.

    No network, unless the file has name columns (``department``, ``member_email`` ...): those
    are resolved to IDs through ``api`` (GET requests only).

    Raises:
        InputError: the file cannot be read, the sheet is unknown, a required column is missing,
            names must be resolved but ``api`` has no token.
        ApiError: names could not be looked up (token refused, server unreachable).
    """
    if progress is not None and not isinstance(progress, Heartbeat):
        with Heartbeat(progress) as beat:  # events at least every second or two
            return validate_file(
                path, out_dir=out_dir, options=options, progress=beat, api=api, transport=transport
            )
    options = options or ImportOptions()
    api = api or ApiSettings.from_env()
    started, t0 = datetime.now(UTC), time.perf_counter()
    table = open_input(path, options)
    info = table.info
    out = Path(out_dir) if out_dir is not None else default_out_dir(path)
    intake = intake_for(info, options)
    outcomes = Outcomes()
    with name_lookups(intake, api, where=info.where, transport=transport):
        writer = errors_report(out, info, intake)
        try:
            v = validate_table(table, intake, outcomes, progress, writer.write_chunk, keep=False)
        except BaseException:
            writer.abort()
            raise
    files = writer.close()
    counts = {
        "rows": v.rows,
        "valid": v.rows - v.failed,
        "failed_validation": v.failed,
    }
    exit_code = EXIT_OK if v.failed == 0 else EXIT_ROWS_FAILED
    summary = summary_record(
        command="validate",
        info=info,
        sha=sha256_file(info.path),
        counts=counts,
        exit_code=exit_code,
        timings={"validate": time.perf_counter() - t0},
        started=started,
        notes=(*table.footer_notes, *intake.headers.notes),
        extra={
            "columns": v.headers.columns,
            "extra_columns": list(v.headers.extras),
            **intake.summary(),
            "warnings": writer.warnings,
        },
    )
    files[SUMMARY_FILE] = write_json(out / SUMMARY_FILE, summary)
    return ImportResult(exit_code, counts, out, files, summary)


def _write_payloads(path: Path, valid: pd.DataFrame, size: int) -> int:
    n = 0
    with open(path, "w", encoding="utf-8", opener=private_opener) as fh:
        for batch in iter_batches(valid, size):
            fh.write(
                json.dumps({"batch": batch.number, "rows": batch.rows, "body": batch.payload()})
            )
            fh.write("\n")
            n += 1
    return n


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
    if progress is None:
        return _run_import(path, out_dir, options, api, transport, None, cancel)
    with Heartbeat(progress) as beat:
        return _run_import(path, out_dir, options, api, transport, beat, cancel)


def _run_import(
    path: str | Path,
    out_dir: str | Path | None,
    options: ImportOptions | None,
    api: ApiSettings | None,
    transport: httpx.BaseTransport | None,
    progress: Heartbeat | None,
    cancel: threading.Event | None,
) -> ImportResult:
    """:func:`run_import`, its progress wrapped in a heartbeat."""
    options = options or ImportOptions()
    api = api or ApiSettings.from_env()
    started = datetime.now(UTC)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    checked = check_input(
        path, options, api, out_dir=out_dir, transport=transport, progress=progress,
        before=make_out_dir,
    )  # fmt: skip
    table, out, intake, outcomes, v = (
        checked.table, checked.out, checked.intake, checked.outcomes, checked.validated
    )  # fmt: skip
    info = table.info
    timings["validate"] = time.perf_counter() - t0
    n_valid = len(v.valid)
    extra: dict[str, Any] = {"base_url": api.base_url, "batch_size": options.batch_size}
    fatal: ApiError | None = None
    send_report: SendReport | None = None
    interrupted = False
    files: dict[str, Path] = {}
    sha = sha256_file(info.path)

    t1 = time.perf_counter()
    if options.dry_run:
        extra["batches"] = _write_payloads(out / PAYLOADS_FILE, v.valid, options.batch_size)
        files[PAYLOADS_FILE] = out / PAYLOADS_FILE
    elif n_valid:
        identity = {
            "sha256": sha,
            "sheet": info.sheet or "",
            "mapping": json.dumps(options.mapping),
        }
        if intake.resubmission:  # edited again and again: the same rows of the first file
            del identity["sha256"]
            identity["resubmitted_rows"] = origin_digest(table, intake)
        fatal, interrupted, sent_rows, send_report = _send(
            v.valid,
            out,
            identity,
            options,
            api,
            transport,
            cancel,
            progress,
            outcomes,
            extra,
            resubmission=intake.resubmission,
        )
        files[JOURNAL_FILE] = out / JOURNAL_FILE
        unsent = v.valid.index[~v.valid.index.isin(outcomes.done_rows())]
        if len(unsent):
            why = f"the run stopped early: {fatal}" if fatal else "the run was interrupted"
            sent = unsent[unsent.isin(sent_rows)]
            if len(sent):
                outcomes.failed(
                    sent.tolist(),
                    STAGE_NOT_PROCESSED,
                    "",
                    f"sent, but the reply was not seen ({why}); the next run looks these rows "
                    "up on the server before sending anything",
                )
            rest = unsent[~unsent.isin(sent_rows)]
            if len(rest):
                outcomes.failed(
                    rest.tolist(), STAGE_NOT_PROCESSED, "", f"not sent ({why}); run again to resume"
                )
    timings["send"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    final = outcomes.frame()  # in a dry run valid rows have no outcome: payloads.jsonl has them
    final = final.join(intake.resolved_ids(v.valid))  # success.csv shows IDs found from names
    final["error_field"] = display_fields(final["error_field"], intake.headers)
    # Who and where by name, from what the send looked up anyway (no request for them).
    final = final.join(_names(v.valid, send_report, out, intake.member_labels))
    final[NAME_COLUMNS] = final[NAME_COLUMNS].astype(object).fillna("").astype("str")
    writer = ReportWriter(
        out,
        info.headers,
        sheet=info.sheet,
        write_success=not options.dry_run,
        excel=info.format != "csv",
        labels=intake.labels,
        ids=list(intake.filled.values()),
        names=NAME_COLUMNS,
    )
    written = 0
    for chunk in table.chunks():
        writer.write_chunk(chunk, final)
        written += len(chunk)
        if progress:
            progress(Progress("report", written, v.rows))
    files.update(writer.close())
    timings["report"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0

    counts = _counts(final, v.rows, n_valid, dry_run=options.dry_run)
    resumed = send_report.resumed_rows if send_report is not None else None
    if resumed is not None and len(resumed):
        # A resumed run: what this run did apart from what earlier runs of the folder did.
        earlier = _counts(final.loc[resumed], 0, 0, dry_run=False)
        extra["counts_earlier_runs"] = {k: v for k, v in earlier.items() if k not in _TOTALS}
        extra["counts_this_run"] = {k: counts[k] - earlier[k] for k in extra["counts_earlier_runs"]}
    failed = counts["failed_validation"] + counts["failed_remote"] + counts["not_processed"]
    if fatal is not None:
        exit_code = EXIT_REFUSED
    elif interrupted:
        exit_code = EXIT_INTERRUPTED
    else:
        exit_code = EXIT_ROWS_FAILED if failed else EXIT_OK
    summary = summary_record(
        command="run --dry-run" if options.dry_run else "run",
        info=info,
        sha=sha,
        counts=counts,
        exit_code=exit_code,
        timings=timings,
        started=started,
        notes=(*table.footer_notes, *intake.headers.notes),
        extra={
            **extra,
            **intake.summary(),
            "fatal_error": str(fatal) if fatal else None,
            "warnings": writer.warnings,
        },
    )
    files[SUMMARY_FILE] = write_json(out / SUMMARY_FILE, summary)
    return ImportResult(exit_code, counts, out, files, summary, str(fatal) if fatal else None)


def _send(
    valid: pd.DataFrame,
    out: Path,
    identity: dict[str, str],
    options: ImportOptions,
    api: ApiSettings,
    transport: httpx.BaseTransport | None,
    cancel: threading.Event | None,
    progress: Heartbeat | None,
    outcomes: Outcomes,
    extra: dict[str, Any],
    *,
    resubmission: bool = False,
) -> tuple[ApiError | None, bool, np.ndarray, SendReport | None]:
    """The send stage against the server, journaled; returns (fatal, interrupted, rows sent,
    the send's report: what it looked up, which rows earlier runs had settled)."""
    cancel = cancel or threading.Event()
    fatal: ApiError | None = None
    interrupted = False
    sent_rows = np.empty(0, dtype="int64")
    report: SendReport | None = None

    with (
        Journal.open(out, identity=identity, restart=options.restart) as journal,
        KantataClient(api, transport=transport, cancel=cancel) as client,
    ):

        def tell(stage: str, done: int, total: int) -> None:
            if progress is not None:
                pace = describe_pace(client.pace.limit, client.limiter.rate)
                progress(Progress(stage, done, total, pace))

        if resubmission:
            extra["sent_again"] = journal.send_refused_again()
        try:
            server = client.identity()
            journal.bind_server(asdict(server), describe=server.describe())
            extra["server"] = server.describe()
            journal.set_meta({"differs": options.differs})
            report, sender = send_all(
                valid,
                client=client,
                outcomes=outcomes,
                journal=journal,
                batch_size=options.batch_size,
                concurrency=api.concurrency,
                cancel=cancel,
                differs=options.differs,
                progress=tell,
                on_wait=None if progress is None else _wait_for(progress),
            )
            fatal, interrupted = report.fatal, report.interrupted
            extra.update(
                batches=report.batches,
                plan=report.plan,
                resumed_done=report.resumed_done,
                resumed_in_doubt=report.resumed_in_doubt,
                reconciled=sender.reconciled,
                differs=options.differs,
            )
        except FatalApiError as exc:
            fatal = exc
        except ApiError as exc:
            # A look-up the run cannot go on without (who am I, what is held) came back
            # unusable: stop like a fatal error; unsent rows stay for the next run.
            fatal = exc
        except Cancelled:
            interrupted = True
        state = journal.state_of_rows()
        sent_rows = state.index[state.to_numpy() == ROW_IN_FLIGHT].to_numpy()
        extra.update(
            requests=client.requests_sent,
            requests_by_kind=client.counts.snapshot(),
            retries=client.retries,
            rate_limit_wait_s=round(client.limiter.waited, 3),
            pace=pace_summary(client),
        )
    return fatal, interrupted, sent_rows, report


def _wait_for(beat: Heartbeat) -> Callable[[float, int], None]:
    """What the sender calls when it waits before looking rows in doubt up: a countdown."""

    def waiting(seconds: float, rows: int) -> None:
        noun = "row" if rows == 1 else "rows"
        beat.waiting(seconds, f"then looking up {rows:,} {noun} in doubt")

    return waiting


def _names(
    valid: pd.DataFrame,
    report: SendReport | None,
    out: Path,
    known: Mapping[tuple[str, int], str],
) -> pd.DataFrame:
    """Who and where by name for the valid rows, from what the send looked up anyway (no
    request for them); for rows an earlier run settled, the member names it wrote; for members
    the send did not look up (an identical membership was there already) but the file named
    (an e-mail, a project title), the name the validation found (``known``)."""
    if report is None:
        return name_columns(valid, {})
    members = report.member_names
    resumed = report.resumed_rows
    if resumed is not None and len(resumed):
        earlier = earlier_names(out, resumed)[NAME_COLUMNS[0]]
        members = earlier if members is None else pd.concat([members, earlier])
    if known:
        found = _found_by_name(valid, known)
        if members is not None:
            sent = members.reindex(valid.index).astype(object).fillna("")
            found = sent.where(sent != "", found)
        members = found
    return name_columns(valid, report.organizations, members)


def _found_by_name(valid: pd.DataFrame, known: Mapping[tuple[str, int], str]) -> pd.Series:
    """The label of each valid row's member among ``known`` ((member type, id) -> label);
    ``""`` for the others."""
    keys = pd.MultiIndex.from_arrays(
        [valid["member_type"].astype("str"), valid["member_id"].astype("int64")]
    )
    labels = pd.Series(known, dtype=object).reindex(keys).fillna("")
    return pd.Series(labels.to_numpy(), index=valid.index, dtype=object)


_TOTALS = ("rows", "valid")  # counts of the input, not of what a run did


def _counts(final: pd.DataFrame, rows: int, valid: int, *, dry_run: bool) -> dict[str, int]:
    status = final["status"].to_numpy()
    stage = final["error_stage"].to_numpy()
    # created + already_existed + moved + failed_* + not_processed == rows (+ would_send)
    counts = {
        "rows": rows,
        "valid": valid,
        "created": int((status == STATUS_CREATED).sum()),
        "already_existed": int((status == STATUS_EXISTED).sum()),
        "moved": int((status == STATUS_MOVED).sum()),
        "failed_validation": int(np.sum(stage == STAGE_VALIDATION)),
        "failed_remote": int(np.sum(stage == STAGE_REMOTE)),
        "not_processed": int(np.sum(stage == STAGE_NOT_PROCESSED)),
    }
    if dry_run:
        counts["would_send"] = valid
    return counts


def pace_summary(client: KantataClient) -> dict[str, Any]:
    """The pace the run found (summary ``pace``): in flight and rate at the end, the rate the
    server refused at (``None``: it never did), and the 429s and cuts that taught it."""
    learner = client.limiter.learner
    ws = client.workspaces_limiter.learner
    return {
        "in_flight": client.pace.limit,
        "in_flight_ceiling": client.pace.ceiling,
        "concurrency_cuts": client.pace.cuts,
        "rate": None if learner.rate is None else round(learner.rate, 3),
        "refused_at_rate": None if learner.level is None else round(learner.level, 3),
        "workspaces_rate": None if ws.rate is None else round(ws.rate, 3),
    }
