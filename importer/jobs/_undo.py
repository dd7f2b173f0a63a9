"""``importer undo RESULTS_DIR``: reverse a finished or interrupted run.

Reads the run's journal (``journal.sqlite`` in its results folder): every membership the run
*created* is deleted (``DELETE /organization_memberships/{id}``, 204), every membership it *moved*
is put back where it was (``PUT`` with the previous geography and department, recorded before the
move left). Rows that already existed identically are never touched.

First a plan, read from the server in bulk (``only=``, 200 ids a request): a membership that has
changed since the run (it is no longer where the run put it, or its ``updated_at`` differs from
what the run recorded) is refused, per row, unless ``force``; one already gone needs nothing.
``dry_run`` stops after the plan.

Exactly once, like ``run``: undo keeps its own journal (``undo.sqlite``) with each request
recorded before it leaves; a request whose reply was lost is looked up once the server can no
longer be executing it, and re-sent only if the look-up shows it was not applied. Running the same
command again resumes. Per-row results go to ``undo.csv`` and ``undo-summary.json``.
"""

from __future__ import annotations

import csv
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from importer.api import KantataClient, Membership
from importer.core import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_ROWS_FAILED,
    NAME_COLUMNS,
    ApiSettings,
    Cancelled,
    FatalApiError,
    JournalError,
    OutcomeUnknownError,
    RejectedBatchError,
    private_opener,
    write_json,
)
from importer.jobs._heartbeat import Heartbeat
from importer.jobs._result import ImportResult, Progress, ProgressCallback

if TYPE_CHECKING:
    import httpx
    import pandas as pd

    from importer.send import WrittenRow

__all__ = ["UNDO_FILE", "UNDO_JOURNAL", "UNDO_SUMMARY", "undo_run"]

