"""The send stage: replay the journal, settle rows in doubt, classify, write what changed.

``send_all`` runs a whole import against the server:

1. what an earlier run of the same file (same results folder) learned is replayed from the
   journal; rows it left in flight are parked and settled first (looked up once the server can no
   longer be executing their request; only the absent go on);
2. every row not done yet is classified against what the server holds (``importer.send``):
   ``exists`` succeed without a request, ``missing reference`` fail, ``differs`` are reported,
   moved or added as the user chose, ``new`` are created;
3. creates (bulk, 100 a request) and moves (one ``PUT`` each) run on a thread pool, as many at
   once as the client's learned pace allows (``importer.api``: never more than ``concurrency``;
   the client's rate limiter is shared, so the pool never outruns the learned rate);
4. rows whose reply was lost are settled at the end.

It stops cleanly — requests in flight finish — on a fatal API error (bad token, server
unreachable, a server asking to wait for hours) or when ``cancel`` is set (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from importer.api import Holdings, KantataClient, organizations_of
from importer.core import (
    DIFFERS_REPORT,
    PLAN_WORDS,
    STAGE_REMOTE,
    STATUS_CREATED,
    STATUS_EXISTED,
    STATUS_MOVED,
    ApiError,
    AuthError,
    Cancelled,
    FatalApiError,
)
from importer.report import Outcomes
from importer.send._batch import Batch, iter_batches
from importer.send._classify import classify
from importer.send._decide import Decisions, check_differs, decide
from importer.send._journal import (
    KIND_MOVE,
    ROW_CREATED,
    ROW_EXISTED,
    ROW_FAILED,
    ROW_IN_FLIGHT,
    ROW_MOVED,
    Journal,
)
from importer.send._send import NOTE_EXISTED, BatchSender, Move

_STATUS_STATE = {STATUS_CREATED: ROW_CREATED, STATUS_EXISTED: ROW_EXISTED, STATUS_MOVED: ROW_MOVED}


@dataclass
class SendReport:
    """What the send stage did: why it stopped early (if it did) and a few figures."""

    fatal: ApiError | None = None
    interrupted: bool = False
    resumed_done: int = 0
    resumed_in_doubt: int = 0
    batches: int = 0
    plan: dict[str, int] = field(default_factory=dict)
    #: What the run looked up anyway, for the names in the results: organization id ->
    #: (type, name), and the label of each classified row's member ("" when not looked up).
    organizations: dict[int, tuple[str, str]] = field(default_factory=dict)
    member_names: pd.Series | None = None
    #: Rows an earlier run had already settled (their outcomes come from the journal).
    resumed_rows: np.ndarray | None = None


class Recorder:
    """The sender's sink: each in-flight record and outcome goes to the journal (if any) and to
    the run's in-memory record."""

    def __init__(self, outcomes: Outcomes, journal: Journal | None) -> None:
        self.outcomes = outcomes
        self.journal = journal

    def in_flight(
        self,
        rows: Sequence[int],
        batch: int,
        *,
        kind: str = "create",
        places: Sequence[tuple[int, int]] | None = None,
        moves: Sequence[tuple[str, int | None, int | None]] | None = None,
        members: Sequence[tuple[int, str]] | None = None,
    ) -> float:
        if self.journal is None:
            return time.time()
        return self.journal.in_flight(
            rows, batch, kind=kind, places=places, moves=moves, members=members
        )

    def created(
        self,
        rows: Sequence[int],
        ids: Sequence[str],
        note: str = "",
        *,
        status: str = STATUS_CREATED,
        updated: Sequence[str | None] | None = None,
    ) -> None:
        if self.journal is not None:
            self.journal.created(rows, ids, note, state=_STATUS_STATE[status], updated=updated)
        self.outcomes.created(rows, ids, note, status=status)

    def failed(self, rows: Sequence[int], stage: str, field: str, message: str) -> None:
        if self.journal is not None:
            self.journal.failed(rows, stage, field, message)
        self.outcomes.failed(rows, stage, field, message)

    def failed_each(self, frame: pd.DataFrame, stage: str, *, journal: bool = True) -> None:
        """Failures, ``frame`` indexed by row with ``error_field``/``error_message``.

        ``journal=False``: decided from the server's state, not refused by it (a missing
        reference, a member holding another membership). The journal keeps such rows pending, so
        the same command run again (once the geography exists, or with ``--move``) decides anew.
        """
        if frame.empty:
            return
        if self.journal is not None and journal:
            self.journal.failed_each(
                frame.index.tolist(),
                stage,
                frame["error_field"].astype(str).tolist(),
                frame["error_message"].astype(str).tolist(),
            )
        self.outcomes.failed_frame(frame, stage)

    def release(self, rows: Sequence[int]) -> None:
        if self.journal is not None:
            self.journal.release(rows)


