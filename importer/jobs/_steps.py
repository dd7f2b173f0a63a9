"""The steps that make ``plan`` and ``run`` more than ``validate``: the plan of every row, and
sending the valid rows, journaled. Each takes the ``Source`` and the ``Checked`` rows of the
skeleton (:mod:`importer.jobs._skeleton`) and loads the data stack, as the skeleton does.
"""

from __future__ import annotations

import csv
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from importer.api import Holdings, KantataClient, describe, organizations_of
from importer.core import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_ROWS_FAILED,
    NAME_COLUMNS,
    PLAN_WORDS,
    STAGE_NOT_PROCESSED,
    STAGE_REMOTE,
    STAGE_VALIDATION,
    STATUS_CREATED,
    STATUS_EXISTED,
    STATUS_MOVED,
    ApiError,
    ApiSettings,
    Cancelled,
    private_opener,
)
from importer.jobs._heartbeat import Heartbeat
from importer.jobs._result import PLAN_FILE, Progress
from importer.jobs._skeleton import Checked, Source
from importer.read import display_fields
from importer.report import (
    Outcomes,
    earlier_names,
    escape_labels,
    frame_csv_text,
    name_columns,
    output_labels,
)
from importer.send import Journal, SendReport, classify, decide, iter_batches, send_all
from importer.validate import origin_digest

__all__ = [
    "INVALID",
    "Planned",
    "Sent",
    "final_outcomes",
    "outcome_counts",
    "plan_counts",
    "plan_rows",
    "resumed_counts",
    "run_counts",
    "send_rows",
    "with_names",
    "write_payloads",
    "write_plan",
]

INVALID = "invalid"  # a row that fails validation (beside the plan's four words)
_PLAN_COLUMNS = ["action", "existing_membership_id", "detail"]


# -- plan ----------------------------------------------------------------------------------------
@dataclass
class Planned:
    """Every row's action (``plan``: by source row), the rows that would fail, what was learned
    of the account, and the look-ups it took."""

    plan: pd.DataFrame
    failures: pd.DataFrame
    would_fail: int
    facts: dict[str, Any]
    requests: dict[str, int]


def plan_rows(
    source: Source, checked: Checked, api: ApiSettings, transport: httpx.BaseTransport | None
) -> Planned:
    """Classify the valid rows against the server (GET only) and decide each as ``run`` would."""
    v, outcomes = checked.validated, checked.outcomes
    with KantataClient(api, transport=transport) as client:
        holdings = Holdings(client)
        verdicts = classify(
            v.valid, client=client, holdings=holdings, organizations=organizations_of(client)
        ).frame
        requests = client.counts.snapshot()
        facts = {"member_id_lists": holdings.lists, "memberships_on_account": holdings.total}
    bad = decide(verdicts, source.options.differs).failed  # as run decides them
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
    rejected = pd.DataFrame(
        {"action": INVALID, "existing_membership_id": "", "detail": invalid["error_message"]},
        index=invalid.index,
    )
    plan = pd.concat([shown.join(source.intake.resolved_ids(v.valid)), rejected]).sort_index()
    return Planned(plan, failures, v.failed + len(bad), facts, requests)


def plan_counts(checked: Checked, planned: Planned) -> dict[str, int]:
    """Rows, valid, invalid, and each plan word."""
    v = checked.validated
    actions = planned.plan["action"].to_numpy()
    return {
        "rows": v.rows,
        "valid": len(v.valid),
        "failed_validation": v.failed,
        **{word.replace(" ", "_"): int(np.sum(actions == word)) for word in PLAN_WORDS},
    }


def write_plan(source: Source, planned: Planned) -> dict[str, Path]:
    """Stream ``plan.csv`` (every row) and the errors report, chunk by chunk."""
    info, intake = source.info, source.intake
    writer = source.errors_report()
    labels = intake.labels if intake.labels is not None else output_labels(info.headers)
    filled = list(intake.filled.values())
    path = source.out / PLAN_FILE
    tmp = path.with_name(path.name + ".part")
    header = ["sheet", "source_row", *labels.values(), *filled, *_PLAN_COLUMNS]
    with open(tmp, "w", encoding="utf-8-sig", newline="", opener=private_opener) as fh:
        csv.writer(fh).writerow(escape_labels(header))
        for chunk in source.table.chunks():
            writer.write_chunk(chunk, planned.failures)
            rows = chunk[list(labels)].rename(columns=labels)
            rows.insert(0, "source_row", rows.index.to_numpy())
            rows.insert(0, "sheet", info.sheet or "")
            joined = planned.plan.reindex(chunk.index)[[*filled, *_PLAN_COLUMNS]]
            fh.write(frame_csv_text(pd.concat([rows, joined], axis=1)))
    os.replace(tmp, path)
    return {PLAN_FILE: path, **writer.close()}