UNDO_FILE, UNDO_SUMMARY, UNDO_JOURNAL = "undo.csv", "undo-summary.json", "undo.sqlite"
# Actions and the states of an undo row.
DELETE, MOVE_BACK = "delete", "move back"
U_PENDING, U_IN_FLIGHT, U_DONE, U_REFUSED, U_FAILED = (
    "pending",
    "in flight",
    "undone",
    "refused",
    "failed",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS undo (
    row INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    membership_id TEXT NOT NULL,
    geography_id INTEGER,
    department_id INTEGER,
    back_geography_id INTEGER,
    back_department_id INTEGER,
    server_updated_at TEXT,
    state TEXT NOT NULL,
    sent_at REAL,
    message TEXT
);
"""


@dataclass
class _Row:
    row: int
    action: str
    membership_id: str
    geography_id: int | None
    department_id: int | None
    back_geography_id: int | None
    back_department_id: int | None
    server_updated_at: str | None
    state: str
    sent_at: float | None
    message: str = ""


class _UndoJournal:
    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def rows(self) -> list[_Row]:
        with self._lock:
            got = self._conn.execute(
                "SELECT row, action, membership_id, geography_id, department_id,"
                " back_geography_id, back_department_id, server_updated_at, state, sent_at,"
                " COALESCE(message, '') FROM undo ORDER BY row"
            ).fetchall()
        return [_Row(*r) for r in got]

    def add(self, rows: list[_Row]) -> None:
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT OR IGNORE INTO undo VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.row,
                        r.action,
                        r.membership_id,
                        r.geography_id,
                        r.department_id,
                        r.back_geography_id,
                        r.back_department_id,
                        r.server_updated_at,
                        r.state,
                        r.sent_at,
                        r.message,
                    )
                    for r in rows
                ],
            )
            self._conn.execute("COMMIT")

    def set(self, row: _Row, state: str, message: str = "", sent_at: float | None = None) -> None:
        row.state, row.message = state, message
        if sent_at is not None:
            row.sent_at = sent_at
        with self._lock:
            self._conn.execute(
                "UPDATE undo SET state=?, message=?, sent_at=COALESCE(?, sent_at) WHERE row=?",
                (state, message, sent_at, row.row),
            )


def _run_rows(written: list[WrittenRow]) -> list[_Row]:
    """What the run did, from its journal: the rows it created and moved, to undo."""
    return [
        _Row(
            w.row,
            MOVE_BACK if w.moved else DELETE,
            w.membership_id,
            w.geography_id,
            w.department_id,
            w.prev_geography_id,
            w.prev_department_id,
            w.server_updated_at,
            U_PENDING,
            None,
        )
        for w in written
        # a move with nothing recorded to go back to cannot happen for moves of this version
        if not w.moved or (w.prev_geography_id is not None and w.prev_department_id is not None)
    ]


def _changed(row: _Row, now: Membership | None) -> str:
    """Why ``row``'s membership may not be undone as recorded ("" when it may)."""
    if now is None:
        return ""
    if (
        row.geography_id is not None
        and row.department_id is not None
        and not now.at(row.geography_id, row.department_id)
    ):
        return (
            f"membership {row.membership_id} has changed since the run: it is now in geography "
            f"{now.geography_id}, department {now.department_id} (the run put it in "
            f"{row.geography_id}, {row.department_id}); use --force to undo anyway"
        )
    if row.server_updated_at and now.updated_at and now.updated_at != row.server_updated_at:
        return (
            f"membership {row.membership_id} was updated since the run ({now.updated_at}, the "
            f"run saw {row.server_updated_at}); use --force to undo anyway"
        )
    return ""


def undo_run(
    results_dir: str | Path,
    *,
    api: ApiSettings,
    dry_run: bool = False,
    force: bool = False,
    transport: httpx.BaseTransport | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """Reverse the run whose results are in ``results_dir`` (see the module docstring).

    Returns:
        Counts ``rows`` (to undo), ``undone``, ``already_gone``, ``refused``, ``failed``,
        ``not_processed``; exit 0 when everything was undone, 1 when some rows were refused or
        failed, 3 when the server stopped the undo, 130 when interrupted.

    Raises:
        JournalError: no journal, rows still in doubt, or the folder is in use.
    """
    if progress is not None and not isinstance(progress, Heartbeat):
        with Heartbeat(progress, first="plan") as beat:  # events every second or two
            return undo_run(
                results_dir,
                api=api,
                dry_run=dry_run,
                force=force,
                transport=transport,
                progress=beat,
                cancel=cancel,
            )
    from importer.send import Journal, RunLock  # the run's journal (and the data stack)

    results = Path(results_dir)
    cancel = cancel or threading.Event()
    lock = RunLock(results)
    if not results.is_dir():
        raise JournalError(f"{results} is not a results folder")
    lock.acquire()
    started = datetime.now(UTC)
    journal = _UndoJournal(results / UNDO_JOURNAL)
    fatal: str | None = None
    try:
        journal.add(_run_rows(Journal.written(results)))
        rows = journal.rows()
        with KantataClient(api, transport=transport, cancel=cancel) as client:
            try:
                _undo(rows, client, journal, dry_run, force, progress)
            except FatalApiError as exc:
                fatal = str(exc)
            except Cancelled:
                pass
            requests = client.counts.snapshot()
        rows = journal.rows()
    finally:
        journal.close()
        lock.release()
    return _result(results, rows, dry_run, fatal, cancel.is_set(), requests, started)


def _undo(
    rows: list[_Row],
    client: KantataClient,
    journal: _UndoJournal,
    dry_run: bool,
    force: bool,
    progress: ProgressCallback | None,
) -> None:
    # Refused rows are checked again: the membership may be back as the run left it, or --force.
    todo = [r for r in rows if r.state in (U_PENDING, U_IN_FLIGHT, U_REFUSED)]
    # Requests that may still be executing on the server: wait until they cannot be.
    flying = [r for r in todo if r.state == U_IN_FLIGHT and r.sent_at]
    if flying and not dry_run:
        ready = max(r.sent_at or 0.0 for r in flying) + client.settings.server_time_limit + 5
        client.wait(max(0.0, ready - time.time()))
    current = client.memberships_by_id(r.membership_id for r in todo)
    plan: list[_Row] = []
    for r in todo:
        now = current.get(r.membership_id)
        if r.action == DELETE and now is None:
            journal.set(r, U_DONE, "already gone from the server")
            continue
        if (
            r.state == U_IN_FLIGHT
            and r.action == MOVE_BACK
            and now is not None
            and now.at(r.back_geography_id or -1, r.back_department_id or -1)
        ):
            journal.set(r, U_DONE, "moved back; confirmed by lookup")
            continue
        if now is None:
            journal.set(r, U_FAILED, f"membership {r.membership_id} no longer exists")
            continue
        why = "" if force or r.state == U_IN_FLIGHT else _changed(r, now)
        if why:
            journal.set(r, U_REFUSED, why)
            continue
        plan.append(r)
    if dry_run:
        for r in plan:
            r.message = f"would {r.action} membership {r.membership_id}"
        return
    for done, r in enumerate(plan, start=1):
        _one(r, client, journal)
        if progress is not None:
            progress(Progress("undo", done, len(plan)))


def _one(r: _Row, client: KantataClient, journal: _UndoJournal) -> None:
    journal.set(r, U_IN_FLIGHT, "", sent_at=time.time())
    try:
        if r.action == DELETE:
            client.delete_membership(r.membership_id)
            journal.set(r, U_DONE, "deleted")
        else:
            assert r.back_geography_id is not None
            assert r.back_department_id is not None
            client.move_membership(r.membership_id, r.back_geography_id, r.back_department_id)
            journal.set(r, U_DONE, "moved back")
    except RejectedBatchError as exc:
        if exc.status == 404 and r.action == DELETE:
            journal.set(r, U_DONE, "already gone from the server")
        else:
            journal.set(r, U_FAILED, f"refused (HTTP {exc.status}): {'; '.join(exc.messages)}")
    except OutcomeUnknownError as exc:
        journal.set(
            r,
            U_IN_FLIGHT,
            f"sent, the reply was lost ({exc}); the next undo looks it up before re-sending",
        )


def _result(
    results: Path,
    rows: list[_Row],
    dry_run: bool,
    fatal: str | None,
    interrupted: bool,
    requests: dict[str, int],
    started: datetime,
) -> ImportResult:
    states = [r.state for r in rows]
    gone = sum(1 for r in rows if r.state == U_DONE and r.message.startswith("already gone"))
    counts = {
        "rows": len(rows),
        "undone": states.count(U_DONE) - gone,
        "already_gone": gone,
        "refused": states.count(U_REFUSED),
        "failed": states.count(U_FAILED),
        "not_processed": states.count(U_PENDING) + states.count(U_IN_FLIGHT),
    }
    if dry_run:
        counts["would_undo"] = counts.pop("not_processed")
    name = "undo-plan.csv" if dry_run else UNDO_FILE
    path = results / name
    # Who and where, by name, as the run's own results wrote them (no request for them).
    names = _earlier_names(results, [r.row for r in rows])
    blank = [""] * len(NAME_COLUMNS)
    with open(path, "w", encoding="utf-8-sig", newline="", opener=private_opener) as fh:
        out = csv.writer(fh)
        out.writerow(["source_row", *NAME_COLUMNS, "action", "membership_id", "status", "message"])
        for r in rows:
            status = "would undo" if dry_run and r.state == U_PENDING else r.state
            named = list(names.loc[r.row]) if r.row in names.index else blank
            out.writerow([r.row, *named, r.action, r.membership_id, status, r.message])
    if fatal is not None:
        exit_code = EXIT_REFUSED
    elif interrupted:
        exit_code = EXIT_INTERRUPTED
    elif counts["refused"] or counts["failed"] or counts.get("not_processed"):
        exit_code = EXIT_ROWS_FAILED
    else:
        exit_code = EXIT_OK
    summary = {
        "command": "undo --dry-run" if dry_run else "undo",
        "results": str(results),
        "counts": counts,
        "exit_code": exit_code,
        "requests_by_kind": requests,
        "fatal_error": fatal,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    files = {name: path}
    if not dry_run:
        files[UNDO_SUMMARY] = write_json(results / UNDO_SUMMARY, summary)
    return ImportResult(exit_code, counts, results, files, summary, fatal)


def _earlier_names(results: Path, rows: list[int]) -> pd.DataFrame:
    """Who and where, by name, as the run's own results wrote them (no request for them)."""
    import numpy as np  # the data stack, loaded by the undo that needs it

    from importer.report import earlier_names

    return earlier_names(results, np.asarray(rows, dtype=np.int64))
