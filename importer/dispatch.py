"""Send all valid rows: resume from the journal, reconcile rows in doubt, fan batches out.

``send_all`` is the "send" stage of the pipeline. It runs batches on a small thread pool (the
client's limiter is shared, so the pool never outruns ``--max-rps``), commits each batch's rows as
*in flight* in the journal before its request leaves, and stops cleanly — waiting for requests in
flight — on a fatal API error (bad token, server unreachable) or when ``cancel`` is set (Ctrl-C,
SIGTERM).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import pandas as pd

from importer.batch import Batch, iter_batches
from importer.errors import ApiError, AuthError
from importer.journal import CREATED, FAILED, IN_FLIGHT, Journal
from importer.outcomes import STAGE_NOT_PROCESSED, STAGE_REMOTE, Outcomes
from importer.send import BatchSender


@dataclass
class SendReport:
    """What the send stage did: why it stopped early (if it did) and a few figures."""

    fatal: ApiError | None = None
    interrupted: bool = False
    resumed_created: int = 0
    resumed_in_doubt: int = 0
    batches: int = 0
    stats: dict[str, float] = field(default_factory=dict)


class _Tee:
    """Report each outcome to the in-memory record and to the journal."""

    def __init__(self, outcomes: Outcomes, journal: Journal | None) -> None:
        self.outcomes = outcomes
        self.journal = journal

    def created(self, rows: Sequence[int], ids: Sequence[str], note: str = "") -> None:
        if self.journal is not None:
            self.journal.created(rows, ids, note)
        self.outcomes.created(rows, ids, note)

    def failed(self, rows: Sequence[int], stage: str, field: str, message: str) -> None:
        if self.journal is not None:
            self.journal.failed(rows, stage, field, message)
        self.outcomes.failed(rows, stage, field, message)


class _Pool:
    """Runs batches on threads; the first fatal ApiError (or ``cancel``) stops new work."""

    def __init__(
        self,
        work: Callable[[Batch], None],
        concurrency: int,
        cancel: threading.Event,
        on_rows: Callable[[int], None],
    ) -> None:
        self.work = work
        self.concurrency = max(1, concurrency)
        self.cancel = cancel
        self.on_rows = on_rows
        self.fatal: ApiError | None = None

    def _one(self, batch: Batch) -> int:
        if self.cancel.is_set() or self.fatal is not None:
            return 0
        self.work(batch)
        return len(batch)

    def run(self, batches: Iterator[Batch]) -> int:
        submitted = 0
        in_flight: set[Future[int]] = set()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="send") as pool:
            try:
                for batch in batches:
                    if self.cancel.is_set() or self.fatal is not None:
                        break
                    in_flight.add(pool.submit(self._one, batch))
                    submitted += 1
                    if len(in_flight) >= self.concurrency * 2:
                        finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        self._collect(finished)
                finished, in_flight = wait(in_flight)
                self._collect(finished)
            except BaseException:
                self.cancel.set()
                wait(in_flight)
                raise
        return submitted

    def _collect(self, finished: set[Future[int]]) -> None:
        for future in finished:
            try:
                self.on_rows(future.result())
            except ApiError as exc:
                if self.fatal is None or isinstance(exc, AuthError):
                    self.fatal = exc


def _replay(journal: Journal, valid: pd.DataFrame, outcomes: Outcomes) -> pd.DataFrame:
    """Feed what an earlier run learned into ``outcomes``; return the journal's state per row."""
    states = journal.states().reindex(valid.index)
    created = states[states["state"] == CREATED]
    for note, group in created.groupby(created["note"].fillna(""), sort=False):
        outcomes.created(group.index.tolist(), group["membership_id"].astype(str).tolist(), note)
    failed = states[states["state"] == FAILED]
    if len(failed):
        outcomes.failed_frame(
            failed.rename(columns={"field": "error_field", "message": "error_message"}).fillna(""),
            STAGE_REMOTE,
        )
    return states


def send_all(
    valid: pd.DataFrame,
    *,
    sender: BatchSender,
    outcomes: Outcomes,
    journal: Journal | None,
    batch_size: int,
    concurrency: int,
    cancel: threading.Event,
    progress: Callable[[int, int], None] | None = None,
) -> SendReport:
    """Send every valid row not yet done; every row sent gets an outcome in ``outcomes``.

    Rows that were not sent (stopped early) get no outcome here: the caller reports them as
    ``not_processed``.
    """
    report = SendReport()
    todo = valid
    if journal is not None:
        states = _replay(journal, valid, outcomes)
        report.resumed_created = int((states["state"] == CREATED).sum())
        doubt = valid[(states["state"] == IN_FLIGHT).to_numpy()]
        report.resumed_in_doubt = len(doubt)
        todo = valid[(states["state"].fillna(0) == 0).to_numpy()]
        journal.register(valid.index.to_numpy())
    else:
        doubt = valid.iloc[:0]
    total = len(doubt) + len(todo)
    done = 0

    def rows_done(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    def recheck(batch: Batch) -> None:
        sender.recheck(batch)

    def send(batch: Batch) -> None:
        if journal is not None:
            journal.in_flight(batch.rows, batch.number)
        sender.send(batch)

    # Rows in doubt first: look them up, re-send only those the server does not hold.
    for work, frame in ((recheck, doubt), (send, todo)):
        pool = _Pool(work, concurrency, cancel, rows_done)
        report.batches += pool.run(iter_batches(frame, batch_size))
        if pool.fatal is not None:
            report.fatal = pool.fatal
            break
        if cancel.is_set():
            break
    report.interrupted = cancel.is_set() and report.fatal is None
    return report


__all__ = ["STAGE_NOT_PROCESSED", "SendReport", "send_all"]