# -- run -----------------------------------------------------------------------------------------
@dataclass
class Sent:
    """How sending ended: the error that stopped it (if any), whether it was interrupted, and
    the figures for the summary."""

    fatal: ApiError | None = None
    interrupted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    report: SendReport | None = None  # what the send looked up, the rows earlier runs settled

    def exit_code(self, failed: int) -> int:
        """The run's exit code, ``failed`` rows failing."""
        if self.fatal is not None:
            return EXIT_REFUSED
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_ROWS_FAILED if failed else EXIT_OK


def write_payloads(path: Path, valid: pd.DataFrame, size: int) -> int:
    """A dry run: the exact request bodies, one batch a line; returns the number of batches."""
    n = 0
    with open(path, "w", encoding="utf-8", opener=private_opener) as fh:
        for batch in iter_batches(valid, size):
            fh.write(
                json.dumps({"batch": batch.number, "rows": batch.rows, "body": batch.payload()})
            )
            fh.write("\n")
            n += 1
    return n


def send_rows(
    source: Source,
    checked: Checked,
    api: ApiSettings,
    *,
    transport: httpx.BaseTransport | None,
    cancel: threading.Event | None,
    progress: Heartbeat | None,
) -> Sent:
    """Send the valid rows, journaled in the results folder; rows left unsent get their reason."""
    valid, outcomes = checked.validated.valid, checked.outcomes
    identity = {
        "sha256": source.sha256,
        "sheet": source.info.sheet or "",
        "mapping": json.dumps(source.options.mapping),
    }
    if source.intake.resubmission:  # edited again and again: the same rows of the first file
        del identity["sha256"]
        identity["resubmitted_rows"] = origin_digest(source.table, source.intake)
    sent = Sent()
    with Journal.open(source.out, identity=identity, restart=source.options.restart) as journal:
        if source.intake.resubmission:
            sent.extra["sent_again"] = journal.send_refused_again()
        with KantataClient(api, transport=transport, cancel=cancel or threading.Event()) as client:
            _send(valid, client, journal, source, checked, sent, progress)
            sent.extra.update(
                requests=client.requests_sent,
                requests_by_kind=client.counts.snapshot(),
                retries=client.retries,
                rate_limit_wait_s=round(client.limiter.waited, 3),
                pace=pace_summary(client),
            )
        in_flight = journal.rows_in_flight()
    _mark_unsent(valid, outcomes, in_flight, sent)
    return sent


def _send(
    valid: pd.DataFrame,
    client: KantataClient,
    journal: Journal,
    source: Source,
    checked: Checked,
    sent: Sent,
    progress: Heartbeat | None,
) -> None:
    """Bind the journal to the server, then ``send_all``; a stop is recorded in ``sent``."""
    differs = source.options.differs

    def tell(stage: str, done: int, total: int) -> None:
        if progress is not None:
            pace = describe(client.pace.limit, client.limiter.rate)
            progress(Progress(stage, done, total, pace))

    try:
        server = client.identity()
        journal.bind_server(asdict(server), describe=server.describe())
        sent.extra["server"] = server.describe()
        journal.set_meta({"differs": differs})
        report, sender = send_all(
            valid,
            client=client,
            outcomes=checked.outcomes,
            journal=journal,
            batch_size=source.options.batch_size,
            concurrency=client.settings.concurrency,
            cancel=client.cancel,
            differs=differs,
            progress=tell,
            on_wait=None if progress is None else _wait_for(progress),
        )
        sent.report = report
        sent.fatal, sent.interrupted = report.fatal, report.interrupted
        sent.extra.update(
            batches=report.batches,
            plan=report.plan,
            resumed_done=report.resumed_done,
            resumed_in_doubt=report.resumed_in_doubt,
            reconciled=sender.reconciled,
            differs=differs,
        )
    except ApiError as exc:
        # Fatal, or a look-up the run cannot go on without (who am I, what is held) came back
        # unusable: stop; unsent rows stay for the next run.
        sent.fatal = exc
    except Cancelled:
        sent.interrupted = True