class _Pool:
    """Runs work items on threads, as many at once as ``limit()`` says at each moment (the
    client's learned pace); the first fatal ApiError (or ``cancel``) stops new work."""

    def __init__(
        self,
        work: Callable[[Any], int],
        concurrency: int,
        cancel: threading.Event,
        on_rows: Callable[[int], None],
        limit: Callable[[], int] | None = None,
    ) -> None:
        self.work = work
        self.concurrency = max(1, concurrency)
        self.limit = limit or (lambda: self.concurrency)
        self.cancel = cancel
        self.on_rows = on_rows
        self.fatal: ApiError | None = None

    def _one(self, item: Any) -> int:
        if self.cancel.is_set() or self.fatal is not None:
            return 0
        return self.work(item)

    def run(self, items: Iterable[Any]) -> int:
        submitted = 0
        in_flight: set[Future[int]] = set()
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="send")
        try:
            for item in items:
                if self.cancel.is_set() or self.fatal is not None:
                    break
                while len(in_flight) >= max(1, min(self.concurrency, self.limit())):
                    # The limit may grow meanwhile: look again now and then.
                    finished, in_flight = wait(in_flight, 0.2, return_when=FIRST_COMPLETED)
                    self._collect(finished)
                in_flight.add(pool.submit(self._one, item))
                submitted += 1
            finished, in_flight = wait(in_flight)
            self._collect(finished)
        except BaseException:
            self.cancel.set()  # every wait in the client wakes up; requests end at their deadline
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return submitted

    def _collect(self, finished: set[Future[int]]) -> None:
        for future in finished:
            try:
                self.on_rows(future.result())
            except Cancelled:
                pass
            except ApiError as exc:
                if self.fatal is None or isinstance(exc, AuthError):
                    self.fatal = exc


def _replay(journal: Journal, valid: pd.DataFrame, outcomes: Outcomes) -> pd.DataFrame:
    """Feed what an earlier run learned into ``outcomes``; return the journal's state per row."""
    states = journal.states().reindex(valid.index)
    for state, status in (
        (ROW_CREATED, STATUS_CREATED),
        (ROW_EXISTED, STATUS_EXISTED),
        (ROW_MOVED, STATUS_MOVED),
    ):
        done = states[states["state"] == state]
        for note, group in done.groupby(done["note"].fillna(""), sort=False):
            outcomes.created(
                group.index.tolist(),
                group["membership_id"].astype(str).tolist(),
                str(note),
                status=status,
            )
    failed = states[states["state"] == ROW_FAILED]
    if len(failed):
        outcomes.failed_frame(
            failed.rename(columns={"field": "error_field", "message": "error_message"}).fillna(""),
            STAGE_REMOTE,
        )
    return states


def _batches_of(frame: pd.DataFrame, size: int, start: int = 1) -> Iterator[Batch]:
    return iter_batches(frame, size, start=start)


