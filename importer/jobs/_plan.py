"""Pre-flight: ``importer run`` without writing. What the run would do with each row, asked of
the server with the same batched look-ups and the same classification (``importer.send``).

Each row gets an ``action``: one of the plan's four words, ``new``, ``exists``, ``differs``,
``missing reference`` — or ``invalid`` when it fails validation. Against an unchanged server
its counts equal what ``run`` then does.

It writes ``plan.csv`` (every row: its action, the IDs found from names, the existing
membership), ``errors.csv`` (invalid rows and conflicts, to fix and resubmit) and
``summary.json``. Only GET requests are sent.
"""

from __future__ import annotations

import csv
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from importer.api import KantataClient
from importer.core import (
    DIFFERS,
    EXISTS,
    EXIT_OK,
    EXIT_ROWS_FAILED,
    MISSING,
    NEW,
    PLAN_WORDS,
    STAGE_REMOTE,
    STAGE_VALIDATION,
    ApiSettings,
    ImportOptions,
    sha256_file,
)
from importer.jobs._heartbeat import Heartbeat
from importer.jobs._result import ImportResult, ProgressCallback, summary_record
from importer.jobs._table import check_input, errors_report
from importer.read import Table
from importer.report import (
    SUMMARY_FILE,
    ReportWriter,
    escape_labels,
    frame_csv_text,
    make_out_dir,
    output_labels,
    private_opener,
    write_json,
)
from importer.send import Holdings, classify, decide, organizations_of
from importer.validate import Intake

__all__ = ["DIFFERS", "EXISTS", "INVALID", "MISSING", "NEW", "PLAN_FILE", "plan_file"]

PLAN_FILE = "plan.csv"
INVALID = "invalid"  # a row that fails validation (beside the plan's four words)
_PLAN_COLUMNS = ["action", "existing_membership_id", "detail"]


def plan_file(
    path: str | Path,
    *,
    api: ApiSettings,
    out_dir: str | Path | None = None,
    options: ImportOptions | None = None,
    transport: httpx.BaseTransport | None = None,
    progress: ProgressCallback | None = None,
    command: str = "plan",
) -> ImportResult:
    """Say, for every row of ``path``, whether a run would create it, find it, or fail it.

    Args:
        path: the input file.
        api: where to look (GET requests only: nothing is created).
        out_dir: the results folder (default: ``<name>-results`` next to the input).
        options: sheet and header mapping (batch options are ignored).
        transport: an httpx transport to use instead of the network (tests, proxies).
        progress: called with ``Progress`` events while validating.
        command: the command named in ``summary.json``.

    Returns:
        Counts ``rows``, ``valid``, ``failed_validation``, ``new``, ``exists``, ``differs``,
        ``missing_reference``; exit code 0 when every row would succeed, else 1.

    Raises:
        InputError: the file cannot be read, a required column is missing, no token.
        ApiError: the server refused the lookups (token, unreachable).
    """
    if progress is not None and not isinstance(progress, Heartbeat):
        with Heartbeat(progress) as beat:  # events at least every second or two
            return plan_file(
                path,
                api=api,
                out_dir=out_dir,
                options=options,
                transport=transport,
                progress=beat,
                command=command,
            )
    options = options or ImportOptions()
    started, t0 = datetime.now(UTC), time.perf_counter()
    checked = check_input(
        path, options, api, out_dir=out_dir, transport=transport, progress=progress
    )
    table, out, intake, outcomes, v = (
        checked.table, checked.out, checked.intake, checked.outcomes, checked.validated
    )  # fmt: skip
    info = table.info
    t1 = time.perf_counter()
    with KantataClient(api, transport=transport) as client:
        holdings = Holdings(client)
        verdicts = classify(
            v.valid, client=client, holdings=holdings, organizations=organizations_of(client)
        ).frame
        lookups = client.counts.snapshot()
        facts = {"member_id_lists": holdings.lists, "memberships_on_account": holdings.total}
    bad = decide(verdicts, options.differs).failed  # as run decides them
    outcomes.failed_frame(bad, STAGE_REMOTE)
    failures = outcomes.frame()
    invalid = failures[failures["error_stage"] == STAGE_VALIDATION]
    shown = pd.DataFrame(
        {
            "action": verdicts["action"],
            "existing_membership_id": verdicts["membership_id"],
            "detail": verdicts["detail"],
        },
        index=verdicts.index,
    )
    plan = pd.concat(
        [
            shown.join(intake.resolved_ids(v.valid)),
            pd.DataFrame(
                {
                    "action": INVALID,
                    "existing_membership_id": "",
                    "detail": invalid["error_message"],
                },
                index=invalid.index,
            ),
        ]
    ).sort_index()
    t2 = time.perf_counter()
    make_out_dir(out)
    writer = errors_report(out, info, intake)
    files = _write(out / PLAN_FILE, table, plan, failures, intake, writer)
    files.update(writer.close())
    actions = plan["action"].to_numpy()
    counts = {
        "rows": v.rows,
        "valid": len(v.valid),
        "failed_validation": v.failed,
        **{word.replace(" ", "_"): int(np.sum(actions == word)) for word in PLAN_WORDS},
    }
    would_fail = v.failed + len(bad)
    exit_code = EXIT_OK if not would_fail else EXIT_ROWS_FAILED
    summary = summary_record(
        command=command,
        info=info,
        sha=sha256_file(info.path),
        counts=counts,
        exit_code=exit_code,
        timings={
            "validate": t1 - t0,
            "lookup": t2 - t1,
            "report": time.perf_counter() - t2,
            "total": time.perf_counter() - t0,
        },
        started=started,
        notes=(*table.footer_notes, *intake.headers.notes),
        extra={
            "base_url": api.base_url,
            "requests_by_kind": lookups,
            "differs": options.differs,
            **facts,
            **intake.summary(),
            "warnings": writer.warnings,
        },
    )
    files[SUMMARY_FILE] = write_json(out / SUMMARY_FILE, summary)
    return ImportResult(exit_code, counts, out, files, summary)


def _write(
    path: Path,
    table: Table,
    plan: pd.DataFrame,
    failures: pd.DataFrame,
    intake: Intake,
    writer: ReportWriter,
) -> dict[str, Path]:
    """Stream ``plan.csv`` and, through ``writer``, the errors, chunk by chunk."""
    info = table.info
    labels = intake.labels if intake.labels is not None else output_labels(info.headers)
    filled = list(intake.filled.values())
    tmp = path.with_name(path.name + ".part")
    header = ["sheet", "source_row", *labels.values(), *filled, *_PLAN_COLUMNS]
    with open(tmp, "w", encoding="utf-8-sig", newline="", opener=private_opener) as fh:
        csv.writer(fh).writerow(escape_labels(header))
        for chunk in table.chunks():
            writer.write_chunk(chunk, failures)
            rows = chunk[list(labels)].rename(columns=labels)
            rows.insert(0, "source_row", rows.index.to_numpy())
            rows.insert(0, "sheet", info.sheet or "")
            joined = plan.reindex(chunk.index)[[*filled, *_PLAN_COLUMNS]]
            frame = pd.concat([rows, joined], axis=1)
            fh.write(frame_csv_text(frame))
    os.replace(tmp, path)
    return {PLAN_FILE: path}