def _mark_unsent(
    valid: pd.DataFrame, outcomes: Outcomes, in_flight: np.ndarray, sent: Sent
) -> None:
    """Valid rows with no outcome (the run stopped): ``not_processed``, saying whether their
    request left (then the next run looks them up before sending anything)."""
    unsent = valid.index[~valid.index.isin(outcomes.done_rows())]
    if not len(unsent):
        return
    why = f"the run stopped early: {sent.fatal}" if sent.fatal else "the run was interrupted"
    gone = unsent[unsent.isin(in_flight)]
    if len(gone):
        outcomes.failed(
            gone.tolist(),
            STAGE_NOT_PROCESSED,
            "",
            f"sent, but the reply was not seen ({why}); the next run looks these rows "
            "up on the server before sending anything",
        )
    rest = unsent[~unsent.isin(in_flight)]
    if len(rest):
        outcomes.failed(
            rest.tolist(), STAGE_NOT_PROCESSED, "", f"not sent ({why}); run again to resume"
        )


def final_outcomes(source: Source, checked: Checked) -> pd.DataFrame:
    """Every row's outcome, with the IDs found from names and the fields as the file names
    them (in a dry run valid rows have none: payloads.jsonl has them)."""
    final = checked.outcomes.frame()
    final = final.join(source.intake.resolved_ids(checked.validated.valid))
    final["error_field"] = display_fields(final["error_field"], source.intake.headers)
    return final


def _wait_for(beat: Heartbeat) -> Callable[[float, int], None]:
    """What the sender calls when it waits before looking rows in doubt up: a countdown."""

    def waiting(seconds: float, rows: int) -> None:
        noun = "row" if rows == 1 else "rows"
        beat.waiting(seconds, f"then looking up {rows:,} {noun} in doubt")

    return waiting


def with_names(
    final: pd.DataFrame,
    valid: pd.DataFrame,
    sent: Sent,
    out: Path,
    *,
    known: Mapping[tuple[str, int], str] | None = None,
) -> pd.DataFrame:
    """``final`` with who and where by name (``NAME_COLUMNS``), from what the send looked up
    anyway (no request for them); for rows an earlier run settled, the member names it wrote;
    for members the send did not look up (their membership was there already) but the file
    named (an e-mail, a project title), the name the validation found (``known``)."""
    report = sent.report
    if report is None:
        names = name_columns(valid, {})
    else:
        members = report.member_names
        resumed = report.resumed_rows
        if resumed is not None and len(resumed):
            earlier = earlier_names(out, resumed)[NAME_COLUMNS[0]]
            members = earlier if members is None else pd.concat([members, earlier])
        names = name_columns(valid, report.organizations, members, known=known)
    final = final.join(names)
    final[NAME_COLUMNS] = final[NAME_COLUMNS].fillna("")  # rows that are not valid: ""
    return final


def outcome_counts(final: pd.DataFrame) -> dict[str, int]:
    """Rows by outcome: created, already_existed, moved, failed_*, not_processed."""
    status = final["status"].to_numpy()
    stage = final["error_stage"].to_numpy()
    return {
        "created": int((status == STATUS_CREATED).sum()),
        "already_existed": int((status == STATUS_EXISTED).sum()),
        "moved": int((status == STATUS_MOVED).sum()),
        "failed_validation": int(np.sum(stage == STAGE_VALIDATION)),
        "failed_remote": int(np.sum(stage == STAGE_REMOTE)),
        "not_processed": int(np.sum(stage == STAGE_NOT_PROCESSED)),
    }


def run_counts(final: pd.DataFrame, checked: Checked, *, dry_run: bool) -> dict[str, int]:
    """created + already_existed + moved + failed_* + not_processed == rows (+ would_send)."""
    valid = len(checked.validated.valid)
    counts = {"rows": checked.validated.rows, "valid": valid, **outcome_counts(final)}
    if dry_run:
        counts["would_send"] = valid
    return counts


def resumed_counts(final: pd.DataFrame, counts: dict[str, int], sent: Sent) -> dict[str, Any]:
    """A resumed run: what this run did apart from what earlier runs of the folder did
    (``counts_earlier_runs``, ``counts_this_run``); ``{}`` for a first run."""
    resumed = sent.report.resumed_rows if sent.report is not None else None
    if resumed is None or not len(resumed):
        return {}
    earlier = outcome_counts(final.loc[resumed])
    return {
        "counts_earlier_runs": earlier,
        "counts_this_run": {k: counts[k] - earlier[k] for k in earlier},
    }


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