def _park_resumed(sender: BatchSender, valid: pd.DataFrame, doubt: pd.DataFrame) -> None:
    """Rows an earlier run left in flight, grouped by when their request left."""
    sent = doubt["sent_at"].fillna(0.0).astype(float)
    moves = doubt["kind"].fillna("") == KIND_MOVE
    for sent_at, group in doubt[~moves].groupby(sent[~moves], sort=True):
        for batch in iter_batches(valid.loc[group.index], 100):
            sender.park_resumed(batch, None, float(sent_at))
    recs = doubt[moves]
    items = valid.loc[recs.index]
    for row, mid, geo, dept, pgeo, pdept, at in zip(
        recs.index.tolist(),
        recs["membership_id"].tolist(),
        items["geography_id"].tolist(),
        items["department_id"].tolist(),
        recs["prev_geography_id"].tolist(),
        recs["prev_department_id"].tolist(),
        sent[moves].tolist(),
        strict=True,
    ):
        move = Move(int(row), str(mid), int(geo), int(dept), _int(pgeo), _int(pdept))
        sender.park_resumed(None, move, float(at))


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def send_all(
    valid: pd.DataFrame,
    *,
    client: KantataClient,
    outcomes: Outcomes,
    journal: Journal | None,
    batch_size: int,
    concurrency: int,
    cancel: threading.Event,
    differs: str = DIFFERS_REPORT,
    progress: Callable[[str, int, int], None] | None = None,
    on_wait: Callable[[float, int], None] | None = None,
) -> tuple[SendReport, BatchSender]:
    """Write what the valid rows need; every row written or decided gets an outcome.

    Rows not decided (stopped early) get no outcome here: the caller reports them as
    ``not_processed``. ``on_wait(seconds, rows)`` is called when the send waits for the
    server's time limit before looking ``rows`` in doubt up.
    """
    check_differs(differs)  # before any request
    report = SendReport()
    holdings = Holdings(client)
    recorder = Recorder(outcomes, journal)
    sender = BatchSender(client, recorder, holdings)
    if on_wait is not None:
        sender.on_wait = on_wait
    elif progress is not None:
        sender.on_wait = lambda s, n: progress(f"waiting {s:.0f} s to look up {n} in doubt", 0, 0)
    todo = valid
    try:
        if journal is not None:
            states = _replay(journal, valid, outcomes)
            settled = states["state"].isin(_STATUS_STATE.values()).to_numpy()
            report.resumed_done = int(settled.sum())
            earlier = settled | (states["state"] == ROW_FAILED).to_numpy()
            report.resumed_rows = states.index.to_numpy()[earlier]
            doubt = states[states["state"] == ROW_IN_FLIGHT]
            report.resumed_in_doubt = len(doubt)
            journal.register(valid.index.to_numpy())
            if len(doubt):
                _park_resumed(sender, valid, doubt)
                sender.settle()
            state = journal.state_of_rows().reindex(valid.index)
            todo = valid[state.fillna(0).to_numpy() == 0]
        if cancel.is_set():
            report.interrupted = True
            return report, sender
        if progress is not None:
            progress("classify", 0, len(todo))
        report.organizations = organizations_of(client)
        sender.org_names = {k: name for k, (_, name) in report.organizations.items()}
        verdicts = classify(
            todo, client=client, holdings=holdings, organizations=report.organizations
        ).frame
        report.member_names = verdicts["member_name"]
        report.plan = {w: int((verdicts["action"] == w).sum()) for w in PLAN_WORDS}
        decisions = decide(verdicts, differs)
        _record(decisions, recorder)
        creates = todo.loc[decisions.create]
        one, rows = decisions.move, todo.loc[decisions.move.index]
        moves = [
            Move(int(r), str(m), int(g), int(d), _int(pg), _int(pd_))
            for r, m, g, d, pg, pd_ in zip(
                one.index.tolist(),
                one["membership_id"].tolist(),
                rows["geography_id"].tolist(),
                rows["department_id"].tolist(),
                one["prev_geography_id"].tolist(),
                one["prev_department_id"].tolist(),
                strict=True,
            )
        ]
    except Cancelled:
        report.interrupted = True
        return report, sender
    except FatalApiError as exc:
        report.fatal = exc
        return report, sender

    total = len(creates) + len(moves)
    done = 0

    def rows_done(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress("send", done, total)

    def create(batch: Batch) -> int:
        sender.send(batch)
        return len(batch)

    def move(m: Move) -> int:
        sender.move(m)
        return 1

    for work, items in ((create, _batches_of(creates, batch_size)), (move, iter(moves))):
        pool = _Pool(work, concurrency, cancel, rows_done, limit=lambda: client.pace.limit)
        report.batches += pool.run(items)
        if pool.fatal is not None:
            report.fatal = pool.fatal
            break
        if cancel.is_set():
            break
    if report.fatal is None and not cancel.is_set():
        try:
            sender.settle()
        except Cancelled:
            pass
        except FatalApiError as exc:
            report.fatal = exc
    report.interrupted = cancel.is_set() and report.fatal is None
    return report, sender


def _record(decisions: Decisions, recorder: Recorder) -> None:
    """Record the rows decided without a write: those in place already and those that fail."""
    exists = decisions.exists
    if len(exists):
        recorder.created(
            exists.index.tolist(),
            exists["membership_id"].astype(str).tolist(),
            NOTE_EXISTED,
            status=STATUS_EXISTED,
        )
    recorder.failed_each(decisions.failed, STAGE_REMOTE, journal=False)


__all__ = [
    "Recorder",
    "SendReport",
    "send_all",
]
