"""Pre-flight: what ``importer run`` would do with each row, asked of the server, nothing written.

``plan_file`` resolves names and validates like ``validate``, then looks the valid rows' members
up on the server (``GET /organization_memberships``, 100 members a request) and gives each row
an ``action``:

* ``create``: the member has no membership yet; the run would create this one;
* ``exists``: an identical membership is on the server already (the run reports a success);
* ``conflict``: the member has a membership elsewhere (the run would fail the row);
* ``invalid``: the row fails validation.

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

from importer.client import KantataClient
from importer.config import ApiSettings, ImportOptions
from importer.csv_write import frame_csv_text
from importer.intake import Intake, name_lookups
from importer.load import Table, sha256_file
from importer.outcomes import STAGE_REMOTE, STAGE_VALIDATION, Outcomes
from importer.report import (
    SUMMARY_FILE,
    ReportWriter,
    escape_labels,
    make_out_dir,
    output_labels,
    private_opener,
    write_json,
)
from importer.result import (
    EXIT_OK,
    EXIT_ROWS_FAILED,
    ImportResult,
    ProgressCallback,
    summary_record,
)
from importer.validate_table import (
    default_out_dir,
    errors_report,
    intake_for,
    open_input,
    validate_table,
)

__all__ = ["CONFLICT", "CREATE", "EXISTS", "INVALID", "PLAN_FILE", "plan_file"]

PLAN_FILE = "plan.csv"
CREATE, EXISTS, CONFLICT, INVALID = "create", "exists", "conflict", "invalid"
_PLAN_COLUMNS = ["action", "existing_membership_id", "detail"]
_MEMBER = ["member_id", "member_type"]


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
        Counts ``rows``, ``valid``, ``failed_validation``, ``would_create``, ``already_exist``,
        ``conflicts``; exit code 0 when every row would succeed, else 1.

    Raises:
        InputError: the file cannot be read, a required column is missing, no token.
        ApiError: the server refused the lookups (token, unreachable).
    """
    options = options or ImportOptions()
    started, t0 = datetime.now(UTC), time.perf_counter()
    table = open_input(path, options)
    info = table.info
    out = Path(out_dir) if out_dir is not None else default_out_dir(path)
    intake = intake_for(info, options)
    outcomes = Outcomes()
    with name_lookups(intake, api, where=info.where, transport=transport):
        v = validate_table(table, intake, outcomes, progress)
    t1 = time.perf_counter()
    with KantataClient(api, transport=transport) as client:
        verdicts = _verdicts(v.valid, client)
        lookups = client.requests_sent
    conflicts = verdicts[verdicts["action"] == CONFLICT]
    outcomes.failed_frame(
        pd.DataFrame(
            {"error_field": "member", "error_message": conflicts["detail"]}, index=conflicts.index
        ),
        STAGE_REMOTE,
    )
    failures = outcomes.frame()
    invalid = failures[failures["error_stage"] == STAGE_VALIDATION]
    plan = pd.concat(
        [
            verdicts.join(intake.resolved_ids(v.valid)),
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
        "would_create": int(np.sum(actions == CREATE)),
        "already_exist": int(np.sum(actions == EXISTS)),
        "conflicts": int(np.sum(actions == CONFLICT)),
    }
    exit_code = EXIT_OK if not v.failed and not counts["conflicts"] else EXIT_ROWS_FAILED
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
        extra={
            "base_url": api.base_url,
            "membership_lookups": lookups,
            **intake.summary(),
            "warnings": writer.warnings,
        },
    )
    files[SUMMARY_FILE] = write_json(out / SUMMARY_FILE, summary)
    return ImportResult(exit_code, counts, out, files, summary)


def _verdicts(valid: pd.DataFrame, client: KantataClient) -> pd.DataFrame:
    """``action``, ``existing_membership_id`` and ``detail`` of every valid row (by source row)."""
    found = [
        (m.member_id, m.member_type, m.geography_id, m.department_id, m.id)
        for member_type, group in valid.groupby("member_type", sort=True)
        for m in client.find_memberships(group["member_id"].tolist(), str(member_type))
    ]
    existing = pd.DataFrame(
        found, columns=[*_MEMBER, "existing_geography", "existing_department", "existing_id"]
    ).drop_duplicates(_MEMBER)
    rows = valid.reset_index().merge(existing, on=_MEMBER, how="left").set_index("source_row")
    has = rows["existing_id"].notna().to_numpy()
    same = (
        has
        & (rows["existing_geography"].to_numpy() == rows["geography_id"].to_numpy())
        & (rows["existing_department"].to_numpy() == rows["department_id"].to_numpy())
    )
    action = np.select([~has, same], [CREATE, EXISTS], CONFLICT)
    where = (
        rows["member_type"]
        + " "
        + rows["member_id"].astype("str")
        + " already has a membership (id "
        + rows["existing_id"].astype("str")
        + ") in geography "
        + rows["existing_geography"].astype("Int64").astype("str")
        + ", department "
        + rows["existing_department"].astype("Int64").astype("str")
    )
    detail = np.where(action == CONFLICT, where, np.where(action == EXISTS, "identical", ""))
    return pd.DataFrame(
        {
            "action": action,
            "existing_membership_id": rows["existing_id"].fillna("").astype("str").to_numpy(),
            "detail": detail,
        },
        index=rows.index,
    )


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
