"""Drop-folder mode: import every complete file that arrives in ``DIR/inbox``, exactly once.

Layout of a drop folder (created on first use)::

    DIR/inbox/         files arrive here (an HR export, an SFTP sync ...)
    DIR/processing/    the file being imported; one left here by a dead run is resumed first
    DIR/done/          imported (some rows may have failed: see its results), or a duplicate
    DIR/failed/        could not be imported at all (unreadable, missing column ...)
    DIR/results/<name>-<UTC timestamp>/   summary.json, success.csv, errors.csv, journal ...
    DIR/.importer/     the lock and the ledger (which content was imported, where its results are)

``process_drop_folder`` handles what is there now and returns a :class:`DropResult`;
``watch`` repeats it until cancelled. Neither prints or exits: results go to the ``on_file``
callback and the returned objects. A file is complete when its name has no temporary suffix
(``.part``, ``.tmp`` ...) and it has not been written to, renamed or touched (its ctime) for
``config.stable_seconds``. Files are taken oldest first (by mtime).

Outcomes per file: ``imported`` (every row created or already there) and ``rows_failed`` (the
import ran, some rows failed: see ``errors.csv``) go to ``done/``; ``duplicate`` (this content was
imported before) goes to ``done/`` with a ``.duplicate.txt`` note naming the earlier results;
``failed`` (the file cannot be imported at all) goes to ``failed/`` with an ``.error.txt`` note;
``refused`` (the server refused the run: token, unreachable) and ``interrupted`` stay in
``processing/`` and stop the run: the next run resumes them from their run journal.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

import httpx

from importer.core import AuthError, FolderLock, ImporterError, InputError, printable, sha256_file
from importer.drop._complete import Waiting
from importer.drop._config import DropConfig
from importer.drop._files import (
    STATE_DIR,
    ensure_layout,
    inbox_listing,
    move_file,
    new_results_dir,
    now_iso,
    odd_entries,
    read_tail,
    refusal,
    regular_files,
    signature,
    unique_path,
)
from importer.drop._ledger import LEDGER_DONE, LEDGER_FAILED, Ledger, LedgerEntry
from importer.drop._result import (
    FILE_DUPLICATE,
    FILE_FAILED,
    FILE_IMPORTED,
    FILE_IN_DOUBT,
    FILE_INTERRUPTED,
    FILE_REFUSED,
    FILE_ROWS_FAILED,
    DropResult,
    FileResult,
    write_json_line,
)

__all__ = [
    "DropResult",
    "FileResult",
    "ensure_layout",
    "process_drop_folder",
    "write_json_line",
]


class _Pass:
    """One locked pass over a drop folder."""

    def __init__(
        self,
        root: Path,
        config: DropConfig,
        ledger: Ledger,
        transport: httpx.BaseTransport | None,
        cancel: threading.Event,
        on_file: Callable[[FileResult], None] | None,
        result: DropResult,
    ) -> None:
        self.root, self.config, self.ledger = root, config, ledger
        self.transport, self.cancel, self.on_file, self.result = transport, cancel, on_file, result
        self.stop = False
        self.owner = (root / "inbox").stat().st_uid  # who drops files (SFTP user, HR sync)

    def dir(self, name: str) -> Path:
        return self.root / name

    def emit(self, res: FileResult) -> None:
        self.result.files.append(res)
        self.ledger.event(res.sha256, res.name, res.outcome, res.to_json())
        if res.outcome in (FILE_REFUSED, FILE_INTERRUPTED):
            self.stop = True
        if self.on_file is not None:
            self.on_file(res)

    def resume(self, path: Path) -> None:
        """A file left in processing/ by a run that did not finish it."""
        try:
            sha = sha256_file(path)
        except InputError:
            if path.exists():
                raise
            return  # removed by hand meanwhile
        entry = self.ledger.get(sha)
        # Done or failed yet still here: the pass died just before moving it.
        if entry is not None and entry.status in (LEDGER_DONE, LEDGER_FAILED):
            started = now_iso()
            moved = move_file(path, unique_path(self.dir(entry.status), entry.name))
            self.carry_trigger(path, moved)
            self.emit(
                FileResult(
                    name=entry.name,
                    outcome=entry.outcome or entry.status,
                    exit_code=entry.exit_code or 0,
                    sha256=sha,
                    path=moved,
                    results=self.root / entry.results_dir,
                    counts=entry.counts,
                    resumed=True,
                    started_at=started,
                    finished_at=now_iso(),
                )
            )
            return
        inbox_twin = self.dir("inbox") / path.name
        if not inbox_twin.exists():  # died between claiming the file and moving its trigger
            self.carry_trigger(inbox_twin, path)
        self.run(path, sha, entry.name if entry else path.name, entry)

    def take(self, path: Path, seen: tuple[int, ...]) -> None:
        """A complete file in the inbox, ``seen`` its signature when it was found complete."""
        why = refusal(path, self.owner)
        if why is not None:
            self.refuse(path, why)
            return
        try:
            before = signature(path.stat())
        except FileNotFoundError:
            return
        if before != seen:  # written to since it was seen complete: the next run looks again
            self.result.waiting.append(Waiting(path.name, "changed after it looked complete"))
            return
        sha = sha256_file(path)
        if signature(path.stat()) != before:  # written to while we read it
            self.result.waiting.append(Waiting(path.name, "changed while it was read"))
            return
        entry = self.ledger.get(sha)
        if entry is not None and entry.status == LEDGER_DONE:
            self.duplicate(path, sha, entry)
            return
        try:
            claimed = move_file(path, unique_path(self.dir("processing"), path.name))
        except FileNotFoundError:  # gone meanwhile (the sync tool took it back)
            return
        self.carry_trigger(path, claimed)
        self.run(claimed, sha, path.name, entry)

    def carry_trigger(self, path: Path, claimed: Path) -> None:
        """Move ``path``'s trigger file (``name.csv.done``) along with the file it announced.

        Left in the inbox it would announce the next file of that name before that one is
        complete. (A run that dies between the two moves leaves it there: the next run moves
        it next to the file it announced, see :meth:`resume`.)
        """
        suffix = self.config.trigger_suffix
        if suffix is None:
            return
        with contextlib.suppress(FileNotFoundError):
            move_file(path.with_name(path.name + suffix), claimed.with_name(claimed.name + suffix))

    def refuse(self, path: Path, why: str) -> None:
        """An inbox entry that is not read at all: moved to failed/ with a note (no content)."""
        started = now_iso()
        moved = move_file(path, unique_path(self.dir("failed"), path.name))
        self.carry_trigger(path, moved)
        note = moved.with_name(moved.name + ".error.txt")
        note.write_text(f"{printable(path.name)} was not imported: {why}.\n", encoding="utf-8")
        self.emit(
            FileResult(
                name=path.name,
                outcome=FILE_FAILED,
                exit_code=2,
                sha256="",
                path=moved,
                error=why,
                started_at=started,
                finished_at=now_iso(),
            )
        )

    def guarded(self, path: Path, step: Callable[[Path], None]) -> None:
        """Handle one file; an error no import reports (a disk problem, a bug) is that file's
        failure, not the pass's: it is reported and the next file is taken."""
        try:
            step(path)
        except Exception as exc:
            self.emit(
                FileResult(
                    name=path.name,
                    outcome=FILE_FAILED,
                    exit_code=1,
                    sha256="",
                    path=path,
                    error=f"internal error: {type(exc).__name__}: {exc}",
                    started_at=now_iso(),
                    finished_at=now_iso(),
                )
            )

    def duplicate(self, path: Path, sha: str, entry: LedgerEntry) -> None:
        started = now_iso()
        earlier = self.root / entry.results_dir
        moved = move_file(path, unique_path(self.dir("done"), path.name))
        self.carry_trigger(path, moved)
        note = moved.with_name(moved.name + ".duplicate.txt")
        note.write_text(
            f"{printable(path.name)} was not imported: the same content (sha256 {sha}) was "
            f"imported before, as {printable(entry.name)} ({entry.outcome}, {entry.updated_at}).\n"
            f"Earlier results: {earlier}\n",
            encoding="utf-8",
        )
        self.emit(
            FileResult(
                name=path.name,
                outcome=FILE_DUPLICATE,
                exit_code=0,
                sha256=sha,
                path=moved,
                duplicate_of=earlier,
                started_at=started,
                finished_at=now_iso(),
            )
        )

    def run(self, path: Path, sha: str, name: str, entry: LedgerEntry | None) -> None:
        """Import ``path`` (in processing/), resuming the results folder of an unfinished try."""
        from importer.jobs import run_import

        started = now_iso()
        resumed = entry is not None and entry.status not in (LEDGER_DONE, LEDGER_FAILED)
        if entry is not None and resumed:
            results_rel = entry.results_dir
        else:
            results = new_results_dir(self.dir("results"), name)
            results_rel = str(results.relative_to(self.root))
        results = self.root / results_rel
        self.ledger.begin(sha, name, results_rel)
        error: str | None = None
        try:
            done = run_import(
                path,
                out_dir=results,
                options=self.config.import_options(path),
                api=self.config.api_settings(),
                transport=self.transport,
                cancel=self.cancel,
            )
            code, counts = done.exit_code, done.counts
            error = done.fatal
        except ImporterError as exc:
            code, counts, error = exc.exit_code, {}, str(exc)
            self._failure_summary(results, path, sha, code, error, started)
        except Exception as exc:
            code, counts, error = 1, {}, f"internal error: {type(exc).__name__}: {exc}"
            self._failure_summary(results, path, sha, code, error, started)
            (results / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        outcome = {
            0: FILE_IMPORTED,
            1: FILE_ROWS_FAILED,
            3: FILE_REFUSED,
            130: FILE_INTERRUPTED,
        }.get(code)
        if outcome is None or (error and outcome == FILE_ROWS_FAILED and not counts):
            outcome = FILE_FAILED
        if outcome == FILE_ROWS_FAILED and counts.get("not_processed") and _in_doubt(results):
            outcome = FILE_IN_DOUBT  # some rows' outcome is unknown: the next pass finishes them
        if outcome in (FILE_REFUSED, FILE_INTERRUPTED, FILE_IN_DOUBT):
            self.ledger.attempted(sha, outcome, code)
            where = path
        else:
            status = LEDGER_FAILED if outcome == FILE_FAILED else LEDGER_DONE
            target = unique_path(self.dir(status), name)
            self.ledger.finish(
                sha, status=status, outcome=outcome, exit_code=code, counts=counts,
                final_path=str(target.relative_to(self.root)),
            )  # fmt: skip
            where = move_file(path, target)
            self.carry_trigger(path, where)
            if outcome == FILE_FAILED:
                where.with_name(where.name + ".error.txt").write_text(
                    f"{printable(name)} could not be imported: {printable(error or '')}\n"
                    f"Results: {printable(str(results))}\n"
                    "Fix the file and drop it again (or move it back to inbox/ to retry).\n",
                    encoding="utf-8",
                )
        self.emit(
            FileResult(
                name=name,
                outcome=outcome,
                exit_code=code,
                sha256=sha,
                path=where,
                results=results,
                counts=counts,
                resumed=resumed,
                error=error,
                started_at=started,
                finished_at=now_iso(),
            )
        )

    @staticmethod
    def _failure_summary(
        results: Path, path: Path, sha: str, code: int, error: str, started: str
    ) -> None:
        from importer.core import write_json
        from importer.report import SUMMARY_FILE

        results.mkdir(parents=True, exist_ok=True)
        write_json(
            results / SUMMARY_FILE,
            {
                "command": "drop",
                "input": {"path": str(path), "sha256": sha},
                "counts": {},
                "exit_code": code,
                "status": "input_error" if code == 2 else "error",
                "started_at": started,
                "finished_at": now_iso(),
                "fatal_error": error,
            },
        )


def _in_doubt(results: Path) -> bool:
    """The run journal in ``results`` has rows in flight: sent, outcome unknown."""
    from importer.send import Journal  # the data stack, which this run has loaded already

    return Journal.in_doubt(results)


def process_drop_folder(
    root: str | Path,
    *,
    config: DropConfig,
    transport: httpx.BaseTransport | None = None,
    cancel: threading.Event | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    on_pass: Callable[[DropResult], None] | None = None,
    lock_timeout: float = 0.0,
) -> DropResult:
    """Import every complete file in ``root/inbox``, oldest first, each exactly once.

    Files left in ``processing/`` by a run that died are resumed first (same results folder, so
    the run journal resumes: nothing is created twice). Then the inbox files are watched until
    complete (see ``importer.drop._complete``: unchanged across a wait within this run, a CSV's
    last line ended, the trigger file there if the folder uses them), ``config.wait_seconds`` at
    most, and each is taken as soon as it is complete. It is hashed: content imported before
    goes to ``done/`` as a duplicate; other files are moved to ``processing/``, imported into
    ``results/<name>-<timestamp>/`` and moved to ``done/`` or ``failed/``. The pass stops early
    when the server refuses the run or ``cancel`` is set.

    Args:
        root: the drop folder (must exist; its subfolders are created).
        config: API, sheet, mapping and timing settings (see ``load_drop_config``).
        transport: an httpx transport instead of the network (tests, proxies).
        cancel: set it to stop: the current file's requests in flight finish, the file stays in
            ``processing/`` for the next run, no further file is started.
        on_file: called with each :class:`FileResult` as soon as the file is handled.
        on_pass: called with the :class:`DropResult` when the pass ends (busy included).
        lock_timeout: seconds to wait for another run to release the folder.

    Returns:
        The per-file results. ``busy`` is set when another run holds the folder.

    Raises:
        InputError: the folder does not exist.
        AuthError: no API token is configured.
    """
    path = ensure_layout(root)
    if not config.token:  # exit code 3, like ``run`` without a token
        raise AuthError(
            "no API token: set KANTATA_API_TOKEN, KANTATA_DROP_TOKEN_FILE or token_file in the"
            " config file"
        )
    result = DropResult(root=path, started_at=now_iso())
    try:
        _locked_pass(path, config, result, transport, cancel, on_file, lock_timeout)
    finally:
        result.finished_at = now_iso()
    if on_pass is not None:
        on_pass(result)
    return result


def _locked_pass(
    path: Path,
    config: DropConfig,
    result: DropResult,
    transport: httpx.BaseTransport | None,
    cancel: threading.Event | None,
    on_file: Callable[[FileResult], None] | None,
    lock_timeout: float,
) -> None:
    lock = FolderLock(path / STATE_DIR / "lock")
    if not lock.acquire(timeout=lock_timeout):
        owner = lock.owner()
        result.busy, result.lock_owner = True, owner.describe() if owner else "another run"
        return
    try:
        if lock.took_over is not None:
            result.lock_owner = lock.took_over.describe()
        stop = cancel or threading.Event()
        with Ledger.open(path / STATE_DIR) as ledger:
            run = _Pass(path, config, ledger, transport, stop, on_file, result)
            for left, _ in regular_files(path / "processing"):
                if run.stop or stop.is_set():
                    return
                if not config.is_trigger(left.name):
                    run.guarded(left, run.resume)
            inbox = path / "inbox"
            for odd in [*odd_entries(inbox), *(p for p, _ in regular_files(inbox))]:
                if why := refusal(odd, run.owner):
                    run.guarded(odd, functools.partial(run.refuse, why=why))
            settler = config.settler(
                functools.partial(inbox_listing, inbox, run.owner),
                functools.partial(read_tail, inbox),
                cancel=stop,
            )
            ready = settler.ready()
            try:
                for name in ready:
                    if run.stop or stop.is_set():
                        break
                    seen = settler.signature
                    run.guarded(inbox / name, functools.partial(run.take, seen=seen))
            finally:
                ready.close()
            result.waiting.extend(settler.waiting)
            result.seen = len(settler.seen)
    finally:
        lock.release()
