"""``importer drop``: what it prints and writes around ``importer.drop`` (the library).

Every run writes exactly one JSON line — to ``--log-file``, else stdout — so a monitor can tell
a run that found the folder busy from one that had nothing to do, and both from one that imported
files: ``status`` is ``busy``, ``nothing to do``, ``waiting``, ``handled`` or ``error`` (the run
could not start: configuration, folder, token). ``--watch`` writes one line per pass that handled
a file or found the folder busy. ``--quiet`` keeps a successful run silent: stderr only carries
problems, and without ``--log-file`` the JSON line is printed only when the exit code is not 0.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from importer.core import ImporterError, InputError, printable


@dataclass
class DropOutput:
    """Where one ``drop`` command writes: the JSON lines, and lines for a person on stderr."""

    err: Console
    quiet: bool
    log: IO[str] | None

    def say(self, line: str, *, problem: bool = False) -> None:
        """A line for a person on stderr (with ``--quiet`` only problems)."""
        if problem or not self.quiet:
            self.err.print(printable(line), markup=False, highlight=False, soft_wrap=True)

    def record(self, data: dict[str, Any]) -> None:
        """The run's JSON line: to the log file, else stdout (``--quiet``: only on failure)."""
        from importer.drop import write_json_line

        if self.log is not None:
            write_json_line(data, self.log)
        elif not self.quiet or data.get("exit_code"):
            write_json_line(data, sys.stdout)


@contextmanager
def drop_output(err: Console, *, quiet: bool, log_file: Path | None) -> Iterator[DropOutput]:
    """Open ``--log-file`` (appending) for the command's lifetime.

    Raises:
        InputError: the log file cannot be opened.
    """
    with ExitStack() as stack:
        log = None
        if log_file is not None:
            try:
                log = stack.enter_context(log_file.open("a", encoding="utf-8"))
            except OSError as exc:
                raise InputError(
                    f"cannot open the log file {log_file}: {exc.strerror}", path=str(log_file)
                ) from exc
        yield DropOutput(err, quiet, log)


def now_iso() -> str:
    """The UTC time now, ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def error_record(folder: str, exc: ImporterError, started: str) -> dict[str, Any]:
    """The JSON line of a run that could not start."""
    from importer.drop import DropResult

    failed = DropResult(root=folder, started_at=started, finished_at=now_iso(), error=str(exc))
    failed.error_exit_code = exc.exit_code
    return failed.to_json()


def run_drop(
    folder: str,
    *,
    config: Path | None,
    watch: bool,
    out: DropOutput,
    cancel: threading.Event,
    work_dir: Path | None = None,
) -> int:
    """Run one ``importer drop`` over a local or remote folder; returns the exit code.

    Raises:
        ImporterError: the run could not start (after its JSON line was written).
        OSError: the drop folder itself failed (permissions, a full disk).
    """
    from importer.drop import (
        DropResult,
        FileResult,
        default_work_dir,
        ensure_layout,
        is_remote,
        load_drop_config,
        process_drop_folder,
        process_remote_drop,
    )
    from importer.drop import watch as watch_folder

    remote = is_remote(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if remote:
            work = work_dir or default_work_dir(folder)
            work.mkdir(parents=True, exist_ok=True)
            settings = load_drop_config(work, path=config)
        else:
            settings = load_drop_config(folder, path=config)
            ensure_layout(folder)
    for w in caught:
        out.say(f"warning: {w.message}", problem=True)

    def on_file(record: FileResult) -> None:
        out.say(record.describe(), problem=record.outcome not in ("imported", "duplicate"))

    def on_pass(result: DropResult) -> None:
        if not watch or result.files or result.busy:
            out.record(result.to_json())
        report_pass(out, folder, result)

    options: dict[str, Any] = {"config": settings, "cancel": cancel, "on_file": on_file}
    if remote:
        options["work_dir"] = work
    if watch:
        result = watch_folder(folder, on_pass=on_pass, **options)
    elif remote:
        result = process_remote_drop(folder, on_pass=on_pass, **options)
    else:
        result = process_drop_folder(folder, on_pass=on_pass, **options)
    return result.exit_code


def report_pass(out: DropOutput, folder: str, result: Any) -> None:
    """The lines for a person after a pass: a busy or stale lock, files left waiting."""
    if result.lock_owner:
        state = "busy: held" if result.busy else "took over a stale lock left"
        out.say(f"{folder}: {state} by {result.lock_owner}")
    if result.remote_error:
        out.say(f"{folder}: {result.remote_error}", problem=True)
    for waiting in result.waiting:
        line = f"waiting: {waiting.name}: {waiting.reason}"
        if waiting.stuck:
            line += " (unchanged during the whole wait: check the upload)"
        out.say(line, problem=waiting.stuck)
